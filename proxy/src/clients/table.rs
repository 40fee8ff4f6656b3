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
        Table {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(CappedMap::new(per)))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// The shard holding `key`, locked.
    pub fn shard(&self, key: &K) -> MutexGuard<'_, CappedMap<K, V>> {
        let i = (self.hasher.hash_one(key) as usize) % self.shards.len();
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the entry for `key`, creating it with `make`.
    pub fn with<R>(&self, key: &K, make: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R {
        f(self.shard(key).entry(key, make))
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
