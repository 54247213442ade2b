//! The JSON wire types of Tocsin's `/api/v1`: every request body, query and
//! answer. The server (`tocsin-http`) converts its domain values into these
//! and reads requests with them; the client (`tocsin-client`) sends and reads
//! the same types; the OpenAPI document is generated from them, so their doc
//! comments are the schema descriptions.
//!
//! Closed vocabularies (roles, statuses, severities, escalation targets) are
//! tocsin-core's own serde enums, re-exported here; every object on the wire
//! is declared in this crate.
//!
//! Reading ignores unknown fields, so an older client keeps working against a
//! newer server. Timestamps are RFC 3339, UTC.

mod accounts;
mod alertmanager;
mod audit;
mod catalog;
mod config;
mod engine;
mod error;
mod heartbeats;
mod incidents;
mod people;
mod schedules;
mod time;
mod tokens;

pub use accounts::{Invitation, PasswordRequest, Session};
pub use alertmanager::{GettableSilence, PostableSilence, SilenceCreated, SilenceMatcher, SilenceStatus};
pub use audit::{AuditBrokenLink, AuditEntry, AuditQuery, AuditRecord, AuditShardCheck, AuditVerification};
pub use catalog::{
    AtQuery, Change, EscalationPolicy, IntegrationSummary, LevelOnCall, PolicyLevel, PolicyOnCall, Responder, Service,
    ServiceOnCall,
};
pub use config::{
    AppliedConfig, ConfigChanges, ConfigPlan, ConfigRequest, ConfigVersion, SectionChanges, WebhookSecret,
};
pub use engine::{DeadLetter, DeadLettersQuery};
pub use error::{ErrorBody, ErrorDetail, Problem};
pub use heartbeats::Heartbeat;
pub use incidents::{
    Alert, AlertQuery, Escalated, Escalation, HeldBack, Incident, IncidentDetail, IncidentQuery, Link, NoteRequest,
    Notification, ReassignRequest, Reassigned, Requested, TimelineEntry,
};
pub use people::{ContactKind, ContactMethod, Me, Person, Team};
pub use schedules::{
    FeedQuery, IcalToken, IcalUrls, OnCall, Override, OverrideRequest, OverrideSource, OverridesQuery, Schedule,
    ScheduleLayer, Segment, SegmentsQuery,
};
pub use tokens::{IssuedToken, Token, TokenRequest, TokensQuery};

pub use tocsin_core::alert::AlertStatus;
pub use tocsin_core::auth::Role;
pub use tocsin_core::escalation::{EscState, Target};
pub use tocsin_core::event::Severity;
pub use tocsin_core::heartbeat::HeartbeatStatus;
pub use tocsin_core::incident::IncidentStatus;
pub use tocsin_core::model::IntegrationKind;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `null` on the last page and
    /// on listings that fit one page.
    pub next_cursor: Option<String>,
}

/// A whole list in one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[cfg(test)]
mod tests;
