use super::*;
use crate::host::HostPattern;
use crate::metadata::METADATA_ENDPOINTS;
use Decision::{Allowed, Blocked, Reported};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn rule(action: RuleAction) -> EgressRule {
    EgressRule {
        service: None,
        hosts: Vec::new(),
        cidrs: Vec::new(),
        ports: Vec::new(),
        methods: Vec::new(),
        paths: Vec::new(),
        action,
        mode: None,
    }
}

fn hosts(patterns: &[&str]) -> Vec<HostPattern> {
    patterns.iter().map(|p| p.parse().unwrap()).collect()
}

fn cidrs(nets: &[&str]) -> Vec<IpNet> {
    nets.iter().map(|n| net(n)).collect()
}

fn addrs(addrs: &[&str]) -> Vec<SocketAddr> {
    addrs.iter().map(|a| a.parse().unwrap()).collect()
}

/// Whether the destination is inside the enclave.
const IN: bool = true;
const OUT: bool = false;

/// Source, `host as asked@dialed ip:port`, then the decision, deciding rule and inside.
type Case<'a> = (Option<&'a str>, &'a str, Decision, Option<usize>, bool);

fn check(enclave: &Enclave, cases: &[Case<'_>]) {
    for &(source, call, decision, rule, inside) in cases {
        let (host, dialed) = call.split_once('@').unwrap();
        let host: Host = host.parse().unwrap();
        let dialed: SocketAddr = dialed.parse().unwrap();
        let got = enclave.decide(source, &host, dialed.ip(), dialed.port());
        let what = format!("{source:?} -> {call}: {}", got.reason);
        assert_eq!(got.decision, decision, "{what}");
        assert_eq!(got.rule, rule, "{what}");
        assert_eq!(got.inside, inside, "{what}");
        assert!(!got.reason.is_empty(), "{what}");
    }
}

/// Enforce mode, the 10/8 enclave with a hole, and a rule of each kind.
fn enforcing() -> Enclave {
    Enclave {
        networks: vec![Network {
            net: net("10.0.0.0/8"),
            except: vec![net("10.9.0.0/16")],
        }],
        rules: vec![
            EgressRule {
                service: Some("payments".into()),
                hosts: hosts(&["api.stripe.com"]),
                ports: vec![443],
                ..rule(RuleAction::Allow)
            },
            EgressRule {
                cidrs: cidrs(&["10.66.0.0/16"]),
                ..rule(RuleAction::Deny)
            },
            EgressRule {
                service: Some("monitoring".into()),
                cidrs: cidrs(&["169.254.169.254/32"]),
                ..rule(RuleAction::Allow)
            },
            EgressRule {
                hosts: hosts(&["*.amazonaws.com"]),
                ports: vec![443],
                mode: Some(Mode::Report),
                ..rule(RuleAction::Allow)
            },
            EgressRule {
                hosts: hosts(&["tracker.example"]),
                mode: Some(Mode::Report),
                ..rule(RuleAction::Deny)
            },
        ],
        mode: Mode::Enforce,
        own_addrs: addrs(&["0.0.0.0:3128", "127.0.0.1:9900"]),
    }
}

#[test]
fn enforce_mode_table() {
    let p = Some("payments");
    let o = Some("orders");
    let m = Some("monitoring");
    #[rustfmt::skip]
    let cases: &[Case<'_>] = &[
        // A public host: only for the named service and port.
        (p, "api.stripe.com@54.1.2.3:443", Allowed, Some(0), OUT),
        (p, "API.stripe.com.@54.1.2.3:443", Allowed, Some(0), OUT),
        (p, "api.stripe.com@54.1.2.3:80", Blocked, None, OUT),
        (o, "api.stripe.com@54.1.2.3:443", Blocked, None, OUT),
        (None, "api.stripe.com@54.1.2.3:443", Blocked, None, OUT),
        (o, "8.8.8.8@8.8.8.8:53", Blocked, None, OUT),
        // Inside the enclave, no rule: an internal call; the hole is outside.
        (o, "orders.internal@10.1.2.3:8080", Allowed, None, IN),
        (o, "10.1.2.3@10.1.2.3:8080", Allowed, None, IN),
        (o, "10.1.2.3@[::ffff:10.1.2.3]:8080", Allowed, None, IN),
        (o, "10.9.1.1@10.9.1.1:80", Blocked, None, OUT),
        (o, "192.168.1.1@192.168.1.1:80", Blocked, None, OUT),
        // Deny rule for an inside segment; deny in report mode only reports.
        (o, "db.internal@10.66.0.5:5432", Blocked, Some(1), IN),
        (o, "tracker.example@93.184.216.34:443", Reported, Some(4), OUT),
        // An allow rule in report mode reports.
        (o, "s3.amazonaws.com@52.1.1.1:443", Reported, Some(3), OUT),
        (o, "s3.amazonaws.com@52.1.1.1:80", Blocked, None, OUT),
        // DNS rebinding: a host name rule never opens a special address...
        (p, "api.stripe.com@169.254.169.254:443", Blocked, None, OUT),
        (p, "api.stripe.com@127.0.0.1:443", Blocked, None, OUT),
        (p, "api.stripe.com@192.168.1.1:443", Blocked, None, OUT),
        (p, "api.stripe.com@[::ffff:169.254.169.254]:443", Blocked, None, OUT),
        // ...but an address the enclave names is fine.
        (p, "api.stripe.com@10.1.2.3:443", Allowed, Some(0), IN),
        // Metadata, named by a /32 CIDR for monitoring only.
        (m, "169.254.169.254@169.254.169.254:80", Allowed, Some(2), OUT),
        (m, "169.254.169.254@[64:ff9b::a9fe:a9fe]:80", Allowed, Some(2), OUT),
        (m, "169.254.169.253@169.254.169.253:80", Blocked, None, OUT),
        (o, "169.254.169.254@169.254.169.254:80", Blocked, None, OUT),
        (o, "0xa9fea9fe@169.254.169.254:80", Blocked, None, OUT),
        // Other special addresses.
        (o, "localhost@127.0.0.1:80", Blocked, None, OUT),
        (o, "::1@[::1]:80", Blocked, None, OUT),
        (o, "0.0.0.0@0.0.0.0:80", Blocked, None, OUT),
        (o, "224.0.0.1@224.0.0.1:80", Blocked, None, OUT),
        (o, "fd00::1@[fd00::1]:80", Blocked, None, OUT),
        (o, "x.example@[2002:a9fe:a9fe::1]:80", Blocked, None, OUT),
        // Own listeners, whatever the rules say.
        (o, "127.0.0.1@127.0.0.1:3128", Blocked, None, OUT),
        (o, "127.0.0.1@[::ffff:127.0.0.1]:3128", Blocked, None, OUT),
        (o, "0.0.0.0@0.0.0.0:3128", Blocked, None, OUT),
        (o, "127.0.0.1@127.0.0.1:9900", Blocked, None, OUT),
        (o, "0.0.0.0@0.0.0.0:9900", Blocked, None, OUT),
    ];
    check(&enforcing(), cases);
}

#[test]
fn report_mode_table() {
    let enclave = Enclave {
        networks: vec![Network::new(net("10.0.0.0/8"))],
        rules: vec![
            EgressRule {
                hosts: hosts(&["*.evil.example"]),
                ..rule(RuleAction::Deny)
            },
            EgressRule {
                hosts: hosts(&["pypi.org"]),
                ..rule(RuleAction::Allow)
            },
            EgressRule {
                cidrs: cidrs(&["10.66.0.0/16"]),
                mode: Some(Mode::Enforce),
                ..rule(RuleAction::Deny)
            },
        ],
        mode: Mode::Report,
        own_addrs: addrs(&["[::]:3128"]),
    };
    let o = Some("orders");
    #[rustfmt::skip]
    let cases: &[Case<'_>] = &[
        // Metadata, loopback, unspecified and link-local stay blocked in report mode.
        (o, "169.254.169.254@169.254.169.254:80", Blocked, None, OUT),
        (o, "x.example@[::ffff:169.254.169.254]:80", Blocked, None, OUT),
        (o, "x.example@[64:ff9b::a9fe:a9fe]:80", Blocked, None, OUT),
        (o, "x.example@[2002:a9fe:a9fe::1]:80", Blocked, None, OUT),
        (o, "127.0.0.1@127.0.0.1:80", Blocked, None, OUT),
        (o, "x.example@[2001:0:4136:e378:8000:63bf:80ff:fffe]:80", Blocked, None, OUT),
        (o, "0.0.0.0@0.0.0.0:80", Blocked, None, OUT),
        (o, "fe80::1@[fe80::1]:80", Blocked, None, OUT),
        // Other special addresses are reported.
        (o, "192.168.1.1@192.168.1.1:80", Reported, None, OUT),
        (o, "224.0.0.1@224.0.0.1:80", Reported, None, OUT),
        (o, "100.64.0.1@100.64.0.1:80", Reported, None, OUT),
        // Deny rules report, unless the rule itself enforces.
        (o, "x.evil.example@93.1.1.1:443", Reported, Some(0), OUT),
        (o, "x.evil.example@10.1.2.3:443", Reported, Some(0), IN),
        (o, "db.internal@10.66.0.5:5432", Blocked, Some(2), IN),
        // A deny that only reports does not soften the metadata block.
        (o, "x.evil.example@169.254.169.254:80", Blocked, None, OUT),
        (o, "pypi.org@151.101.0.223:443", Allowed, Some(1), OUT),
        (o, "pypi.org@127.0.0.1:443", Blocked, None, OUT),
        (o, "8.8.8.8@8.8.8.8:53", Reported, None, OUT),
        (None, "10.1.2.3@10.1.2.3:80", Allowed, None, IN),
        // A wildcard IPv6 listener: loopback and wildcard of both families.
        (o, "127.0.0.1@127.0.0.1:3128", Blocked, None, OUT),
        (o, "127.0.0.1@[::ffff:127.0.0.1]:3128", Blocked, None, OUT),
        (o, "::1@[::1]:3128", Blocked, None, OUT),
        (o, "0.0.0.0@0.0.0.0:3128", Blocked, None, OUT),
        (o, "::@[::]:3128", Blocked, None, OUT),
    ];
    check(&enclave, cases);
}

#[test]
fn naming_needs_a_specific_enough_network() {
    let enclave = Enclave {
        networks: vec![
            Network::new(net("0.0.0.0/0")),
            Network::new(net("172.0.0.0/8")),
            Network::new(net("127.0.0.0/8")),
        ],
        rules: vec![
            EgressRule {
                service: Some("batch".into()),
                ..rule(RuleAction::Allow)
            },
            EgressRule {
                service: Some("scanner".into()),
                cidrs: cidrs(&["0.0.0.0/0", "192.168.0.0/16"]),
                ..rule(RuleAction::Allow)
            },
        ],
        mode: Mode::Enforce,
        own_addrs: addrs(&["127.0.0.1:3128"]),
    };
    let o = Some("orders");
    let b = Some("batch");
    let s = Some("scanner");
    #[rustfmt::skip]
    let cases: &[Case<'_>] = &[
        // 0.0.0.0/0 and 172.0.0.0/8 are inside but name nothing special.
        (o, "8.8.8.8@8.8.8.8:53", Allowed, None, IN),
        (o, "10.1.2.3@10.1.2.3:80", Blocked, None, IN),
        (o, "172.16.0.1@172.16.0.1:80", Blocked, None, IN),
        // 127.0.0.0/8 names loopback; the own listener stays blocked.
        (o, "127.0.0.1@127.0.0.1:8080", Allowed, None, IN),
        (o, "127.0.0.1@127.0.0.1:3128", Blocked, None, IN),
        // A rule with neither hosts nor CIDRs matches everything, but names nothing.
        (b, "x.example@93.1.1.1:443", Allowed, Some(0), IN),
        (b, "x.example@10.1.2.3:443", Blocked, None, IN),
        // A CIDR names only what it is specific enough for.
        (s, "x.example@192.168.7.7:22", Allowed, Some(1), IN),
        (s, "x.example@10.1.2.3:22", Blocked, None, IN),
    ];
    check(&enclave, cases);
}

#[test]
fn reasons_read_well() {
    let enclave = enforcing();
    let decide = |host: &str, ip: &str, port| {
        let host: Host = host.parse().unwrap();
        enclave.decide(Some("orders"), &host, ip.parse().unwrap(), port)
    };
    let cases = [
        ("127.0.0.1", "127.0.0.1", 3128, "destination is Sightline's own listener"),
        ("x.example", "8.8.8.8", 443, "destination outside the enclave"),
        ("x.internal", "10.1.2.3", 443, "internal call inside the enclave"),
        ("db.internal", "10.66.0.5", 5432, "denied by egress rule 1"),
        ("s3.amazonaws.com", "52.1.1.1", 443, "allowed by egress rule 3 in report mode"),
        (
            "x.example",
            "169.254.1.1",
            80,
            "link-local address 169.254.1.1 is not named by an enclave network or allow rule CIDR",
        ),
        (
            "x.example",
            "64:ff9b::a9fe:101",
            80,
            "link-local address 169.254.1.1 (carried in 64:ff9b::a9fe:101) is not named by an enclave network or allow rule CIDR",
        ),
        (
            "x.example",
            "64:ff9b::6464:64c8",
            80,
            "cloud metadata address 100.100.100.200 (carried in 64:ff9b::6464:64c8) (Alibaba Cloud instance metadata) is opened only by an allow rule whose CIDR is exactly that address",
        ),
    ];
    for (host, ip, port, want) in cases {
        assert_eq!(decide(host, ip, port).reason, want, "{host} {ip}:{port}");
    }
    let got = decide("x.example", "8.8.8.8", 443);
    assert_eq!(
        got.verdict(),
        Verdict::new(Blocked, "destination outside the enclave")
    );
    // What the caller is told names no address.
    let public = [
        ("127.0.0.1", 3128, "destination is Sightline's own listener"),
        ("8.8.8.8", 443, "destination outside the enclave"),
        ("10.66.0.5", 5432, "denied by egress rule 1"),
        (
            "169.254.1.1",
            80,
            "destination is a special-purpose address that no enclave network or allow rule CIDR names",
        ),
        (
            "::ffff:169.254.169.254",
            80,
            "destination is a cloud metadata endpoint that no allow rule names exactly",
        ),
    ];
    for (ip, port, want) in public {
        assert_eq!(decide("x.example", ip, port).public_reason(), want, "{ip}");
    }
}

#[test]
fn is_inside_table() {
    let enclave = enforcing();
    let cases = [
        ("10.0.0.0", true),
        ("10.255.255.255", true),
        ("::ffff:10.1.2.3", true),
        ("64:ff9b::a01:203", true),
        ("10.9.0.1", false),
        ("11.0.0.1", false),
        ("2001:db8::1", false),
    ];
    for (ip, want) in cases {
        assert_eq!(enclave.is_inside(ip.parse().unwrap()), want, "{ip}");
    }
}

#[test]
fn empty_enclave_refuses_everything_outside() {
    let enclave = Enclave::default();
    assert_eq!(enclave.mode, Mode::Enforce);
    let host: Host = "example.com".parse().unwrap();
    let got = enclave.decide(None, &host, "93.184.216.34".parse().unwrap(), 443);
    assert_eq!((got.decision, got.inside, got.rule), (Blocked, false, None));
}

#[test]
fn names_of_modes_and_actions() {
    assert_eq!(Mode::Enforce.as_str(), "enforce");
    assert_eq!(Mode::Report.as_str(), "report");
    assert_eq!(RuleAction::Allow.as_str(), "allow");
    assert_eq!(RuleAction::Deny.as_str(), "deny");
}

/// An enclave that tries every way but the right one to open the metadata endpoints: networks
/// cover each of them down to the exact address, and rules open everything else. Only rule 0,
/// whose CIDRs are exactly the endpoints, opens them, for `monitoring` on port 80.
fn metadata_enclave(mode: Mode) -> Enclave {
    let wide = [
        "0.0.0.0/0",
        "::/0",
        "fd00::/8",
        "fc00::/7",
        "fe80::/10",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "168.63.0.0/16",
        "192.0.0.0/24",
    ];
    let exact: Vec<IpNet> = METADATA_ENDPOINTS
        .iter()
        .map(|e| IpNet::from(e.ip))
        .collect();
    let mut networks: Vec<Network> = wide.iter().map(|n| Network::new(net(n))).collect();
    networks.extend(exact.iter().map(|n| Network::new(*n)));
    let near: Vec<IpNet> = exact
        .iter()
        .map(|n| {
            IpNet::new(n.addr(), n.max_prefix_len() - 1)
                .unwrap()
                .trunc()
        })
        .chain(wide.iter().map(|n| net(n)))
        .collect();
    Enclave {
        networks,
        rules: vec![
            EgressRule {
                service: Some("monitoring".into()),
                cidrs: exact,
                ports: vec![80],
                ..rule(RuleAction::Allow)
            },
            EgressRule {
                hosts: hosts(&["*.example"]),
                ..rule(RuleAction::Allow)
            },
            EgressRule {
                cidrs: near,
                ..rule(RuleAction::Allow)
            },
            EgressRule {
                service: Some("reporter".into()),
                mode: Some(Mode::Report),
                ..rule(RuleAction::Deny)
            },
        ],
        mode,
        own_addrs: addrs(&["127.0.0.1:3128"]),
    }
}

/// The address itself and, for IPv4, the IPv6 forms that carry it.
fn forms(ip: IpAddr) -> Vec<IpAddr> {
    let IpAddr::V4(v4) = ip else {
        return vec![ip];
    };
    let bits = u128::from(v4.to_bits());
    let mut out = vec![ip, IpAddr::V6(v4.to_ipv6_mapped())];
    for carrier in [(0x64_ff9b << 96) | bits, (0x2002 << 112) | (bits << 80)] {
        out.push(IpAddr::V6(std::net::Ipv6Addr::from_bits(carrier)));
    }
    out
}

#[test]
fn metadata_endpoints_are_blocked_in_every_mode_unless_named_exactly() {
    for mode in [Mode::Enforce, Mode::Report] {
        let enclave = metadata_enclave(mode);
        for endpoint in METADATA_ENDPOINTS {
            for ip in forms(endpoint.ip) {
                #[rustfmt::skip]
                let cases = [
                    // (source, host as asked, port, decision, deciding rule)
                    (Some("monitoring"), "meta.example", 80, Allowed, Some(0)),
                    (Some("monitoring"), "meta.example", 443, Blocked, None),
                    (Some("orders"), "meta.example", 80, Blocked, None),
                    (None, "meta.example", 80, Blocked, None),
                    (Some("orders"), "meta.internal", 80, Blocked, None),
                    (Some("reporter"), "meta.internal", 80, Blocked, None),
                ];
                for (source, host, port, decision, rule) in cases {
                    let what = format!("{mode:?} {source:?} -> {host}@{ip}:{port}");
                    let got = enclave.decide(source, &host.parse().unwrap(), ip, port);
                    assert_eq!(
                        (got.decision, got.rule),
                        (decision, rule),
                        "{what}: {}",
                        got.reason
                    );
                    if decision == Blocked {
                        assert_eq!(got.cause, Cause::Metadata, "{what}");
                        assert!(
                            got.reason.contains(endpoint.service),
                            "{what}: {}",
                            got.reason
                        );
                        let public = got.public_reason();
                        let eff = crate::address::effective_ip(ip).to_string();
                        assert!(
                            !public.contains(&eff) && !public.contains(&ip.to_string()),
                            "{what}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn only_an_allow_rule_names_a_metadata_endpoint() {
    let meta = "100.100.100.200/32";
    let enclave = |rules: Vec<EgressRule>| Enclave {
        networks: vec![Network::new(net(meta))],
        rules,
        mode: Mode::Report,
        own_addrs: Vec::new(),
    };
    let host: Host = "x.example".parse().unwrap();
    let ip = "100.100.100.200".parse().unwrap();
    let deny_exact = EgressRule {
        cidrs: cidrs(&[meta]),
        ..rule(RuleAction::Deny)
    };
    let allow_exact = EgressRule {
        cidrs: cidrs(&[meta]),
        ..rule(RuleAction::Allow)
    };
    let got = enclave(vec![deny_exact]).decide(None, &host, ip, 80);
    assert_eq!(
        (got.decision, got.rule),
        (Blocked, None),
        "a deny rule names nothing, and reporting does not soften the block"
    );
    let got = enclave(vec![allow_exact]).decide(None, &host, ip, 80);
    assert_eq!((got.decision, got.rule), (Allowed, Some(0)));
    let got = enclave(Vec::new()).decide(None, &host, ip, 80);
    assert_eq!(
        (got.decision, got.inside),
        (Blocked, true),
        "inside, yet blocked"
    );
}

#[test]
fn request_rules_judge_requests_and_never_the_connection() {
    use crate::request::RequestLine;
    let e = Enclave {
        rules: vec![
            EgressRule {
                service: Some("app".into()),
                cidrs: cidrs(&["203.0.113.0/24"]),
                paths: vec!["/admin".parse().unwrap()],
                ..rule(RuleAction::Deny)
            },
            EgressRule {
                service: Some("app".into()),
                methods: vec!["DELETE".into()],
                ..rule(RuleAction::Deny)
            },
            EgressRule {
                service: Some("app".into()),
                methods: vec!["POST".into()],
                paths: vec!["/v1/charges".parse().unwrap()],
                mode: Some(Mode::Report),
                ..rule(RuleAction::Deny)
            },
            EgressRule {
                service: Some("app".into()),
                cidrs: cidrs(&["203.0.113.0/24"]),
                ..rule(RuleAction::Allow)
            },
        ],
        ..Enclave::default()
    };
    let host = Host::Name("api.partner.example".into());
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    let req = |method, path| Some(RequestLine { method, path });
    let cases: &[(Option<RequestLine<'_>>, Decision, Option<usize>)] = &[
        // The CONNECT: request rules are skipped, the allow rule decides.
        (None, Decision::Allowed, Some(3)),
        (req("GET", "/v1/orders/42"), Decision::Allowed, Some(3)),
        (req("GET", "/admin/users"), Decision::Blocked, Some(0)),
        (req("GET", "/%61dmin/users"), Decision::Blocked, Some(0)),
        (req("GET", "/v1/../admin"), Decision::Blocked, Some(0)),
        (req("GET", "/administrator"), Decision::Allowed, Some(3)),
        (req("DELETE", "/v1/orders/42"), Decision::Blocked, Some(1)),
        (req("delete", "/v1/orders/42"), Decision::Allowed, Some(3)),
        (req("POST", "/v1/charges"), Decision::Reported, Some(2)),
        (req("GET", "/v1/charges"), Decision::Allowed, Some(3)),
    ];
    for (r, want, rule) in cases {
        let v = e.decide_request(Some("app"), &host, ip, 443, *r);
        assert_eq!((v.decision, v.rule), (*want, *rule), "{r:?}");
    }
    // Another source: no rule applies to it, outside the enclave.
    let v = e.decide_request(Some("web"), &host, ip, 443, req("GET", "/admin"));
    assert_eq!(v.decision, Decision::Blocked);
    assert_eq!(v.rule, None);
}

#[test]
fn a_request_allow_rule_opens_no_special_address_for_the_connection() {
    use crate::request::RequestLine;
    let e = Enclave {
        rules: vec![EgressRule {
            cidrs: cidrs(&["10.1.2.3/32"]),
            paths: vec!["/public".parse().unwrap()],
            ..rule(RuleAction::Allow)
        }],
        ..Enclave::default()
    };
    let host = Host::Name("svc.internal".into());
    let ip: IpAddr = "10.1.2.3".parse().unwrap();
    assert_eq!(e.decide(None, &host, ip, 80).decision, Decision::Blocked);
    let public = Some(RequestLine {
        method: "GET",
        path: "/public/x",
    });
    assert_eq!(
        e.decide_request(None, &host, ip, 80, public).decision,
        Decision::Allowed
    );
}
