//! Running one test inside a network namespace of its own: its only interface is loopback, so
//! nothing the proxy dials can leave the machine, and any address (a cloud metadata address,
//! say) can be put on that loopback and served by a fake.
//!
//! The test binary runs the test again inside `unshare --net` (util-linux) with loopback brought
//! up by `ip` (iproute2); the outer run only checks that the inner one passed.

use std::net::IpAddr;
use std::process::Command;

/// Set in the environment of the run inside the namespace.
const INSIDE: &str = "SIGHTLINE_TEST_IN_NETNS";

/// Call first in a test named `name` (its full path in the test binary). Outside a namespace it
/// runs that test again inside a fresh one, asserts that it passed, and returns `false`: the
/// caller returns at once. Inside, it returns `true` and the test goes on.
pub fn isolated(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("unshare");
    cmd.arg("--net");
    if !is_root() {
        // An unprivileged user gets the namespace through a user namespace of its own.
        cmd.arg("--map-root-user");
    }
    cmd.args(["--", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in its own network namespace: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    false
}

/// Puts `ip` on the namespace's loopback interface. Only inside [`isolated`].
pub fn add_address(ip: IpAddr) {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "addresses are only added inside a test namespace"
    );
    let prefix = if ip.is_ipv4() { 32 } else { 128 };
    let mut cmd = Command::new("ip");
    cmd.args(["address", "add", &format!("{ip}/{prefix}"), "dev", "lo"]);
    if ip.is_ipv6() {
        // Usable at once: no duplicate address detection, during which binding it fails.
        cmd.arg("nodad");
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run ip (iproute2): {e}"));
    assert!(status.success(), "ip address add {ip}/{prefix}: {status}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}
