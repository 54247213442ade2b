//! The one error shape every inbound wire parser reports.

use std::fmt;

/// A rejected input: which field and why.
///
/// `field` is a JSON path into the request body such as `payload.severity`,
/// `[3].labels` or `alerts[0].startsAt`; problems with the body as a whole
/// (not UTF-8, not JSON, too large, nested too deeply) use `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    /// `field: message`, e.g. `payload.severity: must be one of critical, error, warning, info`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_field_then_message() {
        let e = FieldError::new("payload.summary", "is required");
        assert_eq!(e.to_string(), "payload.summary: is required");
    }
}
