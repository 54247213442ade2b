//! What an action can fail with, in terms every adapter can map: the HTTP
//! API to a status code, the web pages to a message, chat to a reply.

use tocsin_core::CoreError;
use tocsin_core::access::Denied;
use tocsin_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid credential: missing, unknown, revoked or expired.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Too many failed logins for this account or address; nothing was
    /// checked. Try again after `retry_after`.
    #[error("too many failed logins; try again in {} s", retry_after.as_secs().max(1))]
    Throttled { retry_after: std::time::Duration },
    #[error(transparent)]
    Forbidden(#[from] Denied),
    /// The named thing does not exist (or the caller may not know it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An input broke a rule; `field` names it as the caller spelled it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The state does not allow it (acknowledging a resolved incident).
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{0}")]
    Conflict(String),
    /// A config file that does not validate; nothing was changed.
    #[error("the config does not validate:\n{0}")]
    InvalidConfig(tocsin_config::ConfigErrors),
    /// Storage failed; retrying later may work.
    #[error("storage is unavailable: {0}")]
    Unavailable(StoreError),
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid { field: field.into(), message: message.into() }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AppError::NotFound("resource"),
            StoreError::Domain(CoreError::Invalid { field, message }) => AppError::Invalid { field, message },
            StoreError::Domain(e @ CoreError::InvalidTransition { .. }) => AppError::InvalidTransition(e.to_string()),
            StoreError::Conflict(message) => AppError::Conflict(message),
            other => AppError::Unavailable(other),
        }
    }
}

/// Maps the store's bare "not found" to the thing the caller asked for.
pub(crate) fn or_not_found(what: &'static str) -> impl Fn(StoreError) -> AppError {
    move |err| match err {
        StoreError::NotFound => AppError::NotFound(what),
        other => other.into(),
    }
}
