//! API keys: the verified keys' hashes file and the cap on unverified keys per address.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// API keys: which are verified, and how many unverified ones an address may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeys {
    /// The hashes file, when keys are verified.
    pub hashes_file: Option<PathBuf>,
    /// SHA-256 digests of the valid keys (from `hashes_file`); a key found here is a verified
    /// identity, any other key is only claimed.
    pub verified: Arc<std::collections::HashSet<[u8; 32]>>,
    /// Distinct unverified keys one (grouped) address may use within `within`; calls with
    /// further keys are identified by the address alone.
    pub per_address: usize,
    /// The window of `per_address`.
    pub within: Duration,
}

impl Default for ApiKeys {
    fn default() -> Self {
        ApiKeys {
            hashes_file: None,
            verified: Arc::default(),
            per_address: 10,
            within: Duration::from_secs(600),
        }
    }
}

/// Reads a hashes file: one SHA-256 digest of a key per line, in hex (what `sha256sum` prints
/// for the key; text after the digest is ignored), `#` starts a comment.
pub fn read_key_hashes(
    path: &std::path::Path,
) -> Result<std::collections::HashSet<[u8; 32]>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(digest) = line.split_whitespace().next() else {
            continue;
        };
        let bytes = digest.as_bytes();
        let mut d = [0u8; 32];
        let ok = bytes.len() == 64
            && bytes.iter().all(u8::is_ascii_hexdigit)
            && d.iter_mut().enumerate().all(|(i, b)| {
                match std::str::from_utf8(&bytes[2 * i..2 * i + 2])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        *b = v;
                        true
                    }
                    None => false,
                }
            });
        if !ok {
            return Err(format!(
                "{}:{}: not a SHA-256 digest in hex (64 characters)",
                path.display(),
                n + 1
            ));
        }
        out.insert(d);
    }
    Ok(out)
}
