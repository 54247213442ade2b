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
    /// `unavailable`, `invalid_config` or `internal`.
    pub code: String,
    /// One line for a person; the wording may change.
    pub message: String,
    /// The input at fault as the caller spelled it (`text`,
    /// `targets[0].user`, `cursor`, `body`); `null` when no one input is.
    pub field: Option<String>,
    /// Every problem, where one message is not enough: each error of a
    /// config file that does not validate. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<Problem>>,
}

/// One problem in a file, at a place a person can go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    pub file: String,
    /// 1-based; `null` when the problem has no place (an unreadable file).
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Where in the document, like `services[1].integrations[0].kind`.
    pub path: String,
    pub message: String,
}
