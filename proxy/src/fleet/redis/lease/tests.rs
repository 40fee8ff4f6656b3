use super::*;

#[test]
fn slices_are_half_a_burst_shared_by_the_members() {
    let rate = Rate::parse("100/s", None).unwrap_or_else(|e| panic!("{e}"));
    let cost = Cost::of(&rate);
    assert_eq!(cost.interval, 10_000);
    assert_eq!(cost.tolerance, 990_000);
    assert_eq!(cost.slice(1), 50);
    assert_eq!(cost.slice(3), 16);
    let strict = Rate::parse("5/m", Some(1)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Cost::of(&strict).slice(3), 1);
}

#[test]
fn keys_depend_on_scope_rate_and_client_only() {
    let r = Rate::parse("100/s", None).unwrap_or_else(|e| panic!("{e}"));
    let r2 = Rate::parse("100/s", Some(10)).unwrap_or_else(|e| panic!("{e}"));
    let a = key_name("p:", Scope::Client, "10.0.0.1", &r);
    assert_eq!(a, key_name("p:", Scope::Client, "10.0.0.1", &r));
    assert_ne!(a, key_name("p:", Scope::Client, "10.0.0.2", &r));
    assert_ne!(a, key_name("p:", Scope::Global, "10.0.0.1", &r));
    assert_ne!(a, key_name("p:", Scope::Client, "10.0.0.1", &r2));
    let long = "x".repeat(10_000);
    assert_eq!(key_name("p:", Scope::Client, &long, &r).len(), a.len());
}
