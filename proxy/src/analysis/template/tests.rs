use super::*;

mod bounds;
mod openapi;

const GET: &Method = &Method::GET;

/// The learned template of a GET answered 200 on `api.test`.
fn learned(t: &mut Templater, path: &str) -> String {
    t.classify("api.test", GET, path, Some(200))
        .template
        .to_string()
}

#[test]
fn segment_rules_table() {
    let table: &[(&str, Option<Shape>)] = &[
        // int
        ("42", Some(Shape::Int)),
        ("0", Some(Shape::Int)),
        ("123456789012345678901234567890", Some(Shape::Int)),
        ("-42", None),
        // uuid
        ("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b", Some(Shape::Uuid)),
        ("3F2B8C1E-9A4D-4E6F-8B7A-1C2D3E4F5A6B", Some(Shape::Uuid)),
        // Not UUIDs, still identifiers.
        ("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6", Some(Shape::Token)),
        ("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6g", Some(Shape::Token)),
        // hex
        ("deadbeef1", Some(Shape::Hex)),
        ("c0ffee", Some(Shape::Hex)),
        ("4134a7e", Some(Shape::Hex)),
        ("DEADBEEF01", Some(Shape::Hex)),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", Some(Shape::Hex)),
        ("deadbeef", None), // no digit: a word
        ("beef1", None),    // too short
        ("DeadBeef1", None), // mixed case is no hex (and too few digits for an id)
        ("facade", None),
        // token
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            Some(Shape::Token),
        ),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", Some(Shape::Token)),
        ("AbCdEfGhIjKlMnOpQrStUvWx", Some(Shape::Token)),
        ("internationalization", None),
        ("getUserPreferencesById", None),
        ("a-very-long-slug-of-plain-words", None),
        ("jquery-3.6.0.min.js.map", None),
        // date
        ("2024-01-31", Some(Shape::Date)),
        ("2024-01-31T10:15:00Z", Some(Shape::Date)),
        ("20240131", Some(Shape::Date)),
        ("2024-13-01", None),
        ("2024-01-31x", Some(Shape::Id)),
        ("20241301", Some(Shape::Int)),
        ("18000101", Some(Shape::Int)),
        // email
        ("jane.doe@example.com", Some(Shape::Email)),
        ("jane%40example.com", Some(Shape::Email)),
        ("jane+tag@mail.example.co", Some(Shape::Email)),
        ("jane@localhost", None),
        ("@example.com", None),
        ("jane@example.c0m", None),
        // id
        ("ORD12345", Some(Shape::Id)),
        ("a1b2c3", Some(Shape::Id)),
        ("user_123", Some(Shape::Id)),
        ("INV-2024-0001", Some(Shape::Id)),
        ("x9y8", Some(Shape::Id)),
        // plain words
        ("v1", None),
        ("v2", None),
        ("v1beta1", None),
        ("v2alpha", None),
        ("users", None),
        ("abc", None),
        ("oauth2", None),
        ("sha256", None),
        ("i18n", None),
        ("x509", None),
        ("base64", None),
        ("index.html", None),
        ("page2", None),
    ];
    for (segment, want) in table {
        assert_eq!(classify_segment(segment), *want, "segment {segment:?}");
    }
}

#[test]
fn paths_table() {
    let mut t = Templater::default();
    let table = [
        ("/", "/"),
        ("", "/"),
        ("/v1/users", "/v1/users"),
        ("/v1/users/", "/v1/users"),
        ("/users/42", "/users/{int}"),
        ("/users/42/orders/7", "/users/{int}/orders/{int}"),
        ("/users/42?expand=orders", "/users/{int}"),
        ("//users//42", "/users/{int}"),
        (
            "/items/3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b",
            "/items/{uuid}",
        ),
        ("/commits/deadbeef1", "/commits/{hex}"),
        (
            "/auth/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "/auth/{token}",
        ),
        ("/reports/2024-01-31", "/reports/{date}"),
        ("/reports/20240131/pdf", "/reports/{date}/pdf"),
        ("/people/jane@example.com", "/people/{email}"),
        ("/orders/ORD12345", "/orders/{id}"),
        ("/things/abc", "/things/abc"),
        ("/odd/{int}", "/odd/%7Bint%7D"),
    ];
    for (path, want) in table {
        assert_eq!(learned(&mut t, path), want, "path {path:?}");
    }
}

#[test]
fn deep_paths_end_in_rest() {
    let mut t = Templater::default();
    let deep: String = (0..40)
        .map(|i| format!("/s{}", ["a", "b"][i % 2]))
        .collect();
    let template = learned(&mut t, &deep);
    assert_eq!(template.matches('/').count(), keys::MAX_DEPTH + 1);
    assert!(template.ends_with("/{rest}"), "{template}");
}

#[test]
fn templates_are_shared_not_copied() {
    let mut t = Templater::default();
    let a = t.classify("api.test", GET, "/users/1", Some(200)).template;
    let b = t.classify("api.test", GET, "/users/2", Some(200)).template;
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn hosts_compare_by_name() {
    let mut t = Templater::new(TemplateConfig {
        max_templates_per_host: 1,
        ..TemplateConfig::default()
    });
    for host in ["API.test", "api.test:8443", "api.test.", "api.test"] {
        let got = t.classify(host, GET, "/a", Some(200));
        assert_eq!(&*got.template, "/a", "host {host}");
        assert!(!got.overflow, "host {host}");
    }
    assert_eq!(normalize_host("[::1]:8080"), "[::1]");
    assert_eq!(normalize_host("::1"), "::1");
    assert_eq!(t.stats().hosts, 1);
}

#[test]
fn declared_templates_win_most_specific_first() {
    let mut t = Templater::default();
    for template in [
        "/users/{id}",
        "/users/me",
        "/files/{path*}",
        "/files/{dir}/{name}",
        "/a/{x}/{y}",
        "/a/b/{y}",
        "/downloads/{name}.{ext}",
    ] {
        t.declare(None, None, template).unwrap();
    }
    t.declare(None, Some(&Method::POST), "/orders/{order}")
        .unwrap();
    t.declare(Some("Shop.test"), None, "/users/{user}").unwrap();
    let table = [
        ("api.test", &Method::GET, "/users/me", "/users/me"),
        ("api.test", &Method::GET, "/users/42", "/users/{id}"),
        ("api.test", &Method::GET, "/users/42/", "/users/{id}"),
        ("api.test", &Method::GET, "/files/x", "/files/{path*}"),
        (
            "api.test",
            &Method::GET,
            "/files/x/y",
            "/files/{dir}/{name}",
        ),
        ("api.test", &Method::GET, "/files/x/y/z", "/files/{path*}"),
        ("api.test", &Method::GET, "/a/b/c", "/a/b/{y}"),
        ("api.test", &Method::GET, "/a/q/c", "/a/{x}/{y}"),
        (
            "api.test",
            &Method::GET,
            "/downloads/r.tar.gz",
            "/downloads/{name}.{ext}",
        ),
        ("api.test", &Method::POST, "/orders/7", "/orders/{order}"),
        // The host's own template beats the same shape for every host.
        ("shop.test", &Method::GET, "/users/42", "/users/{user}"),
        // A more specific template for every host still beats the host's own.
        ("shop.test", &Method::GET, "/users/me", "/users/me"),
    ];
    for (host, method, path, want) in table {
        let got = t.classify(host, method, path, Some(200));
        assert_eq!(&*got.template, want, "{method} {host}{path}");
        assert!(got.declared, "{method} {host}{path}");
        assert!(!got.shadow);
    }
    // The method is part of the match: GET /orders/7 is learned, not declared.
    let got = t.classify("api.test", GET, "/orders/7", Some(200));
    assert_eq!((&*got.template, got.declared), ("/orders/{int}", false));
    // `/files` alone: the wildcard needs a segment.
    assert!(!t.classify("api.test", GET, "/files", Some(200)).declared);
    // `/downloads/readme`: no literal `.` to split on.
    assert!(
        !t.classify("api.test", GET, "/downloads/readme", Some(200))
            .declared
    );
    assert_eq!(t.stats().declared, 9);
}

#[test]
fn declared_templates_reject_bad_syntax() {
    let mut t = Templater::default();
    for bad in [
        "users/{id}",
        "/users/{}",
        "/users/{id",
        "/users/id}",
        "/files/{path*}/more",
        "/x/{a}{b}",
        "/x/{a*}.txt",
    ] {
        let err = t.declare(None, None, bad).unwrap_err();
        assert!(
            matches!(err, TemplateError::InvalidTemplate { ref template, .. } if template == bad),
            "{bad}: {err}"
        );
    }
    assert_eq!(t.stats().declared, 0);
}

#[test]
fn a_call_repeated_gets_the_template_of_what_is_known_now() {
    let mut t = Templater::default();
    // Learned, then the same path again: the template learned.
    assert_eq!(learned(&mut t, "/users/usera"), "/users/usera");
    assert_eq!(learned(&mut t, "/users/usera"), "/users/usera");
    // A route declared since then wins for the very same call.
    t.declare(None, None, "/users/{name}").unwrap();
    assert_eq!(learned(&mut t, "/users/usera"), "/users/{name}");
    assert_eq!(learned(&mut t, "/users/usera"), "/users/{name}");
    // The method and the kind of answer are part of the call.
    let post = t.classify("api.test", &Method::POST, "/orders/1", Some(200));
    let get = t.classify("api.test", GET, "/orders/1", Some(200));
    assert_eq!(
        (&*post.template, &*get.template),
        ("/orders/{int}", "/orders/{int}")
    );
    // Past the threshold the position collapses: the call seen just before the collapse
    // gets the collapsed template too.
    let mut t = Templater::new(TemplateConfig {
        merge_threshold: 2,
        ..TemplateConfig::default()
    });
    assert_eq!(learned(&mut t, "/items/a"), "/items/a");
    assert_eq!(learned(&mut t, "/items/b"), "/items/b");
    assert_eq!(learned(&mut t, "/items/b"), "/items/b");
    assert_eq!(learned(&mut t, "/items/c"), "/items/{param}");
    assert_eq!(learned(&mut t, "/items/b"), "/items/{param}");
    assert_eq!(t.stats().collapses, 1);
    // Scanners' calls are counted every time.
    for _ in 0..3 {
        t.classify("api.test", GET, "/wp-login.php", Some(404));
    }
    assert_eq!(t.stats().unmatched, 3);
}
