//! A map with a hard size cap for state keyed by network-controlled data. When full, a new key
//! evicts an entry not used since the clock hand last passed it (second-chance, close to LRU at
//! O(1) amortised), and every eviction is counted.
//!
//! Keys are hashed once per operation, with a keyed SipHash (the keys are chosen by whoever
//! is on the network, so the hash must not be predictable to them). Each entry and each place
//! behind the clock hand keeps its key's hash, so growing the table and evicting never hash
//! again; a caller that already hashed the key (to pick a shard, say) passes that hash in
//! ([`CappedMap::hash`], [`CappedMap::entry_hashed`]) and the key is hashed once in all.

use hashbrown::HashTable;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, RandomState};

/// A size-capped map with counted evictions.
#[derive(Debug, Clone)]
pub struct CappedMap<K, V> {
    table: HashTable<Slot<K, V>>,
    /// Keys (with their hashes) in the order the clock hand visits them.
    hand: VecDeque<(u64, K)>,
    hasher: RandomState,
    cap: usize,
    evictions: u64,
}

#[derive(Debug, Clone)]
struct Slot<K, V> {
    hash: u64,
    key: K,
    value: V,
    used: bool,
}

impl<K: Hash + Eq + Clone, V> CappedMap<K, V> {
    /// An empty map holding at most `cap` entries (at least 1).
    pub fn new(cap: usize) -> Self {
        CappedMap::with_hasher(cap, RandomState::new())
    }

    /// [`CappedMap::new`] hashing with `hasher`: maps that share one (the shards of a table)
    /// give every key the same hash, so the hash that picked the shard finds the entry too.
    pub fn with_hasher(cap: usize, hasher: RandomState) -> Self {
        CappedMap {
            table: HashTable::new(),
            hand: VecDeque::new(),
            hasher,
            cap: cap.max(1),
            evictions: 0,
        }
    }

    /// The hash this map files `key` under.
    pub fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entry for `key`, created with `make` (evicting one if full). A new entry is the
    /// first to go unless it is used again, so a flood of one-off keys evicts itself.
    pub fn entry(&mut self, key: &K, make: impl FnOnce() -> V) -> &mut V {
        let hash = self.hash(key);
        self.entry_hashed(hash, key, make)
    }

    /// [`CappedMap::entry`] for a key whose [`CappedMap::hash`] the caller already has.
    pub fn entry_hashed(&mut self, hash: u64, key: &K, make: impl FnOnce() -> V) -> &mut V {
        match self.table.find_entry(hash, |s| s.key == *key) {
            Ok(found) => {
                let slot = found.into_mut();
                slot.used = true;
                &mut slot.value
            }
            Err(absent) => {
                let table = absent.into_table();
                let room = Room {
                    hand: &mut self.hand,
                    cap: self.cap,
                    evictions: &mut self.evictions,
                };
                room.make(table, hash, key);
                let slot = Slot {
                    hash,
                    key: key.clone(),
                    value: make(),
                    used: false,
                };
                &mut table.insert_unique(hash, slot, |s| s.hash).into_mut().value
            }
        }
    }

    /// The entry for `key`, if present (marks it used).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.get_mut_hashed(self.hash(key), key)
    }

    /// [`CappedMap::get_mut`] for a key whose [`CappedMap::hash`] the caller already has.
    pub fn get_mut_hashed(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        self.table.find_mut(hash, |s| s.key == *key).map(|s| {
            s.used = true;
            &mut s.value
        })
    }

    /// The entry for `key`, if present, without marking it.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.peek_hashed(self.hash(key), key)
    }

    /// [`CappedMap::peek`] for a key whose [`CappedMap::hash`] the caller already has.
    pub fn peek_hashed(&self, hash: u64, key: &K) -> Option<&V> {
        self.table.find(hash, |s| s.key == *key).map(|s| &s.value)
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, key: K, value: V) {
        let hash = self.hash(&key);
        match self.table.find_entry(hash, |s| s.key == key) {
            Ok(found) => {
                let slot = found.into_mut();
                slot.value = value;
                slot.used = true;
            }
            Err(absent) => {
                let table = absent.into_table();
                let room = Room {
                    hand: &mut self.hand,
                    cap: self.cap,
                    evictions: &mut self.evictions,
                };
                room.make(table, hash, &key);
                let slot = Slot {
                    hash,
                    key,
                    value,
                    used: false,
                };
                table.insert_unique(hash, slot, |s| s.hash);
            }
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.remove_hashed(self.hash(key), key)
    }

    /// [`CappedMap::remove`] for a key whose [`CappedMap::hash`] the caller already has.
    pub fn remove_hashed(&mut self, hash: u64, key: &K) -> Option<V> {
        let found = self.table.find_entry(hash, |s| s.key == *key).ok()?;
        Some(found.remove().0.value)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Entries evicted to make room, ever.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.table.iter().map(|s| (&s.key, &s.value))
    }

    /// Keeps only the entries `keep` accepts (not counted as evictions).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.table.retain(|s| keep(&s.key, &mut s.value));
    }
}

/// The clock hand and eviction count, borrowed apart from the table so that a lookup that
/// found nothing can make room and insert without looking the key up again.
struct Room<'a, K> {
    hand: &'a mut VecDeque<(u64, K)>,
    cap: usize,
    evictions: &'a mut u64,
}

impl<K: Eq + Clone> Room<'_, K> {
    /// Evicts one entry when full and queues `key` behind the clock hand.
    fn make<V>(mut self, table: &mut HashTable<Slot<K, V>>, hash: u64, key: &K) {
        if table.len() >= self.cap {
            self.evict_one(table);
        }
        if self.hand.len() >= self.cap.saturating_mul(2) {
            self.hand
                .retain(|(h, k)| table.find(*h, |s| s.key == *k).is_some());
        }
        self.hand.push_back((hash, key.clone()));
    }

    fn evict_one<V>(&mut self, table: &mut HashTable<Slot<K, V>>) {
        // Each entry gets one second chance, so two passes always find a victim.
        let mut budget = self.hand.len().saturating_mul(2) + 1;
        while let Some((h, k)) = self.hand.pop_front() {
            budget -= 1;
            match table.find_entry(h, |s| s.key == k) {
                Err(_) => {}
                Ok(mut found) if found.get().used && budget > 0 => {
                    found.get_mut().used = false;
                    self.hand.push_back((h, k));
                }
                Ok(found) => {
                    found.remove();
                    *self.evictions += 1;
                    return;
                }
            }
            if budget == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests;
