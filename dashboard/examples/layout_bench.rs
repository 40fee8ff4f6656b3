//! Times the call-graph layout on generated systems: `bash bench/layout.sh`.

use sightline_dashboard::layout::{layout, Band, NodeIn};
use std::time::Instant;

/// A system of `n` nodes and `m` edges: a few callers, tiers of services calling deeper tiers
/// (with some calls back), and external destinations. Deterministic for a given seed.
fn system(n: usize, m: usize, seed: u64) -> (Vec<NodeIn>, Vec<(String, String)>) {
    let mut state = seed;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let callers = (n / 20).max(1);
    let externals = n / 5;
    let services = n - callers - externals;
    let id = |i: usize| match i {
        i if i < callers => format!("client:c{i}"),
        i if i < callers + services => format!("service:s{}", i - callers),
        i => format!("external:e{}", i - callers - services),
    };
    let nodes = (0..n)
        .map(|i| NodeIn {
            id: id(i),
            band: if i < callers {
                Band::Source
            } else if i < callers + services {
                Band::Middle
            } else {
                Band::Sink
            },
        })
        .collect();
    let mut edges = Vec::with_capacity(m);
    while edges.len() < m {
        let (a, b) = match next(10) {
            0 => (next(callers), callers + next(services / 4 + 1)),
            1 | 2 => (
                callers + next(services),
                callers + services + next(externals),
            ),
            3 => (callers + next(services), callers + next(services)),
            _ => {
                let a = next(services.saturating_sub(1).max(1));
                (callers + a, callers + (a + 1 + next(8)).min(services - 1))
            }
        };
        edges.push((id(a), id(b)));
    }
    (nodes, edges)
}

fn main() {
    for (n, m) in [(10, 20), (100, 300), (300, 1000)] {
        let (nodes, edges) = system(n, m, 0x5eed);
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..21 {
            let t = Instant::now();
            let l = layout(&nodes, &edges);
            times.push(t.elapsed());
            last = Some(l);
        }
        times.sort();
        let l = last.unwrap_or_else(|| layout(&nodes, &edges));
        println!(
            "{n} nodes, {m} edges: median {:.2} ms, max {:.2} ms; {} columns, {:.0}x{:.0} px, {} crossings",
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            l.nodes.iter().map(|p| p.layer).max().map_or(0, |x| x + 1),
            l.width,
            l.height,
            l.crossings
        );
    }
}
