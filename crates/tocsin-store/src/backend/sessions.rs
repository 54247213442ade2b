//! Passwords, sessions, invitations and the login throttle.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;

use tocsin_core::login_throttle::{Scope, ThrottleState, after_failure};
use tocsin_core::timeline::actor;

use super::{DbRow, StoreImpl, Tx, WriteTx, audit_record, begin_write};
use crate::codec::{from_us, opt_from_us, to_us};
use crate::{
    InvitationRow, LoginFailure, NewInvitation, NewSession, Result, SessionPrune, SessionRow, SessionStore,
    SessionsPruned, StoreError,
};

/// Who a failed login is audited as: nobody has proved who they are.
const ANONYMOUS: &str = "anonymous";

fn session_from_row(r: &DbRow) -> Result<SessionRow> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        created_at: from_us(r.try_get("created_at")?)?,
        last_seen_at: from_us(r.try_get("last_seen_at")?)?,
        expires_at: from_us(r.try_get("expires_at")?)?,
        ended_at: opt_from_us(r.try_get("ended_at")?)?,
        address: r.try_get("address")?,
        user_agent: r.try_get("user_agent")?,
    })
}

fn throttle_from_row(r: &DbRow) -> Result<(String, ThrottleState)> {
    let failures: i64 = r.try_get("failures")?;
    Ok((
        r.try_get("scope")?,
        ThrottleState {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            window_start: from_us(r.try_get("window_start")?)?,
            locked_until: opt_from_us(r.try_get("locked_until")?)?,
        },
    ))
}

const SELECT_THROTTLE: &str = "SELECT scope, failures, window_start, locked_until FROM login_throttle WHERE scope = $1";

/// Sets the password and ends the user's open sessions but `keep`; returns
/// how many it ended.
async fn write_password(
    tx: &mut Tx<'_>,
    user_id: &str,
    phc: &str,
    keep: Option<i64>,
    at: DateTime<Utc>,
) -> Result<u64> {
    sqlx::query(
        "INSERT INTO passwords (user_id, phc, set_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET phc = excluded.phc, set_at = excluded.set_at",
    )
    .bind(user_id)
    .bind(phc)
    .bind(to_us(at))
    .execute(&mut **tx)
    .await?;
    let ended = sqlx::query(
        "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL AND ($3 IS NULL OR id <> $3)",
    )
    .bind(to_us(at))
    .bind(user_id)
    .bind(keep)
    .execute(&mut **tx)
    .await?;
    Ok(ended.rows_affected())
}

/// Inserts a session and audits the login.
async fn open_session(w: &mut WriteTx<'_>, new: &NewSession, at: DateTime<Utc>) -> Result<SessionRow> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sessions (secret_hash, user_id, created_at, last_seen_at, expires_at, address, user_agent) \
         VALUES ($1, $2, $3, $3, $4, $5, $6) ON CONFLICT (secret_hash) DO NOTHING RETURNING id",
    )
    .bind(&new.secret_hash)
    .bind(&new.user_id)
    .bind(to_us(at))
    .bind(to_us(new.expires_at))
    .bind(&new.address)
    .bind(&new.user_agent)
    .fetch_optional(&mut *w.tx)
    .await?
    .ok_or_else(|| StoreError::Conflict("a session with this secret already exists".into()))?;
    let details = json!({"address": new.address, "user_agent": new.user_agent, "expires_at": new.expires_at});
    w.audit(audit_record(at, &actor::user(&new.user_id), "session.login", format!("session:{id}"), details)).await?;
    Ok(SessionRow {
        id,
        user_id: new.user_id.clone(),
        created_at: at,
        last_seen_at: at,
        expires_at: new.expires_at,
        ended_at: None,
        address: new.address.clone(),
        user_agent: new.user_agent.clone(),
    })
}

fn throttle_lock(scope: &Scope) -> String {
    format!("login_throttle\u{1f}{}", scope.key)
}

#[async_trait]
impl SessionStore for StoreImpl {
    async fn password_hash(&self, user_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT phc FROM passwords WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn set_password(
        &self,
        user_id: &str,
        phc: &str,
        keep: Option<i64>,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let mut w = begin_write(&self.write).await?;
        let ended = write_password(&mut w.tx, user_id, phc, keep, at).await?;
        let details = json!({"sessions_ended": ended});
        w.audit(audit_record(at, who, "password.set", format!("user:{user_id}"), details)).await?;
        w.commit(&self.signal).await?;
        Ok(ended)
    }

    async fn throttle_states(&self, scopes: &[Scope]) -> Result<Vec<(String, ThrottleState)>> {
        let mut states = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let row = sqlx::query(SELECT_THROTTLE).bind(&scope.key).fetch_optional(&self.read).await?;
            if let Some(row) = row {
                states.push(throttle_from_row(&row)?);
            }
        }
        Ok(states)
    }

    async fn login_failed(&self, failure: &LoginFailure, at: DateTime<Utc>) -> Result<Vec<(String, ThrottleState)>> {
        let mut w = begin_write(&self.write).await?;
        // Read-count-write per scope: concurrent failures must all count.
        w.lock_names(failure.scopes.iter().map(throttle_lock)).await?;
        let mut states = Vec::with_capacity(failure.scopes.len());
        let mut locked = Vec::new();
        for scope in &failure.scopes {
            let row = sqlx::query(SELECT_THROTTLE).bind(&scope.key).fetch_optional(&mut *w.tx).await?;
            let before = row.as_ref().map(throttle_from_row).transpose()?.map(|(_, s)| s);
            let state = after_failure(scope.kind, before.as_ref(), at);
            sqlx::query(
                "INSERT INTO login_throttle (scope, failures, window_start, locked_until) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (scope) DO UPDATE SET failures = excluded.failures, \
                 window_start = excluded.window_start, locked_until = excluded.locked_until",
            )
            .bind(&scope.key)
            .bind(i64::from(state.failures))
            .bind(to_us(state.window_start))
            .bind(state.locked_until.map(to_us))
            .execute(&mut *w.tx)
            .await?;
            if let Some(until) = state.locked_until {
                locked.push(json!({"scope": scope.key, "until": until}));
            }
            states.push((scope.key.clone(), state));
        }
        let details = json!({
            "user": failure.user,
            "address": failure.address,
            "reason": failure.reason,
            "locked": locked,
        });
        w.audit(audit_record(at, ANONYMOUS, "session.login_failed", format!("user:{}", failure.user), details)).await?;
        w.commit(&self.signal).await?;
        Ok(states)
    }

    async fn login(&self, new: &NewSession, clear: &[Scope], at: DateTime<Utc>) -> Result<SessionRow> {
        let mut w = begin_write(&self.write).await?;
        w.lock_names(clear.iter().map(throttle_lock)).await?;
        for scope in clear {
            sqlx::query("DELETE FROM login_throttle WHERE scope = $1").bind(&scope.key).execute(&mut *w.tx).await?;
        }
        let row = open_session(&mut w, new, at).await?;
        w.commit(&self.signal).await?;
        Ok(row)
    }

    async fn session_by_secret(&self, secret_hash: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn get_session(&self, id: i64) -> Result<Option<SessionRow>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = $1").bind(id).fetch_optional(&self.read).await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL AND last_seen_at < $1")
            .bind(to_us(at))
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn open_sessions(&self, user_id: &str, now: DateTime<Utc>) -> Result<Vec<SessionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 ORDER BY id",
        )
        .bind(user_id)
        .bind(to_us(now))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn end_session(&self, id: i64, action: &str, who: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut w = begin_write(&self.write).await?;
        let user: Option<String> = sqlx::query_scalar(
            "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL RETURNING user_id",
        )
        .bind(to_us(at))
        .bind(id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(user) = user else {
            w.tx.rollback().await?;
            return Ok(false);
        };
        w.audit(audit_record(at, who, action, format!("session:{id}"), json!({"user": user}))).await?;
        w.commit(&self.signal).await?;
        Ok(true)
    }

    async fn create_invitation(&self, new: &NewInvitation, who: &str, at: DateTime<Utc>) -> Result<()> {
        let mut w = begin_write(&self.write).await?;
        w.lock_names([format!("invitation\u{1f}{}", new.user_id)]).await?;
        let replaced = sqlx::query("DELETE FROM invitations WHERE user_id = $1 AND used_at IS NULL")
            .bind(&new.user_id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        sqlx::query(
            "INSERT INTO invitations (token_hash, user_id, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&new.token_hash)
        .bind(&new.user_id)
        .bind(who)
        .bind(to_us(at))
        .bind(to_us(new.expires_at))
        .execute(&mut *w.tx)
        .await?;
        let details = json!({"expires_at": new.expires_at, "replaced": replaced});
        w.audit(audit_record(at, who, "invitation.created", format!("user:{}", new.user_id), details)).await?;
        w.commit(&self.signal).await?;
        Ok(())
    }

    async fn invitation(&self, token_hash: &str) -> Result<Option<InvitationRow>> {
        let row = sqlx::query("SELECT * FROM invitations WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(InvitationRow {
                user_id: r.try_get("user_id")?,
                created_by: r.try_get("created_by")?,
                created_at: from_us(r.try_get("created_at")?)?,
                expires_at: from_us(r.try_get("expires_at")?)?,
                used_at: opt_from_us(r.try_get("used_at")?)?,
            })
        })
        .transpose()
    }

    async fn accept_invitation(
        &self,
        token_hash: &str,
        phc: &str,
        session: &NewSession,
        at: DateTime<Utc>,
    ) -> Result<Option<SessionRow>> {
        let mut w = begin_write(&self.write).await?;
        // The update takes the row: of two acceptances at once, one wins.
        let user: Option<String> = sqlx::query_scalar(
            "UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id",
        )
        .bind(to_us(at))
        .bind(token_hash)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(user) = user else {
            w.tx.rollback().await?;
            return Ok(None);
        };
        if user != session.user_id {
            return Err(StoreError::Conflict("the invitation is for another user".into()));
        }
        let who = actor::user(&user);
        let target = format!("user:{user}");
        w.audit(audit_record(at, &who, "invitation.accepted", target.clone(), json!({}))).await?;
        let ended = write_password(&mut w.tx, &user, phc, None, at).await?;
        let details = json!({"sessions_ended": ended, "via": "invitation"});
        w.audit(audit_record(at, &who, "password.set", target, details)).await?;
        let row = open_session(&mut w, session, at).await?;
        w.commit(&self.signal).await?;
        Ok(Some(row))
    }

    async fn prune_sessions(&self, p: &SessionPrune) -> Result<SessionsPruned> {
        if p.limit <= 0 {
            return Ok(SessionsPruned::default());
        }
        let mut w = begin_write(&self.write).await?;
        let before = to_us(p.before);
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE ended_at <= $1 OR expires_at <= $1 \
             OR (ended_at IS NULL AND last_seen_at <= $2) ORDER BY id LIMIT $3)",
        )
        .bind(before)
        .bind(to_us(p.last_seen_before))
        .bind(p.limit)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        let invitations = sqlx::query(
            "DELETE FROM invitations WHERE token_hash IN (SELECT token_hash FROM invitations \
             WHERE used_at <= $1 OR expires_at <= $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before)
        .bind(p.limit)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        let throttles = sqlx::query(
            "DELETE FROM login_throttle WHERE scope IN (SELECT scope FROM login_throttle \
             WHERE window_start <= $1 AND (locked_until IS NULL OR locked_until <= $1) ORDER BY window_start LIMIT $2)",
        )
        .bind(before)
        .bind(p.limit)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        let pruned = SessionsPruned { sessions, invitations, throttles };
        if pruned.total() == 0 {
            w.tx.rollback().await?;
            return Ok(pruned);
        }
        let details = json!({
            "sessions": sessions,
            "invitations": invitations,
            "login_throttle": throttles,
            "before": p.before,
            "last_seen_before": p.last_seen_before,
        });
        w.audit(audit_record(p.at, actor::SYSTEM, "retention.prune", "logins".to_string(), details)).await?;
        w.commit(&self.signal).await?;
        Ok(pruned)
    }
}
