//! Crossing reduction: the order of vertices within each layer.

use super::Layered;

/// Sweeps down and up this many times at most.
const SWEEPS: usize = 12;

/// Reorders every layer by barycentre sweeps, keeps the order with the fewest crossings and
/// returns that count.
pub(crate) fn reduce_crossings(g: &mut Layered) -> usize {
    let (up, down) = neighbours(g);
    let mut best = g.layers.clone();
    let mut best_count = crossings(g);
    for sweep in 0..SWEEPS {
        if best_count == 0 {
            break;
        }
        if sweep % 2 == 0 {
            for l in 1..g.layers.len() {
                reorder(g, l, &up);
            }
        } else {
            for l in (0..g.layers.len().saturating_sub(1)).rev() {
                reorder(g, l, &down);
            }
        }
        let count = crossings(g);
        if count < best_count {
            best_count = count;
            best = g.layers.clone();
        }
    }
    g.layers = best;
    best_count
}

/// Each vertex's neighbours in the layer above and in the layer below.
fn neighbours(g: &Layered) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let mut up = vec![Vec::new(); g.vertices.len()];
    let mut down = vec![Vec::new(); g.vertices.len()];
    for &(a, b) in &g.segments {
        down[a].push(b);
        up[b].push(a);
    }
    (up, down)
}

/// Sorts layer `l` by the mean position of each vertex's neighbours in `adjacent`; a vertex
/// without neighbours keeps its place. Ties keep the current order (stable sort).
fn reorder(g: &mut Layered, l: usize, adjacent: &[Vec<usize>]) {
    let mut position = vec![0.0f64; g.vertices.len()];
    for col in &g.layers {
        for (i, &v) in col.iter().enumerate() {
            position[v] = i as f64;
        }
    }
    let mut keyed: Vec<(f64, usize)> = g.layers[l]
        .iter()
        .map(|&v| {
            let ns = &adjacent[v];
            let key = if ns.is_empty() {
                position[v]
            } else {
                ns.iter().map(|&w| position[w]).sum::<f64>() / ns.len() as f64
            };
            (key, v)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    g.layers[l] = keyed.into_iter().map(|(_, v)| v).collect();
}

/// Crossings between every pair of adjacent layers.
pub(crate) fn crossings(g: &Layered) -> usize {
    let mut position = vec![0usize; g.vertices.len()];
    for col in &g.layers {
        for (i, &v) in col.iter().enumerate() {
            position[v] = i;
        }
    }
    let mut per_layer: Vec<Vec<(usize, usize)>> = vec![Vec::new(); g.layers.len()];
    for &(a, b) in &g.segments {
        per_layer[g.vertices[a].layer].push((position[a], position[b]));
    }
    per_layer.iter_mut().map(|segs| inversions(segs)).sum()
}

/// Pairs of segments `(a1, b1)`, `(a2, b2)` with `a1 < a2` and `b1 > b2`: counted with a
/// Fenwick tree over the lower positions, in O(E log V).
fn inversions(segs: &mut [(usize, usize)]) -> usize {
    segs.sort_unstable();
    let size = segs.iter().map(|s| s.1 + 1).max().unwrap_or(0);
    let mut tree = vec![0usize; size + 1];
    let mut count = 0;
    for (seen, &(_, b)) in segs.iter().enumerate() {
        // Segments seen so far with a lower end at or left of b.
        let mut i = b + 1;
        let mut at_or_left = 0;
        while i > 0 {
            at_or_left += tree[i];
            i &= i - 1;
        }
        count += seen - at_or_left;
        let mut i = b + 1;
        while i <= size {
            tree[i] += 1;
            i += i & i.wrapping_neg();
        }
    }
    count
}
