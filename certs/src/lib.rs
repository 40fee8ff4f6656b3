//! TLS material for Sightline: PEM loading, rustls server and client configs, the caller identity
//! carried by a client certificate, and a development CA (`sightline certs init`).
//!
//! All crypto goes through rustls with the `ring` provider; nothing here touches sockets.
#![forbid(unsafe_code)]

mod config;
mod dev;
mod identity;
mod mint;
mod pem;

pub use config::{client_config, server_config, ClientAuth, ALPN_H1, ALPN_H2};
pub use dev::{DevCa, DevMaterial, IssuedCert};
pub use identity::peer_identity;
pub use mint::{InspectCa, LeafCache, LEAF_CACHE, LEAF_REUSE};
pub use pem::{load_certs, load_key};
pub use rustls;

/// Why TLS material could not be loaded or assembled.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the material (for example a key that does not match the certificate).
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    /// A client-certificate verifier could not be built from the given CA.
    #[error("client CA: {0}")]
    Verifier(String),
    /// Generating development certificates failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing generated files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}
