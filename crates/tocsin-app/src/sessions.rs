//! Logging in with a username and password: argon2id hashes, sessions kept
//! in the database (so any node serves any session) with idle and absolute
//! expiry, logout, one's own list of sessions, one-time invitations to set
//! a password, and login throttling per account and per address. Cookies
//! and CSRF checks are the web adapter's; this layer hands it the secret
//! and the CSRF token to expect.

use chrono::{DateTime, Duration, Utc};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::auth::{Role, hash_secret};
use tocsin_core::login_throttle::{self, Scope, Verdict};
use tocsin_core::password::{MAX_PASSWORD_BYTES, check_password};
use tocsin_core::session::{
    INVITATION_PREFIX, SESSION_PREFIX, csrf_token, format_invitation_token, format_session_secret, idle_expiry, is_live,
};
use tocsin_store::{LoginFailure, NewInvitation, NewSession, SessionRow};
use tokio::sync::Semaphore;

use crate::error::{AppError, Result};
use crate::{App, random_bytes};

/// How long an invitation link stays valid.
pub const INVITATION_LIFETIME: Duration = Duration::hours(24);
/// A session's `last_seen_at` is written at most this often.
const SEEN_RESOLUTION: Duration = Duration::seconds(60);
/// Password hashes computed at once: a flood of logins waits for these
/// instead of taking every core.
const CONCURRENT_HASHES: usize = 4;
/// Longest user name kept in the audit log of a failed login.
const MAX_AUDITED_USER_CHARS: usize = 100;
/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT_CHARS: usize = 256;
const WRONG_CREDENTIALS: &str = "wrong username or password";
const BAD_SESSION: &str = "not logged in, or the session has ended";
const BAD_INVITATION: &str = "invitation is invalid, used or expired";

/// What someone typed into the login form, and where they came from.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub address: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
}

/// A session as its owner sees it in their list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: i64,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    pub last_seen_at: DateTime<Utc>,
    /// When it ends unless used before then.
    pub idle_expires_at: DateTime<Utc>,
    /// When it ends however much it is used.
    pub expires_at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// Whether this is the session the list was asked from.
    pub current: bool,
}

/// A session just opened.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The cookie value (`tcss_…`); shown once, only its hash is stored.
    pub secret: String,
    pub session: SessionInfo,
}

/// A request's valid session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    /// The user with their role in the config in force now.
    pub principal: Principal,
    pub session_id: i64,
    /// What forms of this session must send back (see
    /// [`tocsin_core::session::csrf_token`]).
    pub csrf_token: String,
    /// The session's absolute expiry (a cookie need not outlive it).
    pub expires_at: DateTime<Utc>,
}

/// An invitation just created; the token is shown once.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub user_id: String,
    pub token: String,
    /// `{public_url}/invite/{token}`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// What an invitation link is for, while it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationInfo {
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
}

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Unused for this long, a session ends.
    pub idle: Duration,
    /// A session ends this long after login, however much it is used.
    pub lifetime: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self { idle: Duration::hours(24), lifetime: Duration::days(14) }
    }
}

/// What the session functions of an [`App`] share.
#[derive(Clone, Default)]
pub(crate) struct Sessions {
    policy: SessionPolicy,
    /// Base of invitation links; without it they are server-relative.
    public_url: Option<Arc<str>>,
    hasher: Arc<Hasher>,
}

/// Hashes and checks passwords off the async threads, a few at a time.
pub(crate) struct Hasher {
    permits: Semaphore,
    /// A hash of a random password, checked against when a user is unknown
    /// or has no password, so that such logins take as long as real ones.
    dummy: OnceLock<String>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self { permits: Semaphore::new(CONCURRENT_HASHES), dummy: OnceLock::new() }
    }
}

impl Hasher {
    async fn run<T: Send + 'static>(self: &Arc<Self>, work: impl FnOnce(&Hasher) -> T + Send + 'static) -> Result<T> {
        let _permit =
            self.permits.acquire().await.map_err(|_| AppError::Unavailable(tocsin_store::StoreError::Closed))?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || work(&me))
            .await
            .map_err(|e| AppError::Unavailable(tocsin_store::StoreError::Unavailable(format!("password hashing: {e}"))))
    }

    /// The argon2id PHC string of `password` (default parameters, random salt).
    async fn hash(self: &Arc<Self>, password: String) -> Result<String> {
        self.run(move |_| phc(&password))
            .await?
            .map_err(|e| AppError::Unavailable(tocsin_store::StoreError::Unavailable(format!("password hashing: {e}"))))
    }

    /// Whether `password` matches `stored`; with `None`, checks against the
    /// dummy hash (and fails) so the answer takes as long.
    async fn verify(self: &Arc<Self>, password: String, stored: Option<String>) -> Result<bool> {
        self.run(move |me| match stored {
            Some(stored) => matches(&stored, &password),
            None => {
                let dummy = me.dummy.get_or_init(|| phc(&hex_of(&random_bytes())).unwrap_or_default());
                let _ = matches(dummy, &password);
                false
            }
        })
        .await
    }
}

fn phc(password: &str) -> std::result::Result<String, String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

fn matches(stored: &str, password: &str) -> bool {
    use argon2::PasswordVerifier;
    match argon2::password_hash::phc::PasswordHash::new(stored) {
        Ok(parsed) => argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => {
            tracing::error!("a stored password hash cannot be read");
            false
        }
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// At most `max` characters of `s`.
fn shorten(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Whether `s` looks like a secret with `prefix` (64 hex digits after it),
/// so that junk costs no database read.
fn well_formed(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl App {
    /// How long sessions last from now on (default 24 h idle, 14 days).
    pub fn with_session_policy(mut self, policy: SessionPolicy) -> Self {
        self.sessions.policy = policy;
        self
    }

    /// The server's public base URL, for invitation links.
    /// The address people reach this server at (no trailing slash), for
    /// links shown on pages; empty when not known.
    pub fn public_url(&self) -> String {
        self.sessions.public_url.as_deref().unwrap_or("").to_string()
    }

    pub fn with_public_url(mut self, url: String) -> Self {
        self.sessions.public_url = Some(url.trim_end_matches('/').into());
        self
    }

    fn session_info(&self, row: SessionRow, current: Option<i64>) -> SessionInfo {
        SessionInfo {
            idle_expires_at: idle_expiry(row.last_seen_at, self.sessions.policy.idle, row.expires_at),
            current: current == Some(row.id),
            id: row.id,
            user_id: row.user_id,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            address: row.address,
            user_agent: row.user_agent,
        }
    }

    fn new_session(&self, user_id: &str, address: Option<IpAddr>, user_agent: Option<&str>) -> (String, NewSession) {
        let secret = format_session_secret(&random_bytes());
        let new = NewSession {
            user_id: user_id.to_string(),
            secret_hash: hash_secret(&secret),
            expires_at: self
                .now()
                .checked_add_signed(self.sessions.policy.lifetime)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            address: address.map(|a| a.to_string()),
            user_agent: user_agent.map(|ua| shorten(ua, MAX_USER_AGENT_CHARS)),
        };
        (secret, new)
    }

    /// Checks a username and password and opens a session. A wrong or
    /// unknown username and a wrong password look the same, and take about
    /// as long; every failure is audited and counted by the throttle.
    pub async fn login(&self, c: Credentials<'_>) -> Result<LoggedIn> {
        let now = self.now();
        let typed = shorten(c.user, MAX_AUDITED_USER_CHARS);
        // Every name typed is throttled alike, so a lock tells nothing
        // about whether the account exists.
        let account_scope = Scope::account(&typed);
        let mut scopes = vec![account_scope.clone()];
        scopes.extend(c.address.map(Scope::address));
        let states = self.store.throttle_states(&scopes).await?;
        let locked = states
            .iter()
            .filter_map(|(_, s)| match login_throttle::check(Some(s), now) {
                Verdict::Locked { retry_after } => Some(retry_after),
                Verdict::Allowed => None,
            })
            .max();
        if let Some(wait) = locked {
            let retry_after = wait.to_std().unwrap_or_default();
            return Err(AppError::Throttled { retry_after });
        }

        let account = (typed == c.user).then(|| self.account(c.user)).flatten();
        let reason = if c.password.len() > MAX_PASSWORD_BYTES {
            "password too long"
        } else {
            let stored = match &account {
                Some(p) => self.store.password_hash(p.user_id().unwrap_or_default()).await?,
                None => None,
            };
            let had_password = stored.is_some();
            let ok = self.sessions.hasher.verify(c.password.to_string(), stored).await?;
            match (&account, had_password, ok) {
                (Some(principal), _, true) => {
                    let user_id = principal.user_id().unwrap_or_default();
                    let (secret, new) = self.new_session(user_id, c.address, c.user_agent);
                    let row = self.store.login(&new, &[account_scope], now).await?;
                    return Ok(LoggedIn { secret, session: self.session_info(row, None) });
                }
                (None, _, _) => "unknown user",
                (Some(_), false, _) => "no password set",
                (Some(_), true, false) => "wrong password",
            }
        };
        let failure =
            LoginFailure { user: typed, address: c.address.map(|a| a.to_string()), reason: reason.to_string(), scopes };
        self.store.login_failed(&failure, now).await?;
        Err(AppError::Unauthenticated(WRONG_CREDENTIALS))
    }

    /// The session a cookie's secret stands for, if it is still valid: not
    /// ended, used within the idle time, before its absolute expiry, and
    /// its user still declared in the config in force (whose role it acts
    /// with). Records use at most once a minute.
    pub async fn session(&self, secret: &str) -> Result<ActiveSession> {
        if !well_formed(secret, SESSION_PREFIX) {
            return Err(AppError::Unauthenticated(BAD_SESSION));
        }
        let now = self.now();
        let row = self.store.session_by_secret(&hash_secret(secret)).await?;
        let row = row
            .filter(|r| r.ended_at.is_none() && is_live(r.last_seen_at, self.sessions.policy.idle, r.expires_at, now))
            .ok_or(AppError::Unauthenticated(BAD_SESSION))?;
        let principal = self.account(&row.user_id).ok_or(AppError::Unauthenticated(BAD_SESSION))?;
        // A failed write only loses a timestamp (and at worst a minute of
        // idle time), so it does not fail the request.
        if now - row.last_seen_at >= SEEN_RESOLUTION
            && let Err(e) = self.store.touch_session(row.id, now).await
        {
            tracing::warn!(error = %e, session = row.id, "cannot record session use");
        }
        Ok(ActiveSession { principal, session_id: row.id, csrf_token: csrf_token(secret), expires_at: row.expires_at })
    }

    /// Ends the session a cookie's secret stands for. Ending one that has
    /// already ended, or an unknown one, is not an error: the result is
    /// the same.
    pub async fn logout(&self, secret: &str) -> Result<()> {
        if !well_formed(secret, SESSION_PREFIX) {
            return Ok(());
        }
        let Some(row) = self.store.session_by_secret(&hash_secret(secret)).await? else { return Ok(()) };
        if row.ended_at.is_none() {
            let who = Principal::user(row.user_id.clone(), Role::Viewer).actor();
            self.store.end_session(row.id, "session.logout", &who, self.now()).await?;
        }
        Ok(())
    }

    /// The caller's sessions that are still valid, oldest first;
    /// `current_session_id` marks the one asking.
    pub async fn my_sessions(&self, who: &Principal, current_session_id: Option<i64>) -> Result<Vec<SessionInfo>> {
        let Some(me) = who.user_id() else { return Ok(Vec::new()) };
        self.allow(who, Action::Read, Resource::User(me))?;
        let now = self.now();
        let idle = self.sessions.policy.idle;
        let rows = self.store.open_sessions(me, now).await?;
        Ok(rows
            .into_iter()
            .filter(|r| is_live(r.last_seen_at, idle, r.expires_at, now))
            .map(|r| self.session_info(r, current_session_id))
            .collect())
    }

    /// Ends a session: one's own, or anyone's as an admin. Others' sessions
    /// are "not found" to everybody else.
    pub async fn end_session(&self, who: &Principal, id: i64) -> Result<()> {
        let now = self.now();
        let row = self.store.get_session(id).await?;
        let row = row
            .filter(|r| r.ended_at.is_none() && is_live(r.last_seen_at, self.sessions.policy.idle, r.expires_at, now))
            .ok_or(AppError::NotFound("session"))?;
        if who.role() != Role::Admin && who.user_id() != Some(row.user_id.as_str()) {
            return Err(AppError::NotFound("session"));
        }
        self.allow(who, Action::EndSession, Resource::User(&row.user_id))?;
        if self.store.end_session(id, "session.ended", &who.actor(), now).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("session"))
        }
    }

    /// Sets `user`'s password (admins); their sessions end.
    pub async fn set_password(&self, who: &Principal, user: &str, password: &str) -> Result<()> {
        self.allow(who, Action::ManageAccounts, Resource::User(user))?;
        if self.account(user).is_none() {
            return Err(AppError::NotFound("user"));
        }
        check_password(user, password).map_err(|e| AppError::from(tocsin_store::StoreError::Domain(e)))?;
        let phc = self.sessions.hasher.hash(password.to_string()).await?;
        self.store.set_password(user, &phc, None, &who.actor(), self.now()).await?;
        Ok(())
    }

    /// Creates a one-time link with which `user` sets their password
    /// (admins), valid for 24 hours; the user's older unused links stop
    /// working.
    pub async fn invite(&self, who: &Principal, user: &str) -> Result<Invitation> {
        self.allow(who, Action::ManageAccounts, Resource::User(user))?;
        if self.account(user).is_none() {
            return Err(AppError::NotFound("user"));
        }
        let token = format_invitation_token(&random_bytes());
        let now = self.now();
        let new = NewInvitation {
            token_hash: hash_secret(&token),
            user_id: user.to_string(),
            expires_at: now + INVITATION_LIFETIME,
        };
        self.store.create_invitation(&new, &who.actor(), now).await?;
        let base = self.sessions.public_url.as_deref().unwrap_or("");
        Ok(Invitation {
            url: format!("{base}/invite/{token}"),
            user_id: new.user_id,
            token,
            expires_at: new.expires_at,
        })
    }

    /// Whom an invitation link is for, while it can still be used.
    pub async fn invitation(&self, token: &str) -> Result<InvitationInfo> {
        if !well_formed(token, INVITATION_PREFIX) {
            return Err(AppError::Unauthenticated(BAD_INVITATION));
        }
        let now = self.now();
        let row = self.store.invitation(&hash_secret(token)).await?;
        let row = row
            .filter(|r| r.used_at.is_none() && now < r.expires_at && self.account(&r.user_id).is_some())
            .ok_or(AppError::Unauthenticated(BAD_INVITATION))?;
        Ok(InvitationInfo { user_id: row.user_id, expires_at: row.expires_at })
    }

    /// Sets the invited user's password, uses the invitation up, ends their
    /// other sessions and logs them in.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        address: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<LoggedIn> {
        let info = self.invitation(token).await?;
        check_password(&info.user_id, password).map_err(|e| AppError::from(tocsin_store::StoreError::Domain(e)))?;
        let phc = self.sessions.hasher.hash(password.to_string()).await?;
        let (secret, new) = self.new_session(&info.user_id, address, user_agent);
        let row = self
            .store
            .accept_invitation(&hash_secret(token), &phc, &new, self.now())
            .await?
            .ok_or(AppError::Unauthenticated(BAD_INVITATION))?;
        Ok(LoggedIn { secret, session: self.session_info(row, None) })
    }

    /// Whether `user` has a password set.
    pub async fn has_password(&self, user: &str) -> Result<bool> {
        Ok(self.store.password_hash(user).await?.is_some())
    }

    /// Whether `user` has a password and it is `password` (the server's
    /// start checks the configured admin password with this).
    pub async fn password_verifies(&self, user: &str, password: &str) -> Result<bool> {
        let Some(stored) = self.store.password_hash(user).await? else { return Ok(false) };
        self.sessions.hasher.verify(password.to_string(), Some(stored)).await
    }
}

#[cfg(test)]
#[path = "sessions_tests.rs"]
mod tests;
