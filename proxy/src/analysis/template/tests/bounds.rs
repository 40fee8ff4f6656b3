//! Cardinality merging, caps, scanners and memory bounds.

use super::*;

#[test]
fn busy_positions_collapse_to_param() {
    let mut t = Templater::default();
    let names: Vec<String> = (0..26)
        .map(|i| format!("user{}", char::from(b'a' + i)))
        .collect();
    assert_eq!(
        learned(&mut t, "/users/usera/orders"),
        "/users/usera/orders"
    );
    for name in &names[..25] {
        assert_eq!(
            learned(&mut t, &format!("/users/{name}")),
            format!("/users/{name}")
        );
    }
    assert_eq!(
        learned(&mut t, "/users/new"),
        "/users/{param}",
        "the 26th word"
    );
    assert_eq!(t.stats().collapses, 1);
    for name in &names {
        assert_eq!(learned(&mut t, &format!("/users/{name}")), "/users/{param}");
    }
    // The concrete template below folded in, and placeholders stay apart.
    assert_eq!(
        learned(&mut t, "/users/usera/orders"),
        "/users/{param}/orders"
    );
    assert_eq!(
        learned(&mut t, "/users/zed/orders"),
        "/users/{param}/orders"
    );
    assert_eq!(learned(&mut t, "/users/42"), "/users/{int}");
    // `/users/{param}`, `/users/{param}/orders`, `/users/{int}`.
    let stats = t.stats();
    assert_eq!(stats.templates, 3);
    // The root's `users` and `{param}`'s `orders` are still tracked.
    assert_eq!(stats.tracked_values, 2);
    // Other prefixes and hosts keep their words.
    assert_eq!(learned(&mut t, "/teams/usera"), "/teams/usera");
    let other = t.classify("b.test", GET, "/users/usera", Some(200));
    assert_eq!(&*other.template, "/users/usera");
}

#[test]
fn folding_merges_nested_positions() {
    let mut t = Templater::new(TemplateConfig {
        merge_threshold: 3,
        ..TemplateConfig::default()
    });
    // Under each of three words, two different words: together four under `{param}`.
    for (a, b) in [("a", "x"), ("a", "y"), ("b", "z"), ("c", "w")] {
        learned(&mut t, &format!("/r/{a}/{b}"));
    }
    assert_eq!(learned(&mut t, "/r/d/v"), "/r/{param}/{param}");
    assert_eq!(learned(&mut t, "/r/a/x"), "/r/{param}/{param}");
    let stats = t.stats();
    assert_eq!(stats.templates, 1);
    assert_eq!(stats.collapses, 2);
}

#[test]
fn per_host_cap_overflows() {
    let mut t = Templater::new(TemplateConfig {
        max_templates_per_host: 3,
        ..TemplateConfig::default()
    });
    for path in ["/a", "/b", "/c"] {
        let got = t.classify("api.test", GET, path, Some(200));
        assert_eq!((&*got.template, got.overflow), (path, false));
    }
    let got = t.classify("api.test", GET, "/d", Some(200));
    assert_eq!((&*got.template, got.overflow), (OVERFLOW, true));
    // Known templates still resolve; another host has its own room.
    assert_eq!(learned(&mut t, "/b"), "/b");
    assert_eq!(&*t.classify("b.test", GET, "/d", Some(200)).template, "/d");
    let stats = t.stats();
    assert_eq!((stats.templates, stats.overflow_templates), (4, 1));
}

#[test]
fn host_cap_shares_an_overflow_bucket() {
    let mut t = Templater::new(TemplateConfig {
        max_hosts: 2,
        ..TemplateConfig::default()
    });
    for host in ["a.test", "b.test"] {
        assert!(!t.classify(host, GET, "/x/1", Some(200)).overflow);
    }
    let got = t.classify("c.test", GET, "/x/1", Some(200));
    assert_eq!((&*got.template, got.overflow), ("/x/{int}", true));
    let got = t.classify("d.test", GET, "/x/2", Some(200));
    assert_eq!((&*got.template, got.overflow), ("/x/{int}", true));
    let stats = t.stats();
    assert_eq!(
        (stats.hosts, stats.templates, stats.overflow_hosts),
        (2, 3, 2)
    );
}

#[test]
fn not_found_and_method_not_allowed_never_mint() {
    let mut t = Templater::default();
    learned(&mut t, "/users/42");
    for status in [404, 405] {
        let table = [
            ("/users/7", "/users/{int}"),
            ("/wp-login.php", UNMATCHED),
            ("/users/7/secret", UNMATCHED),
        ];
        for (path, want) in table {
            let got = t.classify("api.test", GET, path, Some(status));
            assert_eq!(&*got.template, want, "{status} {path}");
            assert!(!got.overflow && !got.declared && !got.shadow);
        }
        // Hundreds of distinct words feed no cardinality.
        for i in 0..200 {
            t.classify(
                "api.test",
                GET,
                &format!("/admin/word{}", "x".repeat(i)),
                Some(status),
            );
        }
        // Unknown hosts are not created.
        let got = t.classify("scan.test", GET, "/", Some(status));
        assert_eq!(&*got.template, UNMATCHED);
    }
    let stats = t.stats();
    assert_eq!((stats.hosts, stats.templates, stats.collapses), (1, 1, 0));
    assert_eq!(stats.unmatched, 2 * 203);
    assert_eq!(learned(&mut t, "/admin/wordx"), "/admin/wordx");
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn word(&mut self, out: &mut String) {
        let len = 3 + self.next() % 10;
        for _ in 0..len {
            out.push(char::from(b'a' + (self.next() % 26) as u8));
        }
    }
}

/// Paths of one to eight random words.
fn random_paths(rng: &mut Rng, n: usize, mut each: impl FnMut(&str)) {
    let mut path = String::new();
    for _ in 0..n {
        path.clear();
        for _ in 0..1 + rng.next() % 8 {
            path.push('/');
            rng.word(&mut path);
        }
        each(&path);
    }
}

#[test]
fn a_million_random_paths_stay_bounded() {
    let config = TemplateConfig::default();
    let mut t = Templater::new(config);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut path = String::new();
    for _ in 0..500_000 {
        path.clear();
        path.push_str("/x/");
        rng.word(&mut path);
        path.push_str("/y");
        t.classify("api.test", GET, &path, Some(200));
    }
    assert_eq!(learned(&mut t, "/x/zebra/y"), "/x/{param}/y");
    assert_eq!(t.stats().templates, 1);
    random_paths(&mut rng, 500_000, |path| {
        t.classify("api.test", GET, path, Some(200));
    });
    let stats = t.stats();
    assert!(
        stats.templates <= config.max_templates_per_host,
        "{stats:?}"
    );
    assert!(
        stats.nodes <= stats.templates * (keys::MAX_DEPTH + 1) + 1,
        "{stats:?}"
    );
    assert!(
        stats.tracked_values <= stats.nodes * (config.merge_threshold + 1),
        "{stats:?}"
    );
    assert!(stats.collapses > 0, "{stats:?}");
}

#[test]
fn caps_hold_when_merging_cannot_help() {
    let config = TemplateConfig {
        merge_threshold: TemplateConfig::MAX_MERGE_THRESHOLD,
        max_templates_per_host: 200,
        max_hosts: 10,
    };
    let mut t = Templater::new(config);
    let (mut rng, mut hosts) = (Rng(7), Rng(11));
    let mut host = String::new();
    random_paths(&mut rng, 100_000, |path| {
        host.clear();
        hosts.word(&mut host);
        t.classify(&host, GET, path, Some(200));
    });
    let stats = t.stats();
    assert_eq!(stats.hosts, 10, "{stats:?}");
    assert!(stats.templates <= 11 * 200, "{stats:?}");
    assert!(
        stats.overflow_hosts > 0 && stats.overflow_templates > 0,
        "{stats:?}"
    );
    assert!(
        stats.tracked_values <= stats.nodes * (TemplateConfig::MAX_MERGE_THRESHOLD + 1),
        "{stats:?}"
    );
}
