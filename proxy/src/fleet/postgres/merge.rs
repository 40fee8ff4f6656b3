//! The other instances' graph merged into this instance's admin answers (at query time, from
//! the view the heartbeat task last read).

use super::{FleetView, RemoteEndpoint};
use sightline_dashboard::views;

/// Which of a remote endpoint's four window totals a window of `secs` reads.
fn slot(secs: u64) -> usize {
    match secs {
        0..=60 => 0,
        61..=300 => 1,
        301..=3600 => 2,
        _ => 3,
    }
}

fn stats(
    method: &str,
    template: &str,
    e: Option<&RemoteEndpoint>,
    w: usize,
) -> views::EndpointStats {
    views::EndpointStats {
        method: method.to_owned(),
        template: template.to_owned(),
        count: e.map_or(0, |e| e.calls[w]),
        rate: 0.0,
        ratio_4xx: 0.0,
        ratio_5xx: 0.0,
        latency_ms: views::Quantiles {
            p50: 0.0,
            p90: 0.0,
            p99: 0.0,
        },
        bytes_in: 0,
        bytes_out: 0,
        blocked: e.map_or(0, |e| e.blocked[w]),
        reported: 0,
        first_seen: 0,
        last_seen: 0,
    }
}

fn add(into: &mut views::EndpointStats, e: &RemoteEndpoint, w: usize, secs: u64) {
    into.count += e.calls[w];
    into.blocked += e.blocked[w];
    into.rate = into.count as f64 / secs.max(1) as f64;
}

fn node_view(fleet: &FleetView, id: &str, since: u64) -> views::GraphNode {
    let known = fleet.nodes.iter().find(|n| n.id.as_ref() == id);
    let kind = known.map_or(crate::analysis::graph::NodeKind::External, |n| n.kind);
    views::GraphNode {
        node: views::Node {
            id: id.to_owned(),
            kind: kind.view(),
            label: known.map_or_else(
                || id.split_once(':').map_or(id, |(_, l)| l).to_owned(),
                |n| n.label.to_string(),
            ),
            first_seen: known.map_or(0, |n| n.first_seen),
            last_seen: known.map_or(0, |n| n.last_seen),
        },
        new: known.is_some_and(|n| n.first_seen >= since),
    }
}

/// Adds to `g` the edges other instances saw in its window. `only` picks one instance: this
/// one (`me`) leaves `g` as it is; another replaces `g` by what that instance saw.
pub fn graph(g: &mut views::GraphView, fleet: &FleetView, me: &str, secs: u64, only: Option<&str>) {
    if only == Some(me) {
        return;
    }
    if only.is_some() {
        g.nodes.clear();
        g.edges.clear();
        g.dependencies.clear();
    }
    let since = g.now.saturating_sub(secs);
    let w = slot(secs);
    let picked = |instance: &str| only.is_none_or(|o| o == instance);
    for e in fleet
        .edges
        .iter()
        .filter(|e| picked(&e.instance) && e.last_seen >= since)
    {
        let at = match g
            .edges
            .iter()
            .position(|x| x.from == e.from && x.to == e.to)
        {
            Some(i) => i,
            None => {
                g.edges.push(views::Edge {
                    from: e.from.clone(),
                    to: e.to.clone(),
                    first_seen: e.first_seen,
                    last_seen: e.last_seen,
                    total: stats("*", "*", None, w),
                    endpoints: Vec::new(),
                });
                g.edges.len() - 1
            }
        };
        let edge = &mut g.edges[at];
        edge.first_seen = edge.first_seen.min(e.first_seen);
        edge.last_seen = edge.last_seen.max(e.last_seen);
        for ep in fleet
            .endpoints
            .iter()
            .filter(|x| x.instance == e.instance && x.from == e.from && x.to == e.to)
        {
            add(&mut edge.total, ep, w, secs);
            match edge
                .endpoints
                .iter_mut()
                .find(|s| s.method == ep.method && s.template == ep.template)
            {
                Some(s) => add(s, ep, w, secs),
                None => edge
                    .endpoints
                    .push(stats(&ep.method, &ep.template, Some(ep), w)),
            }
        }
        for id in [&e.from, &e.to] {
            if !g.nodes.iter().any(|n| &n.node.id == id) {
                g.nodes.push(node_view(fleet, id, since));
            }
        }
    }
    g.edges
        .sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
}

/// Adds to `list` the endpoints other instances served in its window, with `only` as in
/// [`graph`].
pub fn endpoints(
    list: &mut views::EndpointList,
    fleet: &FleetView,
    me: &str,
    secs: u64,
    only: Option<&str>,
) {
    if only == Some(me) {
        return;
    }
    if only.is_some() {
        list.endpoints.clear();
    }
    let w = slot(secs);
    for ep in fleet
        .endpoints
        .iter()
        .filter(|e| only.is_none_or(|o| o == e.instance) && e.calls[w] > 0)
    {
        match list.endpoints.iter_mut().find(|x| {
            x.node == ep.to
                && x.caller == ep.from
                && x.stats.method == ep.method
                && x.stats.template == ep.template
        }) {
            Some(x) => add(&mut x.stats, ep, w, secs),
            None => {
                let mut s = stats(&ep.method, &ep.template, Some(ep), w);
                s.rate = s.count as f64 / secs.max(1) as f64;
                list.endpoints.push(views::Endpoint {
                    node: ep.to.clone(),
                    caller: ep.from.clone(),
                    shadow: false,
                    stats: s,
                    baseline: None,
                });
            }
        }
    }
}
