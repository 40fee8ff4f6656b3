use super::routes::ROUTES;
use super::*;
use crate::{views, AlertAction, CallPage, CallQuery, CallView, Readiness};
use http_body_util::BodyExt;

struct Fixed;

impl AdminState for Fixed {
    fn readiness(&self) -> Readiness {
        Readiness {
            ready: false,
            reason: "draining".into(),
            backends: Default::default(),
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
            service: Some("orders".into()),
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
    fn call(&self, id: &str) -> Option<CallView> {
        let q = CallQuery::default();
        self.calls(&q).calls.into_iter().find(|c| c.id == id)
    }
    fn status(&self) -> views::StatusView {
        views::StatusView {
            fleet: None,
            version: "0".into(),
            started: "2026-01-01T00:00:00Z".into(),
            config: views::ConfigStatus {
                file: None,
                generation: 1,
                last_reload: None,
                last_reload_ok: None,
                last_reload_error: None,
            },
            listeners: views::Listeners {
                inbound: None,
                inbound_tls: false,
                admin: None,
                egress: None,
            },
            services: vec![],
        }
    }
    fn graph(&self, window: &str) -> Result<views::GraphView, String> {
        let node = |id: &str, kind, label: &str| views::GraphNode {
            node: views::Node {
                id: id.into(),
                kind,
                label: label.into(),
                first_seen: 1,
                last_seen: 2,
            },
            new: false,
        };
        match window {
            "5m" | "1h" => Ok(views::GraphView {
                window: window.into(),
                now: 2,
                nodes: vec![
                    node("internet", views::NodeKind::Internet, "internet"),
                    node("service:a b", views::NodeKind::Service, "a b"),
                ],
                edges: vec![edge("internet", "service:a b")],
                dependencies: vec![],
                overflow: 0,
            }),
            other => Err(format!("unknown window {other:?}")),
        }
    }
    fn graph_of(&self, window: &str, _instance: Option<&str>) -> Result<views::GraphView, String> {
        self.graph(window)
    }

    fn endpoints_of(
        &self,
        window: &str,
        _instance: Option<&str>,
    ) -> Result<views::EndpointList, String> {
        self.endpoints(window)
    }

    fn endpoints(&self, window: &str) -> Result<views::EndpointList, String> {
        self.graph(window).map(|g| views::EndpointList {
            window: g.window,
            endpoints: vec![],
        })
    }
    fn anomalies(&self) -> views::FindingList {
        views::FindingList { anomalies: vec![] }
    }
    fn node(&self, id: &str, _window: &str) -> Result<Option<views::NodeDetail>, String> {
        Ok((id == "service:a b").then(|| views::NodeDetail {
            node: views::Node {
                id: id.into(),
                kind: views::NodeKind::Service,
                label: "a b".into(),
                first_seen: 1,
                last_seen: 2,
            },
            edges: vec![edge("internet", id)],
            findings: vec![],
        }))
    }
    fn clients(&self, _limit: usize) -> views::ClientList {
        views::ClientList { clients: vec![] }
    }
    fn bans(&self) -> views::BanList {
        views::BanList { bans: vec![] }
    }
    fn lift_ban(&self, _client: &str) -> Option<views::BanLifted> {
        None
    }
    fn alerts(&self, _filter: &crate::AlertFilter) -> Result<views::AlertList, String> {
        Ok(views::AlertList {
            alerts: vec![],
            incidents: vec![],
        })
    }
    fn alert_action(&self, _id: u64, _action: AlertAction) -> Option<views::AlertView> {
        None
    }
    fn silences(&self) -> views::SilenceList {
        views::SilenceList { silences: vec![] }
    }
    fn add_silence(&self, r: &crate::SilenceRequest) -> Result<views::SilenceView, String> {
        if r.kind != "rate_anomaly" {
            return Err(format!("kind: unknown value {:?}", r.kind));
        }
        Ok(views::SilenceView {
            id: 1,
            kind: r.kind.clone(),
            subject: r.subject.clone(),
            until: "2030-01-01T00:00:00Z".into(),
            reason: r.reason.clone(),
            created: "2029-12-31T00:00:00Z".into(),
            active: true,
        })
    }
    fn delete_silence(&self, id: u64) -> Option<views::SilenceView> {
        (id == 1).then(|| views::SilenceView {
            id,
            kind: "rate_anomaly".into(),
            subject: None,
            until: "2030-01-01T00:00:00Z".into(),
            reason: "maintenance".into(),
            created: "2029-12-31T00:00:00Z".into(),
            active: true,
        })
    }
    fn history(&self, q: &views::HistoryQuery) -> Option<views::History> {
        (q.from.as_deref() == Some("internet")).then(|| views::History { minutes: vec![] })
    }
    fn policy(&self) -> views::PolicyView {
        views::PolicyView {
            enclave: views::EnclavePolicy {
                mode: "enforce".into(),
                networks: vec![],
                rules: vec![],
            },
            egress: None,
            clients: views::ClientsPolicy {
                enabled: false,
                identity: views::IdentityPolicy {
                    api_key_header: None,
                    forwarded_header: "x-forwarded-for".into(),
                    trusted_proxies: vec![],
                    named: vec![],
                    ipv6_prefix: 64,
                },
                bans: views::BanPolicy {
                    action: "forbid".into(),
                },
                protections: vec![],
            },
            inbound: views::InboundPolicy {
                listen: "127.0.0.1:8080".into(),
                tls: false,
                routes: 1,
            },
            limits: views::LimitsPolicy {
                header_read_timeout_ms: 1,
                max_header_bytes: 1,
                max_uri_bytes: 1,
                max_request_body: None,
                request_timeout_ms: 1,
                upstream_connect_timeout_ms: 1,
                idle_timeout_ms: 1,
                max_connections: 1,
                drain_timeout_ms: 1,
            },
            admin: views::AdminPolicy {
                listen: "127.0.0.1:9900".into(),
                token_required: false,
            },
            reload: views::ReloadPolicy {
                file: None,
                generation: 1,
                at: None,
                ok: None,
                error: None,
            },
        }
    }
}

fn edge(from: &str, to: &str) -> views::Edge {
    let stats = views::EndpointStats {
        method: "*".into(),
        template: "*".into(),
        count: 1,
        rate: 0.1,
        ratio_4xx: 0.0,
        ratio_5xx: 0.0,
        latency_ms: views::Quantiles {
            p50: 1.0,
            p90: 2.0,
            p99: 3.0,
        },
        bytes_in: 0,
        bytes_out: 0,
        blocked: 0,
        reported: 0,
        first_seen: 1,
        last_seen: 2,
        samples: Vec::new(),
    };
    views::Edge {
        from: from.into(),
        to: to.into(),
        first_seen: 1,
        last_seen: 2,
        total: stats.clone(),
        endpoints: vec![stats],
    }
}

fn get(path: &str, auth: &AdminAuth) -> (StatusCode, String) {
    let req = Request::get(path).body(()).unwrap();
    let resp = handle(&req, &[], &Fixed, auth);
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
        "status=0",
        "status=699",
        "status=6xx",
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
        ..AdminAuth::default()
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
    let resp = handle(&req, &[], &Fixed, &AdminAuth::default());
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
    body: &str,
    headers: &[(&str, &str)],
    auth: &AdminAuth,
) -> (StatusCode, http::HeaderMap, String) {
    let mut req = Request::post(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(()).unwrap();
    let resp = handle(&req, body.as_bytes(), &Fixed, auth);
    let status = resp.status();
    let headers = resp.headers().clone();
    (
        status,
        headers,
        futures_lite_block(resp.into_body().collect()),
    )
}

/// The path of a documented template with its parameter filled in.
fn concrete(template: &str) -> String {
    template.replace("{id}", "7")
}

#[test]
fn the_openapi_document_lists_exactly_the_served_routes() {
    let (status, body) = get("/api/openapi.json", &AdminAuth::default());
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let mut served = std::collections::BTreeSet::new();
    for r in ROUTES {
        served.insert((r.method.to_string(), r.path.to_owned()));
    }
    for a in crate::assets::ASSETS {
        served.insert(("GET".to_owned(), a.path.to_owned()));
    }
    assert_eq!(documented, served);
    // And each documented operation really answers: never the router's "no such path".
    for (method, path) in &documented {
        let req = Request::builder()
            .method(method.as_str())
            .uri(concrete(path))
            .header("x-sightline-request", "1")
            .body(())
            .unwrap();
        let resp = handle(
            &req,
            b"{\"client\":\"c\",\"token\":\"t\"}",
            &Fixed,
            &AdminAuth::default(),
        );
        let status = resp.status();
        let text = futures_lite_block(resp.into_body().collect());
        assert!(
            !text.contains("no such admin path") && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {text}"
        );
        // Every $ref points at a defined component.
        for r in body.split("\"$ref\":\"#/components/").skip(1) {
            let (section, rest) = r.split_once('/').unwrap();
            let name = rest.split('"').next().unwrap();
            assert!(
                doc["components"][section][name].is_object(),
                "{section}/{name}"
            );
        }
    }
}

#[test]
fn state_changes_refuse_get() {
    for path in [
        "/api/alerts/a1/ack",
        "/api/alerts/a1/resolve",
        "/api/alerts/a1/reopen",
        "/api/bans/lift",
        "/api/login",
    ] {
        let (status, _) = get(path, &AdminAuth::default());
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    let (status, _, _) = post(
        "/api/graph",
        "",
        &[("x-sightline-request", "1")],
        &AdminAuth::default(),
    );
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn every_405_names_the_allowed_methods() {
    for (method, path, allow) in [
        ("GET", "/api/alerts/1/ack", "POST"),
        ("DELETE", "/api/calls", "GET, HEAD"),
        ("TRACE", "/", "GET, HEAD"),
        ("POST", "/js/app.js", "GET, HEAD"),
        ("PUT", "/api/silences", "GET, HEAD, POST"),
        ("GET", "/api/silences/1", "DELETE"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        let resp = handle(&req, &[], &Fixed, &AdminAuth::default());
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(resp.headers()[header::ALLOW], allow, "{method} {path}");
    }
}

#[test]
fn assets_are_documented_with_the_media_type_they_are_served_as() {
    let (_, body) = get("/api/openapi.json", &AdminAuth::default());
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    for a in crate::assets::ASSETS {
        let (_, _) = get(a.path, &AdminAuth::default());
        let req = Request::get(a.path).body(()).unwrap();
        let resp = handle(&req, &[], &Fixed, &AdminAuth::default());
        let served = resp.headers()[header::CONTENT_TYPE].to_str().unwrap();
        let media = served.split(';').next().unwrap();
        let content = &doc["paths"][a.path]["get"]["responses"]["200"]["content"];
        assert!(
            content.get(media).is_some(),
            "{}: {served} not in {content}",
            a.path
        );
    }
}

#[test]
fn generated_schemas_declare_what_may_be_null() {
    let (_, body) = get("/api/openapi.json", &AdminAuth::default());
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let call = &doc["components"]["schemas"]["Call"]["properties"];
    for field in ["upstream", "inside_enclave", "sni", "upstream_ms", "error"] {
        assert_eq!(call[field]["nullable"], true, "{field}");
    }
    assert_eq!(call["id"]["type"], "string");
    let alert = &doc["components"]["schemas"]["Alert"]["properties"];
    assert_eq!(alert["id"]["type"], "integer");
    assert_eq!(alert["incident"]["type"], "integer");
    assert_eq!(alert["incident"]["nullable"], true);
    let incident = &doc["components"]["schemas"]["Incident"]["properties"];
    assert_eq!(incident["alerts"]["items"]["type"], "integer");
}

#[test]
fn posts_without_the_custom_header_or_from_another_origin_are_refused() {
    let open = AdminAuth::default();
    let body = r#"{"client":"ip:10.0.0.1"}"#;
    let (status, _, text) = post("/api/bans/lift", body, &[], &open);
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let cross = [
        ("x-sightline-request", "1"),
        ("host", "127.0.0.1:9900"),
        ("origin", "http://evil.example"),
    ];
    assert_eq!(
        post("/api/bans/lift", body, &cross, &open).0,
        StatusCode::FORBIDDEN
    );
    let same = [
        ("x-sightline-request", "1"),
        ("host", "127.0.0.1:9900"),
        ("origin", "http://127.0.0.1:9900"),
    ];
    // Reaches the state: the client is not banned there.
    assert_eq!(
        post("/api/bans/lift", body, &same, &open).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post("/api/bans/lift", "not json", &same, &open).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("/api/bans/lift", "{\"client\":\"\"}", &same, &open).0,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn login_sets_a_session_cookie_that_opens_the_api() {
    let auth = AdminAuth {
        token: Some("t0k-long-enough".into()),
        ..AdminAuth::default()
    };
    let marked = [("x-sightline-request", "1")];
    let (status, _, _) = post("/api/login", r#"{"token":"nope"}"#, &marked, &auth);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = post("/api/login", r#"{"token":"t0k-long-enough"}"#, &[], &auth);
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "login needs the custom header too"
    );
    let (status, headers, _) = post(
        "/api/login",
        r#"{"token":"t0k-long-enough"}"#,
        &marked,
        &auth,
    );
    assert_eq!(status, StatusCode::OK);
    let cookie = headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let req = Request::get("/api/status")
        .header("cookie", &cookie)
        .body(())
        .unwrap();
    assert_eq!(handle(&req, &[], &Fixed, &auth).status(), StatusCode::OK);
    // The cookie alone does not make a POST: the custom header is still required.
    let (status, _, _) = post("/api/alerts/41/ack", "", &[("cookie", &cookie)], &auth);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(
        "/api/alerts/41/ack",
        "",
        &[("cookie", &cookie), marked[0]],
        &auth,
    );
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "reaches the state, which has no alert 41"
    );
    // A bearer token needs no custom header (a browser cannot send one cross-site).
    let (status, _, _) = post(
        "/api/alerts/41/ack",
        "",
        &[("authorization", "Bearer t0k-long-enough")],
        &auth,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, headers, _) = post("/api/logout", "", &[("cookie", &cookie), marked[0]], &auth);
    assert!(headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // Logging out ends the session on the server: the cookie, kept or replayed, opens nothing.
    let req = Request::get("/api/status")
        .header("cookie", &cookie)
        .body(())
        .unwrap();
    assert_eq!(
        handle(&req, &[], &Fixed, &auth).status(),
        StatusCode::UNAUTHORIZED
    );
    // The pages load without a token (they hold no data); the API does not.
    assert_eq!(get("/login", &auth).0, StatusCode::OK);
    assert_eq!(get("/api/graph", &auth).0, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_graph_comes_with_positions() {
    let (status, body) = get("/api/graph?window=5m", &AdminAuth::default());
    assert_eq!(status, StatusCode::OK);
    let g: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(g["nodes"][0]["layer"], 0, "internet first");
    assert_eq!(g["nodes"][1]["layer"], 1);
    assert_eq!(g["edges"][0]["points"].as_array().unwrap().len(), 2);
    assert!(g["layout"]["width"].as_f64().unwrap() > 0.0);
}

#[test]
fn alert_and_history_queries_are_checked() {
    let open = AdminAuth::default();
    assert_eq!(
        get("/api/alerts?state=open&severity=high&limit=5", &open).0,
        StatusCode::OK
    );
    assert_eq!(
        get("/api/alerts?state=gone", &open).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("/api/alerts?severity=urgent", &open).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("/api/clients?limit=0", &open).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get("/api/history?edge=a", &open).0, StatusCode::BAD_REQUEST);
    assert_eq!(get("/api/history?from=internet", &open).0, StatusCode::OK);
    assert_eq!(get("/api/history?from=a", &open).0, StatusCode::NOT_FOUND);
    assert_eq!(get("/api/alerts?kind=new_edge", &open).0, StatusCode::OK);
    assert_eq!(
        get("/api/alerts?kind=made_up", &open).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get("/api/graph?window=", &open).0, StatusCode::BAD_REQUEST);
    assert_eq!(
        get("/api/history?node=internet", &open).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get("/api/calls/r1", &open).0, StatusCode::OK);
    assert_eq!(get("/api/calls/r2", &open).0, StatusCode::NOT_FOUND);
}

#[test]
fn the_head_alone_refuses_a_post_before_its_body_is_read() {
    let auth = AdminAuth {
        token: Some("0123456789abcdef0123".into()),
        ..AdminAuth::default()
    };
    let post = |path: &str, bearer: bool| {
        let mut b = Request::post(path).header("host", "127.0.0.1:9900");
        if bearer {
            b = b.header("authorization", "Bearer 0123456789abcdef0123");
        }
        b.body(()).unwrap()
    };
    let refused = |req: &Request<()>| refuse_before_body(req, &auth).map(|r| r.status());
    assert_eq!(
        refused(&post("/api/bans/lift", false)),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        refused(&post("/api/nope", true)),
        Some(StatusCode::NOT_FOUND)
    );
    assert_eq!(
        refused(&post("/api/calls", true)),
        Some(StatusCode::METHOD_NOT_ALLOWED)
    );
    // Without the bearer token, a POST must prove it is not cross-site before its body.
    let cookie_less = Request::post("/api/login")
        .header("host", "127.0.0.1:9900")
        .body(())
        .unwrap();
    assert_eq!(refused(&cookie_less), Some(StatusCode::FORBIDDEN));
    // A request that may be answered is left for its body to be read.
    assert_eq!(refused(&post("/api/bans/lift", true)), None);
}

#[test]
fn silences_are_added_listed_and_ended_with_the_custom_header_only() {
    let open = AdminAuth::default();
    let same = [("x-sightline-request", "1")];
    let (status, _, text) = post(
        "/api/silences",
        r#"{"kind":"rate_anomaly","duration":"1h","reason":"deploy"}"#,
        &same,
        &open,
    );
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["kind"], "rate_anomaly");
    assert_eq!(v["subject"], serde_json::Value::Null);
    for (body, reason) in [
        ("not json", "JSON object"),
        ("[]", "JSON object"),
        (r#"{"kind":"rate_anomaly","reason":"x"}"#, "exactly one"),
        (
            r#"{"kind":"rate_anomaly","duration":"1h","until":"2030-01-01T00:00:00Z","reason":"x"}"#,
            "exactly one",
        ),
        (r#"{"kind":"rate_anomaly","duration":"1h"}"#, "reason"),
        (
            r#"{"kind":"rate_anomaly","duration":"1h","reason":""}"#,
            "reason",
        ),
        (
            r#"{"kind":"rate_anomaly","duration":1,"reason":"x"}"#,
            "duration",
        ),
        (
            r#"{"kind":"rate_anomaly","duration":"1h","reason":"x","silenced":true}"#,
            "unknown field",
        ),
        (r#"{"kind":"nope","duration":"1h","reason":"x"}"#, "kind"),
    ] {
        let (status, _, text) = post("/api/silences", body, &same, &open);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(text.contains(reason), "{body}: {text}");
    }
    let long = "x".repeat(1_001);
    let body = format!(r#"{{"kind":"rate_anomaly","duration":"1h","reason":"{long}"}}"#);
    assert_eq!(
        post("/api/silences", &body, &same, &open).0,
        StatusCode::BAD_REQUEST
    );
    let (status, _, _) = post(
        "/api/silences",
        r#"{"kind":"rate_anomaly","duration":"1h","reason":"deploy"}"#,
        &[],
        &open,
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "no custom header");
    let (status, body) = get("/api/silences", &open);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"silences":[]}"#);
    let delete = |path: &str, headers: &[(&str, &str)]| {
        let mut req = Request::delete(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        handle(&req.body(()).unwrap(), &[], &Fixed, &open).status()
    };
    assert_eq!(delete("/api/silences/1", &[]), StatusCode::FORBIDDEN);
    assert_eq!(delete("/api/silences/1", &same), StatusCode::OK);
    assert_eq!(delete("/api/silences/2", &same), StatusCode::NOT_FOUND);
    assert_eq!(delete("/api/silences/x", &same), StatusCode::BAD_REQUEST);
}
