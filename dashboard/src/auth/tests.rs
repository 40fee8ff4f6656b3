use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

#[test]
fn token_is_required_when_configured() {
    let auth = AdminAuth {
        token: Some("s3cret".into()),
        ..AdminAuth::default()
    };
    assert!(!auth.permits(&HeaderMap::new()));
    assert!(!auth.permits(&headers(&[("authorization", "Bearer wrong!")])));
    assert!(!auth.permits(&headers(&[("authorization", "Bearer s3cre")])));
    assert_eq!(
        auth.credential(&headers(&[("authorization", "Bearer s3cret")])),
        Some(Credential::Bearer)
    );
    assert!(AdminAuth::default().permits(&HeaderMap::new()));
}

#[test]
fn the_login_cookie_opens_the_api_and_a_forged_one_does_not() {
    let auth = AdminAuth {
        token: Some("s3cret".into()),
        ..AdminAuth::default()
    };
    let set = auth.login_cookie().unwrap();
    let set = set.to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    assert!(
        !set.contains("s3cret") && !set.contains("733363726574"),
        "the cookie does not carry the token, as typed or in hex"
    );
    assert!(
        !set.contains("Secure"),
        "plain HTTP: a Secure cookie would never come back"
    );
    let pair = set.split(';').next().unwrap();
    let cookie = format!("theme=dark; {pair}");
    assert_eq!(
        auth.credential(&headers(&[("cookie", &cookie)])),
        Some(Credential::Cookie)
    );
    assert!(!auth.permits(&headers(&[("cookie", "sightline_session=733363726574ff")])));
    assert!(!auth.permits(&headers(&[("cookie", "other=733363726574")])));
    assert!(AdminAuth::default().login_cookie().is_none());
}

#[test]
fn posts_without_the_bearer_need_the_custom_header_and_a_matching_origin() {
    let host = ("host", "127.0.0.1:9900");
    assert!(cross_site(&headers(&[host]), Credential::Cookie).is_some());
    assert!(cross_site(&headers(&[host]), Credential::Open).is_some());
    assert!(cross_site(&headers(&[host]), Credential::Bearer).is_none());
    let marked = (CSRF_HEADER, "1");
    assert!(cross_site(&headers(&[host, marked]), Credential::Cookie).is_none());
    let same = ("origin", "http://127.0.0.1:9900");
    assert!(cross_site(&headers(&[host, marked, same]), Credential::Open).is_none());
    let evil = ("origin", "http://evil.example");
    assert!(cross_site(&headers(&[host, marked, evil]), Credential::Open).is_some());
    assert!(cross_site(
        &headers(&[host, marked, ("origin", "null")]),
        Credential::Cookie
    )
    .is_some());
}

fn auth_with(token: &str) -> AdminAuth {
    AdminAuth {
        token: Some(token.into()),
        ..AdminAuth::default()
    }
}

fn session_of(set: &HeaderValue) -> String {
    let pair = set.to_str().unwrap().split(';').next().unwrap();
    pair.strip_prefix("sightline_session=").unwrap().to_owned()
}

#[test]
fn sessions_are_random_expire_on_the_server_and_end_at_logout() {
    let auth = auth_with("s3cret-s3cret-s3cret");
    let a = session_of(&auth.login_cookie().unwrap());
    let b = session_of(&auth.login_cookie().unwrap());
    assert_ne!(a, b, "each login opens a session of its own");
    assert_eq!(a.len(), 64);
    let now = std::time::Instant::now();
    assert!(auth.sessions.check(&a, "s3cret-s3cret-s3cret", now));
    // The server ends a session at its lifetime, whatever the browser keeps.
    let later = now + DEFAULT_SESSION_LIFETIME + std::time::Duration::from_secs(1);
    assert!(!auth.sessions.check(&a, "s3cret-s3cret-s3cret", later));
    assert!(
        !auth.sessions.check(&a, "s3cret-s3cret-s3cret", now),
        "an expired session is forgotten"
    );
    // A new token ends every session opened under the old one.
    assert!(!auth.sessions.check(&b, "another-token-000000", now));
    // Logout ends the session it names.
    let cookie = format!("sightline_session={b}");
    auth.end_sessions(&headers(&[("cookie", &cookie)]));
    assert!(!auth.permits(&headers(&[("cookie", &cookie)])));
}

#[test]
fn the_session_table_is_capped() {
    let auth = auth_with("s3cret-s3cret-s3cret");
    for _ in 0..(MAX_SESSIONS + 10) {
        auth.login_cookie().unwrap();
    }
    assert_eq!(auth.sessions.len(), MAX_SESSIONS);
    assert_eq!(auth.sessions.evicted(), 10);
}

#[test]
fn cookies_are_secure_when_the_listener_speaks_tls() {
    let auth = AdminAuth {
        tls: true,
        ..auth_with("s3cret-s3cret-s3cret")
    };
    let set = auth.login_cookie().unwrap();
    assert!(set.to_str().unwrap().ends_with("; Secure"), "{set:?}");
    assert!(auth.clear_cookie().to_str().unwrap().contains("Secure"));
}

fn request_to(host: Option<&str>, uri: &str) -> http::Request<()> {
    let mut r = http::Request::get(uri);
    if let Some(h) = host {
        r = r.header("host", h);
    }
    r.body(()).unwrap()
}

#[test]
fn without_a_token_only_local_names_at_the_listener_port_are_answered() {
    let open = AdminAuth {
        listen_port: Some(9900),
        ..AdminAuth::default()
    };
    for host in [
        "127.0.0.1:9900",
        "127.8.9.10:9900",
        "localhost:9900",
        "LocalHost:9900",
        "[::1]:9900",
        "[::ffff:127.0.0.1]:9900",
    ] {
        assert_eq!(
            open.misdirected(&request_to(Some(host), "/")),
            None,
            "{host}"
        );
    }
    for host in [
        "evil.example:9900",
        "evil.example",
        "127.0.0.1.evil.example:9900",
        "localhost.evil.example:9900",
        "127.0.0.1:9901",
        "localhost",
        "10.0.0.1:9900",
        "[::2]:9900",
        "0.0.0.0:9900",
        "127.0.0.1:99x",
        "",
    ] {
        assert!(
            open.misdirected(&request_to(Some(host), "/")).is_some(),
            "{host}"
        );
    }
    // HTTP/2 names the host in the authority.
    assert!(open
        .misdirected(&request_to(None, "http://evil.example:9900/api/calls"))
        .is_some());
    assert_eq!(
        open.misdirected(&request_to(None, "http://localhost:9900/api/calls")),
        None
    );
    // An absolute-form target names the host too.
    assert!(open
        .misdirected(&request_to(
            Some("localhost:9900"),
            "http://evil.example:9900/"
        ))
        .is_some());
    // No host at all is not a browser's request.
    assert_eq!(open.misdirected(&request_to(None, "/")), None);
    // With a token the token decides.
    let guarded = AdminAuth {
        listen_port: Some(9900),
        ..auth_with("s3cret-s3cret-s3cret")
    };
    assert_eq!(
        guarded.misdirected(&request_to(Some("evil.example"), "/")),
        None
    );
}
