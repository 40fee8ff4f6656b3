//! `GET /api/policy`: the enclave policy and protections in force, as the config says them.

use super::rfc3339;
use crate::runtime::Shared;
use serde_json::{json, Value};

/// The effective policy of the config in force, with its reload status.
pub(super) fn view(shared: &Shared) -> Value {
    let active = shared.active();
    let config = &active.config;
    let reload = shared.reload_status();
    let enclave = &config.enclave;
    let rules: Vec<Value> = enclave
        .rules
        .iter()
        .map(|r| {
            json!({
                "service": r.service,
                "action": r.action.as_str(),
                "hosts": r.hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "cidrs": r.cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "ports": r.ports,
                "mode": r.mode.unwrap_or(enclave.mode).as_str(),
            })
        })
        .collect();
    let networks: Vec<Value> = enclave
        .networks
        .iter()
        .map(|n| {
            json!({
                "net": n.net.to_string(),
                "except": n.except.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    let egress = config.egress.as_ref().map(|e| {
        json!({
            "listen": e.listen.to_string(),
            "sources": e.sources.iter().map(|(net, s)| json!({ "cidr": net.to_string(), "service": s })).collect::<Vec<_>>(),
            // Which services may authenticate, never their secrets.
            "credentials": e.credentials.keys().collect::<Vec<_>>(),
            "identities": e.identities,
            "connect_timeout_ms": e.connect_timeout.as_millis() as u64,
            "idle_timeout_ms": e.idle_timeout.as_millis() as u64,
            "tls": e.tls.is_some(),
        })
    });
    let limits = &config.limits;
    json!({
        "enclave": {
            "mode": enclave.mode.as_str(),
            "networks": networks,
            "rules": rules,
        },
        "egress": egress,
        "clients": super::protections::view(&config.clients),
        "inbound": {
            "listen": config.inbound.listen.to_string(),
            "tls": config.inbound.tls.is_some(),
            "routes": config.inbound.routes.len(),
        },
        "limits": {
            "header_read_timeout_ms": limits.header_read_timeout.as_millis() as u64,
            "max_header_bytes": limits.max_header_bytes,
            "max_uri_bytes": limits.max_uri_bytes,
            "max_request_body": limits.max_request_body,
            "request_timeout_ms": limits.request_timeout.as_millis() as u64,
            "upstream_connect_timeout_ms": limits.upstream_connect_timeout.as_millis() as u64,
            "idle_timeout_ms": limits.idle_timeout.as_millis() as u64,
            "max_connections": limits.max_connections,
            "drain_timeout_ms": limits.drain_timeout.as_millis() as u64,
        },
        "admin": {
            "listen": config.admin.listen.to_string(),
            "token_required": config.admin.token.is_some(),
        },
        "reload": {
            "file": shared.config_path.as_ref().map(|p| p.display().to_string()),
            "generation": active.generation,
            "at": reload.at.map(rfc3339),
            "ok": reload.at.map(|_| reload.ok),
            "error": reload.error,
        },
    })
}
