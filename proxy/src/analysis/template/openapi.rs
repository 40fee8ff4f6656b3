//! Reading the documented operations out of an OpenAPI 3 document (JSON or YAML): the `paths`
//! keys, their methods, and the base path of the `servers` URLs.

use super::TemplateError;
use http::Method;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// One documented path template (base path included) and the methods it answers.
pub(super) struct Operation {
    /// `/v1/users/{userId}`.
    pub(super) template: String,
    /// The documented methods, never empty.
    pub(super) methods: Vec<Method>,
}

#[derive(Deserialize)]
struct Document {
    openapi: Option<serde_json::Value>,
    swagger: Option<serde_json::Value>,
    #[serde(default)]
    servers: Vec<Server>,
    /// Swagger 2.0's base path.
    #[serde(rename = "basePath")]
    base_path: Option<String>,
    #[serde(default)]
    paths: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Server {
    url: String,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
}

#[derive(Deserialize)]
struct Variable {
    default: Option<serde_json::Value>,
}

/// A `paths` entry: a path item, or an `x-` extension of any shape.
#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Item(PathItem),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct PathItem {
    #[serde(default)]
    servers: Vec<Server>,
    get: Option<IgnoredAny>,
    put: Option<IgnoredAny>,
    post: Option<IgnoredAny>,
    delete: Option<IgnoredAny>,
    options: Option<IgnoredAny>,
    head: Option<IgnoredAny>,
    patch: Option<IgnoredAny>,
    trace: Option<IgnoredAny>,
}

impl PathItem {
    fn methods(&self) -> Vec<Method> {
        [
            (&self.get, Method::GET),
            (&self.put, Method::PUT),
            (&self.post, Method::POST),
            (&self.delete, Method::DELETE),
            (&self.options, Method::OPTIONS),
            (&self.head, Method::HEAD),
            (&self.patch, Method::PATCH),
            (&self.trace, Method::TRACE),
        ]
        .into_iter()
        .filter_map(|(op, m)| op.is_some().then_some(m))
        .collect()
    }
}

/// Parses a document (JSON when it starts with `{`, YAML otherwise) into its operations.
pub(super) fn operations(text: &str) -> Result<Vec<Operation>, TemplateError> {
    let doc: Document = if text.trim_start().starts_with('{') {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| TemplateError::OpenApi {
            format: "JSON",
            detail: e.to_string(),
        })?
    } else {
        crate::config::yaml::from_str(text).map_err(|e| TemplateError::OpenApi {
            format: "YAML",
            detail: e.to_string(),
        })?
    };
    check_version(&doc)?;
    let mut doc_bases = base_paths(&doc.servers);
    if let Some(base) = &doc.base_path {
        doc_bases = BTreeSet::from([trim_base(base)]);
    }
    let mut out = Vec::new();
    for (path, entry) in &doc.paths {
        let Entry::Item(item) = entry else {
            if path.starts_with("x-") {
                continue;
            }
            return Err(TemplateError::OpenApi {
                format: "OpenAPI",
                detail: format!("paths.{path}: not a path item"),
            });
        };
        if path.starts_with("x-") {
            continue;
        }
        let methods = item.methods();
        if methods.is_empty() {
            continue;
        }
        let item_bases = base_paths(&item.servers);
        let bases = if item.servers.is_empty() {
            &doc_bases
        } else {
            &item_bases
        };
        for base in bases {
            out.push(Operation {
                template: format!("{base}{path}"),
                methods: methods.clone(),
            });
        }
    }
    Ok(out)
}

fn check_version(doc: &Document) -> Result<(), TemplateError> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (
        doc.openapi.as_ref().map(text),
        doc.swagger.as_ref().map(text),
    ) {
        (Some(v), _) if v.starts_with("3.") => Ok(()),
        (None, Some(v)) if v.starts_with("2.") => Ok(()),
        (Some(v), _) | (None, Some(v)) => Err(TemplateError::OpenApi {
            format: "OpenAPI",
            detail: format!("unsupported version {v:?} (3.x expected)"),
        }),
        (None, None) => Err(TemplateError::OpenApi {
            format: "OpenAPI",
            detail: "no `openapi: 3.x` field".into(),
        }),
    }
}

/// The distinct base paths of some servers (`""` when there are none).
fn base_paths(servers: &[Server]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = servers.iter().map(server_base).collect();
    if out.is_empty() {
        out.insert(String::new());
    }
    out
}

/// The path part of a server URL, variables replaced by their defaults.
fn server_base(server: &Server) -> String {
    let mut url = server.url.clone();
    for (name, var) in &server.variables {
        if let Some(default) = &var.default {
            let value = match default {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            url = url.replace(&format!("{{{name}}}"), &value);
        }
    }
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => match url.strip_prefix("//") {
            Some(rest) => rest.find('/').map_or("", |i| &rest[i..]),
            None => url.as_str(),
        },
    };
    trim_base(path)
}

/// `/v1/` → `/v1`; `v1` and `./v1` → `/v1`; `/` → ``; query and fragment dropped.
fn trim_base(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.strip_prefix('.').unwrap_or(path);
    let path = path.trim_matches('/');
    if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    }
}
