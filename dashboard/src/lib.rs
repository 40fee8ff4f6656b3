//! Sightline's admin HTTP surface: `/healthz`, `/readyz`, `/metrics`, the JSON API under `/api/`
//! and the embedded web UI.
//!
//! The proxy hands each admin request to [`handle`] together with something that implements
//! [`AdminState`]; this crate never reaches into proxy internals. Every asset is compiled into
//! the binary.
#![forbid(unsafe_code)]

mod api;
mod assets;
mod auth;
pub mod layout;
mod openapi;
mod state;
pub mod views;

pub use api::{handle, refuse_before_body, MAX_BODY};
pub use auth::{AdminAuth, Sessions, DEFAULT_SESSION_LIFETIME, MAX_SESSIONS};
pub use state::{AdminState, AlertAction, AlertFilter, CallQuery, SilenceRequest};
pub use views::{CallPage, CallView, Readiness};
