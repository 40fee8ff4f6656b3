use super::*;
use crate::host::HostPattern;
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
            "169.254.169.254",
            80,
            "link-local address 169.254.169.254 is not named by an enclave network or allow rule CIDR",
        ),
        (
            "x.example",
            "64:ff9b::a9fe:a9fe",
            80,
            "link-local address 169.254.169.254 (carried in 64:ff9b::a9fe:a9fe) is not named by an enclave network or allow rule CIDR",
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
