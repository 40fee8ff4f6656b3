//! Prometheus metrics, the bottom of the crate's layers: the text writer every `/metrics`
//! renderer writes through ([`Writer`]), the registry of labelled counters and gauges other
//! parts register at run time ([`Registry`]), and the build and process families
//! ([`process`]). It imports nothing else of the crate; each part of the proxy renders its
//! own families with the writer, and the admin listener assembles the page.

pub mod process;
pub mod registry;
mod writer;

pub use registry::Registry;
pub use writer::{Kind, LabelSet, Labels, Writer};
