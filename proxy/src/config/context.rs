//! What every section's converter works with: the file being converted (to name file and line
//! in issues), its folder (to resolve relative paths), the environment (secrets and `OTEL_*`
//! variables) and the list of issues found so far.
//!
//! Every section has one converter of the same shape:
//! `fn convert(raw: <the section as read>, cx: &mut Convert<'_>) -> <the checked section>`.
//! It always returns a value (defaults where the file is wrong) and records each problem with
//! [`Convert::issue`], so one run reports every problem in the file.

use super::{ConfigIssue, ConfigSource};
use std::path::{Path, PathBuf};

/// A conversion in progress.
pub(crate) struct Convert<'a> {
    text: &'a str,
    file: &'a str,
    base: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The service names the file defines (routes must name one of them), in name order.
    pub services: Vec<String>,
    /// The problems found so far, in the order found.
    pub issues: Vec<ConfigIssue>,
}

impl<'a> Convert<'a> {
    /// Starts converting `text` (named `file` in issues, relative paths taken from `base`).
    pub fn new(
        text: &'a str,
        file: &'a str,
        base: &'a Path,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        Convert {
            text,
            file,
            base,
            env,
            services: Vec::new(),
            issues: Vec::new(),
        }
    }

    /// Records a problem at the line of `key` (a dotted path such as `inbound.tls.cert`).
    pub fn issue(&mut self, key: &str, message: impl Into<String>) {
        let source = ConfigSource {
            file: self.file.to_owned(),
            text: self.text.into(),
        };
        self.issues.push(source.issue(key, message));
    }

    /// `path` made absolute: relative paths are taken from the config file's folder.
    pub fn resolve(&self, path: PathBuf) -> PathBuf {
        if path.is_absolute() {
            path
        } else {
            self.base.join(path)
        }
    }

    /// The environment variable `name`, when set (and valid Unicode).
    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// A secret written inline, read from a file, or taken from the environment (see
    /// [`SecretFrom`]); `None` when none is given or the one given cannot be read (an issue
    /// names why).
    pub fn secret(&mut self, from: SecretFrom, key: &str) -> Option<String> {
        let given = [
            from.inline.is_some(),
            from.file.is_some(),
            from.env.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            let at = if from.file.is_some() {
                format!("{key}_file")
            } else {
                format!("{key}_env")
            };
            self.issue(&at, format!("set one of {key}, {key}_file and {key}_env"));
            return None;
        }
        if let Some(v) = from.inline {
            return Some(v);
        }
        if let Some(path) = from.file {
            let path = self.resolve(path);
            return match std::fs::read_to_string(&path) {
                Ok(text) => Some(text.trim().to_owned()),
                Err(e) => {
                    self.issue(
                        &format!("{key}_file"),
                        format!("{}: cannot read: {e}", path.display()),
                    );
                    None
                }
            };
        }
        let name = from.env?;
        match self.env(&name) {
            Some(v) => Some(v.trim().to_owned()),
            None => {
                self.issue(
                    &format!("{key}_env"),
                    format!("environment variable {name} is not set"),
                );
                None
            }
        }
    }
}

/// Where a secret comes from: written inline as `key`, read from the file `key_file` (relative
/// to the config's folder; surrounding whitespace and the final newline are dropped), or from
/// the environment variable `key_env` names. At most one of them.
#[derive(Debug, Default)]
pub(crate) struct SecretFrom {
    pub inline: Option<String>,
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

/// What a service name may be.
pub(crate) const NAME_RULE: &str =
    "service names start with a letter or digit and use letters, digits, '-', '_' and '.' only (at most 64)";

/// Whether `name` follows [`NAME_RULE`].
pub(crate) fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
