//! The process exit statuses the commands end with (sysexits where one fits).

/// An invalid config file (sysexits EX_CONFIG); malformed command lines exit 2.
pub const EXIT_CONFIG: u8 = 78;
/// A command-line value that does not make a config, such as `proxy --to` without a port
/// (sysexits EX_USAGE).
pub const EXIT_USAGE: u8 = 64;
/// Bad input data, such as an unreadable CSV row (sysexits EX_DATAERR).
pub const EXIT_DATAERR: u8 = 65;
/// A listener cannot bind or the runtime fails.
pub const EXIT_RUNTIME: u8 = 1;
