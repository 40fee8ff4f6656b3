//! The `sightline` binary: parse the command line and run it.
#![forbid(unsafe_code)]

// jemalloc: fewer instructions per request than glibc's malloc at the same resident memory,
// at start and with thousands of idle connections (docs/BENCHMARKS.md, "Allocator and
// hashing"). The library leaves the choice to the binary; `--no-default-features` builds it
// with the C library's malloc.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    sightline::cli::main()
}
