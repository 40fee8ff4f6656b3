//! Route templates: turning `GET /users/42/orders/9` into `/users/{int}/orders/{int}`, so
//! calls group into endpoints.
//!
//! A call's template is found in three steps:
//! 1. **Declared** templates from the config ([`Templater::declare`]) and imported OpenAPI
//!    documents ([`Templater::import_openapi`]); the method is part of the match, and the most
//!    specific template wins: no `{name*}` wildcard first, then fewer params, then more
//!    segments, then more literal text; on a tie, a template for listed methods before one for
//!    any method, and a host's own template before one for every host.
//! 2. Otherwise each segment is **classified** ([`classify_segment`]): `{int}`, `{uuid}`,
//!    `{hex}`, `{token}`, `{date}`, `{email}` or `{id}`; plain words stay as written.
//! 3. Then **cardinality merging**: a position (same host, same preceding template segments)
//!    that has seen more than [`TemplateConfig::merge_threshold`] distinct plain words becomes
//!    `{param}`, and the templates under it fold into one.
//!
//! Every map is capped: templates per host (then `/{overflow}`), hosts (then one shared
//! overflow bucket), segments per template (then `{rest}`). Calls answered 404 or 405 never
//! mint a template nor feed cardinality, so scanners cannot grow the maps: they get an existing
//! template or `/{unmatched}`. A host with an imported OpenAPI document flags answered calls
//! that no documented operation matches as `shadow`.
//!
//! Templates are paths only (no method, no query); learned ones end without a trailing `/`.

mod classify;
mod config;
mod declared;
mod error;
mod keys;
mod learned;
mod openapi;
mod pattern;

pub use classify::{classify_segment, Shape};
pub use config::TemplateConfig;
pub use error::TemplateError;

use declared::{Declared, Source};
use http::Method;
use keys::Keys;
use learned::{HostTemplates, Walk};
use pattern::Pattern;
use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::sync::Arc;

/// The template of a learned position past the per-host cap.
pub const OVERFLOW: &str = "/{overflow}";
/// The template of a 404/405 call that matches no existing template.
pub const UNMATCHED: &str = "/{unmatched}";

/// The template a call belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    /// The path template, such as `/users/{int}`; shared, not copied, between calls.
    pub template: Arc<str>,
    /// The host has an imported OpenAPI document, the call was answered (any status but 404 and
    /// 405), and no documented operation matches its method and path.
    pub shadow: bool,
    /// A cap shaped the answer: `/{overflow}`, or a host in the shared overflow bucket.
    pub overflow: bool,
    /// The template was declared (config or OpenAPI) rather than learned.
    pub declared: bool,
}

/// Sizes and counters, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TemplateStats {
    /// Hosts with their own learned templates (the overflow bucket not included).
    pub hosts: usize,
    /// Learned templates, overflow bucket included.
    pub templates: usize,
    /// Trie nodes behind the learned templates.
    pub nodes: usize,
    /// Distinct-word hashes tracked for cardinality merging.
    pub tracked_values: usize,
    /// Declared routes (config and OpenAPI).
    pub declared: usize,
    /// Calls classified `/{overflow}` because their host was at its template cap.
    pub overflow_templates: u64,
    /// Calls of hosts past the host cap, classified in the shared overflow bucket.
    pub overflow_hosts: u64,
    /// 404/405 calls classified `/{unmatched}`.
    pub unmatched: u64,
    /// Positions collapsed to `{param}`.
    pub collapses: u64,
}

/// Turns calls into route templates. Pure: no I/O, no clock; one owner (the analysis task)
/// calls it, so it takes `&mut self` and needs no locks.
#[derive(Debug)]
pub struct Templater {
    config: TemplateConfig,
    declared: Declared,
    /// Keyed by the call's host (attacker-chosen): a keyed hash.
    hosts: HashMap<Box<str>, HostTemplates, super::keyed::KeyedState>,
    overflow_host: HostTemplates,
    hasher: RandomState,
    overflow: Arc<str>,
    unmatched: Arc<str>,
    stats: TemplateStats,
    /// Counts the changes to what templates calls get (a route declared, a template learned,
    /// a word counted): a call classified since the last change is classified the same way.
    generation: u64,
    /// The call classified last, when nothing changed while classifying it: the next call
    /// with the same host, method, path and kind of answer (nearly every call of a busy
    /// endpoint) takes its template from here.
    last: Option<LastCall>,
}

/// A call classified, with what it was classified by.
#[derive(Debug)]
struct LastCall {
    generation: u64,
    host: String,
    method: Method,
    path: String,
    answered: bool,
    classified: Classified,
}

impl Default for Templater {
    fn default() -> Self {
        Templater::new(TemplateConfig::default())
    }
}

impl Templater {
    /// A templater with no declared routes and nothing learned.
    pub fn new(config: TemplateConfig) -> Self {
        Templater {
            config: config.clamped(),
            declared: Declared::default(),
            hosts: HashMap::default(),
            overflow_host: HostTemplates::default(),
            hasher: RandomState::new(),
            overflow: Arc::from(OVERFLOW),
            unmatched: Arc::from(UNMATCHED),
            stats: TemplateStats::default(),
            generation: 0,
            last: None,
        }
    }

    /// The limits in force (after clamping).
    pub fn config(&self) -> TemplateConfig {
        self.config
    }

    /// Declares a route template such as `/users/{id}`, `/files/{name}.{ext}` or
    /// `/static/{path*}` (a trailing `{name*}` takes one or more segments), for one host or
    /// every host (`None`), for one method or any (`None`). Calls it matches get exactly this
    /// text as their template.
    pub fn declare(
        &mut self,
        host: Option<&str>,
        method: Option<&Method>,
        template: &str,
    ) -> Result<(), TemplateError> {
        let (pattern, text) = Pattern::parse(template)?;
        let host = host.map(normalize_host);
        self.generation += 1;
        self.declared.extend(
            host.as_deref(),
            Source::Config,
            [(pattern, text, method.map(|m| vec![m.clone()]))],
        );
        Ok(())
    }

    /// Imports an OpenAPI 3 document (JSON or YAML; Swagger 2 is read too) for one host or
    /// every host: each `paths` key, prefixed with the base path of each `servers` URL, is
    /// declared for its documented methods. Returns how many (template, base path) routes it
    /// declared. Nothing is declared when the document has an error.
    pub fn import_openapi(
        &mut self,
        host: Option<&str>,
        text: &str,
    ) -> Result<usize, TemplateError> {
        let mut routes = Vec::new();
        for op in openapi::operations(text)? {
            let (pattern, text) = Pattern::parse(&op.template)?;
            routes.push((pattern, text, Some(op.methods)));
        }
        let count = routes.len();
        let host = host.map(normalize_host);
        self.generation += 1;
        self.declared
            .extend(host.as_deref(), Source::OpenApi, routes);
        Ok(count)
    }

    /// The template of one call. `path` is the raw request path (a query is ignored); `status`
    /// is the response status, `None` when no response was sent.
    pub fn classify(
        &mut self,
        host: &str,
        method: &Method,
        path: &str,
        status: Option<u16>,
    ) -> Classified {
        let scanner = matches!(status, Some(404 | 405));
        let answered = status.is_some() && !scanner;
        if let Some(last) = &self.last {
            if last.generation == self.generation
                && !scanner
                && last.answered == answered
                && last.method == *method
                && last.path == path
                && last.host == host
            {
                return last.classified.clone();
            }
        }
        let generation = self.generation;
        let classified = self.classify_anew(host, method, path, status);
        // Scanners' calls and calls a cap shaped are counted each time: not kept.
        if self.generation == generation && !scanner && !classified.overflow {
            let last = self.last.get_or_insert_with(|| LastCall {
                generation,
                host: String::new(),
                method: method.clone(),
                path: String::new(),
                answered,
                classified: classified.clone(),
            });
            last.generation = generation;
            last.host.clear();
            last.host.push_str(host);
            last.method.clone_from(method);
            last.path.clear();
            last.path.push_str(path);
            last.answered = answered;
            last.classified.clone_from(&classified);
        }
        classified
    }

    /// [`Templater::classify`], without the call classified last.
    fn classify_anew(
        &mut self,
        host: &str,
        method: &Method,
        path: &str,
        status: Option<u16>,
    ) -> Classified {
        // The path ends at the query or the fragment, whichever comes first (one pass).
        let end = path.bytes().position(|b| matches!(b, b'?' | b'#'));
        let path = end.map_or(path, |end| &path[..end]);
        let host = normalize_host(host);
        let scanner = matches!(status, Some(404 | 405));
        let answered = status.is_some() && !scanner;
        if let Some(matched) = self.declared.best(&host, method, path) {
            return Classified {
                template: matched.template,
                shadow: answered && !matched.documented && self.declared.has_document(&host),
                overflow: false,
                declared: true,
            };
        }
        let shadow = answered && self.declared.has_document(&host);
        let (template, overflow) = self.learn(&host, path, scanner);
        Classified {
            template,
            shadow,
            overflow,
            declared: false,
        }
    }

    /// Learned templates: step 2 and 3, with the caps.
    fn learn(&mut self, host: &str, path: &str, scanner: bool) -> (Arc<str>, bool) {
        let hosts_full = self.hosts.len() >= self.config.max_hosts;
        let (learned, host_overflow) = match self.hosts.get_mut(host) {
            Some(learned) => (learned, false),
            None if hosts_full => (&mut self.overflow_host, true),
            // A scanner never creates a host.
            None if scanner => {
                self.stats.unmatched += 1;
                return (self.unmatched.clone(), false);
            }
            None => {
                self.generation += 1;
                (self.hosts.entry(host.into()).or_default(), false)
            }
        };
        self.stats.overflow_hosts += u64::from(host_overflow);
        let walk = Walk {
            mint: !scanner && learned.len() < self.config.max_templates_per_host,
            feed: !scanner,
            threshold: self.config.merge_threshold,
            hasher: &self.hasher,
        };
        let walked = learned.walk(&mut Keys::parse(path), &walk);
        self.generation += u64::from(!walked.pure);
        self.stats.collapses += walked.collapses;
        match walked.template {
            Some(template) => (template, host_overflow),
            None if scanner => {
                self.stats.unmatched += 1;
                (self.unmatched.clone(), host_overflow)
            }
            None => {
                self.stats.overflow_templates += 1;
                (self.overflow.clone(), true)
            }
        }
    }

    /// Current sizes and counters. Walks the learned tries: call it for metrics, not per call.
    pub fn stats(&self) -> TemplateStats {
        let mut stats = TemplateStats {
            hosts: self.hosts.len(),
            declared: self.declared.len(),
            ..self.stats
        };
        for learned in self.hosts.values().chain([&self.overflow_host]) {
            let (nodes, tracked) = learned.footprint();
            stats.templates += learned.len();
            stats.nodes += nodes;
            stats.tracked_values += tracked;
        }
        stats
    }
}

/// Hosts compare lowercased, without a port or a trailing dot: templates are per host name.
fn normalize_host(host: &str) -> Cow<'_, str> {
    // Most hosts (every inbound record's) are in this form already: one pass over the bytes.
    let plain = |b: &u8| !(b.is_ascii_uppercase() || matches!(b, b':' | b'['));
    if host.as_bytes().iter().all(plain) && !host.ends_with('.') {
        return Cow::Borrowed(host);
    }
    let name = match host.strip_prefix('[') {
        // `[::1]:8080` → `[::1]`
        Some(rest) => rest.find(']').map_or(host, |end| &host[..end + 2]),
        None => match host.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => host,
        },
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests;
