use super::*;
use crate::record::{CallRecord, Direction};
use opentelemetry::Value;
use std::time::Duration;

fn attr<'a>(s: &'a SpanData, key: &str) -> Option<&'a Value> {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("test").build()
}

#[test]
fn an_inbound_call_is_a_server_span_with_the_records_ids_and_times() {
    let rec = CallRecord {
        parent_span_id: Some([9; 8]),
        service: Some("orders".into()),
        status: Some(503),
        duration: Duration::from_millis(40),
        ..CallRecord::sample()
    };
    let s = build(&rec, Some("/orders/{int}"), &scope());
    assert_eq!(s.span_kind, SpanKind::Server);
    assert_eq!(s.name, "GET /orders/{int}");
    assert_eq!(s.span_context.trace_id(), TraceId::from_bytes([1; 16]));
    assert_eq!(s.span_context.span_id(), SpanId::from_bytes([2; 8]));
    assert_eq!(s.parent_span_id, SpanId::from_bytes([9; 8]));
    assert_eq!(
        s.end_time.duration_since(s.start_time).ok(),
        Some(Duration::from_millis(40))
    );
    assert_eq!(attr(&s, "http.route"), Some(&Value::from("/orders/{int}")));
    assert_eq!(
        attr(&s, "http.response.status_code"),
        Some(&Value::I64(503))
    );
    assert_eq!(attr(&s, "error.type"), Some(&Value::from("503")));
    assert_eq!(attr(&s, "client.address"), Some(&Value::from("127.0.0.1")));
    assert_eq!(
        attr(&s, "sightline.decision"),
        Some(&Value::from("allowed"))
    );
    assert!(matches!(s.status, Status::Error { .. }));
}

#[test]
fn an_egress_call_is_a_client_span_with_the_destination() {
    let rec = CallRecord {
        direction: Direction::Egress,
        host: "api.example".into(),
        dest_port: Some(8080),
        path: "/v1/pay".into(),
        method: http::Method::POST,
        upstream: Some("127.0.0.2:8080".into()),
        inside: Some(false),
        status: Some(404),
        ..CallRecord::sample()
    };
    let s = build(&rec, None, &scope());
    assert_eq!(s.span_kind, SpanKind::Client);
    assert_eq!(s.name, "POST");
    assert_eq!(
        attr(&s, "url.full"),
        Some(&Value::from("http://api.example:8080/v1/pay"))
    );
    assert_eq!(attr(&s, "server.port"), Some(&Value::I64(8080)));
    assert_eq!(
        attr(&s, "network.peer.address"),
        Some(&Value::from("127.0.0.2"))
    );
    assert_eq!(attr(&s, "sightline.enclave"), Some(&Value::from("outside")));
    assert_eq!(
        attr(&s, "error.type"),
        Some(&Value::from("404")),
        "4xx is an error for clients"
    );
    assert_eq!(s.parent_span_id, SpanId::INVALID);
}

#[test]
fn samplers_follow_the_parent_or_the_trace_id() {
    let on = Sampler {
        parent_based: true,
        ratio: 1.0,
    };
    let mut rec = CallRecord {
        parent_span_id: Some([3; 8]),
        trace_flags: 0,
        ..CallRecord::sample()
    };
    assert!(!sampled(&on, &rec), "an unsampled parent is followed");
    rec.trace_flags = 1;
    assert!(sampled(&on, &rec));
    let half = Sampler {
        parent_based: false,
        ratio: 0.5,
    };
    let kept = (0u8..=255)
        .filter(|i| {
            let mut r = CallRecord::sample();
            r.trace_id[8] = *i;
            sampled(&half, &r)
        })
        .count();
    assert!((100..=156).contains(&kept), "about half kept: {kept}");
    let off = Sampler {
        parent_based: false,
        ratio: 0.0,
    };
    assert!(!sampled(&off, &rec));
}
