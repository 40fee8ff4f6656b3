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
        // The port is free when chosen, but another test may take it (for TCP or UDP) before
        // dnsmasq binds it; dnsmasq then exits at once and a new port is tried.
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(records) {
                Ok(d) => return d,
                Err(why) => last = why,
            }
        }
        panic!("dnsmasq did not start: {last}");
    }

    fn try_start(records: &[(&str, &str)]) -> Result<Dnsmasq, String> {
        let port = free_port();
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
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start dnsmasq ({e}); install it: apt-get install dnsmasq-base")
            });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut d = Dnsmasq { addr, child };
        // Ready when it accepts TCP on its port; gone when it could not bind.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if let Ok(Some(status)) = d.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = d.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(format!("port {port}: exited with {status}: {}", err.trim()));
            }
            if Instant::now() > deadline {
                return Err(format!("nothing listening on {addr} after 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }
}

/// A loopback port free for both TCP and UDP right now.
fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
