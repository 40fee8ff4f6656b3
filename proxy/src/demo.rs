//! `sightline demo`: a few small services on loopback, the proxy in front of them with a
//! built-in config, and a traffic generator, all in one process.

mod abuse;
mod alerts;
mod incident;
mod services;
mod traffic;

use crate::config::Config;
use crate::runtime::Sightline;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

/// Flags of `sightline demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Admin listener (API, metrics, dashboard).
    #[arg(long, default_value = "127.0.0.1:9900")]
    pub admin: SocketAddr,
    /// Inbound listener in front of the demo services.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub inbound: SocketAddr,
    /// Egress listener (forward proxy and CONNECT) for the demo services' outbound calls.
    #[arg(long, default_value = "127.0.0.1:3128")]
    pub egress: SocketAddr,
    /// Requests per second from the traffic generator (0 turns it off).
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    /// Also post every alert to this webhook URL (JSON, as the webhook sink sends it).
    #[arg(long)]
    pub webhook: Option<String>,
}

/// The demo's config, for the services listening at `ports`.
pub fn config(
    args: &DemoArgs,
    s: &services::DemoServices,
) -> Result<Config, crate::config::ConfigError> {
    let allow = abuse::write_allow_list();
    let text = format!(
        "version: 1
admin: {{ listen: \"{admin}\" }}
inbound:
  listen: \"{inbound}\"
  routes:
    - {{ path_prefix: /products, service: catalog }}
    - {{ path_prefix: /orders, service: orders }}
    - {{ path_prefix: /payments, service: payments }}
    - {{ path_prefix: /users, service: users }}
services:
  catalog: {{ upstreams: [\"{catalog}\"] }}
  orders: {{ upstreams: [\"{orders}\"], protocol: http2 }}
  payments: {{ upstreams: [\"{payments}\"] }}
  users: {{ upstreams: [\"{users}\", \"{users2}\"] }}
limits:
  request_timeout: 5s
recording:
  access_log: false
analysis:
  step: {step}
  learning: {learning}
  persistence: {persistence}
  min_rate: {min_rate}
storage:
  path: \"{store}\"
  retention: 1h
egress:
  listen: \"{egress}\"
  credentials: [ {{ service: payments, token: demo-payments-token-0001 }} ]
  sources: [ {{ cidr: 127.0.0.1/32, service: orders }} ]
dns:
  hosts:
    api.payments-provider.example: [\"{provider_ip}\"]
    telemetry.shadow-saas.example: [127.0.0.3]
enclave:
  mode: enforce
  rules:
    - {{ service: payments, hosts: [api.payments-provider.example], cidrs: [\"{provider_ip}/32\"], ports: [{provider_port}] }}
clients:
  api_key_header: x-api-key
  rate: {{ per_client: 10/m, burst: 60 }}
  allow_lists: [\"{allow}\"]
  logins:
    - {{ route: \"POST /users/login\", failures: 5, within: 1m, ban: 2m, escalation: 2 }}
  scanning: {{ distinct_paths: 10, within: 1m, ban: 5m }}
{alerts}",
        step = incident::STEP,
        learning = incident::LEARNING,
        persistence = incident::PERSISTENCE,
        min_rate = incident::MIN_RATE,
        egress = args.egress,
        alerts = alerts::section(args.webhook.as_deref()),
        store = data_dir().display(),
        allow = allow.display(),
        provider_ip = s.provider.ip(),
        provider_port = s.provider.port(),
        admin = args.admin,
        inbound = args.inbound,
        catalog = s.catalog,
        orders = s.orders,
        payments = s.payments,
        users = s.users[0],
        users2 = s.users[1],
    );
    Config::parse(&text, "demo", Path::new("."))
}

/// Where this demo run keeps its store and allow list: a folder of its own, so every run
/// starts from an empty graph, no bans and no findings, whatever ran before on the machine.
/// Removed when the demo stops.
pub fn data_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sightline-demo-{}", std::process::id()))
}

/// Runs the demo until SIGTERM or SIGINT.
pub async fn run(args: DemoArgs) -> ExitCode {
    let services = match services::start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo services: {e}");
            return ExitCode::from(crate::cli::EXIT_RUNTIME);
        }
    };
    let config = match config(&args, &services) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(crate::cli::EXIT_CONFIG);
        }
    };
    let sightline = match Sightline::start(config, None).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(crate::cli::EXIT_RUNTIME);
        }
    };
    println!("admin: http://{}", sightline.admin_addr());
    println!("inbound: http://{}", sightline.inbound_addr());
    if let Some(e) = sightline.egress_addr() {
        println!("egress: http://{e}");
    }
    println!("dashboard: http://{}/", sightline.admin_addr());
    println!("note: a brute-force client (127.0.0.20) and a scanner (127.0.0.21) are banned by the client guard: see /api/bans");
    println!("{}", incident::note());
    let mut generators = Vec::new();
    if args.rate > 0 {
        generators.push(tokio::spawn(traffic::generate(
            sightline.inbound_addr(),
            args.rate,
        )));
        generators.push(tokio::spawn(abuse::brute_force(sightline.inbound_addr())));
        generators.push(tokio::spawn(abuse::scanner(sightline.inbound_addr())));
        generators.push(tokio::spawn(incident::flash_crowds(
            sightline.inbound_addr(),
            args.rate * 2,
        )));
        if let Some(e) = sightline.egress_addr() {
            generators.push(tokio::spawn(traffic::egress(
                e,
                services.provider,
                (args.rate / 5).max(1),
            )));
        }
    }
    let result = crate::lifecycle::run_until_stopped(sightline).await;
    for g in generators {
        g.abort();
    }
    services.stop();
    if let Err(e) = std::fs::remove_dir_all(data_dir()) {
        tracing::debug!(error = %e, "demo data folder not removed");
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signal handling failed: {e}");
            ExitCode::from(crate::cli::EXIT_RUNTIME)
        }
    }
}
