//! Typed domain errors. Adapters map them to their own status codes.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A value broke a domain rule; `field` names the offending input.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The requested state change is not allowed from the current state.
    #[error("cannot {action} an incident that is {from}")]
    InvalidTransition { action: &'static str, from: &'static str },
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Invalid { field: field.into(), message: message.into() }
    }
}
