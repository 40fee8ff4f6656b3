//! A map with a hard size cap for state keyed by network-controlled data. When full, a new key
//! evicts an entry not used since the clock hand last passed it (second-chance, close to LRU at
//! O(1) amortised), and every eviction is counted.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A size-capped map with counted evictions.
#[derive(Debug, Clone)]
pub struct CappedMap<K, V> {
    map: HashMap<K, Slot<V>>,
    hand: VecDeque<K>,
    cap: usize,
    evictions: u64,
}

#[derive(Debug, Clone)]
struct Slot<V> {
    value: V,
    used: bool,
}

impl<K: Hash + Eq + Clone, V> CappedMap<K, V> {
    /// An empty map holding at most `cap` entries (at least 1).
    pub fn new(cap: usize) -> Self {
        CappedMap {
            map: HashMap::new(),
            hand: VecDeque::new(),
            cap: cap.max(1),
            evictions: 0,
        }
    }

    /// The entry for `key`, created with `make` (evicting one if full). A new entry is the
    /// first to go unless it is used again, so a flood of one-off keys evicts itself.
    pub fn entry(&mut self, key: &K, make: impl FnOnce() -> V) -> &mut V {
        let fresh = !self.map.contains_key(key);
        if fresh {
            self.make_room(key);
        }
        let slot = self.map.entry(key.clone()).or_insert_with(|| Slot {
            value: make(),
            used: false,
        });
        slot.used |= !fresh;
        &mut slot.value
    }

    /// The entry for `key`, if present (marks it used).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key).map(|s| {
            s.used = true;
            &mut s.value
        })
    }

    /// The entry for `key`, if present, without marking it.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|s| &s.value)
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, key: K, value: V) {
        if let Some(slot) = self.map.get_mut(&key) {
            slot.value = value;
            slot.used = true;
            return;
        }
        self.make_room(&key);
        self.map.insert(key, Slot { value, used: false });
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key).map(|s| s.value)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
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
        self.map.iter().map(|(k, s)| (k, &s.value))
    }

    /// Keeps only the entries `keep` accepts (not counted as evictions).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.map.retain(|k, s| keep(k, &mut s.value));
    }

    /// Evicts one entry when full and queues `key` behind the clock hand.
    fn make_room(&mut self, key: &K) {
        if self.map.len() >= self.cap {
            self.evict_one();
        }
        if self.hand.len() >= self.cap.saturating_mul(2) {
            let map = &self.map;
            self.hand.retain(|k| map.contains_key(k));
        }
        self.hand.push_back(key.clone());
    }

    fn evict_one(&mut self) {
        // Each entry gets one second chance, so two passes always find a victim.
        let mut budget = self.hand.len().saturating_mul(2) + 1;
        while let Some(k) = self.hand.pop_front() {
            budget -= 1;
            match self.map.get_mut(&k) {
                None => {}
                Some(slot) if slot.used && budget > 0 => {
                    slot.used = false;
                    self.hand.push_back(k);
                }
                Some(_) => {
                    self.map.remove(&k);
                    self.evictions += 1;
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
