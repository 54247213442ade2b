//! API tokens and calendar feed tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;

use tocsin_core::CoreError;
use tocsin_core::auth::Role;

use super::{DbRow, StoreImpl, audit_record, begin_write};
use crate::codec::{from_us, opt_from_us, parse_enum, to_us};
use crate::{AccountStore, NewToken, Result, StoreError, TokenAuth, TokenInfo};

fn token_from_row(r: &DbRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: parse_enum("api_tokens.role", &r.try_get::<String, _>("role")?, Role::parse)?,
        user_id: r.try_get("user_id")?,
        created_at: from_us(r.try_get("created_at")?)?,
        created_by: r.try_get("created_by")?,
        revoked_at: opt_from_us(r.try_get("revoked_at")?)?,
        expires_at: opt_from_us(r.try_get("expires_at")?)?,
        last_used_at: opt_from_us(r.try_get("last_used_at")?)?,
    })
}

#[async_trait]
impl AccountStore for StoreImpl {
    async fn create_token(&self, new: &NewToken, who: &str, at: DateTime<Utc>) -> Result<TokenInfo> {
        let mut w = begin_write(&self.write).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, user_id, secret_hash, created_at, created_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (secret_hash) DO NOTHING RETURNING id",
        )
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(&new.user_id)
        .bind(&new.secret_hash)
        .bind(to_us(at))
        .bind(who)
        .bind(new.expires_at.map(to_us))
        .fetch_optional(&mut *w.tx)
        .await?
        .ok_or_else(|| StoreError::Conflict("a token with this secret already exists".into()))?;
        let details =
            json!({"name": new.name, "role": new.role.as_str(), "user": new.user_id, "expires_at": new.expires_at});
        w.audit(audit_record(at, who, "token.create", format!("token:{id}"), details)).await?;
        w.commit(&self.signal).await?;
        Ok(TokenInfo {
            id,
            name: new.name.clone(),
            role: new.role,
            user_id: new.user_id.clone(),
            created_at: at,
            created_by: who.to_string(),
            revoked_at: None,
            expires_at: new.expires_at,
            last_used_at: None,
        })
    }

    async fn authenticate(&self, secret_hash: &str, now: DateTime<Utc>) -> Result<Option<TokenAuth>> {
        let row = sqlx::query(
            "SELECT t.*, u.role AS user_role FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.secret_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2) \
             AND u.active",
        )
        .bind(secret_hash)
        .bind(to_us(now))
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            let user_role = parse_enum("users.role", &r.try_get::<String, _>("user_role")?, Role::parse)?;
            Ok(TokenAuth { token: token_from_row(&r)?, user_role })
        })
        .transpose()
    }

    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(to_us(at))
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_token(&self, id: i64) -> Result<Option<TokenInfo>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1").bind(id).fetch_optional(&self.read).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn token_by_secret(&self, secret_hash: &str) -> Result<Option<TokenInfo>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query("SELECT * FROM api_tokens WHERE $1 IS NULL OR user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: i64, who: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut w = begin_write(&self.write).await?;
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(to_us(at))
            .bind(id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected()
            > 0;
        if done {
            w.audit(audit_record(at, who, "token.revoke", format!("token:{id}"), json!({}))).await?;
            w.commit(&self.signal).await?;
        }
        Ok(done)
    }

    async fn active_token_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL").fetch_one(&self.read).await?)
    }

    async fn set_ical_token(&self, user_id: &str, token_hash: &str, who: &str, at: DateTime<Utc>) -> Result<()> {
        if user_id.is_empty() || user_id.contains('\0') {
            return Err(CoreError::invalid("user_id", "must be a non-empty id without NUL characters").into());
        }
        let mut w = begin_write(&self.write).await?;
        // Replace-or-insert decides on a row that may not exist yet.
        w.lock_names([format!("ical\u{1f}{user_id}")]).await?;
        let replaced =
            sqlx::query("UPDATE ical_tokens SET token_hash = $1, created_at = $2, created_by = $3 WHERE user_id = $4")
                .bind(token_hash)
                .bind(to_us(at))
                .bind(who)
                .bind(user_id)
                .execute(&mut *w.tx)
                .await?
                .rows_affected()
                > 0;
        if !replaced {
            sqlx::query(
                "INSERT INTO ical_tokens (user_id, token_hash, created_at, created_by) VALUES ($1, $2, $3, $4)",
            )
            .bind(user_id)
            .bind(token_hash)
            .bind(to_us(at))
            .bind(who)
            .execute(&mut *w.tx)
            .await?;
        }
        w.audit(audit_record(
            at,
            who,
            "user.ical_token.rotate",
            format!("user:{user_id}"),
            json!({"replaced": replaced}),
        ))
        .await?;
        w.commit(&self.signal).await?;
        Ok(())
    }

    async fn ical_token_user(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT user_id FROM ical_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await?)
    }
}
