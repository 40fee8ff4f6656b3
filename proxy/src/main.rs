//! The `sightline` binary: parse the command line and run it.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sightline::cli::main()
}
