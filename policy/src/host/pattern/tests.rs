use super::*;

fn pattern(s: &str) -> HostPattern {
    s.parse().unwrap()
}

fn host(s: &str) -> Host {
    s.parse().unwrap()
}

#[test]
fn matches_table() {
    let cases = [
        ("api.stripe.com", "api.stripe.com", true),
        ("api.stripe.com", "API.Stripe.com.", true),
        ("api.stripe.com", "stripe.com", false),
        ("api.stripe.com", "x.api.stripe.com", false),
        ("api.stripe.com", "api.stripe.com.evil.net", false),
        ("API.Stripe.com.", "api.stripe.com", true),
        ("*.example.com", "a.example.com", true),
        ("*.example.com", "a.b.example.com", true),
        ("*.example.com", "example.com", false),
        ("*.example.com", "badexample.com", false),
        ("*.example.com", "a.example.com.evil.net", false),
        ("ec2.*.amazonaws.com", "ec2.us-east-1.amazonaws.com", true),
        ("ec2.*.amazonaws.com", "ec2.a.b.amazonaws.com", false),
        ("ec2.*.amazonaws.com", "ec2.amazonaws.com", false),
        ("ec2.*.amazonaws.com", "x.ec2.eu.amazonaws.com", false),
        ("api-*.example.com", "api-eu.example.com", true),
        ("api-*.example.com", "api-.example.com", true),
        ("api-*.example.com", "api.example.com", false),
        ("api-*.example.com", "api-eu.x.example.com", false),
        ("*-prod-*.example.com", "eu-prod-1.example.com", true),
        ("*-prod-*.example.com", "eu-prod.example.com", false),
        ("s3.*.amazonaws.*", "s3.eu-west-1.amazonaws.com", true),
        ("*.*.example.com", "a.example.com", false),
        ("*.*.example.com", "a.b.example.com", true),
        ("*.*.example.com", "a.b.c.example.com", true),
        ("*", "localhost", true),
        ("*", "a.b.example.com", true),
        ("*.bücher.example", "www.xn--bcher-kva.example", true),
        ("bücher.example", "BÜCHER.example", true),
        // Patterns never match addresses, however they are written.
        ("*", "127.0.0.1", false),
        ("*", "[::1]", false),
        ("*.0.0.1", "127.0.0.1", false),
    ];
    for (p, h, want) in cases {
        let pat: Result<HostPattern, _> = p.parse();
        let Ok(pat) = pat else {
            // `*.0.0.1` is refused outright, which is also a "no".
            assert!(!want, "{p} did not parse");
            continue;
        };
        assert_eq!(pat.matches(&host(h)), want, "{p} vs {h}");
    }
}

#[test]
fn patterns_are_normalised() {
    let cases = [
        ("API.Stripe.COM.", "api.stripe.com"),
        (" *.Example.com ", "*.example.com"),
        ("*.bücher.example", "*.xn--bcher-kva.example"),
        ("EC2.*.AmazonAWS.com", "ec2.*.amazonaws.com"),
    ];
    for (raw, want) in cases {
        assert_eq!(pattern(raw).to_string(), want, "{raw}");
    }
}

#[test]
fn bad_patterns_are_refused() {
    let cases = [
        ("", HostError::Empty),
        ("10.0.0.1", HostError::PatternIsAddress),
        ("0x7f.1", HostError::PatternIsAddress),
        ("[::1]", HostError::PatternIsAddress),
        ("10.*.0.1", HostError::PatternIsAddress),
        ("*.0.0.1", HostError::PatternIsAddress),
        ("example.1*", HostError::PatternIsAddress),
        ("1.2.3.999", HostError::InvalidIpv4),
        ("*..example.com", HostError::EmptyLabel),
        ("*.example.com/", HostError::InvalidChar('/')),
        ("user@*.example.com", HostError::InvalidChar('@')),
        ("bü*cher.example", HostError::WildcardInIdn),
    ];
    for (raw, want) in cases {
        assert_eq!(raw.parse::<HostPattern>(), Err(want), "{raw:?}");
    }
}

#[test]
fn glob_table() {
    let cases = [
        ("*", "", true),
        ("*", "abc", true),
        ("a*c", "abc", true),
        ("a*c", "ac", true),
        ("a*c", "abd", false),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXc", false),
        ("abc", "ABC", true),
        ("ab", "abc", false),
        ("abc", "ab", false),
    ];
    for (p, t, want) in cases {
        assert_eq!(glob(p.as_bytes(), t.as_bytes()), want, "{p} vs {t}");
    }
}
