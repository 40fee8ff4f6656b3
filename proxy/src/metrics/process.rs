//! The build and the process: `sightline_build_info` and the standard `process_*` families
//! (read from `/proc/self` at each scrape; absent where there is no procfs).

use super::{Kind, Writer};
use std::time::SystemTime;

/// The version, the compiler and the commit this binary was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `rustc --version` at build time.
pub const RUSTC: &str = env!("SIGHTLINE_RUSTC_VERSION");
/// The git commit built, or `unknown` (a source archive).
pub const GIT_COMMIT: &str = env!("SIGHTLINE_GIT_COMMIT");

/// Writes `sightline_build_info` and the process families of a process started at `started`.
pub fn render(w: &mut Writer, started: SystemTime) {
    w.family(
        "sightline_build_info",
        Kind::Gauge,
        "Always 1; the labels say which build is running.",
    )
    .sample(
        "sightline_build_info",
        &[
            ("version", VERSION),
            ("rustc", RUSTC),
            ("git_commit", GIT_COMMIT),
        ],
        1,
    );
    if let Some(start) = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
    {
        w.single(
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since the Unix epoch, in seconds.",
            format_args!("{start:.3}"),
        );
    }
    if let Some(cpu) = cpu_seconds() {
        w.single(
            "process_cpu_seconds_total",
            Kind::Counter,
            "User and system CPU time spent, in seconds.",
            format_args!("{cpu:.2}"),
        );
    }
    if let Some(rss) = resident_bytes() {
        w.single(
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory size, in bytes.",
            rss,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        w.single(
            "process_open_fds",
            Kind::Gauge,
            "Open file descriptors (connections included).",
            fds.count(),
        );
    }
    if let Some(max) = max_fds() {
        w.single(
            "process_max_fds",
            Kind::Gauge,
            "The soft limit on open file descriptors.",
            max,
        );
    }
}

/// utime + stime from `/proc/self/stat`, in seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line; `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

/// VmRSS from `/proc/self/status`, in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The soft `Max open files` limit from `/proc/self/limits`.
fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_process_figures_from_procfs() {
        assert!(super::cpu_seconds().is_some());
        assert!(super::resident_bytes().is_some_and(|b| b > 0));
        assert!(super::max_fds().is_some_and(|m| m > 0));
    }
}
