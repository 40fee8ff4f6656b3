//! The command line: `run`, `check`, `proxy`, `demo`, `certs init`, `baseline replay` and
//! `baseline score`.

use crate::config::Config;
use crate::runtime::{Sightline, StartError};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status for an invalid config (EX_USAGE); malformed command lines exit 2.
pub const EXIT_CONFIG: u8 = 64;
/// Exit status when a listener cannot bind or the runtime fails.
pub const EXIT_RUNTIME: u8 = 1;

/// Sightline: a proxy that records every API call and maps who calls whom.
#[derive(Debug, Parser)]
#[command(name = "sightline", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SIGHTLINE_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter (`info`, `warn`, `sightline=debug`, ...). RUST_LOG also works.
    #[arg(long, global = true, env = "SIGHTLINE_LOG")]
    pub log: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve with a config file; reloads on SIGHUP and when the file changes.
    Run {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file offline (TLS files included) and exit.
    Check {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Proxy every request to one upstream with the default policy; no config file.
    Proxy {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The upstream, `host:port`.
        #[arg(long)]
        to: String,
        /// The admin listener.
        #[arg(long, default_value = "127.0.0.1:9900")]
        admin: SocketAddr,
        /// Do not write an access-log line per call.
        #[arg(long)]
        no_access_log: bool,
    },
    /// Start demo services, the proxy in front of them and a traffic generator.
    Demo(crate::demo::DemoArgs),
    /// TLS material.
    Certs {
        /// What to do with certificates.
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// The call graph.
    Graph {
        /// What to do with the graph.
        #[command(subcommand)]
        command: GraphCommand,
    },
    /// Baselines and anomaly detection, offline.
    Baseline {
        /// What to do with baselines.
        #[command(subcommand)]
        command: BaselineCommand,
    },
}

/// `sightline baseline …`.
#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Run the detector over a `timestamp,value` CSV; print one JSON line per anomaly.
    Replay(crate::analysis::replay::ReplayArgs),
    /// Run the detector over every CSV under a directory and score it against labelled windows
    /// (NAB's standard, reward-low-FP and reward-low-FN profiles); print a table per folder.
    Score(crate::analysis::replay::score::ScoreArgs),
}

/// `sightline graph …`.
#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// Print the graph of a running instance as DOT or JSON.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::export::Format::Dot)]
        format: crate::export::Format,
        /// The instance's admin listener.
        #[arg(long, default_value = "127.0.0.1:9900")]
        admin: SocketAddr,
        /// Window: 1m, 5m, 1h or 24h.
        #[arg(long, default_value = "24h")]
        window: String,
        /// Admin bearer token, when the instance requires one.
        #[arg(long, env = "SIGHTLINE_ADMIN_TOKEN")]
        token: Option<String>,
    },
}

/// `sightline certs …`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Write a development CA, a server certificate and a client certificate as PEM files.
    Init {
        /// Folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Names for the server certificate (DNS names or IPs).
        #[arg(long = "name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])]
        names: Vec<String>,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format, cli.log.as_deref());
    match cli.command {
        Command::Check { config } => match check(&config) {
            Ok(()) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Run { config } => match Config::load(&config) {
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
            Ok(c) => serve(c, Some(config)),
        },
        Command::Proxy {
            listen,
            to,
            admin,
            no_access_log,
        } => match Config::quick(listen, &to, admin) {
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
            Ok(mut c) => {
                c.recording.access_log = !no_access_log;
                serve(c, None)
            }
        },
        Command::Demo(args) => block_on(crate::demo::run(args)),
        Command::Certs {
            command: CertsCommand::Init { out, names },
        } => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            match sightline_certs::DevMaterial::write(&out, &names) {
                Ok(m) => {
                    println!("ca: {}", m.ca.display());
                    println!("server certificate: {}", m.server_cert.display());
                    println!("server key: {}", m.server_key.display());
                    println!("client certificate: {}", m.client_cert.display());
                    println!("client key: {}", m.client_key.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("certs init: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        Command::Graph {
            command:
                GraphCommand::Export {
                    format,
                    admin,
                    window,
                    token,
                },
        } => block_on(async move {
            match crate::export::export(admin, &window, token.as_deref(), format).await {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("graph export: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }),
        Command::Baseline {
            command: BaselineCommand::Replay(args),
        } => {
            use crate::analysis::replay::{run, ReplayError};
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match run(&args.csv, &args.config(), &mut out) {
                Ok(stats) => {
                    eprintln!(
                        "{}: {} rows, step {} min, learning {} steps, persistence {} steps, {} anomalies",
                        args.csv.display(),
                        stats.rows,
                        stats.step_minutes,
                        stats.learning_steps,
                        stats.persistence_steps,
                        stats.anomalies
                    );
                    ExitCode::SUCCESS
                }
                Err(e @ ReplayError::Write(_)) => {
                    eprintln!("baseline replay: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
                Err(e) => {
                    eprintln!("baseline replay: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
        Command::Baseline {
            command: BaselineCommand::Score(args),
        } => {
            use crate::analysis::replay::score::{run, ScoreError};
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match run(&args, &mut out) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e @ ScoreError::Write(_)) => {
                    eprintln!("baseline score: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
                Err(e) => {
                    eprintln!("baseline score: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
    }
}

/// `check`: parse and build everything but sockets.
fn check(path: &std::path::Path) -> Result<(), crate::config::ConfigError> {
    let config = Config::load(path)?;
    let counters = std::sync::Arc::new(crate::record::Counters::default());
    let own = config.listen_addrs();
    crate::runtime::Active::build(config, &counters, 0, &own).map(|_| ())
}

fn block_on<F: std::future::Future<Output = ExitCode>>(f: F) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn serve(config: Config, path: Option<PathBuf>) -> ExitCode {
    block_on(async move {
        match Sightline::start(config, path).await {
            Err(StartError::Config(e)) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_RUNTIME)
            }
            Ok(s) => {
                println!("admin: http://{}", s.admin_addr());
                println!("inbound: http://{}", s.inbound_addr());
                if let Some(e) = s.egress_addr() {
                    let tls = s
                        .shared()
                        .active()
                        .egress
                        .as_ref()
                        .is_some_and(|e| e.tls.is_some());
                    println!("egress: {}://{e}", if tls { "https" } else { "http" });
                }
                match crate::lifecycle::run_until_stopped(s).await {
                    Ok(_) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("signal handling failed: {e}");
                        ExitCode::from(EXIT_RUNTIME)
                    }
                }
            }
        }
    })
}

/// Logs to stderr, text or JSON, filtered by `--log`, else RUST_LOG, else `info`.
pub fn init_tracing(format: LogFormat, filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // Colours only for a terminal: a log file or collector gets plain text, and the escape
    // codes around every span field cost more than the rest of the call's log span.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
