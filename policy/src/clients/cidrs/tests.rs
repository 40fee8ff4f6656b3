use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn comments_drop_format_and_bare_addresses() {
    let text = "\
# our own list
10.0.0.0/8          # office
192.0.2.7
; Spamhaus DROP List 2026/12/01 - (c) 2026 The Spamhaus Project
; Last-Modified: Tue, 01 Dec 2026 00:00:00 GMT
1.10.16.0/20 ; SBL256894
  2001:db8:bad::/48 ; SBL1
203.0.113.77/24
";
    let l = CidrList::parse(text).unwrap();
    assert_eq!(l.entries(), 5);
    let table = [
        ("10.1.2.3", true),
        ("11.0.0.0", false),
        ("192.0.2.7", true),
        ("192.0.2.8", false),
        ("1.10.16.0", true),
        ("1.10.31.255", true),
        ("1.10.32.0", false),
        ("2001:db8:bad:1::1", true),
        ("2001:db8:bae::1", false),
        ("::ffff:10.9.9.9", true),
        ("203.0.113.1", true),
    ];
    for (a, want) in table {
        assert_eq!(l.contains(ip(a)), want, "{a}");
    }
}

#[test]
fn a_bad_line_is_named() {
    let err = CidrList::parse("10.0.0.0/8\n\n  not-a-net ; x\n").unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(err.text, "not-a-net");
    assert!(CidrList::parse("10.0.0.0/33").is_err());
    assert_eq!(
        CidrList::parse("# only comments\n;\n").unwrap().entries(),
        0
    );
}

#[test]
fn overlapping_and_adjacent_ranges_merge() {
    let l = CidrList::parse("10.0.0.0/25\n10.0.0.128/25\n10.0.0.0/24\n0.0.0.0/0\n").unwrap();
    assert_eq!(l.v4, vec![(0, u32::MAX)]);
    let mut a = CidrList::parse("10.0.0.0/24").unwrap();
    a.extend(&CidrList::parse("192.168.0.0/16").unwrap());
    assert!(a.contains(ip("192.168.3.3")) && a.contains(ip("10.0.0.1")));
}

proptest::proptest! {
    #[test]
    fn lookup_agrees_with_a_linear_scan(
        nets in proptest::collection::vec((proptest::num::u32::ANY, 8u8..=32), 1..40),
        probes in proptest::collection::vec(proptest::num::u32::ANY, 1..100),
    ) {
        let text: String = nets
            .iter()
            .map(|(a, p)| format!("{}/{p}\n", std::net::Ipv4Addr::from(*a)))
            .collect();
        let list = CidrList::parse(&text).unwrap();
        let parsed: Vec<IpNet> = text.lines().map(|l| l.parse::<IpNet>().unwrap().trunc()).collect();
        for p in probes.iter().chain(nets.iter().map(|(a, _)| a)) {
            let a = IpAddr::V4((*p).into());
            proptest::prop_assert_eq!(list.contains(a), parsed.iter().any(|n| n.contains(&a)));
        }
    }
}

#[test]
fn ipv4_mapped_entries_list_ipv4_addresses() {
    let l = CidrList::parse("::ffff:192.0.2.0/120\n::ffff:198.51.100.7\n").unwrap();
    assert!(l.contains(ip("192.0.2.9")));
    assert!(l.contains(ip("::ffff:192.0.2.9")));
    assert!(l.contains(ip("198.51.100.7")));
    assert!(!l.contains(ip("198.51.100.8")));
}
