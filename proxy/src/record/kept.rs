//! What is kept of a finished call once the recorder is done with it: everything the API and
//! the store's call log show ([`super::view`]), packed. The recent calls hold up to
//! `recording.recent_calls` of these for as long as the process runs, so each is one value
//! with no allocation of its own in the common case: the service, upstream and route shared
//! with the configuration, times as integers, method, host and path in one inline buffer
//! (spilling to one allocation past [`INLINE`] bytes), and the fields most calls leave empty
//! behind one pointer.

use super::call::Parties;
use super::{CallRecord, Direction, Protocol};
use crate::trace::RequestId;
use sightline_policy::Decision;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Method, host and path bytes kept inline, without an allocation.
pub const INLINE: usize = 30;

/// A finished call as the recent calls keep it.
#[derive(Clone, Debug)]
pub struct KeptCall {
    request_id: RequestId,
    trace_id: [u8; 16],
    /// Since the Unix epoch.
    start_nanos: u64,
    duration_nanos: u64,
    /// [`NO_LATENCY`] when there was no upstream response.
    upstream_nanos: u64,
    source_addr: SocketAddr,
    service: Option<Arc<str>>,
    upstream: Option<Arc<str>>,
    route: Option<Arc<str>>,
    error: Option<&'static str>,
    bytes_in: u64,
    bytes_out: u64,
    /// The method, the host and the path, one after the other.
    text: Text,
    method_len: u32,
    host_len: u32,
    status: Option<u16>,
    dest_port: Option<u16>,
    inside: Option<bool>,
    direction: Direction,
    protocol: Protocol,
    tls: bool,
    decision: Decision,
    rare: Option<Box<Rare>>,
}

/// Fields most calls leave empty.
#[derive(Clone, Debug)]
struct Rare {
    source_identity: Option<Arc<str>>,
    caller_service: Option<Arc<str>>,
    sni: Option<Box<str>>,
    /// `None` when empty.
    reason: Option<Box<str>>,
    client: Option<Arc<str>>,
    protection: Option<&'static str>,
}

/// The rare fields of a call that has none of them.
static NO_RARE: Rare = Rare {
    source_identity: None,
    caller_service: None,
    sni: None,
    reason: None,
    client: None,
    protection: None,
};

const NO_LATENCY: u64 = u64::MAX;

/// Text up to [`INLINE`] bytes in place, longer in one allocation.
#[derive(Clone, Debug)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Spilled(Box<str>),
}

impl Text {
    fn of(method: &str, host: &str, path: &str) -> Text {
        let (m, h) = (method.len(), host.len());
        let len = m + h + path.len();
        if len > INLINE {
            return Text::Spilled([method, host, path].concat().into_boxed_str());
        }
        let mut bytes = [0; INLINE];
        bytes[..m].copy_from_slice(method.as_bytes());
        bytes[m..m + h].copy_from_slice(host.as_bytes());
        bytes[m + h..len].copy_from_slice(path.as_bytes());
        Text::Inline {
            len: len as u8,
            bytes,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Written from whole `&str`s: always UTF-8.
            Text::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Text::Spilled(s) => s,
        }
    }
}

/// `d` in nanoseconds (exact below 584 years; longer is never [`NO_LATENCY`]).
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
        .min(NO_LATENCY - 1)
}

impl KeptCall {
    /// [`KeptCall::dated`] for a record whose `start` is set (tests build such records; the
    /// recorder dates its own).
    #[cfg(test)]
    pub fn of(rec: &CallRecord) -> KeptCall {
        KeptCall::dated(rec, crate::clock::unix_nanos(rec.start))
    }

    /// What is kept of `rec`, which started `start_nanos` after the Unix epoch (as the recorder
    /// dated it: no conversion of `rec.start` again). Inlined, so the ring's slot is written
    /// directly.
    #[inline]
    pub fn dated(rec: &CallRecord, start_nanos: u64) -> KeptCall {
        let method = rec.method.as_str();
        let rare = rec.source_identity.is_some()
            || rec.caller_service.is_some()
            || rec.sni.is_some()
            || !rec.reason.is_empty()
            || rec.client.client.is_some()
            || rec.client.protection.is_some();
        KeptCall {
            request_id: rec.request_id,
            trace_id: rec.trace_id,
            start_nanos,
            duration_nanos: nanos(rec.duration),
            upstream_nanos: rec.upstream_latency.map_or(NO_LATENCY, nanos),
            source_addr: rec.source_addr,
            service: rec.service.clone(),
            upstream: rec.upstream.clone(),
            route: rec.route.clone(),
            error: rec.error,
            bytes_in: rec.bytes_in,
            bytes_out: rec.bytes_out,
            text: Text::of(method, &rec.host, &rec.path),
            method_len: method.len() as u32,
            host_len: rec.host.len() as u32,
            status: rec.status,
            dest_port: rec.dest_port,
            inside: rec.inside,
            direction: rec.direction,
            protocol: rec.protocol,
            tls: rec.tls,
            decision: rec.decision,
            rare: rare.then(|| {
                Box::new(Rare {
                    source_identity: rec.source_identity.clone(),
                    caller_service: rec.caller_service.clone(),
                    sni: rec.sni.as_deref().map(Into::into),
                    reason: (!rec.reason.is_empty()).then(|| rec.reason.as_str().into()),
                    client: rec.client.client.clone(),
                    protection: rec.client.protection,
                })
            }),
        }
    }

    fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&NO_RARE)
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }

    /// The W3C trace id.
    pub fn trace_id(&self) -> &[u8; 16] {
        &self.trace_id
    }

    /// When the request arrived.
    pub fn start(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.start_nanos)
    }

    /// Until the end of the response body.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.duration_nanos)
    }

    /// Until the upstream's response headers.
    pub fn upstream_latency(&self) -> Option<Duration> {
        (self.upstream_nanos != NO_LATENCY).then(|| Duration::from_nanos(self.upstream_nanos))
    }

    /// Inbound or egress.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The caller's socket address.
    pub fn source_addr(&self) -> SocketAddr {
        self.source_addr
    }

    /// The service the call belongs to.
    pub fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// The upstream address dialed.
    pub fn upstream(&self) -> Option<&str> {
        self.upstream.as_deref()
    }

    /// The matched route.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// Egress: whether the dialed address is inside the enclave.
    pub fn inside(&self) -> Option<bool> {
        self.inside
    }

    /// Egress tunnels: the TLS server name.
    pub fn sni(&self) -> Option<&str> {
        self.rare().sni.as_deref()
    }

    /// The request method.
    pub fn method(&self) -> &str {
        self.text
            .as_str()
            .get(..self.method_len as usize)
            .unwrap_or_default()
    }

    /// The host asked for.
    pub fn host(&self) -> &str {
        let from = self.method_len as usize;
        self.text
            .as_str()
            .get(from..from + self.host_len as usize)
            .unwrap_or_default()
    }

    /// The path, cut to the configured maximum.
    pub fn path(&self) -> &str {
        let from = (self.method_len + self.host_len) as usize;
        self.text.as_str().get(from..).unwrap_or_default()
    }

    /// The status sent to the client, if any was.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The proxy's error code, when it answered itself or the exchange broke.
    pub fn error(&self) -> Option<&'static str> {
        self.error
    }

    /// Request and response body bytes.
    pub fn bytes(&self) -> (u64, u64) {
        (self.bytes_in, self.bytes_out)
    }

    /// How the call was carried.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Whether the client connection was TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// What was done.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// Why, when not simply allowed.
    pub fn reason(&self) -> &str {
        self.rare().reason.as_deref().unwrap_or_default()
    }

    /// The client id and the protection that acted, as the client protections marked them.
    pub fn client(&self) -> (Option<&str>, Option<&'static str>) {
        let r = self.rare();
        (r.client.as_deref(), r.protection)
    }

    fn parties(&self) -> Parties<'_> {
        Parties {
            direction: self.direction,
            source_addr: self.source_addr,
            source_identity: self.rare().source_identity.as_deref(),
            service: self.service.as_deref(),
            caller_service: self.rare().caller_service.as_deref(),
            host: self.host(),
            dest_port: self.dest_port,
        }
    }

    /// The caller as [`CallRecord::source_label`] names it.
    pub fn source_label(&self) -> String {
        self.parties().source_label()
    }

    /// What was called, as [`CallRecord::destination_label`] names it.
    pub fn destination_label(&self) -> String {
        self.parties().destination_label()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::view;

    /// An egress call with every field the API shows set.
    fn full() -> CallRecord {
        CallRecord {
            request_id: RequestId::from_text("abc"),
            trace_id: [7; 16],
            start: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            duration: Duration::new(2, 345_678_901),
            upstream_latency: Some(Duration::from_nanos(1_234_567)),
            direction: Direction::Egress,
            source_addr: "[fe80::1%3]:4000".parse().unwrap(),
            source_identity: Some("spiffe://a".into()),
            service: None,
            caller_service: Some("billing".into()),
            upstream: Some("10.0.0.1:443".into()),
            dest_port: Some(8443),
            inside: Some(false),
            sni: Some("api.example.com".into()),
            method: http::Method::from_bytes(b"PROPFIND").unwrap(),
            host: "api.example.com".into(),
            path: "/v1/ünïcode/path?q=1".into(),
            route: Some("/v1".into()),
            status: Some(502),
            error: Some("upstream_unreachable"),
            bytes_in: 10,
            bytes_out: 20,
            protocol: Protocol::Inspected,
            tls: true,
            decision: Decision::Reported,
            reason: "rule r1".into(),
            client: crate::record::ClientMark {
                client: Some("key:1".into()),
                protection: Some("rate_limit"),
                ..Default::default()
            },
            ..CallRecord::sample()
        }
    }

    #[test]
    fn the_api_shows_a_kept_call_as_recorded() {
        let rec = full();
        let v = view(9, &KeptCall::of(&rec));
        let json = serde_json::to_value(&v).unwrap();
        let want = serde_json::json!({
            "id": "abc",
            "seq": 9,
            "time": "2023-11-14T22:13:20.123Z",
            "direction": "egress",
            "source": "unknown:fe80::1",
            "source_addr": "[fe80::1%3]:4000",
            "destination": "api.example.com:8443",
            "service": null,
            "upstream": "10.0.0.1:443",
            "inside_enclave": false,
            "sni": "api.example.com",
            "method": "PROPFIND",
            "host": "api.example.com",
            "path": "/v1/ünïcode/path?q=1",
            "route": "/v1",
            "status": 502,
            "duration_ms": rec.duration.as_secs_f64() * 1e3,
            "upstream_ms": 1.234567,
            "bytes_in": 10,
            "bytes_out": 20,
            "protocol": "inspected",
            "tls": true,
            "decision": "reported",
            "reason": "rule r1",
            "error": "upstream_unreachable",
            "trace_id": "07".repeat(16),
            "client": "key:1",
            "protection": "rate_limit",
        });
        for (k, w) in want.as_object().unwrap() {
            assert_eq!(&json[k], w, "{k}");
        }
    }

    #[test]
    fn a_plain_call_keeps_its_labels_and_empty_fields() {
        let rec = CallRecord {
            service: Some("api".into()),
            caller_service: None,
            source_identity: Some("spiffe://c".into()),
            upstream_latency: None,
            ..CallRecord::sample()
        };
        let kept = KeptCall::of(&rec);
        assert_eq!(kept.source_label(), "spiffe://c");
        assert_eq!(kept.destination_label(), "api");
        let v = view(1, &kept);
        assert_eq!((v.reason.as_str(), v.sni, v.upstream_ms), ("", None, None));
        assert_eq!((v.client, v.protection, v.error), (None, None, None));
        assert_eq!(v.source, rec.source_label());
    }

    #[test]
    fn method_host_and_path_read_back_whatever_their_length() {
        for len in [0, 1, INLINE - 5, INLINE - 4, INLINE - 3, INLINE, 200] {
            let path = "/".to_owned() + &"é".repeat(len / 2) + &"p".repeat(len % 2);
            let rec = CallRecord {
                host: "hh".into(),
                path: path.clone(),
                ..CallRecord::sample()
            };
            let kept = KeptCall::of(&rec);
            assert_eq!(
                (kept.method(), kept.host(), kept.path()),
                ("GET", "hh", &*path)
            );
        }
    }
}
