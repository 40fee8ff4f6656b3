use super::*;

#[test]
fn one_million_distinct_clients_stay_at_the_cap_and_evictions_are_counted() {
    let cap = 10_000;
    let mut m: CappedMap<String, u64> = CappedMap::new(cap);
    // A few steady clients keep coming back between the flood's one-off identities.
    let steady: Vec<String> = (0..100).map(|i| format!("steady-{i}")).collect();
    for i in 0..1_000_000u64 {
        *m.entry(&format!("spoofed-{i}"), || 0) += 1;
        if i % 50 == 0 {
            for s in &steady {
                *m.entry(s, || 0) += 1;
            }
        }
        assert!(m.len() <= cap);
    }
    assert_eq!(m.len(), cap);
    assert_eq!(m.evictions(), 1_000_000 + 100 - cap as u64);
    assert!(m.hand.len() <= 2 * cap, "the clock hand is bounded too");
    let kept = steady.iter().filter(|s| m.peek(s).is_some()).count();
    assert_eq!(
        kept,
        steady.len(),
        "clients that come back survive a one-off flood"
    );
}

#[test]
fn insert_replace_remove_and_retain() {
    let mut m = CappedMap::new(2);
    m.insert("a", 1);
    m.insert("a", 2);
    assert_eq!(m.peek(&"a"), Some(&2));
    m.insert("b", 3);
    m.insert("c", 4);
    assert_eq!((m.len(), m.evictions()), (2, 1));
    assert_eq!(m.peek(&"a"), Some(&2), "a was used again, b was not");
    assert_eq!(m.peek(&"b"), None);
    assert_eq!(m.remove(&"a"), Some(2));
    m.retain(|_, v| *v != 4);
    assert!(m.is_empty());
    for i in 0..100 {
        m.insert("x", i);
        m.remove(&"x");
    }
    assert!(
        m.hand.len() <= 4,
        "removed keys do not pile up behind the hand"
    );
}

/// A key that counts how often it is hashed.
#[derive(Clone, PartialEq, Eq)]
struct Counted(u32, std::rc::Rc<std::cell::Cell<u32>>);

impl std::hash::Hash for Counted {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.1.set(self.1.get() + 1);
        self.0.hash(h);
    }
}

#[test]
fn each_call_hashes_its_key_once_even_when_growing_and_evicting() {
    let hashed = std::rc::Rc::new(std::cell::Cell::new(0));
    let key = |i| Counted(i, hashed.clone());
    let mut m = CappedMap::new(100);
    // Fills past every growth of the table, then evicts on every new key.
    for i in 0..1_000 {
        let before = hashed.get();
        *m.entry(&key(i), || 0u32) += 1;
        assert_eq!(hashed.get() - before, 1, "new key {i}");
        let before = hashed.get();
        *m.entry(&key(i), || 0u32) += 1;
        assert_eq!(hashed.get() - before, 1, "known key {i}");
    }
    assert_eq!((m.len(), m.evictions()), (100, 900));
    // A caller that already has the hash (a sharded table) does not hash again.
    let k = key(999);
    let h = m.hash(&k);
    let before = hashed.get();
    assert_eq!(m.entry_hashed(h, &k, || 0), &mut 2);
    assert_eq!(m.peek_hashed(h, &k), Some(&2));
    assert_eq!(hashed.get(), before);
}
