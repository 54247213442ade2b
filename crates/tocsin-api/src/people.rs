//! Accounts and teams.

use serde::{Deserialize, Serialize};
use tocsin_core::auth::Role;
use utoipa::ToSchema;

/// A user account as others see it. Contact details are shown only to their
/// owner and to managers and admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Ids of the teams this person is a member of.
    pub teams: Vec<String>,
    /// IANA name, when config declares one.
    pub time_zone: Option<String>,
    /// `null` unless the reader is this person, a manager or an admin.
    pub email: Option<String>,
    /// `null` unless the reader is this person, a manager or an admin.
    pub contact_methods: Option<Vec<ContactMethod>>,
}

/// The caller: their account, and the role this request acts with (a token
/// may carry less than its owner's role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub person: Person,
    pub acting_role: Role,
}

/// A team as config declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub id: String,
    pub name: String,
    /// User ids, in declaration order.
    pub members: Vec<String>,
    /// Ids of the services the team owns.
    pub services: Vec<String>,
}

/// One way to reach a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContactMethod {
    pub id: String,
    #[serde(flatten)]
    pub kind: ContactKind,
}

/// The channel behind a contact method, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContactKind {
    /// A signed JSON webhook.
    Webhook { url: String },
    /// A Slack-compatible incoming webhook.
    Slack { url: String },
    /// Email through the server's SMTP relay.
    Email { address: String },
}
