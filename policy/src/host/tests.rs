use super::*;

fn ip(s: &str) -> Host {
    Host::Ip(s.parse().unwrap())
}

fn name(s: &str) -> Host {
    Host::Name(s.to_owned())
}

#[test]
fn numeric_forms_of_loopback_are_addresses() {
    let forms = [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "017700000001",
        "0177.0.0.1",
        "0177.0000.0000.0001",
        "0x7f.0.0.1",
        "0x7F.0.0.1",
        "0x7f.0.0.01",
        "0x7f.1",
        "127.1",
        "127.0.1",
        "127.0.0.1.",
        "0x7f.0x0.0x0.0x1",
        "127.0x000001",
        " 127.0.0.1 ",
        "１２７．０．０．１",
    ];
    for form in forms {
        assert_eq!(parse_host(form), Ok(ip("127.0.0.1")), "{form}");
    }
}

#[test]
fn parse_host_table() {
    let cases: &[(&str, Result<Host, HostError>)] = &[
        ("example.com", Ok(name("example.com"))),
        ("API.Stripe.COM", Ok(name("api.stripe.com"))),
        ("example.com.", Ok(name("example.com"))),
        ("_dmarc.example.com", Ok(name("_dmarc.example.com"))),
        ("a-b.example", Ok(name("a-b.example"))),
        ("localhost", Ok(name("localhost"))),
        ("127.0.0.1.nip.io", Ok(name("127.0.0.1.nip.io"))),
        ("0xg.example", Ok(name("0xg.example"))),
        ("bücher.example", Ok(name("xn--bcher-kva.example"))),
        ("BÜCHER.example.", Ok(name("xn--bcher-kva.example"))),
        ("xn--bcher-kva.example", Ok(name("xn--bcher-kva.example"))),
        ("ｌｏｃａｌｈｏｓｔ", Ok(name("localhost"))),
        ("0.0.0.0", Ok(ip("0.0.0.0"))),
        ("0", Ok(ip("0.0.0.0"))),
        ("0x", Ok(ip("0.0.0.0"))),
        ("255.255.255.255", Ok(ip("255.255.255.255"))),
        ("4294967295", Ok(ip("255.255.255.255"))),
        ("169.254.43518", Ok(ip("169.254.169.254"))),
        ("0xa9fea9fe", Ok(ip("169.254.169.254"))),
        ("10.1.65535", Ok(ip("10.1.255.255"))),
        ("[::1]", Ok(ip("::1"))),
        ("::1", Ok(ip("::1"))),
        ("[::ffff:127.0.0.1]", Ok(ip("::ffff:127.0.0.1"))),
        ("[2001:DB8::1]", Ok(ip("2001:db8::1"))),
        // Numeric but not an address: an error, never a name.
        ("1.2.3.999", Err(HostError::InvalidIpv4)),
        ("256.0.0.1", Err(HostError::InvalidIpv4)),
        ("1.2.3.4.5", Err(HostError::InvalidIpv4)),
        ("4294967296", Err(HostError::InvalidIpv4)),
        ("127.16777216", Err(HostError::InvalidIpv4)),
        ("127.0.65536", Err(HostError::InvalidIpv4)),
        ("08.0.0.1", Err(HostError::InvalidIpv4)),
        ("127.0.0.08", Err(HostError::InvalidIpv4)),
        ("99999999999999999999999", Err(HostError::InvalidIpv4)),
        ("example.123", Err(HostError::InvalidIpv4)),
        ("example.0x1f", Err(HostError::InvalidIpv4)),
        ("1..1", Err(HostError::EmptyLabel)),
        // Not hosts at all.
        ("", Err(HostError::Empty)),
        ("   ", Err(HostError::Empty)),
        (".", Err(HostError::Empty)),
        ("..", Err(HostError::EmptyLabel)),
        (".example.com", Err(HostError::EmptyLabel)),
        ("example..com", Err(HostError::EmptyLabel)),
        ("example.com..", Err(HostError::EmptyLabel)),
        ("user@example.com", Err(HostError::InvalidChar('@'))),
        ("example.com/path", Err(HostError::InvalidChar('/'))),
        ("exa mple.com", Err(HostError::InvalidChar(' '))),
        ("example%2ecom", Err(HostError::InvalidChar('%'))),
        ("example.com:80", Err(HostError::InvalidChar(':'))),
        ("bü@cher.example", Err(HostError::InvalidChar('@'))),
        ("*.example.com", Err(HostError::InvalidChar('*'))),
        ("exa\\mple.com", Err(HostError::InvalidChar('\\'))),
        ("[::1", Err(HostError::InvalidIpv6)),
        ("[fe80::1%eth0]", Err(HostError::InvalidIpv6)),
        ("[127.0.0.1]", Err(HostError::InvalidIpv6)),
        ("1:2:3", Err(HostError::InvalidIpv6)),
    ];
    for (raw, want) in cases {
        assert_eq!(&parse_host(raw), want, "{raw:?}");
    }
}

#[test]
fn lengths_are_bounded() {
    let label63 = "a".repeat(63);
    assert!(parse_host(&format!("{label63}.example")).is_ok());
    assert_eq!(
        parse_host(&format!("{label63}a.example")),
        Err(HostError::LabelTooLong)
    );
    let name253 = [label63.as_str(); 4].join(".")[..253].to_owned();
    assert!(parse_host(&name253).is_ok());
    assert!(parse_host(&format!("{name253}.")).is_ok());
    assert_eq!(
        parse_host(&format!("{name253}a")),
        Err(HostError::NameTooLong)
    );
}

/// What `parse_authority` gives back.
type Authority = Result<(Host, u16), HostError>;

#[test]
fn parse_authority_table() {
    let cases: &[(&str, Authority)] = &[
        ("example.com:443", Ok((name("example.com"), 443))),
        ("example.com", Ok((name("example.com"), 80))),
        ("Example.COM.:8080", Ok((name("example.com"), 8080))),
        ("10.0.0.1:65535", Ok((ip("10.0.0.1"), 65535))),
        ("2130706433:22", Ok((ip("127.0.0.1"), 22))),
        ("[::1]:8443", Ok((ip("::1"), 8443))),
        ("[::1]", Ok((ip("::1"), 80))),
        (" api.stripe.com:443 ", Ok((name("api.stripe.com"), 443))),
        ("example.com:0", Err(HostError::InvalidPort)),
        ("example.com:65536", Err(HostError::InvalidPort)),
        ("example.com:", Err(HostError::InvalidPort)),
        ("example.com:+80", Err(HostError::InvalidPort)),
        ("example.com:http", Err(HostError::InvalidPort)),
        ("example.com:000080", Err(HostError::InvalidPort)),
        ("[::1]8080", Err(HostError::InvalidPort)),
        ("[::1]:", Err(HostError::InvalidPort)),
        ("::1", Err(HostError::InvalidIpv6)),
        ("::1:80", Err(HostError::InvalidIpv6)),
        ("[::1:80", Err(HostError::InvalidIpv6)),
        ("example.com :80", Err(HostError::InvalidChar(' '))),
        ("user@example.com:80", Err(HostError::InvalidChar('@'))),
        (":80", Err(HostError::Empty)),
        ("1.2.3.999:80", Err(HostError::InvalidIpv4)),
    ];
    for (raw, want) in cases {
        assert_eq!(&parse_authority(raw, 80), want, "{raw:?}");
    }
    assert_eq!(
        parse_authority("example.com", 0),
        Err(HostError::InvalidPort)
    );
}

#[test]
fn host_header_values_are_a_host_and_an_optional_port_only() {
    type HostPort = Result<(Host, Option<u16>), HostError>;
    let cases: &[(&str, HostPort)] = &[
        ("x.example.com", Ok((name("x.example.com"), None))),
        (
            "X.Example.COM.:8080",
            Ok((name("x.example.com"), Some(8080))),
        ),
        ("[::1]:8443", Ok((ip("::1"), Some(8443)))),
        ("0x7f.1", Ok((ip("127.0.0.1"), None))),
        ("evil.com/.example.com", Err(HostError::InvalidChar('/'))),
        ("evil.com#.example.com", Err(HostError::InvalidChar('#'))),
        ("evil.com?.example.com", Err(HostError::InvalidChar('?'))),
        ("evil.com\\.example.com", Err(HostError::InvalidChar('\\'))),
        ("a@x.example.com", Err(HostError::InvalidChar('@'))),
        ("%65vil.example.com", Err(HostError::InvalidChar('%'))),
        ("evil.com:80@x.example.com", Err(HostError::InvalidPort)),
        ("x.example.com:", Err(HostError::InvalidPort)),
        ("", Err(HostError::Empty)),
    ];
    for (raw, want) in cases {
        assert_eq!(&parse_host_port(raw), want, "{raw:?}");
    }
}

#[test]
fn display_is_an_authority_host() {
    let cases = [
        ("example.com", "example.com"),
        ("0x7f.1", "127.0.0.1"),
        ("[::1]", "[::1]"),
        ("bücher.example", "xn--bcher-kva.example"),
    ];
    for (raw, want) in cases {
        let host: Host = raw.parse().unwrap();
        assert_eq!(host.to_string(), want, "{raw}");
        assert_eq!(parse_host(want), Ok(host), "{raw} round trip");
    }
}

#[test]
fn accessors() {
    assert_eq!(name("a.example").name(), Some("a.example"));
    assert_eq!(name("a.example").ip(), None);
    assert_eq!(ip("::1").ip(), Some("::1".parse().unwrap()));
    assert_eq!(ip("::1").name(), None);
}

#[test]
fn errors_read_well() {
    assert_eq!(
        HostError::InvalidChar('@').to_string(),
        "invalid character '@' in host"
    );
    assert_eq!(
        HostError::InvalidPort.to_string(),
        "port must be a number from 1 to 65535"
    );
}
