//! A client-keyed table for the data path: [`CappedMap`] shards behind short std mutexes. A
//! lock is held only for a few map operations and never across an await, so no request waits
//! on another for longer than that.

use sightline_policy::clients::CappedMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 16;

/// A sharded, capped map.
#[derive(Debug)]
pub struct Table<K, V> {
    shards: Vec<Mutex<CappedMap<K, V>>>,
    hasher: RandomState,
}

impl<K: Hash + Eq + Clone, V> Table<K, V> {
    /// A table holding at most about `cap` entries in all.
    pub fn new(cap: usize) -> Self {
        let per = cap.div_ceil(SHARDS).max(1);
        // One keyed hasher for the table and all its shards: the hash that picks a key's
        // shard also files it in the shard, so a key is hashed once per call.
        let hasher = RandomState::new();
        Table {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(CappedMap::with_hasher(per, hasher.clone())))
                .collect(),
            hasher,
        }
    }

    /// The shard holding `key`, locked.
    pub fn shard(&self, key: &K) -> MutexGuard<'_, CappedMap<K, V>> {
        self.shard_of(self.hasher.hash_one(key))
    }

    /// The shard holding `key`, locked, with the key's hash for the shard's `*_hashed`
    /// lookups (one hashing pass for the shard and the entry).
    pub fn shard_hashed(&self, key: &K) -> (MutexGuard<'_, CappedMap<K, V>>, u64) {
        let hash = self.hasher.hash_one(key);
        (self.shard_of(hash), hash)
    }

    /// The shard for a key's hash, locked. The shard comes from bits the shard's own table
    /// does not use for a table of fewer than 2^32 entries (it takes the low bits for the
    /// bucket and the top seven for the tag), so the keys of one shard still spread over it.
    fn shard_of(&self, hash: u64) -> MutexGuard<'_, CappedMap<K, V>> {
        let i = ((hash >> 32) as usize) % self.shards.len();
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the entry for `key`, creating it with `make`. The key is hashed once.
    pub fn with<R>(&self, key: &K, make: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R {
        let hash = self.hasher.hash_one(key);
        f(self.shard_of(hash).entry_hashed(hash, key, make))
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.each_shard(|s| s.len())
    }

    /// The cap over all shards.
    pub fn cap(&self) -> usize {
        self.each_shard(|s| s.cap())
    }

    /// Entries evicted to make room, ever.
    pub fn evictions(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).evictions())
            .sum()
    }

    /// Calls `f` on each shard in turn (one lock at a time).
    pub fn for_each(&self, mut f: impl FnMut(&mut CappedMap<K, V>)) {
        for s in &self.shards {
            f(&mut s.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    fn each_shard(&self, f: impl Fn(&CappedMap<K, V>) -> usize) -> usize {
        self.shards
            .iter()
            .map(|s| f(&s.lock().unwrap_or_else(|p| p.into_inner())))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// With one hashing pass per call (the shard's hash reused inside it), every client still
    /// finds its own entry, counts stay exact, and the table keeps to its cap.
    #[test]
    fn each_client_keeps_its_own_exact_count_within_the_cap() {
        let t: Table<Arc<str>, u64> = Table::new(1_600);
        let keys: Vec<Arc<str>> = (0..1_000)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256).into())
            .collect();
        for round in 1..=5u64 {
            for k in &keys {
                assert_eq!(
                    t.with(
                        k,
                        || 0,
                        |n| {
                            *n += 1;
                            *n
                        }
                    ),
                    round
                );
            }
        }
        assert_eq!(t.len(), 1_000);
        let (shard, hash) = t.shard_hashed(&keys[7]);
        assert_eq!(shard.peek_hashed(hash, &keys[7]), Some(&5));
        drop(shard);
        for i in 0..10_000 {
            let k: Arc<str> = format!("flood-{i}").into();
            t.with(&k, || 0, |n| *n += 1);
        }
        assert!(t.len() <= t.cap(), "{} > {}", t.len(), t.cap());
        assert_eq!(t.evictions() as usize + t.len(), 11_000);
    }
}
