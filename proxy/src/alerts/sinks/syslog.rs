//! Syslog RFC 5424 over UDP, TCP or TLS (octet-counted frames, RFC 6587 and RFC 5425), with a
//! CEF record (or the alert JSON) as the message.

use super::cef;
use crate::alerts::model::{Alert, Severity};
use crate::config::alerts::Transport;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::io::AsyncWriteExt;

/// Facility `auth` (security messages).
const FACILITY: u8 = 4;
/// Longest UDP datagram sent; longer messages are cut (RFC 5426 asks receivers for 480+,
/// common daemons take 8 KiB and more).
const MAX_DATAGRAM: usize = 8 * 1024;

type Stream = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// A syslog destination with its connection, opened on first use and again after an error.
pub struct Syslog {
    transport: Transport,
    addr: String,
    cef: bool,
    tls: Option<tokio_rustls::TlsConnector>,
    conn: Option<Stream>,
    udp: Option<tokio::net::UdpSocket>,
    hostname: String,
}

impl std::fmt::Debug for Syslog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syslog")
            .field("transport", &self.transport)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// The machine's name for the HOSTNAME field: printable ASCII without spaces, else `-`.
fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h = h.trim();
    if h.is_empty() || h.len() > 255 || !h.bytes().all(|b| (33..=126).contains(&b)) {
        "-".into()
    } else {
        h.to_owned()
    }
}

/// One RFC 5424 message for the alert.
pub fn message(a: &Alert, cef: bool, hostname: &str, now: SystemTime) -> String {
    let pri = FACILITY * 8 + syslog_severity(a.severity);
    let body = if cef {
        cef::record(a)
    } else {
        a.to_json().to_string()
    };
    format!(
        "<{pri}>1 {} {hostname} sightline {} {} - {body}",
        crate::clock::rfc3339(now),
        std::process::id(),
        a.kind.as_str()
    )
}

impl Syslog {
    /// A destination; TLS verifies the server with `ca` (or the system roots).
    pub fn new(
        transport: Transport,
        addr: String,
        cef: bool,
        ca: Option<&std::path::Path>,
    ) -> Result<Syslog, String> {
        let tls = match transport {
            Transport::Tls => {
                let cfg = sightline_certs::client_config(ca, &[]).map_err(|e| e.to_string())?;
                Some(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
            }
            _ => None,
        };
        Ok(Syslog {
            transport,
            addr,
            cef,
            tls,
            conn: None,
            udp: None,
            hostname: hostname(),
        })
    }

    /// Sends the alert. A stream that fails is dropped, to be opened again next time.
    pub async fn send(&mut self, a: &Alert) -> Result<(), String> {
        let msg = message(a, self.cef, &self.hostname, SystemTime::now());
        match self.transport {
            Transport::Udp => self.send_udp(msg).await,
            Transport::Tcp | Transport::Tls => {
                let frame = format!("{} {msg}", msg.len());
                self.send_stream(frame.as_bytes()).await
            }
        }
    }

    async fn send_udp(&mut self, mut msg: String) -> Result<(), String> {
        if self.udp.is_none() {
            let target = tokio::net::lookup_host(&self.addr)
                .await
                .map_err(|e| format!("{}: {e}", self.addr))?
                .next()
                .ok_or_else(|| format!("{}: no address", self.addr))?;
            let bind: std::net::SocketAddr = if target.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let sock = tokio::net::UdpSocket::bind(bind)
                .await
                .map_err(|e| e.to_string())?;
            sock.connect(target).await.map_err(|e| e.to_string())?;
            self.udp = Some(sock);
        }
        if msg.len() > MAX_DATAGRAM {
            let mut cut = MAX_DATAGRAM;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg.truncate(cut);
        }
        let Some(sock) = &self.udp else {
            return Err("no socket".into());
        };
        match sock.send(msg.as_bytes()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.udp = None;
                Err(e.to_string())
            }
        }
    }

    /// Writes one octet-counted frame. The connection is taken out for the write and put back
    /// only once the whole frame is flushed: a write that fails, or is abandoned half-way (the
    /// delivery's timeout drops this future), drops the connection with it, so a partial frame
    /// is never followed by another frame on the same stream (the receiver would read the next
    /// frame's bytes as the rest of the cut one, and every frame after it shifted).
    async fn send_stream(&mut self, frame: &[u8]) -> Result<(), String> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => connect(&self.addr, self.tls.as_ref()).await?,
        };
        conn.write_all(frame).await.map_err(|e| e.to_string())?;
        conn.flush().await.map_err(|e| e.to_string())?;
        self.conn = Some(conn);
        Ok(())
    }
}

/// A stream to `addr`, TLS when `tls` is given (the server name is the host of `addr`).
async fn connect(addr: &str, tls: Option<&tokio_rustls::TlsConnector>) -> Result<Stream, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok(Box::new(
        tls.connect(name, tcp)
            .await
            .map_err(|e| format!("{addr}: tls: {e}"))?,
    ))
}
