//! A real DNS server for tests: dnsmasq from Debian on a loopback port, answering only the
//! names it is given (no upstream servers, no /etc/hosts).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running dnsmasq; stopped on drop.
pub struct Dnsmasq {
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    child: Child,
}

impl Dnsmasq {
    /// Starts dnsmasq answering each `(name, address)`. Panics with a clear message when
    /// dnsmasq is not installed (`bash scripts/test.sh` installs it).
    pub fn start(records: &[(&str, &str)]) -> Dnsmasq {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--pid-file=",
            "--log-facility=-",
        ])
        .arg(format!("--port={port}"));
        for (name, ip) in records {
            cmd.arg(format!("--address=/{name}/{ip}"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start dnsmasq ({e}); install it: apt-get install dnsmasq-base")
            });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // Ready when it accepts TCP on its port.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(Instant::now() < deadline, "dnsmasq did not start on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Dnsmasq { addr, child }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
