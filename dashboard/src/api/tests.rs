use super::*;
use crate::{CallPage, CallQuery, CallView, Readiness};
use http_body_util::BodyExt;

struct Fixed;

impl AdminState for Fixed {
    fn readiness(&self) -> Readiness {
        Readiness {
            ready: false,
            reason: "draining".into(),
        }
    }
    fn metrics(&self) -> String {
        "sightline_up 1\n".into()
    }
    fn calls(&self, q: &CallQuery) -> CallPage {
        let call = CallView {
            id: "r1".into(),
            seq: 7,
            time: "2026-01-01T00:00:00Z".into(),
            direction: q.direction.clone().unwrap_or_default(),
            source: "127.0.0.1".into(),
            source_addr: "127.0.0.1:5000".into(),
            destination: "orders".into(),
            upstream: None,
            inside_enclave: None,
            sni: None,
            method: "GET".into(),
            host: "h".into(),
            path: "/<script>".into(),
            route: "/".into(),
            status: 200,
            duration_ms: 1.0,
            upstream_ms: None,
            bytes_in: 0,
            bytes_out: 0,
            protocol: "h1".into(),
            tls: false,
            decision: "allowed".into(),
            reason: String::new(),
            error: None,
            trace_id: "t".into(),
            client: None,
            protection: None,
        };
        CallPage {
            calls: vec![call],
            next: None,
        }
    }
    fn status(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn graph(&self, window: &str) -> Result<serde_json::Value, String> {
        match window {
            "5m" | "1h" => Ok(serde_json::json!({ "window": window, "nodes": [], "edges": [] })),
            other => Err(format!("unknown window {other:?}")),
        }
    }
    fn endpoints(&self, window: &str) -> Result<serde_json::Value, String> {
        self.graph(window)
    }
    fn anomalies(&self) -> serde_json::Value {
        serde_json::json!({ "findings": [] })
    }
    fn node(&self, id: &str, _window: &str) -> Result<Option<serde_json::Value>, String> {
        Ok((id == "service:a b").then(|| serde_json::json!({ "id": id })))
    }
}

fn get(path: &str, auth: &AdminAuth) -> (StatusCode, String) {
    let req = Request::get(path).body(()).unwrap();
    let resp = handle(&req, &Fixed, auth);
    let status = resp.status();
    let body = futures_lite_block(resp.into_body().collect());
    (status, body)
}

fn futures_lite_block<
    F: std::future::Future<
        Output = Result<http_body_util::Collected<Bytes>, std::convert::Infallible>,
    >,
>(
    f: F,
) -> String {
    // Full bodies are ready on first poll; a no-op waker suffices.
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(c)) => String::from_utf8(c.to_bytes().to_vec()).unwrap(),
        _ => panic!("full body was not ready"),
    }
}

#[test]
fn readyz_reports_not_ready_with_503() {
    let (status, body) = get("/readyz", &AdminAuth::default());
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("draining"));
}

#[test]
fn calls_filters_are_parsed_and_passed() {
    let (status, body) = get("/api/calls?direction=egress&limit=5", &AdminAuth::default());
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["calls"][0]["direction"], "egress");
}

#[test]
fn bad_filters_are_400_with_reason() {
    for q in [
        "limit=0",
        "limit=x",
        "status=7zz",
        "direction=sideways",
        "nope=1",
        "service=%zz",
    ] {
        let (status, body) = get(&format!("/api/calls?{q}"), &AdminAuth::default());
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert!(body.contains("reason"), "{q}");
    }
}

#[test]
fn token_guards_everything_but_health() {
    let auth = AdminAuth {
        token: Some("t0k".into()),
    };
    assert_eq!(get("/healthz", &auth).0, StatusCode::OK);
    assert_eq!(get("/api/calls", &auth).0, StatusCode::UNAUTHORIZED);
    assert_eq!(get("/metrics", &auth).0, StatusCode::UNAUTHORIZED);
}

#[test]
fn query_decoding() {
    let q = query::call_query("service=a%20b&status=5xx&before=10").unwrap();
    assert_eq!(q.service.as_deref(), Some("a b"));
    assert_eq!(q.status.as_deref(), Some("5xx"));
    assert_eq!(q.before, Some(10));
    assert_eq!(q.limit, 100);
}

#[test]
fn ui_is_served_with_strict_csp() {
    let req = Request::get("/").body(()).unwrap();
    let resp = handle(&req, &Fixed, &AdminAuth::default());
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
}

#[test]
fn graph_routes_and_node_ids() {
    let (status, body) = get("/api/graph?window=1h", &AdminAuth::default());
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"1h\""));
    assert_eq!(
        get("/api/graph", &AdminAuth::default()).0,
        StatusCode::OK,
        "5m is the default"
    );
    assert_eq!(
        get("/api/graph?window=7y", &AdminAuth::default()).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("/api/graph?bogus=1", &AdminAuth::default()).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("/api/nodes/service:a%20b", &AdminAuth::default()).0,
        StatusCode::OK
    );
    assert_eq!(
        get("/api/nodes/service:zzz", &AdminAuth::default()).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get("/api/anomalies", &AdminAuth::default()).0,
        StatusCode::OK
    );
}

fn post(
    path: &str,
    content_type: Option<&str>,
    body: &str,
    auth: &AdminAuth,
) -> (StatusCode, String) {
    let mut req = Request::post(path);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(()).unwrap();
    let resp = crate::handle_with_body(&req, body.as_bytes(), &Fixed, auth);
    let status = resp.status();
    (status, futures_lite_block(resp.into_body().collect()))
}

#[test]
fn client_routes_default_to_empty_and_lifting_needs_json() {
    let open = AdminAuth::default();
    assert_eq!(
        get("/api/bans", &open),
        (StatusCode::OK, r#"{"bans":[]}"#.into())
    );
    assert_eq!(get("/api/clients?limit=5", &open).0, StatusCode::OK);
    assert_eq!(
        get("/api/clients?limit=0", &open).0,
        StatusCode::BAD_REQUEST
    );
    let json = Some("application/json");
    let (status, body) = post("/api/bans/lift", json, r#"{"client":"1.2.3.4"}"#, &open);
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        post(
            "/api/bans/lift",
            Some("text/plain"),
            r#"{"client":"x"}"#,
            &open
        )
        .0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "a cross-site form cannot lift a ban"
    );
    assert_eq!(
        post("/api/bans/lift", json, "{}", &open).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("/api/calls", json, "{}", &open).0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let guarded = AdminAuth {
        token: Some("0123456789abcdef".into()),
    };
    assert_eq!(
        post("/api/bans/lift", json, r#"{"client":"x"}"#, &guarded).0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get("/api/bans", &open).0, StatusCode::OK);
}
