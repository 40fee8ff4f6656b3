//! The Prometheus text exposition format: each family opens with its `# HELP` and `# TYPE`
//! lines, then one line per sample, `name{label="value",…} value`. Label values are escaped
//! here (backslash, double quote, newline), so a renderer cannot forget it for a value an
//! outsider chose (a host, a service identity, a sink name).

use std::fmt::{Display, Write};

/// The `# TYPE` of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// The current value.
    Gauge,
    /// Cumulative `_bucket` counts by upper bound (`le`), then `_sum` and `_count`.
    Histogram,
}

impl Kind {
    /// `counter`, `gauge` or `histogram`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Label pairs of one sample.
pub trait LabelSet {
    /// Appends `name="value",…` with the values escaped; nothing when there are no labels.
    fn write_labels(&self, out: &mut String);
}

impl<K: AsRef<str>, V: AsRef<str>> LabelSet for [(K, V)] {
    fn write_labels(&self, out: &mut String) {
        for (i, (name, value)) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name.as_ref());
            out.push_str("=\"");
            escape_into(out, value.as_ref());
            out.push('"');
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> LabelSet for [(K, V); N] {
    fn write_labels(&self, out: &mut String) {
        self.as_slice().write_labels(out);
    }
}

/// Label pairs escaped and joined once, for a series written into several families.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels(String);

impl Labels {
    /// The pairs in the order given.
    pub fn new<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Labels {
        let mut text = String::new();
        for (name, value) in pairs {
            if !text.is_empty() {
                text.push(',');
            }
            [(name, value)].write_labels(&mut text);
        }
        Labels(text)
    }
}

impl LabelSet for Labels {
    fn write_labels(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

/// Appends `v` as a label value: backslash, double quote and newline escaped.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A `/metrics` page being written.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// An empty page with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Writer {
        Writer {
            out: String::with_capacity(capacity),
        }
    }

    /// Opens a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Writer {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self
    }

    /// One sample of the family `name`: `name{labels} value`, or `name value` without labels.
    pub fn sample<L: LabelSet + ?Sized>(
        &mut self,
        name: &str,
        labels: &L,
        value: impl Display,
    ) -> &mut Writer {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// One sample without labels: `name value`.
    pub fn value(&mut self, name: &str, value: impl Display) -> &mut Writer {
        let _ = writeln!(self.out, "{name} {value}");
        self
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Display) {
        self.family(name, kind, help).value(name, value);
    }

    /// One histogram series of the family `name`: the cumulative `_bucket` lines for `bounds`
    /// and `+Inf`, from the non-cumulative `buckets` (one more than `bounds`), then `_sum` and
    /// `_count`.
    pub fn histogram<L: LabelSet + ?Sized>(
        &mut self,
        name: &str,
        labels: &L,
        bounds: &[f64],
        buckets: &[u64],
        sum: impl Display,
    ) {
        let mut cumulative = 0;
        for (i, n) in buckets.iter().enumerate() {
            cumulative += n;
            let _ = write!(self.out, "{name}_bucket");
            let le = match bounds.get(i) {
                Some(b) => format!("{b}"),
                None => "+Inf".to_owned(),
            };
            self.labels(labels, Some(&le));
            let _ = writeln!(self.out, " {cumulative}");
        }
        for (suffix, value) in [("_sum", &sum as &dyn Display), ("_count", &cumulative)] {
            let _ = write!(self.out, "{name}{suffix}");
            self.labels(labels, None);
            let _ = writeln!(self.out, " {value}");
        }
    }

    /// `{labels}` (with `le` last when given); nothing when there are no labels at all.
    fn labels<L: LabelSet + ?Sized>(&mut self, labels: &L, le: Option<&str>) {
        let open = self.out.len();
        self.out.push('{');
        labels.write_labels(&mut self.out);
        if let Some(le) = le {
            if self.out.len() > open + 1 {
                self.out.push(',');
            }
            [("le", le)].write_labels(&mut self.out);
        }
        if self.out.len() == open + 1 {
            self.out.truncate(open);
        } else {
            self.out.push('}');
        }
    }

    /// The page.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests;
