//! The application layer: one function per action a person or a system can
//! take (acknowledge, resolve, note, escalate, reassign, override, token,
//! feed token, config apply, and the reads behind every page).
//!
//! Each takes the acting [`Principal`], authorises it through the one rule
//! in [`tocsin_core::access::authorize`], validates its input, calls the
//! store and returns a typed result or an [`AppError`]. The JSON API, the web
//! pages, chat commands and one-click links are adapters over [`App`]: they
//! turn their input into these calls and the results into their output, and
//! never decide who may do what.

mod actions;
mod audit;
mod catalog;
mod config;
mod engine;
mod error;
mod feeds;
mod heartbeats;
mod home;
mod incidents;
mod links;
mod oncall;
mod people;
mod policies;
mod profiles;
mod schedules;
mod secrets;
mod sessions;
mod silences;
mod test_pages;
mod tokens;

pub use actions::{IncidentActions, MAX_BULK_IDS};
pub use config::{AppliedConfig, ConfigPlan, RESTART_NOTICE};
pub use error::{AppError, Result};
pub use feeds::IssuedFeedToken;
pub use heartbeats::HeartbeatView;
pub use home::{ContactMethodView, HOME_INCIDENTS, HOME_SHIFTS, Home, TeamOnCall};
pub use incidents::{
    IncidentCount, IncidentDetail, MAX_COUNTED, MAX_DETAIL_ALERTS, MAX_NOTE_CHARS, MAX_REASSIGN_TARGETS,
};
pub use links::{AckLink, LinkState};
pub use oncall::{HORIZON_DAYS, OnCallNow, Shift};
pub use people::{Me, Person, TeamInfo};
pub use policies::{LevelView, PolicyView, TargetView};
pub use profiles::{PROFILE_SHIFTS, UserDetail};
pub use schedules::{MAX_OVERRIDE_DAYS, OverrideList};
pub use secrets::WebhookSecret;
pub use sessions::{
    ActiveSession, Credentials, INVITATION_LIFETIME, Invitation, InvitationInfo, LoggedIn, SessionInfo, SessionPolicy,
};
pub use silences::MAX_LISTED_SILENCES;
pub use test_pages::TEST_PAGE_INTERVAL;
pub use tocsin_core::escalation::{NextCause, NextStep};
pub use tocsin_store::{TestPage, TestPageStatus};
pub use tokens::{IssuedToken, MAX_TOKEN_NAME_CHARS, TokenRequest};

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;
use tocsin_core::access::{Action, Principal, Resource, authorize};
use tocsin_core::clock::Clock;
use tocsin_core::directory::{Directory, LiveDirectory};
use tocsin_store::{ServerSecrets, Store};

/// Everything an action needs: the store, the clock and the directory in
/// force. Cheap to clone; every adapter holds one.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    directory: LiveDirectory,
    usage: Arc<tokens::UsageTracker>,
    webhook_secret: Option<Arc<WebhookSecret>>,
    /// The server's signing keys (acknowledge links), read at every use.
    secrets: Option<ServerSecrets>,
    /// Session policy, invitation link base and the password hasher.
    sessions: sessions::Sessions,
}

impl App {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, directory: LiveDirectory) -> Self {
        Self {
            store,
            clock,
            directory,
            usage: Arc::default(),
            webhook_secret: None,
            secrets: None,
            sessions: Default::default(),
        }
    }

    /// The directory (applied config) in force now.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.current()
    }

    /// The handle config reloads replace the directory through.
    pub fn live_directory(&self) -> &LiveDirectory {
        &self.directory
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The current instant at the precision the store keeps (microseconds),
    /// so what an answer shows is exactly what a later read returns.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }

    fn allow(&self, principal: &Principal, action: Action, resource: Resource<'_>) -> Result<()> {
        authorize(principal, action, resource).map_err(AppError::Forbidden)
    }
}

/// 32 bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // getrandom only fails when the OS has no entropy source at all, in
    // which case there is nothing sensible to continue with.
    if getrandom::fill(&mut bytes).is_err() {
        tracing::error!("operating system random source failed");
        std::process::abort();
    }
    bytes
}

#[cfg(test)]
mod reads_tests;
#[cfg(test)]
mod tests;
