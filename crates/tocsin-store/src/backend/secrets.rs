//! Server secrets read and replaced after their first value (which
//! `PagingStore::server_secret` stores).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{StoreImpl, audit_record, begin_write};
use crate::codec::to_us;
use crate::{Result, SecretStore};

#[async_trait]
impl SecretStore for StoreImpl {
    async fn read_secret(&self, name: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn replace_secret(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
        who: &str,
        action: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut w = begin_write(&self.write).await?;
        let replaced = sqlx::query(
            "UPDATE server_secrets SET value = $1, created_at = $2 WHERE name = $3 AND ($4 IS NULL OR value = $4)",
        )
        .bind(value)
        .bind(to_us(at))
        .bind(name)
        .bind(expected)
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            > 0;
        if replaced {
            w.audit(audit_record(at, who, action, format!("secret:{name}"), json!({}))).await?;
            w.commit(&self.signal).await?;
        }
        Ok(replaced)
    }
}
