//! Test pages: queued with their engine work, then the outcome of each
//! delivery attempt.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};
use tocsin_core::work::WorkKind;

use super::paging::complete_claim;
use super::{DbRow, StoreImpl, audit_record, begin_relaxed, begin_write};
use crate::codec::{from_us, opt_from_us, parse_enum, to_us};
use crate::{Lane, NewTestPage, Result, StoreError, TestPage, TestPageStatus, TestPageStore, TestPageUpdate};

const COLUMNS: &str =
    "id, user_id, contact_method, channel, status, attempts, requested_at, requested_by, sent_at, last_error";

fn test_page_from_row(r: &DbRow) -> Result<TestPage> {
    Ok(TestPage {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        contact_method: r.try_get("contact_method")?,
        channel: r.try_get("channel")?,
        status: parse_enum("test_pages.status", &r.try_get::<String, _>("status")?, TestPageStatus::parse)?,
        attempts: r.try_get("attempts")?,
        requested_at: from_us(r.try_get("requested_at")?)?,
        requested_by: r.try_get("requested_by")?,
        sent_at: opt_from_us(r.try_get("sent_at")?)?,
        last_error: r.try_get("last_error")?,
    })
}

fn work(id: i64) -> serde_json::Value {
    json!({ "test_page_id": id })
}

#[async_trait]
impl TestPageStore for StoreImpl {
    async fn request_test_page(
        &self,
        new: &NewTestPage,
        actor: &str,
        at: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<TestPage> {
        let mut w = begin_write(&self.write).await?;
        w.lock_names([format!("test_page:{}", new.contact_method)]).await?;
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT requested_at FROM test_pages WHERE contact_method = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(&new.contact_method)
        .fetch_optional(&mut *w.tx)
        .await?;
        if let Some(last) = last.map(from_us).transpose()?
            && last > not_before
        {
            let wait = (last - not_before).num_seconds().max(1);
            return Err(StoreError::Conflict(format!(
                "a test page was sent to {} at {}; the next one can go in {wait} s",
                new.contact_method,
                last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO test_pages (user_id, contact_method, channel, status, attempts, requested_at, requested_by) \
             VALUES ($1, $2, $3, 'queued', 0, $4, $5) RETURNING id",
        )
        .bind(&new.user_id)
        .bind(&new.contact_method)
        .bind(&new.channel)
        .bind(to_us(at))
        .bind(actor)
        .fetch_one(&mut *w.tx)
        .await?;
        let details = json!({ "test_page": id, "user": new.user_id, "channel": new.channel });
        w.audit(audit_record(at, actor, "test_page.sent", format!("contact_method:{}", new.contact_method), details))
            .await?;
        w.enqueue(WorkKind::NotifyTest, work(id), at, at, &Lane::ContactMethod(new.contact_method.clone())).await?;
        w.commit(&self.signal).await?;
        Ok(TestPage {
            id,
            user_id: new.user_id.clone(),
            contact_method: new.contact_method.clone(),
            channel: new.channel.clone(),
            status: TestPageStatus::Queued,
            attempts: 0,
            requested_at: at,
            requested_by: actor.to_string(),
            sent_at: None,
            last_error: None,
        })
    }

    async fn get_test_page(&self, id: i64) -> Result<Option<TestPage>> {
        let sql = format!("SELECT {COLUMNS} FROM test_pages WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.read).await?;
        row.as_ref().map(test_page_from_row).transpose()
    }

    async fn latest_test_pages(&self, user_id: &str) -> Result<Vec<TestPage>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM test_pages WHERE id IN \
             (SELECT MAX(id) FROM test_pages WHERE user_id = $1 GROUP BY contact_method) ORDER BY contact_method"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(user_id).fetch_all(&self.read).await?;
        rows.iter().map(test_page_from_row).collect()
    }

    async fn prune_test_pages(&self, before: DateTime<Utc>, limit: i64) -> Result<u64> {
        if limit <= 0 {
            return Ok(0);
        }
        let mut w = begin_write(&self.write).await?;
        let n = sqlx::query(
            "DELETE FROM test_pages WHERE id IN (SELECT t.id FROM test_pages t WHERE t.requested_at < $1 \
             AND t.status <> 'queued' AND EXISTS (SELECT 1 FROM test_pages newer \
             WHERE newer.contact_method = t.contact_method AND newer.id > t.id) ORDER BY t.id LIMIT $2)",
        )
        .bind(to_us(before))
        .bind(limit)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit(&self.signal).await?;
        Ok(n)
    }

    async fn record_test_page(
        &self,
        u: &TestPageUpdate,
        complete: Option<(i64, String)>,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut w = begin_relaxed(&self.write).await?;
        if let Some((item, worker)) = &complete {
            complete_claim(&mut w, *item, worker, at).await?;
        }
        let method: Option<String> = sqlx::query_scalar(
            "UPDATE test_pages SET status = $1, attempts = $2, sent_at = $3, last_error = $4 WHERE id = $5 \
             RETURNING contact_method",
        )
        .bind(u.status.as_str())
        .bind(u.attempts)
        .bind(u.sent_at.map(to_us))
        .bind(&u.last_error)
        .bind(u.id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let method = method.ok_or(StoreError::NotFound)?;
        if let Some(due) = retry_at {
            w.enqueue(WorkKind::NotifyTest, work(u.id), due, at, &Lane::ContactMethod(method)).await?;
        }
        w.commit(&self.signal).await
    }
}
