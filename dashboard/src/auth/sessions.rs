//! Dashboard sessions: random ids kept on the server, each with an expiry and the token it was
//! opened under. The cookie carries only the id: it reveals nothing, stops working at its
//! expiry whatever the browser does, at logout, and when the token changes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Sessions kept at most; past that the one closest to its end is dropped (and counted).
pub const MAX_SESSIONS: usize = 1_000;
/// Random bytes in a session id (hex in the cookie).
const ID_BYTES: usize = 32;

#[derive(Debug)]
struct Session {
    expires: Instant,
    /// SHA-256 of the token the session was opened under.
    token: [u8; 32],
}

/// The open sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    table: Mutex<HashMap<String, Session>>,
    evicted: std::sync::atomic::AtomicU64,
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Sessions {
    fn table(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session under `token` lasting `lifetime` from `now`; its id, or `None` when the
    /// system has no randomness to give.
    pub fn open(&self, token: &str, lifetime: Duration, now: Instant) -> Option<String> {
        let mut bytes = [0u8; ID_BYTES];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).ok()?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut table = self.table();
        if table.len() >= MAX_SESSIONS {
            table.retain(|_, s| s.expires > now);
        }
        if table.len() >= MAX_SESSIONS {
            let oldest = table
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                table.remove(&k);
                self.evicted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        table.insert(
            id.clone(),
            Session {
                expires: now + lifetime,
                token: digest(token),
            },
        );
        Some(id)
    }

    /// Whether `id` names a session open under `token` at `now`. An expired session is
    /// forgotten.
    pub fn check(&self, id: &str, token: &str, now: Instant) -> bool {
        let mut table = self.table();
        let Some(s) = table.get(id) else {
            return false;
        };
        if s.expires <= now {
            table.remove(id);
            return false;
        }
        super::constant_time_eq(&s.token, &digest(token))
    }

    /// Ends the session `id`, if it is open.
    pub fn revoke(&self, id: &str) {
        self.table().remove(id);
    }

    /// Sessions held now (expired ones included until they are next looked at).
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sessions dropped to make room under [`MAX_SESSIONS`].
    pub fn evicted(&self) -> u64 {
        self.evicted.load(std::sync::atomic::Ordering::Relaxed)
    }
}
