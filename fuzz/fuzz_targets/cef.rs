//! CEF escaping of attacker-controlled text (paths, hosts, subjects, reasons): a header field
//! never carries an unescaped `|`, an extension value never an unescaped `=`, neither a raw
//! line break or other control character, and unescaping gives back the text (control
//! characters as spaces, values cut at 1,024 characters). A whole record keeps every string
//! inside its own field: exactly seven unescaped pipes, one `key=` per extension.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::alerts::model::{Alert, Kind, Severity, State};
use sightline::alerts::sinks::cef;
use std::collections::BTreeMap;

/// What a CEF reader makes of an escaped field: `\x` is `x`, `\n` and `\r` (extensions only)
/// are line breaks. Panics on a lone trailing backslash, which escaping never leaves.
fn unescape(s: &str, extension: bool) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().expect("no lone trailing backslash") {
            'n' if extension => out.push('\n'),
            'r' if extension => out.push('\r'),
            e => out.push(e),
        }
    }
    out
}

/// Positions of `c` not preceded by an escaping backslash.
fn unescaped(s: &str, c: char) -> Vec<usize> {
    let mut found = Vec::new();
    let mut escaped = false;
    for (i, ch) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == c {
            found.push(i);
        }
    }
    found
}

fn no_raw_controls(s: &str) {
    assert!(!s.chars().any(char::is_control), "raw control character in {s:?}");
}

fn check_header(text: &str) {
    let h = cef::header(text);
    no_raw_controls(&h);
    assert!(unescaped(&h, '|').is_empty(), "unescaped pipe in header {h:?}");
    let expected: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    assert_eq!(unescape(&h, false), expected);
}

fn check_value(text: &str) {
    let v = cef::value(text);
    no_raw_controls(&v);
    assert!(unescaped(&v, '=').is_empty(), "unescaped equals in value {v:?}");
    let expected: String = text
        .chars()
        .take(1024)
        .map(|c| match c {
            '\r' | '\n' => c,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    assert_eq!(unescape(&v, true), expected);
}

fn check_record(parts: &[String]) {
    let part = |i: usize| parts.get(i).cloned().unwrap_or_default();
    let alert = Alert {
        id: 1,
        kind: Kind::EgressBlocked,
        severity: Severity::High,
        state: State::Open,
        subject: part(1),
        summary: part(0),
        count: 1,
        first_seen: 0,
        last_seen: 0,
        evidence: serde_json::json!({
            "path": part(2), "host": part(3), "reason": part(4), "method": part(5),
            "source": part(1), "source_addr": part(2),
        }),
        snoozed_until: None,
        incident: None,
        silenced_by: None,
        nodes: Vec::new(),
        version: 1,
        delivery: BTreeMap::new(),
    };
    let rec = cef::record(&alert);
    no_raw_controls(&rec);
    // The first seven unescaped pipes end the header's seven fields (a parser splits there);
    // the extension after them may hold raw pipes, which CEF does not escape in values.
    let pipes = unescaped(&rec, '|');
    assert!(pipes.len() >= 7, "a header without its seven fields: {rec:?}");
    assert!(rec[..pipes[6]].starts_with("CEF:0|Sightline|Sightline|"), "{rec:?}");
    // Ten fixed pairs, five evidence strings and `src`: one unescaped `=` each, so no value
    // opened a pair of its own.
    let ext = &rec[pipes[6] + 1..];
    assert_eq!(unescaped(ext, '=').len(), 16, "an extension value leaked an equals: {rec:?}");
    let summary: String = part(0)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    assert_eq!(unescape(&rec[pipes[4] + 1..pipes[5]], false), summary);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_header(&text);
    check_value(&text);
    let parts: Vec<String> = data
        .split(|b| *b == 0)
        .take(6)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    check_record(&parts);
});
