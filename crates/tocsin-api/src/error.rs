//! The error envelope.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error answer from `/api/v1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`, `field`) and people (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: `validation_failed`, `unauthenticated`, `forbidden`,
    /// `not_found`, `invalid_transition`, `conflict`, `payload_too_large`,
    /// `unavailable` or `internal`.
    pub code: String,
    /// One line for a person; the wording may change.
    pub message: String,
    /// The input at fault as the caller spelled it (`text`,
    /// `targets[0].user`, `cursor`, `body`); `null` when no one input is.
    pub field: Option<String>,
}
