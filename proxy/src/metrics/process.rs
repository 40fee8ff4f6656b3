//! The build and the process: `sightline_build_info` and the standard `process_*` families
//! (read from `/proc/self` at each scrape; absent where there is no procfs).

use super::{escape, family};
use std::fmt::Write;
use std::time::SystemTime;

/// The version, the compiler and the commit this binary was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `rustc --version` at build time.
pub const RUSTC: &str = env!("SIGHTLINE_RUSTC_VERSION");
/// The git commit built, or `unknown` (a source archive).
pub const GIT_COMMIT: &str = env!("SIGHTLINE_GIT_COMMIT");

/// Appends `sightline_build_info` and the process families.
pub(super) fn render(out: &mut String, started: SystemTime) {
    family(
        out,
        "sightline_build_info",
        "gauge",
        "Always 1; the labels say which build is running.",
    );
    let _ = writeln!(
        out,
        "sightline_build_info{{version=\"{}\",rustc=\"{}\",git_commit=\"{}\"}} 1",
        escape(VERSION),
        escape(RUSTC),
        escape(GIT_COMMIT)
    );
    if let Some(start) = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
    {
        family(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
        );
        let _ = writeln!(out, "process_start_time_seconds {start:.3}");
    }
    if let Some(cpu) = cpu_seconds() {
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
        );
        let _ = writeln!(out, "process_cpu_seconds_total {cpu:.2}");
    }
    if let Some(rss) = resident_bytes() {
        family(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size, in bytes.",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        family(
            out,
            "process_open_fds",
            "gauge",
            "Open file descriptors (connections included).",
        );
        let _ = writeln!(out, "process_open_fds {}", fds.count());
    }
    if let Some(max) = max_fds() {
        family(
            out,
            "process_max_fds",
            "gauge",
            "The soft limit on open file descriptors.",
        );
        let _ = writeln!(out, "process_max_fds {max}");
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
