//! The other instances' graph merged into this instance's admin answers (at query time, from
//! the view the heartbeat task last read).

use super::{FleetView, RemoteEndpoint};
use crate::analysis::graph::PathSample;
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

/// The remote endpoint's sample paths seen since `since` (unix seconds).
fn samples(e: &RemoteEndpoint, since: u64) -> impl Iterator<Item = views::PathSample> + '_ {
    e.samples
        .iter()
        .filter(move |s| s.last_seen >= since)
        .map(|s| views::PathSample {
            path: s.path.clone(),
            last_seen: s.last_seen,
        })
}

/// Adds `more` to `into` with the graph's rule: each path once, most recent first, bounded.
fn merge_samples(into: &mut Vec<views::PathSample>, more: impl Iterator<Item = views::PathSample>) {
    let mut merged = Vec::new();
    let all = into.drain(..).chain(more).map(|s| PathSample {
        path: s.path,
        last_seen: s.last_seen,
    });
    crate::analysis::graph::merge_samples(&mut merged, all);
    into.extend(merged.into_iter().map(|s| views::PathSample {
        path: s.path,
        last_seen: s.last_seen,
    }));
}

fn stats(
    method: &str,
    template: &str,
    e: Option<&RemoteEndpoint>,
    w: usize,
    since: u64,
) -> views::EndpointStats {
    let mut samples_seen = Vec::new();
    if let Some(e) = e {
        merge_samples(&mut samples_seen, samples(e, since));
    }
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
        samples: samples_seen,
    }
}

fn add(into: &mut views::EndpointStats, e: &RemoteEndpoint, w: usize, secs: u64, since: u64) {
    into.count += e.calls[w];
    into.blocked += e.blocked[w];
    into.rate = into.count as f64 / secs.max(1) as f64;
    if !e.samples.is_empty() {
        merge_samples(&mut into.samples, samples(e, since));
    }
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
                    total: stats("*", "*", None, w, since),
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
            edge.total.count += ep.calls[w];
            edge.total.blocked += ep.blocked[w];
            edge.total.rate = edge.total.count as f64 / secs.max(1) as f64;
            match edge
                .endpoints
                .iter_mut()
                .find(|s| s.method == ep.method && s.template == ep.template)
            {
                Some(s) => add(s, ep, w, secs, since),
                None => edge
                    .endpoints
                    .push(stats(&ep.method, &ep.template, Some(ep), w, since)),
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
    let since = super::now_secs().saturating_sub(secs);
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
            Some(x) => add(&mut x.stats, ep, w, secs, since),
            None => {
                let mut s = stats(&ep.method, &ep.template, Some(ep), w, since);
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
