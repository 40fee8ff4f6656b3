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
    };
    let set = auth.login_cookie().unwrap();
    let set = set.to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    assert!(
        !set.contains("s3cret"),
        "the cookie does not carry the token as typed"
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
