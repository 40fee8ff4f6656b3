//! The command line: `run`, `check`, `config schema`, `proxy`, `demo`, `certs init`,
//! `baseline replay`, `baseline score`, `health`, `completions` and `man`.

use crate::config::Config;
use crate::runtime::{Sightline, StartError};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

pub use crate::errors::exit::{EXIT_CONFIG, EXIT_DATAERR, EXIT_RUNTIME, EXIT_USAGE};

/// The config file `run` and `check` read when neither `--config` nor `SIGHTLINE_CONFIG` names
/// one.
pub const DEFAULT_CONFIG: &str = "/etc/sightline/sightline.yaml";

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
        #[arg(long, short, env = "SIGHTLINE_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a config file offline (TLS files included) and exit.
    Check {
        /// The config file.
        #[arg(long, short, env = "SIGHTLINE_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print the effective config (defaults filled in, secrets masked).
        #[arg(long)]
        print: bool,
    },
    /// The config file format.
    Config {
        /// What to print.
        #[command(subcommand)]
        command: ConfigCommand,
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
        /// Worker threads (default: the CPUs this process may run on, its scheduler affinity).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        workers: Option<u16>,
        /// The HTTP/1.1 server of the listener (`runtime.http1`; default: native).
        #[arg(long, value_parser = ["native", "hyper"])]
        http1: Option<String>,
        /// The HTTP/1.1 client of upstream connections (`runtime.upstream_http1`; default:
        /// native).
        #[arg(long, value_parser = ["native", "hyper"])]
        upstream_http1: Option<String>,
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
    /// Print the shell completion script for bash, zsh or fish.
    ///
    /// For example `sightline completions bash > /etc/bash_completion.d/sightline`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    ///
    /// For example `sightline man > /usr/local/share/man/man1/sightline.1`.
    Man,
    /// Ask a running instance's admin listener for `/readyz`; exit 0 on 200, 1 otherwise (a
    /// container health check that needs no shell or curl).
    Health {
        /// The admin listener.
        #[arg(long, default_value = "127.0.0.1:9900", env = "SIGHTLINE_HEALTH_ADMIN")]
        admin: SocketAddr,
        /// The path to ask: `/readyz` (503 while draining) or `/healthz`.
        #[arg(long, default_value = "/readyz")]
        path: String,
    },
}

/// `sightline config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of the config file (for editor completion and validation).
    Schema,
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
    // Before any thread starts: taking the sockets clears LISTEN_FDS from the environment.
    if matches!(cli.command, Command::Run { .. } | Command::Proxy { .. }) {
        crate::runtime::inherit::from_env();
    }
    match cli.command {
        Command::Check { config, print } => match check(&config) {
            Ok(effective) => {
                if print {
                    println!("{}", effective.masked());
                }
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
            workers,
            http1,
            upstream_http1,
        } => match Config::quick(listen, &to, admin) {
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_USAGE)
            }
            Ok(mut c) => {
                c.recording.access_log = !no_access_log;
                if let Some(n) = workers {
                    c.runtime.workers = Some(usize::from(n));
                }
                c.runtime.http1 = match http1.as_deref() {
                    Some("hyper") => crate::config::Http1Server::Hyper,
                    Some(_) => crate::config::Http1Server::Native,
                    None => c.runtime.http1,
                };
                c.runtime.upstream_http1 = match upstream_http1.as_deref() {
                    Some("hyper") => crate::config::Http1Client::Hyper,
                    Some(_) => crate::config::Http1Client::Native,
                    None => c.runtime.upstream_http1,
                };
                serve(c, None)
            }
        },
        Command::Config {
            command: ConfigCommand::Schema,
        } => {
            println!("{}", crate::config::json_schema());
            ExitCode::SUCCESS
        }
        Command::Demo(args) => block_on(crate::config::available_cpus(), crate::demo::run(args)),
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
        } => block_on(1, async move {
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
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sightline", &mut script);
            print_bytes("completions", &script)
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => print_bytes("man", &page),
                Err(e) => {
                    eprintln!("man: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        Command::Health { admin, path } => match health(admin, &path) {
            Ok(()) => {
                println!("{admin}{path}: ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{admin}{path}: {e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        },
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
                    ExitCode::from(EXIT_DATAERR)
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
                    ExitCode::from(EXIT_DATAERR)
                }
            }
        }
    }
}

/// `check`: parse and build everything but sockets; returns the effective config.
fn check(path: &std::path::Path) -> Result<Config, crate::config::ConfigError> {
    let config = Config::load(path)?;
    let counters = std::sync::Arc::new(crate::record::Counters::default());
    let own = config.listen_addrs();
    crate::state::Active::build(config, &counters, 0, &own).map(|a| (*a.config).clone())
}

/// One plain HTTP/1.1 GET to the admin listener, three seconds at most per step; Ok on 200.
fn health(admin: SocketAddr, path: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    let patience = std::time::Duration::from_secs(3);
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the path must start with / and hold no spaces".to_owned());
    }
    let mut stream =
        std::net::TcpStream::connect_timeout(&admin, patience).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(patience))
        .and_then(|()| stream.set_write_timeout(Some(patience)))
        .and_then(|()| {
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
            )
        })
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < head.len() {
        match stream.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    let head = String::from_utf8_lossy(&head[..got]);
    let status = head.lines().next().unwrap_or_default();
    if status.starts_with("HTTP/1.1 200 ") || status == "HTTP/1.1 200" {
        Ok(())
    } else if status.is_empty() {
        Err("no answer".to_owned())
    } else {
        Err(status.escape_debug().to_string())
    }
}

/// Writes generated text to stdout; a closed pipe is an error, not a panic.
fn print_bytes(what: &str, bytes: &[u8]) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Runs `f` on a runtime with `workers` worker threads. One worker is a current-thread runtime:
/// the listeners, connections and background tasks all run on the thread that calls this, with
/// no hand-off between threads (cheaper per request than a one-worker multi-thread runtime).
fn block_on<F: std::future::Future<Output = ExitCode>>(workers: usize, f: F) -> ExitCode {
    let built = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    };
    match built {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn serve(config: Config, path: Option<PathBuf>) -> ExitCode {
    block_on(config.runtime.worker_count(), async move {
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
                let admin_tls = s.shared().active().admin_tls.is_some();
                let scheme = if admin_tls { "https" } else { "http" };
                println!("admin: {scheme}://{}", s.admin_addr());
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
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // The inbound call's ids are written into its lines only when a line is logged.
    use crate::trace::CallFormat;
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .map_event_format(CallFormat::json)
            .try_init(),
        LogFormat::Text => builder
            .map_event_format(|f| CallFormat::text(f.with_ansi(ansi), ansi))
            .try_init(),
    };
}
