//! The borrowed key that finds a known series without copying its labels: built from the
//! call, hashed and compared exactly like [`SeriesKey`]; and the last call's series, kept with
//! what its labels came from, which the next call with the same sources counts in directly.

use super::{method_index, Identity, SeriesKey, METHODS};
use crate::record::{CallRecord, Direction, StatusClass};
use std::fmt::Write;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The label values of one series, borrowed from the call: finds a known series without
/// copying its key. Hashed and compared exactly like [`SeriesKey`] (the shape, then the
/// free-text labels in order).
#[derive(Debug)]
pub(super) struct SeriesRef<'a> {
    reporter: &'static str,
    source: &'a str,
    principal: &'a str,
    destination: &'a str,
    destination_service: &'a str,
    protocol: &'static str,
    method: &'static str,
    route: &'a str,
    code: u16,
    class: &'static str,
    decision: &'static str,
    enclave: &'static str,
    shape: u64,
}

/// The labels of few values of `rec` (reporter, protocol, method, code, class, decision,
/// enclave) as one number, one to one: each in a byte of its own (the code in two).
pub(super) fn shape(rec: &CallRecord) -> u64 {
    let place = match rec.inside {
        Some(true) => 1,
        Some(false) => 2,
        None => 0,
    };
    u64::from(rec.direction == Direction::Egress)
        | u64::from(rec.protocol.opaque()) << 8
        | (method_index(&rec.method) as u64) << 16
        | (StatusClass::of(rec.status) as u64) << 24
        | (rec.decision as u64) << 32
        | place << 40
        | u64::from(rec.status.unwrap_or(0)) << 48
}

/// The shape of the overflow series: no call's (a call's lowest byte is 0 or 1).
const OVERFLOW_SHAPE: u64 = u64::MAX;

impl<'a> SeriesRef<'a> {
    /// The key of `rec`; an egress call's `host:port` is written into `buf`.
    pub(super) fn of(rec: &'a CallRecord, template: Option<&'a str>, buf: &'a mut String) -> Self {
        const UNKNOWN: &str = "unknown";
        let (reporter, source, destination, destination_service) = match rec.direction {
            Direction::Inbound => (
                "destination",
                rec.caller_service
                    .as_deref()
                    .or(rec.source_identity.as_deref())
                    .unwrap_or(UNKNOWN),
                rec.service.as_deref().unwrap_or("-"),
                rec.service.as_deref().unwrap_or("-"),
            ),
            Direction::Egress => {
                let service: &'a str = match rec.dest_port {
                    Some(p) => {
                        buf.clear();
                        let _ = write!(buf, "{}:{p}", rec.host);
                        let buf: &'a String = buf;
                        buf
                    }
                    None => &rec.host,
                };
                (
                    "source",
                    rec.service.as_deref().unwrap_or(UNKNOWN),
                    rec.host.as_str(),
                    service,
                )
            }
        };
        let method = method_index(&rec.method);
        let class = StatusClass::of(rec.status);
        let code = rec.status.unwrap_or(0);
        let enclave = match rec.inside {
            Some(true) => "inside",
            Some(false) => "outside",
            None => "-",
        };
        let shape = shape(rec);
        SeriesRef {
            reporter,
            source,
            principal: rec.source_identity.as_deref().unwrap_or(UNKNOWN),
            destination,
            destination_service,
            protocol: if rec.protocol.opaque() { "tcp" } else { "http" },
            method: METHODS[method],
            route: template.unwrap_or("-"),
            code,
            class: class.as_str(),
            decision: rec.decision.as_str(),
            enclave,
            shape,
        }
    }

    /// The overflow series.
    pub(super) fn overflow() -> Self {
        const O: &str = "overflow";
        SeriesRef {
            reporter: O,
            source: O,
            principal: O,
            destination: O,
            destination_service: O,
            protocol: O,
            method: O,
            route: O,
            code: 0,
            class: O,
            decision: O,
            enclave: O,
            shape: OVERFLOW_SHAPE,
        }
    }

    /// Hashed and compared like [`SeriesKey::identity`].
    fn identity(&self) -> Identity<'a> {
        let labels = [
            self.source,
            self.principal,
            self.destination,
            self.destination_service,
            self.route,
        ];
        (self.shape, labels)
    }

    pub(super) fn to_key(&self) -> SeriesKey {
        SeriesKey {
            reporter: self.reporter,
            source: self.source.to_owned(),
            principal: self.principal.to_owned(),
            destination: self.destination.to_owned(),
            destination_service: self.destination_service.to_owned(),
            protocol: self.protocol,
            method: self.method,
            route: self.route.to_owned(),
            code: self.code,
            class: self.class,
            decision: self.decision,
            enclave: self.enclave,
            shape: self.shape,
        }
    }
}

impl Hash for SeriesRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl hashbrown::Equivalent<SeriesKey> for SeriesRef<'_> {
    fn equivalent(&self, k: &SeriesKey) -> bool {
        self.identity() == k.identity()
    }
}

/// What the last call's series was found by: the labels' sources in the record. Holding them
/// keeps the shared ones alive, so a pointer seen equal is the same text.
#[derive(Debug)]
pub(super) struct Last {
    shape: u64,
    service: Option<Arc<str>>,
    caller_service: Option<Arc<str>>,
    source_identity: Option<Arc<str>>,
    /// Egress only (inbound labels do not name the host).
    host: String,
    dest_port: Option<u16>,
    route: Option<String>,
    pub(super) slot: u32,
}

/// Whether two shared labels are the same text: the same allocation, or equal.
fn same(kept: &Option<Arc<str>>, now: &Option<Arc<str>>) -> bool {
    match (kept, now) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
        _ => false,
    }
}

impl Last {
    /// Whether `rec` (with `route`, of `shape`) has the labels of the call kept: the same
    /// sources give the same labels (the shape holds the direction).
    pub(super) fn matches(&self, rec: &CallRecord, route: Option<&str>, shape: u64) -> bool {
        self.shape == shape
            && same(&self.service, &rec.service)
            && same(&self.caller_service, &rec.caller_service)
            && same(&self.source_identity, &rec.source_identity)
            && self.route.as_deref() == route
            && (rec.direction == Direction::Inbound
                || (self.dest_port == rec.dest_port && self.host == rec.host))
    }

    /// Keeps `rec`'s label sources, reusing the buffers of the call kept before.
    pub(super) fn keep(
        last: &mut Option<Last>,
        rec: &CallRecord,
        route: Option<&str>,
        shape: u64,
        slot: u32,
    ) {
        let l = last.get_or_insert_with(|| Last {
            shape,
            service: None,
            caller_service: None,
            source_identity: None,
            host: String::new(),
            dest_port: None,
            route: None,
            slot,
        });
        l.shape = shape;
        l.service.clone_from(&rec.service);
        l.caller_service.clone_from(&rec.caller_service);
        l.source_identity.clone_from(&rec.source_identity);
        l.host.clear();
        if rec.direction == Direction::Egress {
            l.host.push_str(&rec.host);
        }
        l.dest_port = rec.dest_port;
        match (&mut l.route, route) {
            (Some(kept), Some(r)) => {
                kept.clear();
                kept.push_str(r);
            }
            (kept, r) => *kept = r.map(str::to_owned),
        }
        l.slot = slot;
    }
}
