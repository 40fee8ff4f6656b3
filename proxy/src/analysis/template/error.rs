//! Errors from declaring templates and importing OpenAPI documents.

/// A declared template or an OpenAPI document that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A template that does not parse.
    #[error("route template {template:?}: {reason}")]
    InvalidTemplate {
        /// The template as written.
        template: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A document that does not parse, or is not an OpenAPI 3 (or Swagger 2) document.
    #[error("{format} document: {detail}")]
    OpenApi {
        /// `JSON`, `YAML` or `OpenAPI` (the document parsed but its content is wrong).
        format: &'static str,
        /// The problem, with the key path and line where known.
        detail: String,
    },
}
