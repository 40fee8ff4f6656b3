//! rustls server and client configurations built from PEM files.

use crate::{load_certs, load_key, TlsError};
use rustls::crypto::ring::default_provider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

/// ALPN id for HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN id for HTTP/1.1.
pub const ALPN_H1: &[u8] = b"http/1.1";

/// How a server asks for client certificates.
#[derive(Clone, Debug)]
pub struct ClientAuth<'a> {
    /// PEM file of the CA(s) that sign acceptable client certificates.
    pub ca: &'a Path,
    /// Refuse the handshake without a client certificate (otherwise it is optional, and
    /// callers without one are identified some other way).
    pub required: bool,
}

fn roots_from(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// A server config offering h2 and http/1.1 over ALPN, optionally verifying client certificates.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_auth: Option<ClientAuth<'_>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let roots = Arc::new(roots_from(auth.ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = if auth.required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(load_certs(cert)?, load_key(key)?)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_H1.to_vec()];
    Ok(Arc::new(config))
}

/// A client config trusting `ca` when given, else the system's roots; `alpn` in preference order.
pub fn client_config(ca: Option<&Path>, alpn: &[&[u8]]) -> Result<ClientConfig, TlsError> {
    let roots = match ca {
        Some(path) => roots_from(path)?,
        None => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            // Unreadable individual system certificates are skipped, as browsers do.
            roots.add_parsable_certificates(found.certs);
            roots
        }
    };
    let mut config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
