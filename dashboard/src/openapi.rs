//! The OpenAPI 3 description of the whole admin surface, served at `/api/openapi.json`.
//!
//! A test checks that every route the router serves is described here, and nothing else.

use crate::assets;
use serde_json::{json, Map, Value};

/// One documented operation.
struct Doc {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// Query parameters: (name, description).
    query: &'static [(&'static str, &'static str)],
    /// The JSON request body's string fields, for POSTs that take one.
    body: &'static [&'static str],
    /// A schema reference (`#/components/schemas/...`) or a media type for non-JSON answers.
    answer: &'static str,
}

const WINDOW: (&str, &str) = ("window", "1m, 5m (default), 1h or 24h");
const LIMIT: (&str, &str) = ("limit", "1 to 1000 (default 100)");

const DOCS: &[Doc] = &[
    Doc { method: "get", path: "/healthz", tag: "health", summary: "Liveness: the process answers.", query: &[], body: &[], answer: "Object" },
    Doc { method: "get", path: "/readyz", tag: "health", summary: "Readiness: 503 while draining.", query: &[], body: &[], answer: "Readiness" },
    Doc { method: "get", path: "/metrics", tag: "health", summary: "Prometheus text exposition.", query: &[], body: &[], answer: "text/plain" },
    Doc { method: "get", path: "/api/openapi.json", tag: "meta", summary: "This document.", query: &[], body: &[], answer: "Object" },
    Doc { method: "get", path: "/api/status", tag: "meta", summary: "Version, listeners, services and reload status.", query: &[], body: &[], answer: "Object" },
    Doc { method: "get", path: "/api/calls", tag: "calls", summary: "Recent calls, newest first, with cursor paging.", query: &[("service", "calls to (inbound) or from (egress) this service"), ("status", "503, 5xx or error"), ("decision", "allowed, reported, blocked or limited"), ("direction", "inbound or egress"), ("before", "cursor from a previous page's next"), LIMIT], body: &[], answer: "CallPage" },
    Doc { method: "get", path: "/api/calls/{id}", tag: "calls", summary: "One recent call's full record, by request id.", query: &[], body: &[], answer: "Call" },
    Doc { method: "get", path: "/api/graph", tag: "graph", summary: "The call graph over a window, laid out in columns (x, y per node, points per edge).", query: &[WINDOW], body: &[], answer: "Graph" },
    Doc { method: "get", path: "/api/endpoints", tag: "graph", summary: "Endpoints with traffic in the window against their baselines; shadow endpoints flagged.", query: &[WINDOW], body: &[], answer: "Object" },
    Doc { method: "get", path: "/api/anomalies", tag: "graph", summary: "First sightings and anomalies, newest first.", query: &[], body: &[], answer: "Object" },
    Doc { method: "get", path: "/api/nodes/{id}", tag: "graph", summary: "One node with its edges in and out and its findings.", query: &[WINDOW], body: &[], answer: "Object" },
    Doc { method: "get", path: "/api/history", tag: "graph", summary: "Calls per minute over the last hour for a node or an edge.", query: &[("node", "a node id"), ("from", "an edge's caller id"), ("to", "an edge's callee id")], body: &[], answer: "History" },
    Doc { method: "get", path: "/api/alerts", tag: "alerts", summary: "Alerts and incidents.", query: &[("state", "open, acknowledged or resolved"), ("kind", "an alert kind"), ("severity", "info, low, medium, high or critical"), LIMIT], body: &[], answer: "Alerts" },
    Doc { method: "get", path: "/api/alerts/stream", tag: "alerts", summary: "Server-sent events: `event: alert` with the alert as JSON each time one opens or changes.", query: &[], body: &[], answer: "text/event-stream" },
    Doc { method: "post", path: "/api/alerts/{id}/ack", tag: "alerts", summary: "Acknowledges an alert; answers the updated alert.", query: &[], body: &[], answer: "Alert" },
    Doc { method: "post", path: "/api/alerts/{id}/resolve", tag: "alerts", summary: "Resolves an alert; answers the updated alert.", query: &[], body: &[], answer: "Alert" },
    Doc { method: "get", path: "/api/clients", tag: "clients", summary: "Top talkers with their limits and bans.", query: &[LIMIT], body: &[], answer: "Clients" },
    Doc { method: "get", path: "/api/bans", tag: "clients", summary: "Bans in force.", query: &[], body: &[], answer: "Bans" },
    Doc { method: "post", path: "/api/bans/lift", tag: "clients", summary: "Lifts the ban on a client.", query: &[], body: &["client"], answer: "Object" },
    Doc { method: "get", path: "/api/policy", tag: "policy", summary: "The effective enclave policy, client protections and reload status.", query: &[], body: &[], answer: "Object" },
    Doc { method: "post", path: "/api/login", tag: "session", summary: "Checks the token and sets the HttpOnly, SameSite=Strict session cookie.", query: &[], body: &["token"], answer: "Object" },
    Doc { method: "post", path: "/api/logout", tag: "session", summary: "Clears the session cookie.", query: &[], body: &[], answer: "Object" },
];

/// The document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for d in DOCS {
        let entry = paths.entry(d.path.to_owned()).or_insert_with(|| json!({}));
        if let Some(o) = entry.as_object_mut() {
            o.insert(d.method.to_owned(), operation(d));
        }
    }
    for a in assets::ASSETS {
        let (summary, media) = if assets::is_page(a) {
            ("A dashboard page.", "text/html")
        } else {
            ("A dashboard script or style sheet.", "text/plain")
        };
        paths.insert(
            a.path.to_owned(),
            json!({ "get": {
                "tags": ["ui"],
                "summary": summary,
                "security": [],
                "responses": { "200": { "description": "The file.", "content": { media: {} } } }
            }}),
        );
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Sightline admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Health, metrics, recorded calls, the call graph, alerts, clients and \
                policy of a running Sightline. Times are RFC 3339 UTC strings unless named as unix \
                seconds. On loopback without a token everything is open; with a token, send \
                `Authorization: Bearer <token>` (or log in for the session cookie). Every POST \
                that does not carry the bearer token must carry the `x-sightline-request` header.",
        },
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": paths,
        "components": components(),
    })
}

fn operation(d: &Doc) -> Value {
    let mut params: Vec<Value> = d
        .query
        .iter()
        .map(|(name, desc)| {
            json!({ "name": name, "in": "query", "required": false, "description": desc,
                    "schema": { "type": "string" } })
        })
        .collect();
    if d.path.contains("{id}") {
        params.push(json!({ "name": "id", "in": "path", "required": true,
            "description": "percent-encoded id", "schema": { "type": "string" } }));
    }
    let content = if d.answer.contains('/') {
        json!({ d.answer: { "schema": { "type": "string" } } })
    } else {
        json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{}", d.answer) } } })
    };
    let mut op = json!({
        "tags": [d.tag],
        "summary": d.summary,
        "parameters": params,
        "responses": {
            "200": { "description": "OK", "content": content },
            "400": { "$ref": "#/components/responses/Error" },
            "401": { "$ref": "#/components/responses/Error" },
            "404": { "$ref": "#/components/responses/Error" },
        },
    });
    if matches!(
        d.path,
        "/healthz" | "/readyz" | "/api/login" | "/api/logout"
    ) {
        op["security"] = json!([]);
    }
    if d.method == "post" {
        op["responses"]["403"] = json!({ "$ref": "#/components/responses/Error" });
        let props: Map<String, Value> = d
            .body
            .iter()
            .map(|f| ((*f).to_owned(), json!({ "type": "string" })))
            .collect();
        if !d.body.is_empty() {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": {
                "schema": { "type": "object", "required": d.body, "properties": props } } } });
        }
    }
    op
}

fn components() -> Value {
    let s = |t: &str| json!({ "type": t });
    let time = json!({ "type": "string", "format": "date-time" });
    let nullable_time = json!({ "type": "string", "format": "date-time", "nullable": true });
    json!({
        "securitySchemes": {
            "bearer": { "type": "http", "scheme": "bearer" },
            "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE },
        },
        "responses": {
            "Error": { "description": "An error with a reason.", "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Error" } } } },
        },
        "schemas": {
            "Object": { "type": "object" },
            "Error": { "type": "object", "properties": { "error": s("string"), "reason": s("string") } },
            "Readiness": { "type": "object", "properties": { "ready": s("boolean"), "reason": s("string") } },
            "Call": { "type": "object", "properties": {
                "id": s("string"), "seq": s("integer"), "time": time, "direction": s("string"),
                "source": s("string"), "source_addr": s("string"), "destination": s("string"),
                "upstream": s("string"), "inside_enclave": s("boolean"), "sni": s("string"),
                "method": s("string"), "host": s("string"), "path": s("string"), "route": s("string"),
                "status": s("integer"), "duration_ms": s("number"), "upstream_ms": s("number"),
                "bytes_in": s("integer"), "bytes_out": s("integer"), "protocol": s("string"),
                "tls": s("boolean"), "decision": s("string"), "reason": s("string"),
                "error": s("string"), "trace_id": s("string") } },
            "CallPage": { "type": "object", "properties": {
                "calls": { "type": "array", "items": { "$ref": "#/components/schemas/Call" } },
                "next": { "type": "integer", "nullable": true } } },
            "Graph": { "type": "object", "properties": {
                "window": s("string"), "now": s("integer"),
                "nodes": { "type": "array", "items": { "type": "object", "properties": {
                    "id": s("string"), "kind": { "type": "string",
                        "enum": ["service", "client", "internal-unknown", "external", "internet"] },
                    "label": s("string"), "first_seen": s("integer"), "last_seen": s("integer"),
                    "new": s("boolean"), "x": s("number"), "y": s("number"), "layer": s("integer") } } },
                "edges": { "type": "array", "items": { "type": "object", "properties": {
                    "from": s("string"), "to": s("string"), "first_seen": s("integer"),
                    "last_seen": s("integer"), "total": s("object"),
                    "endpoints": { "type": "array", "items": s("object") },
                    "points": { "type": "array", "items": { "type": "array", "items": s("number") } },
                    "backwards": s("boolean") } } },
                "layout": { "type": "object", "properties": { "width": s("number"),
                    "height": s("number"), "node_width": s("number"), "node_height": s("number"),
                    "crossings": s("integer") } } } },
            "History": { "type": "object", "properties": { "minutes": { "type": "array", "items": {
                "type": "object", "properties": { "at": s("integer"), "count": s("integer"),
                "errors": s("integer"), "blocked": s("integer"), "p90_ms": s("number") } } } } },
            "Alert": { "type": "object", "properties": {
                "id": s("string"), "kind": s("string"),
                "severity": { "type": "string", "enum": ["info", "low", "medium", "high", "critical"] },
                "state": { "type": "string", "enum": ["open", "acknowledged", "resolved"] },
                "subject": s("string"), "summary": s("string"), "count": s("integer"),
                "first_seen": time, "last_seen": time, "evidence": s("object"),
                "incident": { "type": "string", "nullable": true },
                "delivery": { "type": "object", "additionalProperties": { "type": "string",
                    "enum": ["pending", "delivered", "failed"] } } } },
            "Incident": { "type": "object", "properties": { "id": s("string"), "root": s("string"),
                "state": s("string"), "alerts": { "type": "array", "items": s("string") },
                "first_seen": time, "last_seen": time } },
            "Alerts": { "type": "object", "properties": {
                "alerts": { "type": "array", "items": { "$ref": "#/components/schemas/Alert" } },
                "incidents": { "type": "array", "items": { "$ref": "#/components/schemas/Incident" } } } },
            "Clients": { "type": "object", "properties": { "clients": { "type": "array", "items": {
                "type": "object", "properties": { "id": s("string"), "kind": s("string"),
                "requests": s("integer"), "limited": s("integer"), "blocked": s("integer"),
                "errors_4xx": s("integer"), "last_seen": time, "banned_until": nullable_time } } } } },
            "Bans": { "type": "object", "properties": { "bans": { "type": "array", "items": {
                "type": "object", "properties": { "client": s("string"), "reason": s("string"),
                "since": time, "until": time, "strikes": s("integer") } } } } },
        },
    })
}
