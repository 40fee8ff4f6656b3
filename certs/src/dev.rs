//! A development CA and the certificates it issues, for local use and tests only.

use crate::TlsError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};

/// A PEM certificate and its PEM private key.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM.
    pub key_pem: String,
}

/// A self-signed development CA that issues server and client certificates.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    cert: IssuedCert,
}

impl DevCa {
    /// A fresh CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "Sightline development CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        let issued = IssuedCert {
            cert_pem: pem("CERTIFICATE", cert.der()),
            key_pem: pem("PRIVATE KEY", &key.serialize_der()),
        };
        Ok(DevCa {
            issuer: Issuer::new(params, key),
            cert: issued,
        })
    }

    /// The CA certificate and key.
    pub fn cert(&self) -> &IssuedCert {
        &self.cert
    }

    /// A server certificate for DNS names and IP addresses in `names`.
    pub fn issue_server(&self, names: &[&str]) -> Result<IssuedCert, TlsError> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone())?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params)
    }

    /// A client certificate whose identity is the URI SAN `uri` (for example
    /// `spiffe://example.internal/orders`) with `common_name` as its subject.
    pub fn issue_client(&self, common_name: &str, uri: &str) -> Result<IssuedCert, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = vec![SanType::URI(uri.try_into()?)];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<IssuedCert, TlsError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: pem("CERTIFICATE", cert.der()),
            key_pem: pem("PRIVATE KEY", &key.serialize_der()),
        })
    }
}

/// RFC 7468 text encoding: the DER in base64, 64 characters a line, between the label's lines.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 output is ASCII, so every 64-byte chunk is a whole string.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The files `sightline certs init` writes.
#[derive(Clone, Debug)]
pub struct DevMaterial {
    /// `ca.pem`: trust this to talk to the dev server.
    pub ca: PathBuf,
    /// `server.pem` for localhost, 127.0.0.1 and ::1.
    pub server_cert: PathBuf,
    /// `server-key.pem`.
    pub server_key: PathBuf,
    /// `client.pem`, identity `spiffe://sightline.local/dev-client`.
    pub client_cert: PathBuf,
    /// `client-key.pem`.
    pub client_key: PathBuf,
}

impl DevMaterial {
    /// Generates a CA, a server certificate for `names` and a client certificate, and writes
    /// them as PEM files into `dir` (created if missing). Keys are written owner-readable only.
    pub fn write(dir: &Path, names: &[&str]) -> Result<Self, TlsError> {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let ca = DevCa::generate("Sightline dev CA")?;
        let server = ca.issue_server(names)?;
        let client = ca.issue_client("dev-client", "spiffe://sightline.local/dev-client")?;
        let m = DevMaterial {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        };
        write(&m.ca, &ca.cert().cert_pem, false)?;
        write(&dir.join("ca-key.pem"), &ca.cert().key_pem, true)?;
        write(&m.server_cert, &server.cert_pem, false)?;
        write(&m.server_key, &server.key_pem, true)?;
        write(&m.client_cert, &client.cert_pem, false)?;
        write(&m.client_key, &client.key_pem, true)?;
        Ok(m)
    }
}

fn write(path: &Path, contents: &str, secret: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(path, contents).map_err(io)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_certs, peer_identity, server_config, ClientAuth};

    #[test]
    fn written_material_loads_and_names_the_client() {
        let dir = std::env::temp_dir().join(format!("sightline-certs-{}", std::process::id()));
        let m = DevMaterial::write(&dir, &["localhost", "127.0.0.1"]).unwrap();
        let auth = ClientAuth {
            ca: &m.ca,
            required: true,
        };
        server_config(&m.server_cert, &m.server_key, Some(auth)).unwrap();
        let client = load_certs(&m.client_cert).unwrap();
        assert_eq!(
            peer_identity(&client[0]).as_deref(),
            Some("spiffe://sightline.local/dev-client")
        );
        let server = load_certs(&m.server_cert).unwrap();
        assert_eq!(peer_identity(&server[0]).as_deref(), Some("localhost"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn mismatched_key_is_refused() {
        let dir = std::env::temp_dir().join(format!("sightline-certs-mm-{}", std::process::id()));
        let m = DevMaterial::write(&dir, &["localhost"]).unwrap();
        assert!(server_config(&m.server_cert, &m.client_key, None).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
