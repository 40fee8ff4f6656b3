//! `sightline demo`: a few small services on loopback, the proxy in front of them with a
//! built-in config, and a traffic generator, all in one process.

mod abuse;
mod alerts;
mod calls;
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

/// The payments service's egress credentials, as it sends them.
const PAYMENTS_CREDENTIALS: &str = "Basic cGF5bWVudHM6ZGVtby1wYXltZW50cy10b2tlbi0wMDAx";

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
    - {{ path_prefix: /api, service: gateway }}
    - {{ path_prefix: /products, service: catalog }}
    - {{ path_prefix: /orders, service: orders }}
    - {{ path_prefix: /payments, service: payments }}
    - {{ path_prefix: /users, service: users }}
    - {{ path_prefix: /shop-db, service: shop-db }}
services:
  gateway: {{ upstreams: [\"{gateway}\"] }}
  catalog: {{ upstreams: [\"{catalog}\"] }}
  orders: {{ upstreams: [\"{orders}\"], protocol: http2 }}
  payments: {{ upstreams: [\"{payments}\"] }}
  users: {{ upstreams: [\"{users}\", \"{users2}\"] }}
  shop-db: {{ upstreams: [\"{store}\"] }}
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
  path: \"{data}\"
  retention: 1h
egress:
  listen: \"{egress}\"
  inspect:
    ca: {{ cert: \"{inspection_ca}\", key: \"{inspection_key}\" }}
    hosts: [api.payments-provider.example]
    upstream_ca: \"{partner_ca}\"
  credentials: [ {{ service: payments, token: demo-payments-token-0001 }} ]
  sources:
    - {{ cidr: 127.0.0.40/32, service: gateway }}
    - {{ cidr: 127.0.0.41/32, service: orders }}
    - {{ cidr: 127.0.0.42/32, service: catalog }}
    - {{ cidr: 127.0.0.43/32, service: payments }}
dns:
  hosts:
    api.payments-provider.example: [\"{provider_ip}\"]
    api.shipping-partner.example: [\"{shipping_ip}\"]
    telemetry.shadow-saas.example: [127.0.0.3]
enclave:
  mode: enforce
  rules:
    - {{ service: payments, hosts: [api.payments-provider.example], cidrs: [\"{provider_ip}/32\"], ports: [{provider_port}] }}
    - {{ service: orders, hosts: [api.shipping-partner.example], cidrs: [\"{shipping_ip}/32\"], ports: [{shipping_port}] }}
clients:
  api_key_header: x-api-key
  trusted_proxies: [127.0.0.40/32]
  rate:
    per_client: 10/m
    burst: 60
    routes: [ {{ route: \"POST /api/users/login\", rate: 10/m, burst: 10 }} ]
  allow_lists: [\"{allow}\"]
  logins:
    - {{ route: \"POST /api/users/login\", failures: 5, within: 1m, ban: 2m, escalation: 2 }}
  scanning: {{ distinct_paths: 10, within: 1m, ban: 5m }}
{alerts}",
        step = incident::STEP,
        learning = incident::LEARNING,
        persistence = incident::PERSISTENCE,
        min_rate = incident::MIN_RATE,
        egress = args.egress,
        alerts = alerts::section(args.webhook.as_deref()),
        data = data_dir().display(),
        allow = allow.display(),
        inspection_ca = s.tls.inspection_ca.0.display(),
        inspection_key = s.tls.inspection_ca.1.display(),
        partner_ca = s.tls.partner_ca.display(),
        provider_ip = s.provider.ip(),
        provider_port = s.provider.port(),
        shipping_ip = s.shipping.ip(),
        shipping_port = s.shipping.port(),
        gateway = s.gateway,
        store = s.store,
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
            return ExitCode::from(crate::errors::exit::EXIT_RUNTIME);
        }
    };
    let config = match config(&args, &services) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(crate::errors::exit::EXIT_CONFIG);
        }
    };
    let sightline = match Sightline::start(config, None).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(crate::errors::exit::EXIT_RUNTIME);
        }
    };
    services.link(sightline.inbound_addr(), sightline.egress_addr());
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
            generators.push(tokio::spawn(traffic::egress(e, (args.rate / 10).max(1))));
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
            ExitCode::from(crate::errors::exit::EXIT_RUNTIME)
        }
    }
}
