use super::*;
use proptest::prelude::*;
use AddressClass::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn classify_table() {
    let cases = [
        // IPv4, with the boundaries of each range.
        ("0.0.0.0", Unspecified),
        ("0.255.255.255", Unspecified),
        ("1.0.0.0", Public),
        ("8.8.8.8", Public),
        ("9.255.255.255", Public),
        ("10.0.0.0", Private),
        ("10.255.255.255", Private),
        ("11.0.0.0", Public),
        ("100.63.255.255", Public),
        ("100.64.0.0", SharedCgnat),
        ("100.127.255.255", SharedCgnat),
        ("100.128.0.0", Public),
        ("126.255.255.255", Public),
        ("127.0.0.0", Loopback),
        ("127.0.0.1", Loopback),
        ("127.255.255.255", Loopback),
        ("128.0.0.0", Public),
        ("169.253.255.255", Public),
        ("169.254.0.0", LinkLocal),
        ("169.254.169.254", LinkLocal),
        ("169.254.255.255", LinkLocal),
        ("169.255.0.0", Public),
        ("172.15.255.255", Public),
        ("172.16.0.0", Private),
        ("172.31.255.255", Private),
        ("172.32.0.0", Public),
        ("192.0.0.0", Reserved),
        ("192.0.0.255", Reserved),
        ("192.0.1.0", Public),
        ("192.0.2.0", Documentation),
        ("192.0.2.255", Documentation),
        ("192.0.3.0", Public),
        ("192.88.99.1", Reserved),
        ("192.167.255.255", Public),
        ("192.168.0.0", Private),
        ("192.168.255.255", Private),
        ("192.169.0.0", Public),
        ("198.17.255.255", Public),
        ("198.18.0.0", Reserved),
        ("198.19.255.255", Reserved),
        ("198.20.0.0", Public),
        ("198.51.100.0", Documentation),
        ("198.51.100.255", Documentation),
        ("198.51.101.0", Public),
        ("203.0.113.0", Documentation),
        ("203.0.113.255", Documentation),
        ("203.0.114.0", Public),
        ("223.255.255.255", Public),
        ("224.0.0.0", Multicast),
        ("239.255.255.255", Multicast),
        ("240.0.0.0", Reserved),
        ("255.255.255.254", Reserved),
        ("255.255.255.255", Broadcast),
        // IPv6.
        ("::", Unspecified),
        ("::1", Loopback),
        ("2606:4700::1111", Public),
        ("2001:4860:4860::8888", Public),
        ("fc00::", UniqueLocal),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", UniqueLocal),
        ("fe00::1", Reserved),
        ("fe80::", LinkLocal),
        ("febf:ffff::1", LinkLocal),
        ("fec0::1", Reserved),
        ("ff00::", Multicast),
        ("ff02::1", Multicast),
        ("2001:db8::", Documentation),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Documentation),
        ("2001:db9::", Public),
        ("3fff::1", Documentation),
        ("2001:2::1", Reserved),
        ("2001:10::1", Reserved),
        ("100::1", Reserved),
        ("64:ff9b:1::a9fe:a9fe", Reserved),
        ("4000::1", Reserved),
        // IPv4 carried inside IPv6 is judged by the IPv4 address.
        ("::ffff:169.254.169.254", LinkLocal),
        ("::ffff:127.0.0.1", Loopback),
        ("::ffff:10.1.2.3", Private),
        ("::ffff:8.8.8.8", Public),
        ("::ffff:0.0.0.0", Unspecified),
        ("::ffff:0:7f00:1", Loopback),
        ("::127.0.0.1", Loopback),
        ("::169.254.169.254", LinkLocal),
        ("::8.8.8.8", Public),
        ("::2", Unspecified),
        ("64:ff9b::a9fe:a9fe", LinkLocal),
        ("64:ff9b::7f00:1", Loopback),
        ("64:ff9b::808:808", Public),
        ("2002:a9fe:a9fe::1", LinkLocal),
        ("2002:7f00:1::", Loopback),
        ("2002:0a00:0001:ffff::1", Private),
        ("2002:808:808::1", Public),
        // Teredo: client 127.0.0.1 is stored inverted as 80ff:fffe.
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", Loopback),
        ("2001:0:4136:e378:8000:63bf:5601:5601", LinkLocal),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", Public),
    ];
    for (addr, want) in cases {
        assert_eq!(classify(ip(addr)), want, "{addr}");
        assert_eq!(classify(ip(addr)).is_special(), want != Public, "{addr}");
    }
}

#[test]
fn effective_ip_table() {
    let cases = [
        ("8.8.8.8", "8.8.8.8"),
        ("::", "::"),
        ("::1", "::1"),
        ("::2", "0.0.0.2"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::ffff:0:1.2.3.4", "1.2.3.4"),
        ("::1.2.3.4", "1.2.3.4"),
        ("64:ff9b::102:304", "1.2.3.4"),
        ("2002:102:304:5::6", "1.2.3.4"),
        ("2001:0:4136:e378:8000:63bf:fefd:fcfb", "1.2.3.4"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:1::1", "2001:1::1"),
        ("64:ff9b:1::102:304", "64:ff9b:1::102:304"),
    ];
    for (addr, want) in cases {
        assert_eq!(effective_ip(ip(addr)), ip(want), "{addr}");
    }
}

#[test]
fn special_range_is_the_most_specific() {
    let cases = [
        ("10.1.2.3", Some("10.0.0.0/8")),
        ("169.254.169.254", Some("169.254.0.0/16")),
        ("::ffff:169.254.169.254", Some("169.254.0.0/16")),
        ("255.255.255.255", Some("255.255.255.255/32")),
        ("255.255.255.254", Some("240.0.0.0/4")),
        ("::1", Some("::1/128")),
        ("fd00::1", Some("fc00::/7")),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
    ];
    for (addr, want) in cases {
        let want: Option<IpNet> = want.map(|n| n.parse().unwrap());
        assert_eq!(special_range(ip(addr)), want, "{addr}");
    }
}

#[test]
fn names_are_kebab_case() {
    assert_eq!(LinkLocal.as_str(), "link-local");
    assert_eq!(SharedCgnat.to_string(), "shared-cgnat");
    assert_eq!(UniqueLocal.as_str(), "unique-local");
}

/// Any IPv4 address inside one of the special IPv4 ranges.
fn special_v4() -> impl Strategy<Value = Ipv4Addr> {
    (prop::sample::select(V4_RANGES), any::<u32>())
        .prop_map(|((net, len, _), host)| Ipv4Addr::from(net.to_bits() | (host & !mask32(len))))
}

fn embeddings(v4: Ipv4Addr) -> [Ipv6Addr; 4] {
    let bits = u128::from(v4.to_bits());
    [
        v4.to_ipv6_mapped(),
        Ipv6Addr::from_bits(0x0064_ff9b << 96 | bits),
        Ipv6Addr::from_bits(0x2002 << 112 | bits << 80 | 1),
        Ipv6Addr::from_bits(0x2001_0000 << 96 | u128::from(!v4.to_bits())),
    ]
}

proptest! {
    #[test]
    fn embedded_special_v4_classifies_as_v4(v4 in special_v4()) {
        let want = classify(IpAddr::V4(v4));
        prop_assert!(want.is_special());
        for v6 in embeddings(v4) {
            prop_assert_eq!(classify(IpAddr::V6(v6)), want, "{}", v6);
            prop_assert_eq!(special_range(IpAddr::V6(v6)), special_range(IpAddr::V4(v4)));
        }
    }

    #[test]
    fn embedded_any_v4_classifies_as_v4(bits in any::<u32>()) {
        let v4 = Ipv4Addr::from(bits);
        for v6 in embeddings(v4) {
            prop_assert_eq!(effective_ip(IpAddr::V6(v6)), IpAddr::V4(v4), "{}", v6);
        }
    }
}
