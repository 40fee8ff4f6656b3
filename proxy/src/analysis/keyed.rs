//! Maps keyed by what calls carry (hosts, paths, templates, node ids: attacker-chosen), hashed
//! under a random key, and looked up by borrowed keys: a call finds its graph edge, endpoint
//! and watch with one lookup each and copies no key unless it adds one.
//!
//! The hash is foldhash (its `fast` variant) under a per-process random key with a per-map
//! seed ([`KeyedState`]), not SipHash: a few times fewer instructions per key, and the keys of
//! the recorder's maps (a call's host, path, template, caller and series labels) are hashed
//! several times per call. Colliding keys for a keyed foldhash cannot be chosen without its
//! key, which never leaves the process and which no output shows (no hash value is exported;
//! listings are sorted); every such map is capped. See ARCHITECTURE.md, "Hashing on the data
//! path".

use foldhash::fast::{FoldHasher, SeedableRandomState};
use foldhash::SharedSeed;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// The keyed hasher of maps whose keys an attacker chooses: foldhash under a key drawn from
/// the operating system's randomness once per process (foldhash's own default seeds from
/// addresses and the clock), with a seed of its own per map from the same source.
#[derive(Clone, Debug)]
pub struct KeyedState(SeedableRandomState);

/// A random `u64` from the standard library's `RandomState`, whose keys come from the
/// operating system's randomness (a fresh key per call: it counts up from a random start).
fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

impl Default for KeyedState {
    fn default() -> Self {
        static KEY: OnceLock<SharedSeed> = OnceLock::new();
        let key = KEY.get_or_init(|| SharedSeed::from_u64(random_u64()));
        KeyedState(SeedableRandomState::with_seed(random_u64(), key))
    }
}

impl BuildHasher for KeyedState {
    type Hasher = FoldHasher<'static>;

    #[inline]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

/// A map with a keyed hasher.
pub type KeyedMap<K, V> = hashbrown::HashMap<K, V, KeyedState>;

/// A set with a keyed hasher.
pub type KeyedSet<K> = hashbrown::HashSet<K, KeyedState>;

/// Two strings, borrowed: finds a `(String, Arc<str>)` or `(Arc<str>, Arc<str>)` key (hashed
/// like them: each string in order).
#[derive(Clone, Copy, Debug)]
pub struct Pair<'a>(pub &'a str, pub &'a str);

impl Hash for Pair<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl hashbrown::Equivalent<(String, Arc<str>)> for Pair<'_> {
    fn equivalent(&self, key: &(String, Arc<str>)) -> bool {
        self.0 == key.0 && self.1 == &*key.1
    }
}

impl hashbrown::Equivalent<(Arc<str>, Arc<str>)> for Pair<'_> {
    fn equivalent(&self, key: &(Arc<str>, Arc<str>)) -> bool {
        self.0 == &*key.0 && self.1 == &*key.1
    }
}

/// Four strings, borrowed: finds a [`super::watch::WatchKey`].
#[derive(Clone, Copy, Debug)]
pub struct Quad<'a>(pub &'a str, pub &'a str, pub &'a str, pub &'a str);

impl Hash for Quad<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
        self.2.hash(state);
        self.3.hash(state);
    }
}

impl hashbrown::Equivalent<super::watch::WatchKey> for Quad<'_> {
    fn equivalent(&self, key: &super::watch::WatchKey) -> bool {
        self.0 == &*key.0 && self.1 == &*key.1 && self.2 == key.2 && self.3 == &*key.3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_keys_hash_and_compare_like_the_owned_ones() {
        let s = KeyedState::default();
        let owned: (String, Arc<str>) = ("GET".into(), "/items/{int}".into());
        assert_eq!(s.hash_one(&owned), s.hash_one(Pair("GET", "/items/{int}")));
        let ids: (Arc<str>, Arc<str>) = ("client:a".into(), "service:shop".into());
        assert_eq!(
            s.hash_one(&ids),
            s.hash_one(Pair("client:a", "service:shop"))
        );
        let watch: super::super::watch::WatchKey =
            ("a".into(), "b".into(), "GET".into(), "/x".into());
        assert_eq!(s.hash_one(&watch), s.hash_one(Quad("a", "b", "GET", "/x")));
        let mut m: KeyedMap<(String, Arc<str>), u32> = KeyedMap::default();
        m.insert(owned, 1);
        assert_eq!(m.get(&Pair("GET", "/items/{int}")), Some(&1));
        assert_eq!(m.get(&Pair("GE", "T/items/{int}")), None);
    }

    #[test]
    fn each_map_hashes_keys_under_a_key_of_its_own() {
        // Keys found to collide in one map are no use against another: each map hashes with a
        // seed of its own on top of the per-process random key, never by the key alone.
        let keys = ["api.example.com", "/items/1", "GET /items/{int}"];
        let (a, b) = (KeyedState::default(), KeyedState::default());
        for k in keys {
            assert_ne!(a.hash_one(k), b.hash_one(k), "{k}");
            assert_eq!(a.hash_one(k), a.hash_one(k), "{k}");
        }
    }
}
