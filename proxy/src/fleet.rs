//! Fleet mode: several instances sharing state through Redis and PostgreSQL.

pub mod postgres;
