//! The layers of `proxy/src` hold: no cycle between its top-level modules, and no module
//! importing one in a higher layer (docs/ARCHITECTURE.md draws the picture). Reads the sources:
//! every `crate::<module>` path outside test code is an import of that module.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom to top. A module may import modules of its own layer or lower ones; within
/// a layer no two modules may import each other (that is a cycle).
const LAYERS: &[&[&str]] = &[
    &[
        "errors", "trace", "export", "server", "wire", "metrics", "clock", "h1pool",
    ],
    &["config"],
    &["record"],
    &["analysis", "store", "alerts", "telemetry"],
    &["recorder", "clients", "upstream", "enclave", "fleet"],
    &["state"],
    &["inbound", "egress", "admin"],
    &["runtime", "lifecycle"],
    &["demo", "cli"],
];

/// Which files of a module import another module: importer -> imported -> files.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules: `src/<name>.rs` and `src/<name>/`.
fn modules(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            out.insert(name);
        }
    }
    out.remove("lib");
    out.remove("main");
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The code of a file without comments, string and character literals (each literal becomes
/// `""`), so only real paths and braces are left.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if text[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if text[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(len) = raw_string(rest).filter(|_| !ident_before(b, i)) {
            out.push_str("\"\"");
            i += len;
        } else if b[i] == b'"' || (rest.starts_with("b\"") && !ident_before(b, i)) {
            i += if b[i] == b'b' { 2 } else { 1 };
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            i += char_literal(&b[i..]).unwrap_or_else(|| {
                out.push('\'');
                1
            });
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// The length of a raw string literal (`r"…"`, `br#"…"#`) starting `s`.
fn raw_string(s: &str) -> Option<usize> {
    let body = s.strip_prefix("br").or_else(|| s.strip_prefix('r'))?;
    let hashes = body.len() - body.trim_start_matches('#').len();
    let after = body[hashes..].strip_prefix('"')?;
    let end = format!("\"{}", "#".repeat(hashes));
    let close = after.find(&end)?;
    Some(s.len() - after.len() + close + end.len())
}

/// The length of the character literal starting `b` (`'x'`, `'\n'`, `'\u{..}'`); `None` for a
/// lifetime.
fn char_literal(b: &[u8]) -> Option<usize> {
    if b.get(1) == Some(&b'\\') {
        let close = b[2..].iter().position(|&c| c == b'\'')?;
        return Some(close + 3);
    }
    let text = std::str::from_utf8(b).ok()?;
    let c = text[1..].chars().next()?;
    (text[1 + c.len_utf8()..].starts_with('\'')).then_some(2 + c.len_utf8())
}

/// `code` without the items marked `#[cfg(test)]`.
fn without_test_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let open = item.find('{');
        let semi = item.find(';');
        let end = match (open, semi) {
            (Some(o), Some(s)) if s < o => s + 1,
            (Some(o), _) => o + matching_brace(&item[o..]),
            (None, Some(s)) => s + 1,
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The length up to and including the brace closing the one `s` starts with.
fn matching_brace(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// Every module name a `crate::` path in `code` starts with, including each one of a
/// `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = code.as_bytes();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && (b[at - 1] == b'$' || ident_before(b, at)) {
            continue;
        }
        let rest = code[at + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // The group's text between its braces.
            let inner = &group[..matching_brace(rest).saturating_sub(2)];
            for item in split_top(inner) {
                let name: String = item
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// The items of a `use` group, split at its top-level commas.
fn split_top(group: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&group[start..]);
    out
}

/// Who imports whom among the top-level modules, outside test code.
fn graph() -> Graph {
    let src = src();
    let modules = modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(first) = rel.components().next() else {
            continue;
        };
        let owner = Path::new(first.as_os_str())
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !modules.contains(&owner) {
            continue;
        }
        let code = without_test_items(&code_only(&std::fs::read_to_string(&file).unwrap()));
        for target in crate_paths(&code) {
            if target != owner && modules.contains(&target) {
                graph
                    .entry(owner.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flat_map(|m| m.keys()) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                scc.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                s.found.push(scc);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// One cycle through `from` inside `scc`, as module names ending where it began.
fn one_cycle(graph: &Graph, scc: &[String], from: &str) -> Vec<String> {
    // Breadth-first from `from` back to itself, staying inside the component.
    let inside: BTreeSet<&str> = scc.iter().map(String::as_str).collect();
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(v) = queue.pop_front() {
        for w in graph.get(v).into_iter().flat_map(|m| m.keys()) {
            let w = w.as_str();
            if !inside.contains(w) {
                continue;
            }
            if w == from {
                let mut path = vec![from.to_owned()];
                let mut at = v;
                while at != from {
                    path.push(at.to_owned());
                    at = prev[at];
                }
                path.push(from.to_owned());
                path.reverse();
                return path;
            }
            if !prev.contains_key(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    Vec::new()
}

fn describe(graph: &Graph, path: &[String]) -> String {
    let mut out = path.join(" -> ");
    for pair in path.windows(2) {
        let files = &graph[&pair[0]][&pair[1]];
        let files: Vec<_> = files.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "\n      {} -> {}: {}",
            pair[0],
            pair[1],
            files.join(", ")
        ));
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

#[test]
fn the_scanner_reads_imports_and_skips_test_code() {
    let code = code_only(
        r##"
use crate::{config::Config, record::{CallRecord, Direction}, trace};
use crate::store::Store;
// use crate::commented;
/* crate::blocked */
let s = "crate::quoted"; let r = r#"crate::raw"#; let c = '{';
fn f<'a>(x: &'a str) -> pub(crate) () { $crate::macro_path; }
#[cfg(test)]
mod tests { use crate::tested; fn g() { let _ = '}'; } }
#[cfg(test)]
mod more;
use crate::after;
"##,
    );
    let code = without_test_items(&code);
    let found: Vec<_> = crate_paths(&code).into_iter().collect();
    assert_eq!(found, ["after", "config", "record", "store", "trace"]);
}

#[test]
fn the_scanner_finds_a_cycle_and_names_it() {
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("{a}.rs"));
    }
    let found = cycles(&g);
    assert_eq!(found, vec![vec!["a", "b", "c"]]);
    assert_eq!(one_cycle(&g, &found[0], "a"), ["a", "b", "c", "a"]);
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = graph();
    let found = cycles(&graph);
    let mut report = String::new();
    for scc in &found {
        report.push_str(&format!("\n  modules in a cycle: {}", scc.join(", ")));
        // Every module pair importing each other, then one longer cycle through the first.
        let mut shown = BTreeSet::new();
        for a in scc {
            for b in graph[a].keys() {
                if a < b && graph.get(b).is_some_and(|m| m.contains_key(a)) {
                    report.push_str(&format!(
                        "\n    {}",
                        describe(&graph, &[a.clone(), b.clone(), a.clone()])
                    ));
                    shown.insert(a.clone());
                    shown.insert(b.clone());
                }
            }
        }
        // Modules in the cycle only through longer paths: one such path each.
        for m in scc {
            if shown.contains(m) {
                continue;
            }
            let path = one_cycle(&graph, scc, m);
            shown.extend(path.iter().cloned());
            report.push_str(&format!("\n    {}", describe(&graph, &path)));
        }
    }
    assert!(found.is_empty(), "import cycles in proxy/src:{report}");
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<_> = modules(&src())
        .into_iter()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules without a layer (add them to LAYERS here and to the picture in \
         docs/ARCHITECTURE.md): {unplaced:?}"
    );
}

#[test]
fn no_module_imports_a_higher_layer() {
    let graph = graph();
    let mut up = Vec::new();
    for (from, targets) in &graph {
        let Some(lf) = layer_of(from) else { continue };
        for (to, files) in targets {
            let Some(lt) = layer_of(to) else { continue };
            if lt > lf {
                let files: Vec<_> = files.iter().map(String::as_str).collect();
                up.push(format!(
                    "\n  {from} (L{lf}) imports {to} (L{lt}): {}",
                    files.join(", ")
                ));
            }
        }
    }
    assert!(up.is_empty(), "imports against the layers:{}", up.concat());
}
