//! Real alert receivers on loopback: an HTTP webhook receiver that keeps what it is sent, and
//! the Debian syslog daemon and Alertmanager started with temporary configs on free ports.
//! A missing daemon binary fails the test with the package to install (`scripts/test.sh`
//! installs them).

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// A loopback port free right now (bound, then released for a daemon to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP loopback port free right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request the webhook receiver took.
#[derive(Clone, Debug)]
pub struct Received {
    /// The path.
    pub path: String,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// An HTTP server that answers 200 to every POST and keeps the requests.
pub struct WebhookReceiver {
    /// Its address.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts on a port chosen by the OS.
    pub async fn start() -> WebhookReceiver {
        WebhookReceiver::on(0).await
    }

    /// Starts on `port` (0 for any).
    pub async fn on(port: u16) -> WebhookReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let keep = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let keep = keep.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let keep = keep.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            keep.lock().unwrap().push(Received {
                                path: parts.uri.path().to_owned(),
                                headers: parts.headers,
                                body,
                            });
                            let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
                            *resp.status_mut() = StatusCode::OK;
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        WebhookReceiver { addr, seen, task }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Verifies a webhook delivery as a Standard Webhooks receiver does: `webhook-signature`
/// holds `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">` under the
/// secret (a `whsec_` secret is the base64 of the key), and `webhook-timestamp` is within five
/// minutes of `now` (unix seconds). A receiver also remembers the ids it took within that
/// window and drops repeats.
pub fn webhook_verified(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: u64,
) -> bool {
    use base64::Engine as _;
    let Ok(ts) = timestamp.parse::<u64>() else {
        return false;
    };
    if ts.abs_diff(now) > 300 {
        return false;
    }
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        None => secret.as_bytes().to_vec(),
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    // Several space-separated signatures may be sent (key rotation); one must verify.
    signature.split(' ').any(|sig| {
        sig.strip_prefix("v1,")
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .is_some_and(|tag| ring::hmac::verify(&key, &signed, &tag).is_ok())
    })
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Received {
    /// Whether the delivery verifies under `secret` now (see [`webhook_verified`]).
    pub fn verified(&self, secret: &str) -> bool {
        webhook_verified(
            secret,
            self.header("webhook-id"),
            self.header("webhook-timestamp"),
            &self.body,
            self.header("webhook-signature"),
            unix_now(),
        )
    }
}

/// The path of a daemon binary, or a failed test naming the package that provides it.
pub fn require(binary: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(binary);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{binary} is not installed: run scripts/test.sh (it installs the Debian package {package})"
    );
}

/// A daemon started by a test, killed when dropped.
pub struct Daemon {
    child: Child,
    /// Its scratch folder (config, state, output).
    pub dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sightline-{name}-{}-{}",
        std::process::id(),
        fastrand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// rsyslog listening on loopback UDP and TCP (plain, or TLS with OpenSSL), writing every
/// message it receives (as received) to `messages.log` in its folder.
pub struct Rsyslog {
    /// The daemon.
    pub daemon: Daemon,
    /// Its UDP port.
    pub udp: u16,
    /// Its TCP port.
    pub tcp: u16,
}

impl Rsyslog {
    /// Starts `rsyslogd -n` with a temporary config and plain TCP.
    pub fn start() -> Rsyslog {
        Rsyslog::launch(None)
    }

    /// Starts `rsyslogd -n` whose TCP input speaks TLS with this certificate, key and CA.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path) -> Rsyslog {
        let module = Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so");
        assert!(
            module.exists() || Path::new("/usr/lib/rsyslog/lmnsd_ossl.so").exists(),
            "rsyslog's OpenSSL driver is not installed: run scripts/test.sh (it installs the Debian package rsyslog-openssl)"
        );
        Rsyslog::launch(Some((cert, key, ca)))
    }

    fn launch(tls: Option<(&Path, &Path, &Path)>) -> Rsyslog {
        let bin = require("rsyslogd", "rsyslog");
        let dir = scratch("rsyslog");
        let (udp, tcp) = (free_udp_port(), free_port());
        let (global_tls, tcp_module) = match tls {
            None => (String::new(), r#"module(load="imtcp")"#.to_owned()),
            Some((cert, key, ca)) => (
                format!(
                    r#" defaultNetstreamDriver="ossl" defaultNetstreamDriverCAFile="{}" defaultNetstreamDriverCertFile="{}" defaultNetstreamDriverKeyFile="{}""#,
                    ca.display(),
                    cert.display(),
                    key.display()
                ),
                r#"module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")"#.to_owned(),
            ),
        };
        let conf = format!(
            r#"global(workDirectory="{d}" maxMessageSize="64k"{global_tls})
module(load="imudp")
{tcp_module}
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="raw" type="string" string="%rawmsg%\n")
*.* action(type="omfile" file="{d}/messages.log" template="raw")
"#,
            d = dir.display()
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Rsyslog {
            daemon: Daemon { child, dir },
            udp,
            tcp,
        }
    }

    /// The lines received so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.daemon.dir.join("messages.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Alertmanager on a loopback port with clustering off and a receiver that notifies nobody.
pub struct Alertmanager {
    /// The daemon.
    pub daemon: Daemon,
    /// Its API address.
    pub addr: SocketAddr,
}

impl Alertmanager {
    /// Starts `prometheus-alertmanager` with a temporary config and storage.
    pub fn start() -> Alertmanager {
        let bin = require("prometheus-alertmanager", "prometheus-alertmanager");
        let dir = scratch("alertmanager");
        let port = free_port();
        std::fs::write(
            dir.join("alertmanager.yml"),
            "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n",
        )
        .unwrap();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Alertmanager {
            daemon: Daemon { child, dir },
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

/// A syslog receiver for octet-counted frames over TCP (RFC 6587) on loopback, reading each
/// connection strictly by the frame lengths, as rsyslog does. It can be held (accepted
/// connections are not read, and its receive buffer is small, so a sender's writes stall)
/// and released. A connection that ends inside a frame drops that frame, as receivers do.
pub struct SyslogStreamReceiver {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<Mutex<StreamState>>,
    release: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct StreamState {
    messages: Vec<String>,
    /// Frames whose length prefix was not a number, or whose message was not syslog.
    bad_frames: Vec<String>,
    connections: usize,
    cut_frames: usize,
}

impl SyslogStreamReceiver {
    /// Starts on a port chosen by the OS, held: nothing is read until [`Self::release`].
    pub async fn start_held() -> SyslogStreamReceiver {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        // Small, so that a held receiver makes the sender's writes stall.
        socket.set_recv_buffer_size(4096).unwrap();
        socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let listener = socket.listen(16).unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Arc<Mutex<StreamState>> = Arc::default();
        let (release, released) = tokio::sync::watch::channel(false);
        let keep = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                keep.lock().unwrap().connections += 1;
                let keep = keep.clone();
                let mut released = released.clone();
                tokio::spawn(async move {
                    let _ = released.wait_for(|r| *r).await;
                    read_frames(tcp, &keep).await;
                });
            }
        });
        SyslogStreamReceiver {
            addr,
            state,
            release,
            task,
        }
    }

    /// Starts reading every connection, held ones included.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }

    /// The messages of every whole frame received so far.
    pub fn messages(&self) -> Vec<String> {
        self.state.lock().unwrap().messages.clone()
    }

    /// Frames that were not `<length> <syslog message>`: what a sender that lost the frame
    /// boundary produces.
    pub fn bad_frames(&self) -> Vec<String> {
        self.state.lock().unwrap().bad_frames.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Frames cut short by the end of their connection (dropped).
    pub fn cut_frames(&self) -> usize {
        self.state.lock().unwrap().cut_frames
    }
}

impl Drop for SyslogStreamReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads `<length> <message>` frames until the connection ends.
async fn read_frames(tcp: tokio::net::TcpStream, state: &Mutex<StreamState>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let mut r = BufReader::new(tcp);
    loop {
        let mut len = Vec::new();
        match r.read_until(b' ', &mut len).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if len.last() != Some(&b' ') {
            state.lock().unwrap().cut_frames += 1;
            return;
        }
        let digits = &len[..len.len() - 1];
        let parsed = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.len() <= 9 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok());
        let Some(n) = parsed else {
            let shown = String::from_utf8_lossy(&len[..len.len().min(80)]).into_owned();
            state.lock().unwrap().bad_frames.push(shown);
            return;
        };
        let mut msg = vec![0u8; n];
        if r.read_exact(&mut msg).await.is_err() {
            state.lock().unwrap().cut_frames += 1;
            return;
        }
        let msg = String::from_utf8_lossy(&msg).into_owned();
        let mut s = state.lock().unwrap();
        if msg.starts_with('<') {
            s.messages.push(msg);
        } else {
            s.bad_frames.push(msg.chars().take(80).collect());
        }
    }
}
