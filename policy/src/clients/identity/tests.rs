use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn ipv6_addresses_group_by_prefix() {
    let table = [
        ("2001:db8:1:2:aaaa::1", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", 64, "2001:db8:1:3::/64"),
        ("2001:db8:1:2:aaaa::1", 48, "2001:db8:1::/48"),
        ("2001:db8:1:2:aaaa::1", 128, "2001:db8:1:2:aaaa::1"),
        ("203.0.113.9", 64, "203.0.113.9"),
        ("::ffff:203.0.113.9", 64, "203.0.113.9"),
    ];
    for (addr, prefix, want) in table {
        assert_eq!(group_ip(ip(addr), prefix), want, "{addr}/{prefix}");
    }
}

#[test]
fn a_rotating_ipv6_host_stays_one_client() {
    let ids: std::collections::HashSet<String> = (0..1000u128)
        .map(|i| {
            let a = std::net::Ipv6Addr::from(
                0x2001_0db8_0001_0002_0000_0000_0000_0000u128 | (i * 7919),
            );
            identify(None, None, IpAddr::V6(a), &[], 64).id.to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
}

#[test]
fn forwarding_header_is_trusted_only_from_trusted_proxies() {
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
    let xff = Some("198.51.100.7, 203.0.113.5, 10.1.1.1");
    let table = [
        ("192.0.2.1", xff, "192.0.2.1"),
        ("10.2.2.2", xff, "203.0.113.5"),
        ("10.2.2.2", Some("10.3.3.3, 10.1.1.1"), "10.3.3.3"),
        ("10.2.2.2", None, "10.2.2.2"),
        ("10.2.2.2", Some("garbage, 10.1.1.1"), "10.1.1.1"),
        ("10.2.2.2", Some("[2001:db8::1]:443"), "2001:db8::1"),
        ("10.2.2.2", Some("203.0.113.5:8080"), "203.0.113.5"),
        // A dual-stack listener's view of IPv4 peers, and of forwarded IPv4 clients.
        ("::ffff:10.2.2.2", xff, "203.0.113.5"),
        ("::ffff:192.0.2.1", xff, "192.0.2.1"),
        ("10.2.2.2", Some("::ffff:203.0.113.5"), "203.0.113.5"),
        (
            "10.2.2.2",
            Some("198.51.100.7, ::ffff:10.1.1.1"),
            "198.51.100.7",
        ),
    ];
    for (peer, header, want) in table {
        assert_eq!(
            forwarded_client(ip(peer), header, &trusted),
            ip(want),
            "{peer} {header:?}"
        );
    }
}

#[test]
fn strongest_evidence_wins() {
    let named: Vec<(IpNet, Arc<str>)> = vec![
        ("10.1.0.0/16".parse().unwrap(), "partner-acme".into()),
        ("10.0.0.0/8".parse().unwrap(), "corp".into()),
    ];
    let a = ip("10.1.2.3");
    let cert = identify(
        Some("spiffe://x/billing"),
        Some(("ab", true)),
        a,
        &named,
        64,
    );
    assert_eq!(
        (cert.kind, &*cert.id),
        (ClientKind::Certificate, "spiffe://x/billing")
    );
    let key = identify(None, Some(("ab12", false)), a, &named, 64);
    assert_eq!((key.kind, &*key.id), (ClientKind::ApiKey, "key:ab12"));
    let verified = identify(None, Some(("ab12", true)), a, &named, 64);
    assert_eq!(
        (verified.kind, &*verified.id, verified.known()),
        (ClientKind::VerifiedKey, "key:ab12", true)
    );
    assert_eq!(
        &**verified.accountable(),
        "key:ab12",
        "a verified key answers for itself"
    );
    assert_eq!(&*identify(None, None, a, &named, 64).id, "partner-acme");
    assert_eq!(
        &*identify(None, None, ip("10.9.0.1"), &named, 64).id,
        "corp"
    );
    let anon = identify(None, None, ip("192.0.2.1"), &named, 64);
    assert_eq!((anon.kind, anon.known()), (ClientKind::Address, false));
    assert!(
        !key.known(),
        "a claimed key is anonymous when clients are shed"
    );
    assert_eq!(
        &**key.accountable(),
        "10.1.2.3",
        "a claimed key answers for its address"
    );
    assert_eq!(&**cert.accountable(), "spiffe://x/billing");
    assert_eq!(&**anon.accountable(), "192.0.2.1");
}
