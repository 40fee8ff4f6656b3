//! The OpenAPI 3 description of the whole admin surface, served at `/api/openapi.json`.
//!
//! Paths come from the table below, which a test checks against the router; the schemas of
//! JSON answers are generated from the types in [`crate::views`] that the router serializes,
//! so they cannot drift from what is sent. Query parameters are described with exactly the
//! values the parsers in `api::query` accept.

use crate::api::query;
use crate::assets;
use crate::views::{self, ALERT_KINDS, WINDOWS};
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{json, Map, Value};

/// One documented operation.
struct Doc {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// Query parameters.
    query: &'static [Param],
    /// The path parameter `{id}`, when the path has one.
    id: Option<Kind>,
    /// The JSON request body's string fields, for POSTs that take one.
    body: &'static [&'static str],
    /// What a success answers.
    answer: Answer,
}

/// What a successful operation answers.
enum Answer {
    /// JSON of a schema under `#/components/schemas/`.
    Json(&'static str),
    /// Prometheus text.
    Metrics,
    /// Server-sent events, each an alert.
    AlertEvents,
}

/// One query parameter: name, description and which values it takes.
struct Param(&'static str, &'static str, Kind);

/// The values a parameter takes.
#[derive(Clone, Copy)]
enum Kind {
    /// Any text.
    Text,
    /// One of these names.
    OneOf(&'static [&'static str]),
    /// Text matching this pattern.
    Pattern(&'static str),
    /// An integer from `min` to `max`.
    Int(u64, u64),
}

impl Kind {
    fn schema(self) -> Value {
        match self {
            Kind::Text => json!({ "type": "string" }),
            Kind::OneOf(names) => json!({ "type": "string", "enum": names }),
            Kind::Pattern(p) => json!({ "type": "string", "pattern": p }),
            Kind::Int(min, max) => json!({ "type": "integer", "minimum": min, "maximum": max }),
        }
    }
}

const WINDOW: Param = Param(
    "window",
    "1m, 5m (default), 1h or 24h",
    Kind::OneOf(WINDOWS),
);
const INSTANCE: Param = Param(
    "instance",
    "one instance of a fleet (default: the whole fleet)",
    Kind::Text,
);
const LIMIT: Param = Param(
    "limit",
    "1 to 1000 (default 100)",
    Kind::Int(1, query::MAX_LIMIT as u64),
);
const DECISIONS: &[&str] = &["allowed", "reported", "blocked", "limited"];

const DOCS: &[Doc] = &[
    Doc { method: "get", path: "/healthz", tag: "health", summary: "Liveness: the process answers.", query: &[], id: None, body: &[], answer: Answer::Json("Health") },
    Doc { method: "get", path: "/readyz", tag: "health", summary: "Readiness: 503 while draining.", query: &[], id: None, body: &[], answer: Answer::Json("Readiness") },
    Doc { method: "get", path: "/metrics", tag: "health", summary: "Prometheus text exposition.", query: &[], id: None, body: &[], answer: Answer::Metrics },
    Doc { method: "get", path: "/api/openapi.json", tag: "meta", summary: "This document.", query: &[], id: None, body: &[], answer: Answer::Json("Object") },
    Doc { method: "get", path: "/api/status", tag: "meta", summary: "Version, listeners, services and reload status.", query: &[], id: None, body: &[], answer: Answer::Json("Status") },
    Doc { method: "get", path: "/api/calls", tag: "calls", summary: "Recent calls, newest first, with cursor paging.", query: &[
        Param("service", "calls to (inbound) or from (egress) this service", Kind::Text),
        Param("find", "only calls whose service, source, destination, host or path contains this text, in any case (at most 200 bytes)", Kind::Text),
        Param("status", "an exact status (503), a class (5xx) or error (no status)", Kind::Pattern(query::STATUS_PATTERN)),
        Param("decision", "allowed, reported, blocked or limited", Kind::OneOf(DECISIONS)),
        Param("direction", "inbound or egress", Kind::OneOf(&["inbound", "egress"])),
        Param("before", "cursor from a previous page's next", Kind::Int(0, u64::MAX)),
        Param("since", "only calls that started at or after this time, unix seconds (with until or trace: read from the store's call log when there is one)", Kind::Int(0, u64::MAX)),
        Param("until", "only calls that started at or before this time, unix seconds", Kind::Int(0, u64::MAX)),
        Param("trace", "only the calls of this W3C trace id", Kind::Pattern("^[0-9a-f]{32}$")),
        LIMIT], id: None, body: &[], answer: Answer::Json("CallPage") },
    Doc { method: "get", path: "/api/calls/{id}", tag: "calls", summary: "One recent call's full record, by request id.", query: &[], id: Some(Kind::Text), body: &[], answer: Answer::Json("Call") },
    Doc { method: "get", path: "/api/graph", tag: "graph", summary: "The call graph over a window, laid out in columns (x, y per node, points per edge); in a fleet, merged over instances.", query: &[WINDOW, INSTANCE], id: None, body: &[], answer: Answer::Json("Graph") },
    Doc { method: "get", path: "/api/endpoints", tag: "graph", summary: "Endpoints with traffic in the window against their baselines; shadow endpoints flagged; in a fleet, merged over instances.", query: &[WINDOW, INSTANCE], id: None, body: &[], answer: Answer::Json("Endpoints") },
    Doc { method: "get", path: "/api/anomalies", tag: "graph", summary: "First sightings and anomalies, newest first.", query: &[], id: None, body: &[], answer: Answer::Json("Anomalies") },
    Doc { method: "get", path: "/api/nodes/{id}", tag: "graph", summary: "One node with its edges in and out and its findings.", query: &[WINDOW], id: Some(Kind::Text), body: &[], answer: Answer::Json("NodeDetail") },
    Doc { method: "get", path: "/api/history", tag: "graph", summary: "Calls per minute over the last hour, summed over the edges that touch node, start at from and end at to (each one given narrows the edges; 404 when none is left).", query: &[
        Param("node", "a node id at either end", Kind::Text),
        Param("from", "the caller's node id", Kind::Text),
        Param("to", "the callee's node id", Kind::Text)], id: None, body: &[], answer: Answer::Json("History") },
    Doc { method: "get", path: "/api/alerts", tag: "alerts", summary: "Alerts and incidents.", query: &[
        Param("state", "open, acknowledged or resolved", Kind::OneOf(&["open", "acknowledged", "resolved"])),
        Param("kind", "an alert kind", Kind::OneOf(ALERT_KINDS)),
        Param("severity", "at least this severe", Kind::OneOf(&["info", "low", "medium", "high", "critical"])),
        LIMIT], id: None, body: &[], answer: Answer::Json("Alerts") },
    Doc { method: "get", path: "/api/alerts/stream", tag: "alerts", summary: "Server-sent events: `event: alert` with the alert as JSON each time one opens or changes.", query: &[], id: None, body: &[], answer: Answer::AlertEvents },
    Doc { method: "post", path: "/api/alerts/{id}/ack", tag: "alerts", summary: "Acknowledges an alert; answers the updated alert.", query: &[], id: Some(Kind::Int(0, u64::MAX)), body: &[], answer: Answer::Json("Alert") },
    Doc { method: "post", path: "/api/alerts/{id}/resolve", tag: "alerts", summary: "Resolves an alert and snoozes it for 10 minutes (repeats of its cause meanwhile count on it; `snoozed_until` says until when); answers the updated alert.", query: &[], id: Some(Kind::Int(0, u64::MAX)), body: &[], answer: Answer::Json("Alert") },
    Doc { method: "post", path: "/api/alerts/{id}/reopen", tag: "alerts", summary: "Opens an acknowledged or resolved alert again (undo); answers the updated alert.", query: &[], id: Some(Kind::Int(0, u64::MAX)), body: &[], answer: Answer::Json("Alert") },
    Doc { method: "get", path: "/api/silences", tag: "alerts", summary: "Silences, newest first (those over too, until one is added).", query: &[], id: None, body: &[], answer: Answer::Json("Silences") },
    Doc { method: "post", path: "/api/silences", tag: "alerts", summary: "Silences a kind of alert (about one subject, or any) for a duration or until a time: alerts that open meanwhile are recorded and shown as silenced (`silenced_by`) but not sent to sinks, and open ones it matches are sent nothing more; answers the silence (201).", query: &[], id: None, body: &["kind", "reason"], answer: Answer::Json("Silence") },
    Doc { method: "delete", path: "/api/silences/{id}", tag: "alerts", summary: "Ends a silence early (what it muted is not sent); answers the silence.", query: &[], id: Some(Kind::Int(0, u64::MAX)), body: &[], answer: Answer::Json("Silence") },
    Doc { method: "get", path: "/api/clients", tag: "clients", summary: "Top talkers with their limits and bans.", query: &[LIMIT], id: None, body: &[], answer: Answer::Json("Clients") },
    Doc { method: "get", path: "/api/bans", tag: "clients", summary: "Bans in force.", query: &[], id: None, body: &[], answer: Answer::Json("Bans") },
    Doc { method: "post", path: "/api/bans/lift", tag: "clients", summary: "Lifts the ban on a client.", query: &[], id: None, body: &["client"], answer: Answer::Json("BanLifted") },
    Doc { method: "get", path: "/api/policy", tag: "policy", summary: "The effective enclave policy, client protections and reload status.", query: &[], id: None, body: &[], answer: Answer::Json("Policy") },
    Doc { method: "post", path: "/api/login", tag: "session", summary: "Checks the token and sets the HttpOnly, SameSite=Strict session cookie.", query: &[], id: None, body: &["token"], answer: Answer::Json("LoggedIn") },
    Doc { method: "post", path: "/api/logout", tag: "session", summary: "Clears the session cookie.", query: &[], id: None, body: &[], answer: Answer::Json("LoggedOut") },
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
        let summary = if assets::is_page(a) {
            "A dashboard page."
        } else {
            "A dashboard script or style sheet."
        };
        let media = a.media_type();
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
        .map(|Param(name, desc, kind)| {
            json!({ "name": name, "in": "query", "required": false, "description": desc,
                    "schema": kind.schema() })
        })
        .collect();
    if let Some(kind) = d.id {
        params.push(json!({ "name": "id", "in": "path", "required": true,
            "description": "percent-encoded id", "schema": kind.schema() }));
    }
    let content = match d.answer {
        Answer::Json(schema) => json!({ "application/json": {
            "schema": { "$ref": format!("#/components/schemas/{schema}") } } }),
        Answer::Metrics => json!({ "text/plain": { "schema": { "type": "string" } } }),
        // Before OpenAPI 3.2, the schema of an event stream describes one event.
        Answer::AlertEvents => json!({ "text/event-stream": { "schema": {
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": { "type": "string", "enum": ["alert"] },
                "data": { "type": "string", "contentMediaType": "application/json",
                    "contentSchema": { "$ref": "#/components/schemas/Alert" } },
                "id": { "type": "string" },
                "retry": { "type": "integer", "minimum": 0 },
            } } } }),
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
    if d.path == "/readyz" {
        op["responses"]["503"] = json!({ "description": "Not ready (draining).",
            "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Readiness" } } } });
    }
    if d.method == "post" || d.method == "delete" {
        op["responses"]["403"] = json!({ "$ref": "#/components/responses/Error" });
        op["responses"]["413"] = json!({ "$ref": "#/components/responses/Error" });
        let props: Map<String, Value> = d
            .body
            .iter()
            .map(|f| ((*f).to_owned(), json!({ "type": "string", "minLength": 1 })))
            .collect();
        if !d.body.is_empty() {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": {
                "schema": { "type": "object", "required": d.body, "properties": props } } } });
        }
    }
    if d.path == "/api/silences" && d.method == "post" {
        // 201, not 200; the body has optional fields and exactly one of duration and until.
        if let Some(r) = op["responses"].as_object_mut() {
            if let Some(ok) = r.remove("200") {
                r.insert("201".into(), ok);
            }
        }
        let text = json!({ "type": "string", "minLength": 1, "maxLength": 1000 });
        op["requestBody"] = json!({ "required": true, "content": { "application/json": {
            "schema": {
                "type": "object",
                "required": ["kind", "reason"],
                "additionalProperties": false,
                "properties": {
                    "kind": { "type": "string", "enum": ALERT_KINDS },
                    "subject": text,
                    "duration": { "type": "string", "pattern": "^[1-9][0-9]{0,5}[mhd]$",
                        "description": "for how long: 30m, 2h, 1d; longer than 90 days ends after 90 days" },
                    "until": { "type": "string", "format": "date-time",
                        "description": "until when (RFC 3339), instead of duration; a time past makes a silence already over, one more than 90 days ahead ends after 90 days" },
                    "reason": text,
                },
                "oneOf": [ { "required": ["duration"] }, { "required": ["until"] } ],
            } } } });
    }
    op
}

/// The schemas of the typed answers, generated from [`crate::views`].
fn generated_schemas() -> Map<String, Value> {
    let mut generator = SchemaSettings::openapi3()
        .with(|s| s.contract = Contract::Serialize)
        .into_generator();
    generator.subschema_for::<views::Health>();
    generator.subschema_for::<views::ErrorBody>();
    generator.subschema_for::<views::Readiness>();
    generator.subschema_for::<views::CallPage>();
    generator.subschema_for::<views::StatusView>();
    generator.subschema_for::<views::History>();
    generator.subschema_for::<views::PlacedGraph>();
    generator.subschema_for::<views::EndpointList>();
    generator.subschema_for::<views::FindingList>();
    generator.subschema_for::<views::NodeDetail>();
    generator.subschema_for::<views::PolicyView>();
    generator.subschema_for::<views::AlertList>();
    generator.subschema_for::<views::SilenceView>();
    generator.subschema_for::<views::SilenceList>();
    generator.subschema_for::<views::ClientList>();
    generator.subschema_for::<views::BanList>();
    generator.subschema_for::<views::BanLifted>();
    generator.subschema_for::<views::LoggedIn>();
    generator.subschema_for::<views::LoggedOut>();
    generator.take_definitions(true)
}

fn components() -> Value {
    let mut schemas = generated_schemas();
    schemas.insert("Object".into(), json!({ "type": "object" }));
    json!({
        "securitySchemes": {
            "bearer": { "type": "http", "scheme": "bearer" },
            "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE },
        },
        "responses": {
            "Error": { "description": "An error with a reason.", "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Error" } } } },
        },
        "schemas": schemas,
    })
}
