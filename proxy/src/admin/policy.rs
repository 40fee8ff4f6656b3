//! `GET /api/policy`: the enclave policy and protections in force, as the config says them.

use crate::clock::rfc3339;
use crate::state::Shared;
use sightline_dashboard::views::{
    AdminPolicy, EgressPolicy, EnclavePolicy, InboundPolicy, LimitsPolicy, NetworkPolicy,
    PolicyView, ReloadPolicy, RulePolicy, SourcePolicy,
};

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The effective policy of the config in force, with its reload status.
pub(super) fn view(shared: &Shared) -> PolicyView {
    let active = shared.active();
    let config = &active.config;
    let reload = shared.reload_status();
    let enclave = &config.enclave;
    let rules = enclave
        .rules
        .iter()
        .map(|r| RulePolicy {
            service: r.service.clone(),
            action: r.action.as_str().into(),
            hosts: strings(&r.hosts),
            cidrs: strings(&r.cidrs),
            ports: r.ports.clone(),
            mode: r.mode.unwrap_or(enclave.mode).as_str().into(),
        })
        .collect();
    let networks = enclave
        .networks
        .iter()
        .map(|n| NetworkPolicy {
            net: n.net.to_string(),
            except: strings(&n.except),
        })
        .collect();
    let egress = config.egress.as_ref().map(|e| EgressPolicy {
        listen: e.listen.to_string(),
        sources: e
            .sources
            .iter()
            .map(|(net, s)| SourcePolicy {
                cidr: net.to_string(),
                service: s.clone(),
            })
            .collect(),
        // Which services may authenticate, never their secrets.
        credentials: e.credentials.keys().cloned().collect(),
        identities: e.identities.clone(),
        connect_timeout_ms: ms(e.connect_timeout),
        idle_timeout_ms: ms(e.idle_timeout),
        tls: e.tls.is_some(),
    });
    let limits = &config.limits;
    PolicyView {
        enclave: EnclavePolicy {
            mode: enclave.mode.as_str().into(),
            networks,
            rules,
        },
        egress,
        clients: super::protections::view(&config.clients),
        inbound: InboundPolicy {
            listen: config.inbound.listen.to_string(),
            tls: config.inbound.tls.is_some(),
            routes: config.inbound.routes.len() as u64,
        },
        limits: LimitsPolicy {
            header_read_timeout_ms: ms(limits.header_read_timeout),
            max_header_bytes: limits.max_header_bytes as u64,
            max_uri_bytes: limits.max_uri_bytes as u64,
            max_request_body: limits.max_request_body,
            request_timeout_ms: ms(limits.request_timeout),
            upstream_connect_timeout_ms: ms(limits.upstream_connect_timeout),
            idle_timeout_ms: ms(limits.idle_timeout),
            max_connections: limits.max_connections as u64,
            drain_timeout_ms: ms(limits.drain_timeout),
        },
        admin: AdminPolicy {
            listen: config.admin.listen.to_string(),
            token_required: config.admin.token.is_some(),
        },
        reload: ReloadPolicy {
            file: shared.config_path.as_ref().map(|p| p.display().to_string()),
            generation: active.generation,
            at: reload.at.map(rfc3339),
            ok: reload.at.map(|_| reload.ok),
            error: reload.error,
        },
    }
}
