//! The demo's abusive clients: a brute-force client guessing passwords on the login route and
//! a scanner probing paths that do not exist. Each connects from its own loopback address, so
//! the client guard bans them without touching the legitimate callers.

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use std::net::SocketAddr;
use std::time::Duration;

/// The brute-force client's address.
pub const BRUTE_FORCE: [u8; 4] = [127, 0, 0, 20];
/// The scanner's address.
pub const SCANNER: [u8; 4] = [127, 0, 0, 21];

/// Paths a scanner typically tries.
const PROBES: [&str; 12] = [
    "/.env",
    "/.git/config",
    "/wp-admin/setup-config.php",
    "/phpmyadmin/index.php",
    "/admin/config.json",
    "/actuator/env",
    "/server-status",
    "/cgi-bin/luci",
    "/backup.sql",
    "/api/v1/debug/vars",
    "/console/login",
    "/.aws/credentials",
];

/// Writes the demo's allow list (its legitimate callers' addresses, exempt from the client
/// protections) next to the demo store and returns its path. A failure to write shows up as
/// a config error naming the file.
pub fn write_allow_list() -> std::path::PathBuf {
    let dir = super::data_dir();
    let path = dir.join("allow.txt");
    let text = "# The demo's legitimate callers and its flash crowd
127.0.0.10
127.0.0.11
127.0.0.12
127.0.0.30
# Its services calling each other (gateway, orders, catalog, payments)
127.0.0.40/30
";
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the demo allow list");
    }
    path
}

/// Guesses passwords for one user, two a second, until aborted.
pub async fn brute_force(inbound: SocketAddr) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let guess = format!(
            r#"{{"user":"admin","password":"guess-{}"}}"#,
            fastrand::u32(..)
        );
        let Ok(req) = Request::builder()
            .method(Method::POST)
            .uri("/api/users/login")
            .header("host", "shop.demo.internal")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(guess)))
        else {
            continue;
        };
        super::calls::send_from(BRUTE_FORCE, inbound, req).await;
    }
}

/// Probes well-known and random paths, three a second, until aborted.
pub async fn scanner(inbound: SocketAddr) {
    let mut tick = tokio::time::interval(Duration::from_millis(333));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let path = match fastrand::usize(..PROBES.len() + 4) {
            i if i < PROBES.len() => PROBES[i].to_owned(),
            _ => format!("/{:08x}.php", fastrand::u32(..)),
        };
        let Ok(req) = Request::builder()
            .uri(path)
            .header("host", "shop.demo.internal")
            .header("user-agent", "masscan-ng/1.3")
            .body(Full::new(Bytes::new()))
        else {
            continue;
        };
        super::calls::send_from(SCANNER, inbound, req).await;
    }
}
