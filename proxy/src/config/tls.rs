//! TLS on a listener (inbound, admin and egress share the `tls:` mapping).

use super::context::Convert;
use super::file::{ClientAuthFile, InboundTlsFile};
use std::path::PathBuf;

/// TLS termination for a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundTls {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
    /// CA for client certificates; when set, a verified certificate's SAN is the caller identity.
    pub client_ca: Option<PathBuf>,
    /// Refuse callers without a client certificate.
    pub client_auth_required: bool,
}

/// Checks a listener's `tls:` mapping; `key` is where it is (`inbound.tls`).
pub(super) fn convert(raw: InboundTlsFile, key: &str, cx: &mut Convert<'_>) -> InboundTls {
    if raw.client_auth == ClientAuthFile::Required && raw.client_ca.is_none() {
        cx.issue(
            &format!("{key}.client_auth"),
            format!("`required` needs {key}.client_ca"),
        );
    }
    InboundTls {
        cert: cx.resolve(raw.cert),
        key: cx.resolve(raw.key),
        client_auth_required: raw.client_auth == ClientAuthFile::Required,
        client_ca: raw.client_ca.map(|p| cx.resolve(p)),
    }
}
