//! The declared routes (config and imported OpenAPI documents), per host or for every host,
//! kept sorted so the most specific match is found first.

use super::pattern::{Pattern, Rank};
use http::Method;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Where a declared route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// `declare` (the config file).
    Config,
    /// An imported OpenAPI document: the host's documented surface.
    OpenApi,
}

/// The methods a route answers; `None` is any method.
type Methods = Option<Vec<Method>>;

#[derive(Debug)]
struct Route {
    pattern: Pattern,
    template: Arc<str>,
    methods: Methods,
    source: Source,
}

impl Route {
    /// Rank, then routes limited to methods before routes for any method.
    fn key(&self) -> (Rank, bool) {
        (self.pattern.rank(), self.methods.is_none())
    }

    fn answers(&self, method: &Method) -> bool {
        match &self.methods {
            None => true,
            // A server that answers GET answers HEAD too.
            Some(list) => list
                .iter()
                .any(|m| m == method || (*method == Method::HEAD && *m == Method::GET)),
        }
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.answers(method) && self.pattern.matches(path)
    }
}

/// Routes of one host (or of every host), most specific first.
#[derive(Debug, Default)]
struct Routes(Vec<Route>);

impl Routes {
    fn add(&mut self, pattern: Pattern, template: String, methods: Methods, source: Source) {
        let same = self
            .0
            .iter_mut()
            .find(|r| r.source == source && *r.template == *template);
        match same {
            Some(route) => route.methods = union(route.methods.take(), methods),
            None => self.0.push(Route {
                pattern,
                template: template.into(),
                methods,
                source,
            }),
        }
    }

    fn sort(&mut self) {
        self.0.sort_by_key(Route::key);
    }

    fn first(&self, method: &Method, path: &str) -> Option<&Route> {
        self.0.iter().find(|r| r.matches(method, path))
    }

    fn documents(&self, method: &Method, path: &str) -> bool {
        self.0
            .iter()
            .any(|r| r.source == Source::OpenApi && r.matches(method, path))
    }
}

fn union(a: Methods, b: Methods) -> Methods {
    let (mut a, b) = (a?, b?);
    for m in b {
        if !a.contains(&m) {
            a.push(m);
        }
    }
    Some(a)
}

/// The best declared match for a call.
pub(super) struct Matched {
    /// The declared template text.
    pub(super) template: Arc<str>,
    /// Whether an imported OpenAPI document documents the call (the match or a less specific
    /// route).
    pub(super) documented: bool,
}

/// Every declared route. Fed by operators, never by the network.
#[derive(Debug, Default)]
pub(super) struct Declared {
    global: Routes,
    hosts: HashMap<Box<str>, Routes>,
    documented_everywhere: bool,
    documented_hosts: HashSet<Box<str>>,
    count: usize,
}

impl Declared {
    /// Adds routes for one host (already normalized) or for every host. A template declared
    /// again from the same source gains the new methods.
    pub(super) fn extend(
        &mut self,
        host: Option<&str>,
        source: Source,
        routes: impl IntoIterator<Item = (Pattern, String, Option<Vec<Method>>)>,
    ) {
        let list = match host {
            Some(h) => self.hosts.entry(h.into()).or_default(),
            None => &mut self.global,
        };
        for (pattern, template, methods) in routes {
            list.add(pattern, template, methods, source);
        }
        list.sort();
        self.count = self.global.0.len() + self.hosts.values().map(|r| r.0.len()).sum::<usize>();
        if source == Source::OpenApi {
            match host {
                Some(h) => {
                    self.documented_hosts.insert(h.into());
                }
                None => self.documented_everywhere = true,
            }
        }
    }

    /// How many routes are declared.
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// Whether an OpenAPI document describes this host.
    pub(super) fn has_document(&self, host: &str) -> bool {
        self.documented_everywhere || self.documented_hosts.contains(host)
    }

    /// The most specific route that matches; a host's own route wins a tie with a route for
    /// every host.
    pub(super) fn best(&self, host: &str, method: &Method, path: &str) -> Option<Matched> {
        let own = self.hosts.get(host);
        let candidates = [
            own.and_then(|r| r.first(method, path)),
            self.global.first(method, path),
        ];
        let best = candidates.into_iter().flatten().min_by_key(|r| r.key())?;
        let documented = best.source == Source::OpenApi
            || (self.has_document(host)
                && (own.is_some_and(|r| r.documents(method, path))
                    || self.global.documents(method, path)));
        Some(Matched {
            template: best.template.clone(),
            documented,
        })
    }
}
