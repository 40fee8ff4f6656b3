//! Leaf certificates minted on demand by an inspection CA: the certificate a client sees when
//! Sightline terminates its TLS to a destination listed for inspection.
//!
//! The CA pair is checked when loaded (the key matches the certificate, the certificate is a CA
//! that may sign certificates, the key file is readable by its owner only). Leaves are short
//! lived, minted once per host name and kept in a bounded cache for a fraction of their
//! lifetime, so a cached leaf is always well inside its validity.

use crate::TlsError;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Leaves are valid from the day before they are minted to this many days after.
const LEAF_DAYS: u64 = 2;

/// How long a minted leaf is reused (well inside its validity).
pub const LEAF_REUSE: Duration = Duration::from_secs(3600);

/// Leaves kept at most; the oldest goes first when full.
pub const LEAF_CACHE: usize = 1024;

/// A CA that signs inspection leaves.
pub struct InspectCa {
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for InspectCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InspectCa").finish_non_exhaustive()
    }
}

fn pem_err(path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::Pem {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl InspectCa {
    /// Loads and checks a CA pair: the key file readable by its owner only, the key matching
    /// the certificate, the certificate a CA allowed to sign certificates.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        private_to_owner(key)?;
        let ca = crate::load_certs(cert)?
            .into_iter()
            .next()
            .ok_or_else(|| pem_err(cert, "no certificate"))?;
        let key_der = crate::load_key(key)?;
        let pair = KeyPair::try_from(&key_der).map_err(|e| pem_err(key, e.to_string()))?;
        check_ca(&ca, &pair).map_err(|reason| pem_err(cert, reason))?;
        let issuer = Issuer::from_ca_cert_der(&ca, pair)?;
        Ok(InspectCa { issuer })
    }

    /// A leaf for `name` (a DNS name or an address), signed by this CA.
    pub fn issue(&self, name: &str) -> Result<CertifiedKey, TlsError> {
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let today = days_since_epoch(SystemTime::now());
        let (y, m, d) = civil(today.saturating_sub(1));
        params.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = civil(today + LEAF_DAYS);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = any_supported_type(&der)?;
        Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
    }
}

/// Refuses a key file that anyone but its owner may read or write.
fn private_to_owner(key: &Path) -> Result<(), TlsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(key).map_err(|source| TlsError::Io {
            path: key.display().to_string(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(pem_err(
                key,
                format!("the CA key is accessible to others (mode {mode:o}); chmod 600 it"),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = key;
    Ok(())
}

/// Why `ca` cannot sign leaves with `pair`, if it cannot.
fn check_ca(ca: &CertificateDer<'_>, pair: &KeyPair) -> Result<(), String> {
    let (_, x509) = x509_parser::parse_x509_certificate(ca)
        .map_err(|e| format!("not a readable certificate: {e}"))?;
    if x509.public_key().raw != pair.subject_public_key_info().as_slice() {
        return Err("the CA key does not match the CA certificate".into());
    }
    let is_ca = x509
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err("the certificate is not a CA (basic constraints)".into());
    }
    if let Ok(Some(ku)) = x509.key_usage() {
        if !ku.value.key_cert_sign() {
            return Err(
                "the CA certificate's key usage does not allow signing certificates".into(),
            );
        }
    }
    Ok(())
}

fn days_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

/// The (year, month, day) `days` after 1970-01-01.
fn civil(days: u64) -> (i32, u8, u8) {
    // Civil date from a day count (proleptic Gregorian calendar).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// Minted leaves by host name: bounded, each reused for [`LEAF_REUSE`].
pub struct LeafCache {
    ca: InspectCa,
    leaves: Mutex<HashMap<String, (Arc<CertifiedKey>, Instant)>>,
    max: usize,
    reuse: Duration,
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCache")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl LeafCache {
    /// A cache of at most `max` leaves, each reused for `reuse`.
    pub fn new(ca: InspectCa, max: usize, reuse: Duration) -> Self {
        LeafCache {
            ca,
            leaves: Mutex::new(HashMap::new()),
            max: max.max(1),
            reuse,
        }
    }

    /// The leaf for `name`, minted now if none is cached or the cached one is due.
    pub fn leaf(&self, name: &str) -> Result<Arc<CertifiedKey>, TlsError> {
        let now = Instant::now();
        if let Ok(leaves) = self.leaves.lock() {
            if let Some((leaf, at)) = leaves.get(name) {
                if now.duration_since(*at) < self.reuse {
                    return Ok(leaf.clone());
                }
            }
        }
        let leaf = Arc::new(self.ca.issue(name)?);
        if let Ok(mut leaves) = self.leaves.lock() {
            leaves.retain(|_, (_, at)| now.duration_since(*at) < self.reuse);
            while leaves.len() >= self.max {
                let oldest = leaves
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => leaves.remove(&k),
                    None => break,
                };
            }
            leaves.insert(name.to_owned(), (leaf.clone(), now));
        }
        Ok(leaf)
    }

    /// Leaves cached now.
    pub fn len(&self) -> usize {
        self.leaves.lock().map_or(0, |l| l.len())
    }

    /// Whether no leaf is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DevMaterial;
    use rustls::client::danger::ServerCertVerifier;

    fn material(tag: &str) -> (std::path::PathBuf, DevMaterial) {
        let dir = std::env::temp_dir().join(format!("sightline-mint-{tag}-{}", std::process::id()));
        let m = DevMaterial::write(&dir, &["localhost"]).unwrap();
        (dir, m)
    }

    #[test]
    fn leaves_chain_to_the_ca_and_name_the_host() {
        let (dir, m) = material("chain");
        let ca = InspectCa::load(&m.ca, &dir.join("ca-key.pem")).unwrap();
        let leaf = ca.issue("api.partner.example").unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(crate::load_certs(&m.ca).unwrap().remove(0))
            .unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let name = rustls_pki_types::ServerName::try_from("api.partner.example").unwrap();
        let now = rustls_pki_types::UnixTime::now();
        verifier
            .verify_server_cert(&leaf.cert[0], &[], &name, &[], now)
            .unwrap();
        let other = rustls_pki_types::ServerName::try_from("other.example").unwrap();
        assert!(verifier
            .verify_server_cert(&leaf.cert[0], &[], &other, &[], now)
            .is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_key_readable_by_others_a_wrong_key_and_a_non_ca_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, m) = material("refuse");
        let key = dir.join("ca-key.pem");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = InspectCa::load(&m.ca, &key).unwrap_err().to_string();
        assert!(err.contains("accessible to others"), "{err}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = InspectCa::load(&m.ca, &m.server_key)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match"), "{err}");
        let err = InspectCa::load(&m.server_cert, &m.server_key)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a CA"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_cache_reuses_leaves_and_stays_bounded() {
        let (dir, m) = material("cache");
        let ca = InspectCa::load(&m.ca, &dir.join("ca-key.pem")).unwrap();
        let cache = LeafCache::new(ca, 2, LEAF_REUSE);
        let a = cache.leaf("a.example").unwrap();
        assert!(Arc::ptr_eq(&a, &cache.leaf("a.example").unwrap()));
        cache.leaf("b.example").unwrap();
        cache.leaf("c.example").unwrap();
        assert_eq!(cache.len(), 2);
        assert!(!Arc::ptr_eq(&a, &cache.leaf("a.example").unwrap()));
        let due = LeafCache::new(
            InspectCa::load(&m.ca, &dir.join("ca-key.pem")).unwrap(),
            2,
            Duration::ZERO,
        );
        let x = due.leaf("x.example").unwrap();
        assert!(!Arc::ptr_eq(&x, &due.leaf("x.example").unwrap()));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn civil_days() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_454), (2026, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }
}
