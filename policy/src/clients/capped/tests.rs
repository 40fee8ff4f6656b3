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
