//! `sightline graph export`: the live call graph of a running instance as DOT or JSON, for
//! offline use (Graphviz, notebooks, diffs between days).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::fmt::Write;
use std::net::SocketAddr;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Graphviz DOT.
    Dot,
    /// The API's JSON.
    Json,
}

/// Fetches `/api/graph?window=…` from the admin listener and renders it.
pub async fn export(
    admin: SocketAddr,
    window: &str,
    token: Option<&str>,
    format: Format,
) -> Result<String, String> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::get(format!("http://{admin}/api/graph?window={window}"));
    if let Some(t) = token {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| format!("{admin}: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{admin}: {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let graph: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
    Ok(match format {
        Format::Json => format!("{graph:#}\n"),
        Format::Dot => dot(&graph),
    })
}

/// Quotes a DOT identifier or label.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders the API's graph JSON as DOT: node shapes by kind, edges labelled with rate and
/// error ratio, blocked edges red.
pub fn dot(graph: &serde_json::Value) -> String {
    let mut out =
        String::from("digraph sightline {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for n in graph["nodes"].as_array().into_iter().flatten() {
        let shape = match n["kind"].as_str().unwrap_or("") {
            "service" => "box",
            "client" => "ellipse",
            "internal-unknown" => "octagon",
            "external" => "cds",
            _ => "doublecircle",
        };
        let _ = writeln!(
            out,
            "  {} [label={}, shape={shape}];",
            quote(n["id"].as_str().unwrap_or("")),
            quote(n["label"].as_str().unwrap_or(""))
        );
    }
    for e in graph["edges"].as_array().into_iter().flatten() {
        let t = &e["total"];
        let label = format!(
            "{:.2}/s, 5xx {:.1}%",
            t["rate"].as_f64().unwrap_or(0.0),
            t["ratio_5xx"].as_f64().unwrap_or(0.0) * 100.0
        );
        let color = if t["blocked"].as_u64().unwrap_or(0) > 0 {
            "red"
        } else {
            "black"
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, color={color}];",
            quote(e["from"].as_str().unwrap_or("")),
            quote(e["to"].as_str().unwrap_or("")),
            quote(&label)
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_quotes_attacker_controlled_names() {
        let g = serde_json::json!({
            "nodes": [
                { "id": "service:orders", "kind": "service", "label": "orders" },
                { "id": "external:evil\"];x", "kind": "external", "label": "evil\"];x" }
            ],
            "edges": [ { "from": "service:orders", "to": "external:evil\"];x",
                         "total": { "rate": 0.5, "ratio_5xx": 0.1, "blocked": 2 } } ]
        });
        let d = dot(&g);
        assert!(
            d.contains(r#""external:evil\"];x" [label="evil\"];x", shape=cds];"#),
            "{d}"
        );
        assert!(d.contains("color=red"));
        assert!(d.contains("0.50/s, 5xx 10.0%"));
    }
}
