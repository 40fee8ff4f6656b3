//! Records the compiler and the git commit for `sightline_build_info`.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SIGHTLINE_RUSTC_VERSION={version}");

    // A packager building from an archive can name the commit; else ask git, if this is a
    // checkout.
    println!("cargo:rerun-if-env-changed=SIGHTLINE_GIT_COMMIT");
    let commit = std::env::var("SIGHTLINE_GIT_COMMIT").ok().or_else(|| {
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
        };
        if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
            // A new commit or checkout moves HEAD's log.
            println!("cargo:rerun-if-changed={dir}/HEAD");
            println!("cargo:rerun-if-changed={dir}/logs/HEAD");
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    });
    println!(
        "cargo:rustc-env=SIGHTLINE_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
    println!("cargo:rerun-if-changed=build.rs");
}
