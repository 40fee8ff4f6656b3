//! Vertical coordinates: every column keeps its order and its gaps, and is pulled as close as
//! it can get to the heights of the vertices it connects to.

use super::{Layered, DUMMY_HEIGHT, MARGIN, ROW_GAP};

/// Passes over the columns, alternating downwards and upwards.
const PASSES: usize = 8;

/// Sets every vertex's `y` (top edge, from [`MARGIN`]) and returns the drawing's inner height.
pub(crate) fn assign(g: &mut Layered) -> f64 {
    for col in &g.layers {
        let mut y = 0.0;
        let mut prev: Option<usize> = None;
        for &v in col {
            if let Some(p) = prev {
                y += g.vertices[p].height + gap(g, p, v);
            }
            g.vertices[v].y = y;
            prev = Some(v);
        }
    }
    centre_columns(g);
    let mut up = vec![Vec::new(); g.vertices.len()];
    let mut down = vec![Vec::new(); g.vertices.len()];
    for &(a, b) in &g.segments {
        down[a].push(b);
        up[b].push(a);
    }
    for pass in 0..=PASSES {
        let layers: Vec<usize> = if pass % 2 == 0 {
            (0..g.layers.len()).collect()
        } else {
            (0..g.layers.len()).rev().collect()
        };
        for l in layers {
            let targets: Vec<f64> = g.layers[l]
                .iter()
                .map(|&v| {
                    let ns: Vec<usize> = match pass {
                        p if p == PASSES => up[v].iter().chain(&down[v]).copied().collect(),
                        p if p % 2 == 0 => up[v].clone(),
                        _ => down[v].clone(),
                    };
                    if ns.is_empty() {
                        g.vertices[v].y
                    } else {
                        let mean = ns.iter().map(|&w| centre(g, w)).sum::<f64>() / ns.len() as f64;
                        mean - g.vertices[v].height / 2.0
                    }
                })
                .collect();
            place(g, l, &targets);
        }
    }
    let top = g.vertices.iter().map(|v| v.y).fold(f64::INFINITY, f64::min);
    let top = if top.is_finite() { top } else { 0.0 };
    let mut bottom: f64 = 0.0;
    for v in &mut g.vertices {
        v.y = v.y - top + MARGIN;
        bottom = bottom.max(v.y + v.height - MARGIN);
    }
    bottom
}

/// The minimum space between two neighbours of a column: boxes need room, passing edges less.
fn gap(g: &Layered, a: usize, b: usize) -> f64 {
    let dummy = |v: usize| g.vertices[v].height == DUMMY_HEIGHT;
    if dummy(a) && dummy(b) {
        ROW_GAP / 4.0
    } else {
        ROW_GAP
    }
}

fn centre(g: &Layered, v: usize) -> f64 {
    g.vertices[v].y + g.vertices[v].height / 2.0
}

/// Centres every column on the tallest one, as a starting point.
fn centre_columns(g: &mut Layered) {
    let extent = |g: &Layered, col: &[usize]| {
        col.last()
            .map_or(0.0, |&v| g.vertices[v].y + g.vertices[v].height)
    };
    let tallest = g.layers.iter().map(|c| extent(g, c)).fold(0.0, f64::max);
    for l in 0..g.layers.len() {
        let shift = (tallest - extent(g, &g.layers[l])) / 2.0;
        for i in 0..g.layers[l].len() {
            let v = g.layers[l][i];
            g.vertices[v].y += shift;
        }
    }
}

/// Moves the vertices of column `l` as close to `targets` as they can get (least squares) while
/// keeping their order and gaps: isotonic regression by pooling adjacent violators.
fn place(g: &mut Layered, l: usize, targets: &[f64]) {
    let col = &g.layers[l];
    // With offset_i the minimum distance from the first top to the i-th top, y_i = z_i +
    // offset_i and the constraints become z non-decreasing.
    let mut offsets = Vec::with_capacity(col.len());
    let mut offset = 0.0;
    for (i, &v) in col.iter().enumerate() {
        if i > 0 {
            let p = col[i - 1];
            offset += g.vertices[p].height + gap(g, p, v);
        }
        offsets.push(offset);
    }
    // Blocks of (mean, weight) whose means never decrease.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(col.len());
    for (i, t) in targets.iter().enumerate() {
        blocks.push((t - offsets[i], 1.0, 1));
        while blocks.len() > 1 {
            let (m2, w2, n2) = blocks[blocks.len() - 1];
            let (m1, w1, n1) = blocks[blocks.len() - 2];
            if m1 <= m2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = ((m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2);
        }
    }
    let mut i = 0;
    for (mean, _, count) in blocks {
        for _ in 0..count {
            let v = g.layers[l][i];
            g.vertices[v].y = mean + offsets[i];
            i += 1;
        }
    }
}
