//! YAML text into serde types, with the key path, line and column of the first problem.
//!
//! The parser is serde-saphyr: pure Rust (the workspace forbids `unsafe`), with a budget on
//! events, nesting and alias expansion, so a hostile document cannot exhaust memory.
//! `serde_path_to_error` wraps its deserializer for the key path; the parser adds the line.

use serde::de::DeserializeOwned;
use serde_saphyr::MessageFormatter;
use std::fmt;

/// The first problem in a YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct YamlError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The key path (`limits.request_timeout`, `services.web.upstreams[0]`); empty for the
    /// document itself.
    pub key: String,
    /// What is wrong, without the location.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}")?;
            if let Some(col) = self.column {
                write!(f, " column {col}")?;
            }
            write!(f, ": ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)
    }
}

/// Parses one YAML document into `T`.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    // YAML 1.2 booleans: `yes`, `no`, `on`, `off` are strings, never a surprise `true`.
    let options = serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
    };
    let mut key = String::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            key = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let location = e.location().filter(|l| l.line() > 0);
        // `?` stands for a mapping key in the path; a duplicate key names itself instead.
        let mut key = match key.as_str() {
            "." => String::new(),
            k => k.trim_end_matches('?').trim_end_matches('.').to_owned(),
        };
        let e = e.without_snippet();
        if let serde_saphyr::Error::DuplicateMappingKey { key: Some(k), .. } = e {
            key = if key.is_empty() {
                k.clone()
            } else {
                format!("{key}.{k}")
            };
        }
        YamlError {
            line: location.map(|l| l.line() as usize),
            column: location.map(|l| l.column() as usize),
            key,
            message: message(e, text),
        }
    })
}

/// The parser's message, in the words the rest of the config errors use.
fn message(e: &serde_saphyr::Error, text: &str) -> String {
    use serde_saphyr::Error as E;
    let message = match e {
        E::InvalidScalar { ty, location } => {
            let span = location.span();
            let found = span
                .byte_offset()
                .zip(span.byte_len())
                .and_then(|(at, len)| text.get(at as usize..(at + len) as usize))
                .filter(|v| !v.is_empty() && v.len() <= 80);
            match found {
                Some(v) => format!("invalid value `{v}`, expected {}", expected(ty)),
                None => format!("invalid value, expected {}", expected(ty)),
            }
        }
        E::DuplicateMappingKey { .. } => "duplicate key: each key may appear once".to_owned(),
        E::MultipleDocuments { .. } => "more than one document (`---`); write one".to_owned(),
        E::Eof { .. } => "the document is empty or ends too early".to_owned(),
        E::Unexpected { expected, .. } => match *expected {
            "mapping start" => "expected a mapping (`key: value` lines or `{ key: value }`)".into(),
            "sequence start" => "expected a list (`- item` lines or `[a, b]`)".into(),
            other => format!("expected {other}"),
        },
        other => serde_saphyr::DefaultMessageFormatter
            .format_message(other)
            .into_owned(),
    };
    // The message may quote the document; control characters would break the log line.
    message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A Rust scalar type named for a config author.
fn expected(ty: &str) -> String {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "bool" => "true or false".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nine levels of ten aliases each: a billion nodes if expanded.
    fn alias_bomb() -> String {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=9 {
            let prev = format!("*a{}", level - 1);
            let items = [prev.as_str(); 10].join(", ");
            doc.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        doc
    }

    #[test]
    fn aliases_expanding_past_the_budget_are_refused() {
        // Ignored keys are walked too (an OpenAPI document's `x-` extensions, say).
        let err = from_str::<serde::de::IgnoredAny>(&alias_bomb()).unwrap_err();
        assert!(err.line.is_some(), "{err}");
        assert!(
            err.message.contains("alias") || err.message.contains("budget"),
            "{err}"
        );
    }

    #[test]
    fn booleans_are_yaml_1_2_and_one_document_is_read() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            on: bool,
        }
        assert!(from_str::<Doc>("on: true\n").is_ok());
        let err = from_str::<Doc>("on: yes\n").unwrap_err();
        assert_eq!((err.line, err.key.as_str()), (Some(1), "on"), "{err}");
        let err = from_str::<Doc>("on: true\n---\non: false\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("more than one document"), "{err}");
        let err = from_str::<Doc>("").unwrap_err();
        assert!(err.message.contains("empty"), "{err}");
    }

    #[test]
    fn errors_carry_line_key_and_message() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            outer: Inner,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            port: u16,
        }
        let err = from_str::<Doc>("outer:\n  port: many\n").unwrap_err();
        assert_eq!((err.line, err.key.as_str()), (Some(2), "outer.port"));
        assert_eq!(
            err.to_string(),
            format!("line 2 column 9: outer.port: {}", err.message)
        );
        assert!(err.message.contains("`many`"), "{err}");
    }
}
