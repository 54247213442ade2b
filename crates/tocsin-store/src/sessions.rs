//! Logging in: passwords (argon2id PHC strings, hashed and checked by the
//! application layer), server-side sessions, one-time invitations and the
//! login throttle's state. Every change is audited in its own transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_core::login_throttle::{Scope, ThrottleState};

use crate::Result;

#[async_trait]
pub trait SessionStore: Send + Sync {
    // --- passwords ---
    /// The user's password hash (PHC string), if one is set.
    async fn password_hash(&self, user_id: &str) -> Result<Option<String>>;
    /// Sets the user's password and ends their open sessions but `keep`.
    /// Audited as `password.set`; returns how many sessions it ended.
    async fn set_password(
        &self,
        user_id: &str,
        phc: &str,
        keep: Option<i64>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<u64>;

    // --- logging in ---
    /// The stored throttle state of each scope that has one.
    async fn throttle_states(&self, scopes: &[Scope]) -> Result<Vec<(String, ThrottleState)>>;
    /// Counts a failed login against `failure.scopes` (by
    /// `tocsin_core::login_throttle::after_failure`, in the transaction that
    /// reads them) and audits it as `session.login_failed`. Returns the new
    /// states.
    async fn login_failed(&self, failure: &LoginFailure, at: DateTime<Utc>) -> Result<Vec<(String, ThrottleState)>>;
    /// Opens a session after a successful login, clears `clear` (the
    /// account's throttle scope) and audits `session.login`.
    async fn login(&self, new: &NewSession, clear: &[Scope], at: DateTime<Utc>) -> Result<SessionRow>;

    // --- sessions ---
    /// The session whose secret hashes to `secret_hash`, whatever its state.
    async fn session_by_secret(&self, secret_hash: &str) -> Result<Option<SessionRow>>;
    async fn get_session(&self, id: i64) -> Result<Option<SessionRow>>;
    /// Records that the session was used at `at` (not audited: not a change).
    async fn touch_session(&self, id: i64, at: DateTime<Utc>) -> Result<()>;
    /// The user's sessions not ended by hand and before their absolute
    /// expiry at `now`, oldest first (idle expiry is the caller's policy).
    async fn open_sessions(&self, user_id: &str, now: DateTime<Utc>) -> Result<Vec<SessionRow>>;
    /// Ends an open session; `action` is `session.logout` (by its user) or
    /// `session.ended` (from a list of sessions, by `actor`). False when it
    /// was already ended or does not exist.
    async fn end_session(&self, id: i64, action: &str, actor: &str, at: DateTime<Utc>) -> Result<bool>;

    // --- invitations ---
    /// Stores an invitation, deleting the user's older unused ones, and
    /// audits `invitation.created`.
    async fn create_invitation(&self, new: &NewInvitation, actor: &str, at: DateTime<Utc>) -> Result<()>;
    /// The invitation whose token hashes to `token_hash`, whatever its state.
    async fn invitation(&self, token_hash: &str) -> Result<Option<InvitationRow>>;
    /// In one transaction: uses up the invitation (unused and unexpired at
    /// `at`, else `None` and nothing changes), sets the user's password, ends
    /// their sessions and opens `session`. Audits `invitation.accepted`,
    /// `password.set` and `session.login`.
    async fn accept_invitation(
        &self,
        token_hash: &str,
        phc: &str,
        session: &NewSession,
        at: DateTime<Utc>,
    ) -> Result<Option<SessionRow>>;

    // --- retention ---
    /// Deletes, at most `limit` of each kind: sessions ended, expired or idle
    /// before the cutoffs; invitations used or expired before
    /// `prune.before`; throttle states whose window began and lock ended
    /// before it. Audited as one `retention.prune` entry when anything went.
    async fn prune_sessions(&self, prune: &SessionPrune) -> Result<SessionsPruned>;
}

/// A session to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub user_id: String,
    pub secret_hash: String,
    /// The absolute expiry.
    pub expires_at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    /// Recorded at most about once a minute.
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// A failed login, as audited: never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailure {
    /// The user name as typed (already shortened by the caller).
    pub user: String,
    pub address: Option<String>,
    /// `unknown user`, `wrong password`, `no password set`.
    pub reason: String,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    pub token_hash: String,
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    pub user_id: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// One retention batch of login data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPrune {
    pub at: DateTime<Utc>,
    /// Sessions ended or absolutely expired, invitations used or expired,
    /// and throttle states idle, at or before this.
    pub before: DateTime<Utc>,
    /// Open sessions last seen at or before this (idle-expired long ago).
    pub last_seen_before: DateTime<Utc>,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionsPruned {
    pub sessions: u64,
    pub invitations: u64,
    pub throttles: u64,
}

impl SessionsPruned {
    pub fn total(&self) -> u64 {
        self.sessions + self.invitations + self.throttles
    }

    /// Whether some kind filled its batch, so more may be waiting.
    pub fn full(&self, limit: i64) -> bool {
        let limit = u64::try_from(limit).unwrap_or(0);
        limit > 0 && [self.sessions, self.invitations, self.throttles].iter().any(|&n| n >= limit)
    }
}
