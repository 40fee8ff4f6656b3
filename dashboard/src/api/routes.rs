//! The admin API's route table: the router dispatches from it and the OpenAPI document is
//! checked against it.

use http::Method;

/// What a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
    Status,
    Calls,
    Call,
    Graph,
    Endpoints,
    Anomalies,
    Node,
    History,
    Alerts,
    AlertStream,
    AlertAck,
    AlertResolve,
    AlertReopen,
    Silences,
    AddSilence,
    DeleteSilence,
    Clients,
    Bans,
    LiftBan,
    Policy,
    Login,
    Logout,
}

/// One route: method, path template (`{name}` matches one non-empty segment) and operation.
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) op: Op,
}

const fn get(path: &'static str, op: Op) -> Route {
    Route {
        method: Method::GET,
        path,
        op,
    }
}

const fn post(path: &'static str, op: Op) -> Route {
    Route {
        method: Method::POST,
        path,
        op,
    }
}

const fn delete(path: &'static str, op: Op) -> Route {
    Route {
        method: Method::DELETE,
        path,
        op,
    }
}

/// Every API route.
pub(crate) const ROUTES: &[Route] = &[
    get("/healthz", Op::Healthz),
    get("/readyz", Op::Readyz),
    get("/metrics", Op::Metrics),
    get("/api/openapi.json", Op::OpenApi),
    get("/api/status", Op::Status),
    get("/api/calls", Op::Calls),
    get("/api/calls/{id}", Op::Call),
    get("/api/graph", Op::Graph),
    get("/api/endpoints", Op::Endpoints),
    get("/api/anomalies", Op::Anomalies),
    get("/api/nodes/{id}", Op::Node),
    get("/api/history", Op::History),
    get("/api/alerts", Op::Alerts),
    get("/api/alerts/stream", Op::AlertStream),
    post("/api/alerts/{id}/ack", Op::AlertAck),
    post("/api/alerts/{id}/resolve", Op::AlertResolve),
    post("/api/alerts/{id}/reopen", Op::AlertReopen),
    get("/api/silences", Op::Silences),
    post("/api/silences", Op::AddSilence),
    delete("/api/silences/{id}", Op::DeleteSilence),
    get("/api/clients", Op::Clients),
    get("/api/bans", Op::Bans),
    post("/api/bans/lift", Op::LiftBan),
    get("/api/policy", Op::Policy),
    post("/api/login", Op::Login),
    post("/api/logout", Op::Logout),
];

/// How a path matched.
pub(crate) enum Found {
    /// A route, with the raw (still percent-encoded) value of its one parameter, if any.
    Route(Op, Option<String>),
    /// The path exists, but not for this method: the `Allow` header's value.
    WrongMethod(&'static str),
    /// No route has this path.
    None,
}

/// The route for `method` and `path`. HEAD is served like GET.
pub(crate) fn find(method: &Method, path: &str) -> Found {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let (mut get, mut post, mut delete) = (false, false, false);
    for r in ROUTES {
        if let Some(param) = matches(r.path, path) {
            if r.method == *method {
                return Found::Route(r.op, param);
            }
            get |= r.method == Method::GET;
            post |= r.method == Method::POST;
            delete |= r.method == Method::DELETE;
        }
    }
    match (get, post, delete) {
        (false, false, false) => Found::None,
        (true, true, _) => Found::WrongMethod("GET, HEAD, POST"),
        (_, _, true) => Found::WrongMethod("DELETE"),
        (false, true, _) => Found::WrongMethod("POST"),
        (true, false, _) => Found::WrongMethod("GET, HEAD"),
    }
}

/// Matches a template: `Some(param)` when it fits.
fn matches(template: &str, path: &str) -> Option<Option<String>> {
    let mut param = None;
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(param),
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return None;
                }
                param = Some(ps.to_owned());
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
}
