//! The `sightline` binary as an operator runs it: exit codes, printed URLs, signals, reload on
//! file change, and the no-file modes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod http;
use http::get;

const BIN: &str = env!("CARGO_BIN_EXE_sightline");
const PATIENCE: Duration = Duration::from_secs(20);
/// Time from one of the demo's flash crowds to the next (as `sightline demo` prints it).
const CROWD_EVERY: Duration = Duration::from_secs(120);

/// How long the demo gets for each thing it is waited on for. A deadline, not a schedule: every
/// wait returns as soon as its condition holds, however busy the machine is. The flash crowd
/// begins 15 s after the demo starts and is seen a few 500 ms steps later when the machine is
/// idle; under load the demo starts, steps and answers later.
const DEMO_PATIENCE: Duration = Duration::from_secs(120);

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sightline-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_up_to(PATIENCE, what, f)
}

fn wait_up_to<T>(patience: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + patience;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `sightline` process with the addresses it printed.
struct Proc {
    child: Child,
    urls: std::collections::HashMap<String, SocketAddr>,
}

impl Proc {
    fn spawn(args: &[&str], expect: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .env("SIGHTLINE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut urls = std::collections::HashMap::new();
        // Starting can take long on a busy machine (the demo starts its services first).
        let end = Instant::now() + DEMO_PATIENCE;
        while !expect.iter().all(|k| urls.contains_key(*k)) {
            let left = end.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("the process printed its URLs");
            if let Some((k, v)) = line.split_once(": http://") {
                if let Ok(addr) = v.trim_end_matches('/').parse() {
                    urls.insert(k.to_owned(), addr);
                }
            }
        }
        Proc { child, urls }
    }

    fn addr(&self, name: &str) -> SocketAddr {
        self.urls[name]
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    fn wait_exit(&mut self) -> i32 {
        wait_up_to(DEMO_PATIENCE, "the process to exit", || {
            self.child.try_wait().unwrap()
        })
        .code()
        .unwrap_or(-1)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_text(extra_route: bool, dead: SocketAddr) -> String {
    let mut s = String::from(
        "version: 1\nadmin: { listen: 127.0.0.1:0 }\ninbound:\n  listen: 127.0.0.1:0\n  routes:\n    - { path_prefix: /dead, service: dead }\n",
    );
    if extra_route {
        s.push_str("    - { path_prefix: /new, service: dead }\n");
    }
    s.push_str(&format!(
        "services:\n  dead: {{ upstreams: [\"{dead}\"] }}\n"
    ));
    s
}

/// `sightline check --config PATH`, run to the end.
fn check_config(path: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(["check", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn check_accepts_the_example_and_names_file_line_and_key_otherwise() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sightline.yaml");
    let out = check_config(&example);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tmpdir("check");
    let bad = dir.join("bad.yaml");
    let mut text = std::fs::read_to_string(&example).unwrap();
    text.push_str("\nno_such_key_xyz: 1\n");
    let line = text.lines().count();
    std::fs::write(&bad, text).unwrap();
    let out = check_config(&bad);
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("bad.yaml:{line}")), "{err}");
    assert!(err.contains("no_such_key_xyz"), "{err}");

    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(78),
        "run must exit 78 (EX_CONFIG) on a bad config"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `sightline check` validates the fleet's back-end URLs (without connecting to them).
#[test]
fn check_validates_the_fleet_urls() {
    let dir = tmpdir("check-fleet");
    let path = dir.join("fleet.yaml");
    let fleet = |redis: &str, postgres: &str| {
        std::fs::write(
            &path,
            format!(
                "version: 1\nfleet:\n  instance: gw-1\n  redis: \"{redis}\"\n  postgres: \"{postgres}\"\n"
            ),
        )
        .unwrap();
        check_config(&path)
    };
    let out = fleet(
        "redis://127.0.0.1:1/0",
        "postgres://sightline@127.0.0.1:1/sightline",
    );
    assert!(
        out.status.success(),
        "valid URLs of back-ends that are not running pass: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = fleet("localhost:6379", "postgres://sightline@127.0.0.1/sightline");
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fleet.redis"));
    let out = fleet("redis://127.0.0.1/0", "mysql://db/sightline");
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fleet.postgres"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn run_reloads_on_sighup_and_on_file_change_and_drains_on_sigterm() {
    let dir = tmpdir("run");
    let path = dir.join("sightline.yaml");
    let dead = closed_port();
    std::fs::write(&path, config_text(false, dead)).unwrap();
    let mut p = Proc::spawn(
        &["run", "--config", path.to_str().unwrap()],
        &["admin", "inbound"],
    );
    let inbound = p.addr("inbound");
    assert_eq!(get(inbound, "/dead", "x").unwrap().0, 502);
    assert_eq!(get(inbound, "/new", "x").unwrap().0, 404);

    // A broken file is rejected; the old config keeps serving.
    std::fs::write(&path, "version: 1\ninbound: [\n").unwrap();
    p.signal("HUP");
    // The watcher may see the same change as SIGHUP: one or two rejections.
    wait_for("the rejected reload to be counted", || {
        let (_, m) = get(p.addr("admin"), "/metrics", &p.addr("admin").to_string())?;
        let n: u64 = m
            .lines()
            .find_map(|l| l.strip_prefix("sightline_config_reload_failures_total "))?
            .parse()
            .ok()?;
        (n >= 1).then_some(())
    });
    assert_eq!(get(inbound, "/dead", "x").unwrap().0, 502);

    // A good file is picked up by the watcher alone.
    std::fs::write(&path, config_text(true, dead)).unwrap();
    wait_for("the new route after the file changed", || {
        (get(inbound, "/new", "x")?.0 == 502).then_some(())
    });

    p.signal("TERM");
    assert_eq!(p.wait_exit(), 0);
    assert!(TcpStream::connect_timeout(&inbound, Duration::from_millis(500)).is_err());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn demo_prints_its_urls_serves_traffic_and_stops_on_sigterm() {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let admin = closed_port();
    let inbound = closed_port();
    let egress = closed_port();
    let mut p = Proc::spawn(
        &[
            "demo",
            "--admin",
            &admin.to_string(),
            "--inbound",
            &inbound.to_string(),
            "--egress",
            &egress.to_string(),
            "--rate",
            "50",
        ],
        &["admin", "inbound"],
    );
    assert_eq!(p.addr("admin"), admin);
    assert_eq!(p.addr("inbound"), inbound);
    wait_up_to(
        DEMO_PATIENCE,
        "the catalogue to answer through the proxy",
        || {
            let (status, _) = get(inbound, "/products/1", "shop.demo.internal")?;
            (status == 200).then_some(())
        },
    );
    wait_up_to(
        DEMO_PATIENCE,
        "the generator's calls to be recorded",
        || {
            let (_, body) = get(
                admin,
                "/api/calls?direction=inbound&limit=200",
                &admin.to_string(),
            )?;
            (body.matches("\"direction\":\"inbound\"").count() >= 20).then_some(())
        },
    );
    let (status, page) = get(admin, "/", &admin.to_string()).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<title>Sightline</title>"));
    // The demo's graph, exported for offline use.
    // Clients call the gateway, which calls the services, which call the datastore.
    let edges = [
        "\"internet\" -> \"service:gateway\"",
        "\"service:gateway\" -> \"service:catalog\"",
        "\"service:catalog\" -> \"service:shop-db\"",
        "\"service:orders\" -> \"service:payments\"",
    ];
    let dot = wait_up_to(DEMO_PATIENCE, "the demo's graph to have its tiers", || {
        let out = Command::new(BIN)
            .args([
                "graph",
                "export",
                "--format",
                "dot",
                "--window",
                "5m",
                "--admin",
                &admin.to_string(),
            ])
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && edges.iter().all(|e| text.contains(e))).then_some(text)
    });
    assert!(dot.starts_with("digraph sightline {"), "{dot}");
    // The demo's first sightings (each demo run has a store of its own, so they are this
    // run's), then its flash crowd as a rate spike on the gateway. The crowd comes back every
    // two minutes, so one missed on a machine too busy to send it at full rate is seen the next
    // time.
    let findings = || -> Option<Vec<serde_json::Value>> {
        let (_, body) = get(admin, "/api/anomalies", &admin.to_string())?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["anomalies"].as_array().cloned()
    };
    let has = |found: &[serde_json::Value], kind: &str, subject: &str| {
        found.iter().any(|f| {
            f["kind"] == kind
                && f["subject"].as_str().is_some_and(|s| s.contains(subject))
                && f["at"].as_u64().is_some_and(|at| at + 1 >= since)
        })
    };
    wait_up_to(DEMO_PATIENCE, "the demo's first sightings", || {
        let found = findings()?;
        (has(&found, "new_node", "service:catalog")
            && has(&found, "new_edge", "service:catalog")
            && has(&found, "new_endpoint", "GET /products"))
        .then_some(())
    });
    wait_up_to(
        CROWD_EVERY + DEMO_PATIENCE,
        "the demo's flash crowd as a rate spike",
        || has(&findings()?, "rate_spike", "GET /api/products").then_some(()),
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(), 0);
}

#[test]
fn proxy_mode_needs_no_file() {
    let admin = closed_port();
    let listen = closed_port();
    let dead = closed_port();
    let p = Proc::spawn(
        &[
            "proxy",
            "--listen",
            &listen.to_string(),
            "--to",
            &dead.to_string(),
            "--admin",
            &admin.to_string(),
            "--no-access-log",
        ],
        &["admin", "inbound"],
    );
    let (status, body) = get(p.addr("inbound"), "/anything", "x").unwrap();
    assert_eq!(status, 502);
    assert!(body.contains("upstream_connect_failed"), "{body}");
    let out = Command::new(BIN)
        .args(["proxy", "--to", "no-port"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn certs_init_writes_loadable_material() {
    let dir = tmpdir("certs");
    let out = Command::new(BIN)
        .args(["certs", "init", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "ca.pem",
        "ca-key.pem",
        "server.pem",
        "server-key.pem",
        "client.pem",
        "client-key.pem",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let cfg = dir.join("tls.yaml");
    std::fs::write(
        &cfg,
        "version: 1\ninbound:\n  tls: { cert: server.pem, key: server-key.pem, client_ca: ca.pem }\n",
    )
    .unwrap();
    let out = check_config(&cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn json_log_lines_logged_during_a_call_carry_its_trace_id() {
    let dir = tmpdir("logs");
    let path = dir.join("sightline.yaml");
    let dead = closed_port();
    let listen = closed_port();
    std::fs::write(
        &path,
        format!(
            "version: 1\nadmin: {{ listen: 127.0.0.1:0 }}\ninbound:\n  listen: {listen}\n  routes: [ {{ path_prefix: /, service: dead }} ]\nservices:\n  dead: {{ upstreams: [\"{dead}\"], ejection: {{ consecutive_failures: 1 }} }}\nrecording: {{ access_log: false }}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "--log", "warn", "run", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    wait_for("the inbound listener", || {
        TcpStream::connect_timeout(&listen, Duration::from_millis(100)).ok()
    });
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut s = TcpStream::connect(listen).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: x\r\ntraceparent: 00-{trace}-00f067aa0ba902b7-01\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 502"), "{reply}");
    let line = wait_for("the ejection warning", || {
        let line = rx.recv_timeout(Duration::from_millis(100)).ok()?;
        line.contains("upstream ejected").then_some(line)
    });
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["span"]["trace_id"], trace, "{line}");
    assert!(v["span"]["request_id"].is_string(), "{line}");
    let _ = child.kill();
    let _ = child.wait();
    std::fs::remove_dir_all(dir).ok();
}

fn sightline_stdout(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "sightline {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completion_completes_subcommands_and_flags() {
    let dir = tmpdir("completions");
    let script = dir.join("sightline.bash");
    std::fs::write(&script, sightline_stdout(&["completions", "bash"])).unwrap();
    // Load the script the way bash-completion does and ask it what `sightline pro<TAB>` and
    // `sightline proxy --li<TAB>` complete to.
    let complete = |words: &str| {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; \
             _sightline sightline \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash")
            .args(["--norc", "-c", &probe])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let subcommands = complete("sightline pro");
    assert_eq!(subcommands.trim(), "proxy", "{subcommands}");
    let flags = complete("sightline proxy --li");
    assert_eq!(flags.trim(), "--listen", "{flags}");
    std::fs::remove_dir_all(&dir).ok();

    let zsh = sightline_stdout(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef sightline"), "{zsh}");
    let fish = sightline_stdout(&["completions", "fish"]);
    assert!(fish.contains("complete -c sightline"), "{fish}");
    assert!(fish.contains("completions"), "{fish}");
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_page_is_roff_that_names_every_subcommand() {
    let page = sightline_stdout(&["man"]);
    assert!(page.contains(".TH sightline 1"), "{page}");
    // Rendered by man(1) itself where it is installed, as a reader would see it.
    let text = match Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .env_remove("MAN_KEEP_FORMATTING")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(mut man) => {
            man.stdin
                .take()
                .unwrap()
                .write_all(page.as_bytes())
                .unwrap();
            let out = man.wait_with_output().unwrap();
            assert!(out.status.success(), "man -l failed");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        Err(_) => page,
    };
    for sub in [
        "run",
        "check",
        "proxy",
        "demo",
        "certs",
        "completions",
        "man",
    ] {
        assert!(text.contains(sub), "man page lacks `{sub}`: {text}");
    }
    assert!(text.contains("SYNOPSIS"), "{text}");
}

#[test]
fn health_exits_0_while_ready_and_1_when_nothing_answers() {
    let admin = closed_port();
    let listen = closed_port();
    let p = Proc::spawn(
        &[
            "proxy",
            "--listen",
            &listen.to_string(),
            "--to",
            &closed_port().to_string(),
            "--admin",
            &admin.to_string(),
            "--no-access-log",
        ],
        &["admin", "inbound"],
    );
    let health = |addr: SocketAddr, path: &str| {
        Command::new(BIN)
            .args(["health", "--admin", &addr.to_string(), "--path", path])
            .output()
            .unwrap()
    };
    let ready = health(p.addr("admin"), "/readyz");
    assert_eq!(
        ready.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    // A path the admin listener answers with something else than 200.
    let missing = health(p.addr("admin"), "/no-such-path");
    assert_eq!(missing.status.code(), Some(1));
    drop(p);
    let gone = health(closed_port(), "/readyz");
    assert_eq!(gone.status.code(), Some(1));
    assert!(!gone.stderr.is_empty());
}

#[test]
fn check_reads_sightline_config_when_no_config_flag_is_given() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sightline.yaml");
    let out = Command::new(BIN)
        .arg("check")
        .env("SIGHTLINE_CONFIG", &example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sightline.yaml: ok"));

    // --config wins over the environment.
    let dir = tmpdir("envconfig");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "version: 1\nno_such_key: 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&bad)
        .env("SIGHTLINE_CONFIG", &example)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));

    // Neither: the default path, named in the error when it is missing.
    let out = Command::new(BIN)
        .arg("check")
        .env_remove("SIGHTLINE_CONFIG")
        .output()
        .unwrap();
    if !Path::new("/etc/sightline/sightline.yaml").exists() {
        assert_eq!(out.status.code(), Some(78));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("/etc/sightline/sightline.yaml"), "{err}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn secrets_come_from_files_and_check_print_masks_them() {
    let dir = tmpdir("secrets");
    let secrets = [
        ("admin-token", "admin-token-from-file-0123456789"),
        ("orders-token", "orders-egress-token-0123456789"),
        (
            "hook-url",
            "https://hooks.example/services/T000/B000/xyzzy-secret-path",
        ),
        ("hook-secret", "webhook-signing-secret-0123456789"),
    ];
    for (name, value) in secrets {
        std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
    }
    let cfg = dir.join("sightline.yaml");
    std::fs::write(
        &cfg,
        "version: 1\n\
         admin: { listen: 127.0.0.1:0, token_file: admin-token }\n\
         inbound: { listen: 127.0.0.1:0 }\n\
         egress:\n  listen: 127.0.0.1:0\n  credentials: [ { service: orders, token_file: orders-token } ]\n\
         alerts:\n  sinks: [ { type: webhook, url_file: hook-url, secret_file: hook-secret } ]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "--print", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (_, value) in secrets {
        assert!(!printed.contains(value), "secret printed: {printed}");
    }
    assert!(printed.contains("hooks.example"), "{printed}");
    assert!(
        printed.contains("drain_timeout"),
        "defaults are shown: {printed}"
    );
    assert!(printed.contains("***"), "{printed}");

    // Inline and from a file at once is an error naming the key.
    let both = dir.join("both.yaml");
    std::fs::write(
        &both,
        "version: 1\nadmin: { token: inline-token-0123456789, token_file: admin-token }\n",
    )
    .unwrap();
    let out = check_config(&both);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin.token_file"));

    // The server takes the token from its file.
    let p = Proc::spawn(&["run", "--config", cfg.to_str().unwrap()], &["admin"]);
    let status = |token: &str| {
        let mut s = TcpStream::connect(p.addr("admin")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        let _ = s.read_to_string(&mut r);
        r.get(9..12).unwrap_or("").to_owned()
    };
    assert_eq!(status(secrets[0].1), "200");
    assert_eq!(status("wrong-token"), "401");
    drop(p);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn config_schema_describes_every_section_and_rejects_unknown_keys() {
    let out = Command::new(BIN)
        .args(["config", "schema"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "version",
        "admin",
        "inbound",
        "services",
        "limits",
        "egress",
        "enclave",
        "clients",
        "telemetry",
        "alerts",
        "storage",
        "runtime",
    ] {
        assert!(props.contains_key(key), "{key} missing from the schema");
    }
    assert_eq!(schema["additionalProperties"], false);
    let admin = &schema["$defs"]["AdminFile"]["properties"];
    assert!(admin.get("token_file").is_some(), "{admin}");
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/sightline.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RestartPreventExitStatus=78",
        "StateDirectory=sightline",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    ] {
        assert!(text.lines().any(|l| l == line), "the unit lacks {line}");
    }
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED: systemd-analyze is not installed (scripts/test.sh installs systemd)");
        return;
    };
    assert!(version.status.success());
    // The unit as installed, with ExecStart pointing at this build so that every check applies.
    let dir = tmpdir("systemd");
    let copy = dir.join("sightline.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/sightline", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let said: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        // Without a running systemd (a container) it cannot reach the manager; not the unit's fault.
        .filter(|l| !l.contains("Failed to connect") && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(out.status.success() && said.is_empty(), "{said:#?}");
    let socket = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/sightline.socket");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&socket)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = said
        .lines()
        .filter(|l| !l.contains("Failed to connect") && !l.trim().is_empty())
        .collect();
    assert!(out.status.success() && said.is_empty(), "{said:#?}");
    std::fs::remove_dir_all(dir).ok();
}

/// Receives one notification datagram within the patience.
fn notification(sock: &std::os::unix::net::UnixDatagram) -> String {
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a notification");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn run_tells_systemd_ready_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tmpdir("notify");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let cfg = dir.join("sightline.yaml");
    std::fs::write(&cfg, config_text(false, closed_port())).unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &path)
        .env("SIGHTLINE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let ready = notification(&sock);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    // READY=1 comes once the listeners are bound: the admin listener answers now.
    let admin: SocketAddr = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("admin: http://")
                .and_then(|a| a.parse().ok())
        })
        .unwrap();
    assert_eq!(
        get(admin, "/healthz", &admin.to_string()).map(|r| r.0),
        Some(200)
    );

    let kill = |sig: &str| {
        assert!(Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    kill("HUP");
    let reloading = notification(&sock);
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading}");
    let usec = lines.next().and_then(|l| l.strip_prefix("MONOTONIC_USEC="));
    assert!(
        usec.is_some_and(|u| u.parse::<u64>().is_ok()),
        "{reloading}"
    );
    let ready = notification(&sock);
    assert!(ready.starts_with("READY=1"), "{ready}");

    kill("TERM");
    let stopping = notification(&sock);
    assert!(stopping.starts_with("STOPPING=1"), "{stopping}");
    let status = wait_for("the process to exit", || child.try_wait().unwrap());
    assert_eq!(status.code(), Some(0));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn proxy_mode_notifies_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::UnixDatagram;
    let name = format!("sightline-cli-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    let listen = closed_port();
    let admin = closed_port();
    let mut child = Command::new(BIN)
        .args([
            "proxy",
            "--listen",
            &listen.to_string(),
            "--admin",
            &admin.to_string(),
        ])
        .args(["--to", &closed_port().to_string(), "--no-access-log"])
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .env("SIGHTLINE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let ready = notification(&sock);
    assert!(ready.starts_with("READY=1"), "{ready}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A keep-alive HTTP/1.1 upstream on loopback answering every request `200 ok`.
fn ok_upstream() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .is_err()
                        {
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

/// What one load client saw: requests answered, and each failure (refused connection, a
/// request without a whole response, a status other than 200).
#[derive(Debug, Default)]
struct LoadRun {
    answered: usize,
    failures: Vec<String>,
}

/// Sends requests on a kept-alive connection (a new one after `Connection: close`) until `stop`
/// or `max` requests.
fn load_client(addr: SocketAddr, stop: &std::sync::atomic::AtomicBool, max: usize) -> LoadRun {
    use std::sync::atomic::Ordering::Relaxed;
    let mut run = LoadRun::default();
    let mut conn: Option<(TcpStream, Vec<u8>)> = None;
    let mut chunk = [0u8; 4096];
    'requests: while !stop.load(Relaxed) && run.answered + run.failures.len() < max {
        let (s, buf) = match &mut conn {
            Some(c) => c,
            None => match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    conn.insert((s, Vec::new()))
                }
                Err(e) => {
                    run.failures.push(format!("connect: {e}"));
                    continue;
                }
            },
        };
        if let Err(e) = s.write_all(b"GET /load HTTP/1.1\r\nHost: app\r\n\r\n") {
            run.failures.push(format!("write: {e}"));
            conn = None;
            continue;
        }
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    buf.drain(..end + 4 + len);
                    if head.starts_with("http/1.1 200") {
                        run.answered += 1;
                    } else {
                        run.failures
                            .push(head.lines().next().unwrap_or("").to_owned());
                    }
                    if head
                        .lines()
                        .any(|l| l.starts_with("connection:") && l.contains("close"))
                    {
                        conn = None;
                    }
                    continue 'requests;
                }
            }
            match s.read(&mut chunk) {
                Ok(0) => {
                    run.failures.push("closed without a response".into());
                    conn = None;
                    continue 'requests;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    run.failures.push(format!("read: {e}"));
                    conn = None;
                    continue 'requests;
                }
            }
        }
    }
    run
}

#[test]
fn sigusr2_upgrades_to_a_new_process_under_load_without_a_failed_request() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;
    let up = ok_upstream();
    let listen = closed_port();
    let admin = closed_port();
    let mut old = Command::new(BIN)
        .args([
            "proxy",
            "--listen",
            &listen.to_string(),
            "--admin",
            &admin.to_string(),
        ])
        .args(["--to", &up.to_string(), "--no-access-log"])
        .env("SIGHTLINE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = old.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    wait_for("the proxy to serve", || {
        get(listen, "/", "app").filter(|r| r.0 == 200)
    });

    // Bounded load: 4 kept-alive clients, at most 20,000 requests each.
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, progress) = (stop.clone(), progress.clone());
            std::thread::spawn(move || {
                let run = load_client(listen, &stop, 20_000);
                progress.fetch_add(run.answered, Relaxed);
                run
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let kill = |sig: &str, pid: u32| {
        assert!(Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    kill("USR2", old.id());
    let successor: u32 = wait_for("the successor's pid", || {
        rx.recv_timeout(Duration::from_millis(100))
            .ok()?
            .strip_prefix("upgraded: successor pid ")?
            .parse()
            .ok()
    });
    // Stopped whatever happens below.
    struct Successor(u32);
    impl Drop for Successor {
        fn drop(&mut self) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }
    let _successor = Successor(successor);
    let status = wait_for("the old process to drain and exit", || {
        old.try_wait().unwrap()
    });
    // Keep the load on the successor alone for a moment, then stop it.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Relaxed);
    let runs: Vec<LoadRun> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let served_by_new = get(listen, "/", "app").map(|r| r.0);
    assert_eq!(status.code(), Some(0));
    let failures: Vec<&String> = runs.iter().flat_map(|r| &r.failures).collect();
    let answered: usize = runs.iter().map(|r| r.answered).sum();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:?}",
        failures.len(),
        answered + failures.len()
    );
    eprintln!("{answered} requests across the upgrade, none failed");
    assert!(answered > 0);
    assert_eq!(served_by_new, Some(200), "the successor does not serve");
}

#[test]
fn systemd_socket_activation_hands_over_the_listeners() {
    if Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED: systemd-socket-activate is not installed (scripts/test.sh installs systemd)"
        );
        return;
    }
    let up = ok_upstream();
    let listen = closed_port();
    let admin = closed_port();
    // The activator holds both sockets and starts Sightline on the first connection, with
    // LISTEN_FDS and LISTEN_PID: binding them itself would fail (they are taken).
    let mut child = Command::new("systemd-socket-activate")
        .args(["-l", &listen.to_string(), "-l", &admin.to_string(), BIN])
        .args([
            "proxy",
            "--listen",
            &listen.to_string(),
            "--admin",
            &admin.to_string(),
        ])
        .args(["--to", &up.to_string(), "--no-access-log"])
        .env("SIGHTLINE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let first = wait_for("the activator to listen", || {
        TcpStream::connect(listen).ok()
    });
    drop(first);
    let served = wait_for("a request through the activated proxy", || {
        get(listen, "/", "app").filter(|r| r.0 == 200)
    });
    assert_eq!(served.0, 200);
    assert_eq!(
        get(admin, "/healthz", &admin.to_string()).map(|r| r.0),
        Some(200)
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn one_worker_serves_concurrent_clients_through_the_listener() {
    let upstream = ok_upstream();
    let (admin, listen) = (closed_port(), closed_port());
    let p = Proc::spawn(
        &[
            "proxy",
            "--workers",
            "1",
            "--listen",
            &listen.to_string(),
            "--to",
            &upstream.to_string(),
            "--admin",
            &admin.to_string(),
            "--no-access-log",
        ],
        &["admin", "inbound"],
    );
    let inbound = p.addr("inbound");
    // Four clients at once: one worker thread must interleave them (and the recorder and the
    // admin listener) without any of them waiting on another thread.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| get(inbound, &format!("/w/{i}"), "bench"))
                    .filter(|r| matches!(r, Some((200, body)) if body == "ok"))
                    .count()
            })
        })
        .collect();
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(
        answered, 40,
        "every request answered 200 ok by the upstream"
    );
    let counted = wait_for("the 40 calls to be counted", || {
        let admin = p.addr("admin");
        let (status, body) = get(admin, "/metrics", &admin.to_string())?;
        let total: f64 = body
            .lines()
            .filter(|l| l.starts_with("sightline_requests_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        (status == 200 && total >= 40.0).then_some(total)
    });
    assert_eq!(counted, 40.0);

    let out = Command::new(BIN)
        .args(["proxy", "--workers", "0", "--to", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--workers 0 is a usage error");
}

#[test]
fn check_rejects_zero_runtime_workers_naming_file_and_line() {
    let dir = tmpdir("workers");
    let path = dir.join("workers.yaml");
    let mut text = config_text(false, closed_port());
    text.push_str("runtime:\n  workers: 0\n");
    let line = text.lines().count();
    std::fs::write(&path, &text).unwrap();
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("workers.yaml:{line}")), "{err}");
    assert!(err.contains("runtime.workers"), "{err}");

    let ok = text.replace("workers: 0", "workers: 2");
    std::fs::write(&path, ok).unwrap();
    let out = check_config(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir).ok();
}
