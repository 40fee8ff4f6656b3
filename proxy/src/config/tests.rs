use super::*;
use std::time::Duration;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.yaml", Path::new("/etc/sightline"))
}

const GOOD: &str = "\
version: 1
inbound:
  listen: 127.0.0.1:8080
  routes:
    - { host: api.example.internal, path_prefix: /orders, service: orders }
    - { path_prefix: /, service: web }
    - { host: \"*.example.internal\", path_prefix: /, service: web }
services:
  orders:
    upstreams: [127.0.0.1:7001, \"backend.internal:7002\"]
    tls: { ca: ca.pem }
  web:
    upstreams: [127.0.0.1:7003]
    protocol: http2
limits:
  request_timeout: 2s
  max_header_bytes: 32KiB
";

#[test]
fn good_config_converts_to_domain_types() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.admin.listen, defaults::ADMIN);
    assert_eq!(c.limits.request_timeout, Duration::from_secs(2));
    assert_eq!(c.limits.max_header_bytes, 32 * 1024);
    assert_eq!(c.services["web"].protocol, UpstreamProtocol::Http2);
    assert_eq!(
        c.services["orders"].tls.as_ref().unwrap().ca.as_deref(),
        Some(Path::new("/etc/sightline/ca.pem"))
    );
    // Sorted most specific first.
    assert_eq!(
        c.inbound.routes[0].host,
        HostMatch::Exact("api.example.internal".into())
    );
    assert_eq!(
        c.inbound.routes[1].host,
        HostMatch::Suffix(".example.internal".into())
    );
    assert_eq!(c.inbound.routes[2].host, HostMatch::Any);
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = format!("{GOOD}no_such_key_xyz: 1\n");
    let err = parse(&text).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no_such_key_xyz"), "{msg}");
    assert!(msg.starts_with("test.yaml:18:"), "{msg}");
}

#[test]
fn nested_unknown_key_names_its_path() {
    let text = GOOD.replace("request_timeout: 2s", "request_timeot: 2s");
    let err = parse(&text).unwrap_err();
    let issue = &err.issues[0];
    assert_eq!(issue.line, Some(16));
    assert!(issue.key.starts_with("limits"), "{}", issue.key);
    assert!(issue.message.contains("request_timeot"));
}

#[test]
fn bad_values_are_located() {
    let cases = [
        (
            "request_timeout: 2s",
            "request_timeout: soon",
            16,
            "limits.request_timeout",
        ),
        (
            "[127.0.0.1:7003]",
            "[\"http://x:1\"]",
            13,
            "services.web.upstreams[0]",
        ),
        (
            "[127.0.0.1:7003]",
            "[\"nohost\"]",
            13,
            "services.web.upstreams[0]",
        ),
        (
            "max_header_bytes: 32KiB",
            "max_header_bytes: lots",
            17,
            "limits.max_header_bytes",
        ),
    ];
    for (from, to, line, key) in cases {
        let err = parse(&GOOD.replace(from, to)).unwrap_err();
        let issue = &err.issues[0];
        assert_eq!(issue.line, Some(line), "{to}: {err}");
        assert_eq!(issue.key, key, "{to}: {err}");
    }
}

#[test]
fn semantic_errors_are_all_reported_with_lines() {
    let text = GOOD
        .replace("service: orders }", "service: ordrs }")
        .replace("version: 1", "version: 2");
    let err = parse(&text).unwrap_err();
    assert_eq!(err.issues.len(), 2, "{err}");
    assert_eq!(err.issues[0].key, "version");
    assert_eq!(err.issues[0].line, Some(1));
    assert_eq!(err.issues[1].key, "inbound.routes[0].service");
    assert_eq!(err.issues[1].line, Some(5));
    assert!(err.issues[1].message.contains("ordrs"));
}

#[test]
fn public_admin_needs_a_token() {
    let text = format!("{GOOD}admin: {{ listen: 0.0.0.0:9900 }}\n");
    let err = parse(&text).unwrap_err();
    assert_eq!(err.issues[0].key, "admin.listen");
    let ok = format!("{GOOD}admin: {{ listen: 0.0.0.0:9900, token: 0123456789abcdef0123 }}\n");
    assert!(parse(&ok).is_ok());
}

#[test]
fn admin_tls_and_session_lifetime() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.admin.session_lifetime, Duration::from_secs(12 * 3600));
    assert_eq!(c.admin.tls, None);
    let text = format!(
        "{GOOD}admin: {{ listen: 0.0.0.0:9900, token: 0123456789abcdef0123, session_lifetime: 30m, tls: {{ cert: admin.pem, key: admin-key.pem }} }}\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.admin.session_lifetime, Duration::from_secs(1800));
    let tls = c.admin.tls.unwrap();
    assert_eq!(tls.cert, Path::new("/etc/sightline/admin.pem"));
    assert_eq!(tls.key, Path::new("/etc/sightline/admin-key.pem"));
    let err = parse(&format!("{GOOD}admin: {{ session_lifetime: 10ms }}\n")).unwrap_err();
    assert_eq!(err.issues[0].key, "admin.session_lifetime");
    let err = parse(&format!("{GOOD}admin: {{ tls: {{ cert: a.pem }} }}\n")).unwrap_err();
    assert!(err.to_string().contains("key"), "{err}");
}

#[test]
fn syntax_errors_have_a_line() {
    let err = parse("version: 1\ninbound: [\n").unwrap_err();
    assert!(err.issues[0].line.is_some(), "{err}");
}

#[test]
fn quick_config_routes_everything() {
    let c = Config::quick(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:9",
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(c.inbound.routes.len(), 1);
    assert_eq!(c.services["upstream"].upstreams, vec!["127.0.0.1:9"]);
    assert!(Config::quick(
        "127.0.0.1:0".parse().unwrap(),
        "nope",
        "127.0.0.1:0".parse().unwrap()
    )
    .is_err());
}

#[test]
fn example_config_is_accepted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sightline.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    parse(&text).unwrap();
}

#[test]
fn egress_and_enclave_mistakes_are_named() {
    let cases = [
        ("enclave:\n  networks: [ { net: 10.0.0.0/8, exept: [10.9.0.0/16] } ]\n", "enclave.networks"),
        ("enclave:\n  networks: [ { net: 10.0.0.0/8, except: [192.168.0.0/16] } ]\n", "enclave.networks[0].except[0]"),
        ("egress: { connect_timeout: 0s }\n", "egress.connect_timeout"),
        ("dns: { timeout: 0s }\n", "dns.timeout"),
        ("egress: { sources: [ { cidr: 10.0.0.0/8, service: \"-bad\" } ] }\n", "egress.sources[0].service"),
        (
            "egress:\n  credentials:\n    - { service: a, token: aaaaaaaaaaaaaaaaaaaa }\n    - { service: a, token: bbbbbbbbbbbbbbbbbbbb }\n",
            "egress.credentials[1].service",
        ),
        ("enclave:\n  rules: [ { hosts: [\"10.*.0.1\"] } ]\n", "enclave.rules[0].hosts[0]"),
    ];
    for (extra, key) in cases {
        let err = parse(&format!("{GOOD}{extra}")).unwrap_err();
        assert!(
            err.issues.iter().any(|i| i.key.starts_with(key)),
            "{extra}: {err}"
        );
        assert!(
            err.issues.iter().all(|i| i.line.is_some()),
            "{extra}: {err}"
        );
    }
}

#[test]
fn egress_section_enables_the_listener_with_defaults() {
    let c = parse(&format!("{GOOD}egress: {{}}\n")).unwrap();
    let e = c.egress.unwrap();
    assert_eq!(e.listen, DEFAULT_EGRESS);
    assert_eq!(e.connect_timeout, Duration::from_secs(5));
    assert!(
        parse(GOOD).unwrap().egress.is_none(),
        "no egress section, no egress listener"
    );
}

#[test]
fn a_step_out_of_range_or_longer_than_the_persistence_is_refused() {
    for (analysis, key) in [
        ("{ step: 5ms }", "analysis.step"),
        ("{ step: 2m }", "analysis.step"),
        ("{ step: 1s, persistence: 500ms }", "analysis.persistence"),
        ("{ timezone: Mars/Olympus }", "analysis.timezone"),
    ] {
        let err = parse(&format!("{GOOD}analysis: {analysis}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{analysis}: {err}");
    }
}

#[test]
fn body_idle_timeout_and_listener_caps_have_defaults_and_must_be_positive() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.limits.body_idle_timeout, Duration::from_secs(60));
    assert_eq!(c.admin.max_connections, AdminConfig::MAX_CONNECTIONS);
    assert_eq!(c.admin.read_timeout, AdminConfig::READ_TIMEOUT);
    assert_eq!(c.admin.idle_timeout, AdminConfig::IDLE_TIMEOUT);

    let text = format!(
        "{GOOD}  body_idle_timeout: 5s\nadmin: {{ max_connections: 8, read_timeout: 2s, idle_timeout: 30s }}\negress: {{ max_connections: 50 }}\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.limits.body_idle_timeout, Duration::from_secs(5));
    assert_eq!(c.admin.max_connections, 8);
    assert_eq!(c.admin.read_timeout, Duration::from_secs(2));
    assert_eq!(c.admin.idle_timeout, Duration::from_secs(30));
    assert_eq!(c.egress.as_ref().map(|e| e.max_connections), Some(50));
    assert_eq!(
        parse(&format!("{GOOD}egress: {{}}\n"))
            .unwrap()
            .egress
            .map(|e| e.max_connections),
        Some(EGRESS_MAX_CONNECTIONS)
    );

    for (extra, key) in [
        ("  body_idle_timeout: 0s\n", "limits.body_idle_timeout"),
        ("admin: { max_connections: 0 }\n", "admin.max_connections"),
        ("admin: { read_timeout: 0s }\n", "admin.read_timeout"),
        ("admin: { idle_timeout: 0s }\n", "admin.idle_timeout"),
        ("egress: { max_connections: 0 }\n", "egress.max_connections"),
    ] {
        let err = parse(&format!("{GOOD}{extra}")).unwrap_err();
        assert!(err.issues.iter().any(|i| i.key == key), "{extra}: {err}");
    }
}

#[test]
fn duplicate_keys_and_wrong_scalars_name_line_key_and_value() {
    let err =
        parse("version: 1\nlimits:\n  max_connections: 5\n  max_connections: 6\n").unwrap_err();
    let issue = &err.issues[0];
    assert_eq!(issue.line, Some(4), "{err}");
    assert_eq!(issue.key, "limits.max_connections", "{err}");
    let err = parse("version: 1\nlimits:\n  max_connections: -3\n").unwrap_err();
    let issue = &err.issues[0];
    assert_eq!(issue.line, Some(3), "{err}");
    assert_eq!(issue.key, "limits.max_connections", "{err}");
    assert!(issue.message.contains("`-3`"), "{err}");
    let err = parse("version: 1\ninbound: [1]\n").unwrap_err();
    assert_eq!(err.issues[0].key, "inbound", "{err}");
    assert!(err.issues[0].message.contains("mapping"), "{err}");
}

#[test]
fn path_rules_default_to_the_strict_form_and_routes_may_ignore_case() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.inbound.paths, PathRules::default());
    assert_eq!(
        (
            c.inbound.paths.merge_slashes,
            c.inbound.paths.params,
            c.inbound.paths.escaped_slashes
        ),
        (true, PathParams::Strip, EscapedSlashes::Reject)
    );
    assert!(c.inbound.routes.iter().all(|r| !r.ignore_case));
    let c = parse(
        "version: 1
inbound:
  paths: { merge_slashes: false, path_params: reject, escaped_slashes: decode }
  routes: [ { path_prefix: /Legacy, service: web, ignore_case: true } ]
services:
  web: { upstreams: [127.0.0.1:7003] }
",
    )
    .unwrap();
    assert_eq!(
        c.inbound.paths,
        PathRules {
            merge_slashes: false,
            params: PathParams::Reject,
            escaped_slashes: EscapedSlashes::Decode,
        }
    );
    assert!(c.inbound.routes[0].ignore_case);
    assert_eq!(c.inbound.routes[0].path_prefix, "/legacy");
    let err = parse("version: 1\ninbound:\n  paths: { escaped_slashes: maybe }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("inbound.paths.escaped_slashes"), "{err}");
}

#[test]
fn secrets_are_read_from_files_next_to_the_config() {
    let dir = std::env::temp_dir().join(format!("sightline-secret-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), "egress-token-from-a-file-0123\n").unwrap();
    let text = "version: 1\negress:\n  credentials: [ { service: orders, token_file: token } ]\n";
    let c = Config::parse(text, "test.yaml", &dir).unwrap();
    assert_eq!(
        c.egress.unwrap().credentials["orders"],
        "egress-token-from-a-file-0123"
    );

    let text = "version: 1\nadmin: { token_file: missing }\negress:\n  credentials: [ { service: orders } ]\n";
    let e = Config::parse(text, "test.yaml", &dir)
        .unwrap_err()
        .to_string();
    assert!(e.contains("test.yaml:2: admin.token_file"), "{e}");
    assert!(e.contains("missing: cannot read"), "{e}");
    assert!(
        e.contains("egress.credentials[0].token: set token, token_file or token_env"),
        "{e}"
    );

    // From the environment: a variable this test alone sets.
    let var = format!("SIGHTLINE_TEST_ADMIN_TOKEN_{}", std::process::id());
    std::env::set_var(&var, "admin-token-from-the-environment-01");
    let text = format!("version: 1\nadmin: {{ token_env: {var} }}\n");
    let c = Config::parse(&text, "test.yaml", &dir).unwrap();
    assert_eq!(
        c.admin.token.as_deref(),
        Some("admin-token-from-the-environment-01")
    );
    std::env::remove_var(&var);
    let e = Config::parse(&text, "test.yaml", &dir)
        .unwrap_err()
        .to_string();
    assert!(e.contains("admin.token_env"), "{e}");
    assert!(e.contains("is not set"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn inspection_request_rules_and_proxy_protocol_are_read_and_checked() {
    let c = parse(
        "version: 1
inbound: { proxy_protocol: { from: [10.0.0.0/24] } }
egress:
  proxy_protocol: { from: [10.0.1.5/32] }
  inspect:
    ca: { cert: ca.pem, key: /keys/ca-key.pem }
    hosts: [api.partner.example, \"*.saas.example\"]
enclave:
  rules:
    - { service: payments, methods: [POST], paths: [/v1/charges, \"/v1/customers/{id}\"] }
",
    )
    .unwrap();
    let e = c.egress.as_ref().unwrap();
    let i = e.inspect.as_ref().unwrap();
    assert_eq!(i.ca_cert, Path::new("/etc/sightline/ca.pem"));
    assert_eq!(i.ca_key, Path::new("/keys/ca-key.pem"));
    assert_eq!(i.hosts.len(), 2);
    assert_eq!(i.upstream_ca, None);
    assert_eq!(e.proxy_protocol_from, ["10.0.1.5/32".parse().unwrap()]);
    assert_eq!(
        c.inbound.proxy_protocol_from,
        ["10.0.0.0/24".parse().unwrap()]
    );
    let rule = &c.enclave.rules[0];
    assert_eq!(rule.methods, ["POST"]);
    assert!(rule.paths[1].matches("/v1/customers/cus_1/cards"));

    let err = parse(
        "version: 1
inbound: { proxy_protocol: { from: [] } }
egress:
  inspect:
    ca: { cert: ca.pem, key: ca-key.pem }
    hosts: [\"10.0.0.1\"]
enclave:
  rules:
    - { methods: [\"GE T\"], paths: [v1, \"/a{b}\"] }
",
    )
    .unwrap_err();
    let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
    for key in [
        "inbound.proxy_protocol.from",
        "egress.inspect.hosts[0]",
        "enclave.rules[0].methods[0]",
        "enclave.rules[0].paths[0]",
        "enclave.rules[0].paths[1]",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
}

#[test]
fn the_transparent_listener_is_read_and_checked_with_its_line() {
    let c = parse(
        "version: 1
egress:
  listen: 127.0.0.1:3128
  transparent: { listen: \"[::]:15001\" }
",
    )
    .unwrap();
    let e = c.egress.as_ref().unwrap();
    assert_eq!(e.transparent, Some("[::]:15001".parse().unwrap()));
    assert!(c.listen_addrs().contains(&"[::]:15001".parse().unwrap()));

    let err = parse(
        "version: 1
egress:
  listen: 127.0.0.1:3128
  transparent:
    listen: 127.0.0.1:3128
",
    )
    .unwrap_err();
    let issue = err
        .issues
        .iter()
        .find(|i| i.key == "egress.transparent.listen")
        .unwrap();
    assert_eq!(issue.line, Some(5), "{issue:?}");
    let err = parse("version: 1\negress: { transparent: { port: 1 } }\n").unwrap_err();
    assert!(err.to_string().contains("listen"), "{err}");
}

#[test]
fn the_http1_server_is_native_unless_hyper_is_chosen() {
    use crate::config::Http1Server;
    assert_eq!(parse(GOOD).unwrap().runtime.http1, Http1Server::Native);
    let hyper = parse(&format!("{GOOD}runtime: {{ http1: hyper }}\n")).unwrap();
    assert_eq!(hyper.runtime.http1, Http1Server::Hyper);
    let err = parse(&format!("{GOOD}runtime: {{ http1: fast }}\n")).unwrap_err();
    assert!(err.to_string().contains("http1"), "{err}");
}

#[test]
fn the_upstream_http1_client_is_native_unless_hyper_is_chosen() {
    use crate::config::Http1Client;
    assert_eq!(
        parse(GOOD).unwrap().runtime.upstream_http1,
        Http1Client::Native
    );
    let hyper = parse(&format!("{GOOD}runtime: {{ upstream_http1: hyper }}\n")).unwrap();
    assert_eq!(hyper.runtime.upstream_http1, Http1Client::Hyper);
    let err = parse(&format!("{GOOD}runtime: {{ upstream_http1: fast }}\n")).unwrap_err();
    assert!(err.to_string().contains("upstream_http1"), "{err}");
}
