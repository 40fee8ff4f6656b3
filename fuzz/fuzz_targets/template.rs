//! Any request path through the route templater: a template that starts with `/` and keeps
//! the path's segment count (or an overflow template); never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::analysis::template::{TemplateConfig, Templater};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut t = Templater::new(TemplateConfig::default());
    // Several paths per input, so learned merging runs too.
    for (i, path) in text.split('\n').enumerate() {
        let status = [200u16, 404, 500][i % 3];
        let c = t.classify("fuzz.example", &http::Method::GET, path, Some(status));
        assert!(c.template.starts_with('/'), "{path:?} -> {}", c.template);
    }
});
