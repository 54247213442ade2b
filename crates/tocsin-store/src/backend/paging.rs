//! Paging: escalations, notifications, rate-limit windows and server
//! secrets, and the engine step that writes them together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};
use tocsin_core::work::WorkKind;

use super::incidents::load_incident;
use super::{Db, DbRow, StoreImpl, WriteTx, audit_record, begin_write};
use crate::codec::{from_us, json_from, json_to, opt_from_us, to_us};
use crate::{
    EngineStep, EscalationRow, EscalationWrite, HeldSummary, Lane, NotificationRow, PagingStore, Result, StoreError,
};
const NOTIFICATION_COLUMNS: &str = "id, incident_id, user_id, contact_method, channel, episode, idempotency_key, \
     status, attempts, due_at, created_at, sent_at, last_error";

fn notification_from_row(r: &DbRow) -> Result<NotificationRow> {
    Ok(NotificationRow {
        id: r.try_get("id")?,
        incident_id: r.try_get("incident_id")?,
        user_id: r.try_get("user_id")?,
        contact_method: r.try_get("contact_method")?,
        channel: r.try_get("channel")?,
        episode: r.try_get("episode")?,
        idempotency_key: r.try_get("idempotency_key")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        due_at: from_us(r.try_get("due_at")?)?,
        created_at: from_us(r.try_get("created_at")?)?,
        sent_at: opt_from_us(r.try_get("sent_at")?)?,
        last_error: r.try_get("last_error")?,
    })
}

fn escalation_from_row(r: &DbRow) -> Result<EscalationRow> {
    Ok(EscalationRow {
        incident_id: r.try_get("incident_id")?,
        policy_id: r.try_get("policy_id")?,
        state: json_from("escalations.state", &r.try_get::<String, _>("state")?)?,
        episode: r.try_get("episode")?,
        version: r.try_get("version")?,
    })
}

/// Completes outbox item `id` for the `worker` holding its claim, or fails
/// with `Conflict` when the claim was lost (a lease ran out, another node
/// took it over).
pub(super) async fn complete_claim(w: &mut WriteTx<'_>, id: i64, worker: &str, at: DateTime<Utc>) -> Result<()> {
    let done = sqlx::query(
        "UPDATE outbox SET done_at = $1, lease_until = NULL WHERE id = $2 AND claimed_by = $3 AND done_at IS NULL",
    )
    .bind(to_us(at))
    .bind(id)
    .bind(worker)
    .execute(&mut *w.tx)
    .await?;
    expect_one(done, "outbox claim")
}

/// Fails the step unless exactly one row changed: someone else moved the
/// escalation on, or took over the outbox claim, since it was read.
fn expect_one(done: <Db as sqlx::Database>::QueryResult, what: &str) -> Result<()> {
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::Conflict(format!("{what} changed concurrently"))) }
}

async fn write_escalation(w: &mut WriteTx<'_>, e: &EscalationWrite, at: DateTime<Utc>) -> Result<()> {
    match e {
        EscalationWrite::Insert { incident_id, policy_id, status, state, episode } => {
            let done = sqlx::query(
                "INSERT INTO escalations (incident_id, policy_id, status, state, episode, version, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT (incident_id) DO NOTHING",
            )
            .bind(incident_id)
            .bind(policy_id)
            .bind(status)
            .bind(state.to_string())
            .bind(episode)
            .bind(to_us(at))
            .execute(&mut *w.tx)
            .await?;
            expect_one(done, "escalation")
        }
        EscalationWrite::Update { incident_id, status, state, episode, expected_version } => {
            let done = sqlx::query(
                "UPDATE escalations SET status = $1, state = $2, episode = $3, version = version + 1, updated_at = $4 \
                 WHERE incident_id = $5 AND version = $6",
            )
            .bind(status)
            .bind(state.to_string())
            .bind(episode)
            .bind(to_us(at))
            .bind(incident_id)
            .bind(expected_version)
            .execute(&mut *w.tx)
            .await?;
            expect_one(done, "escalation")
        }
    }
}

async fn retrigger_in_tx(w: &mut WriteTx<'_>, incident_id: i64) -> Result<()> {
    let incident = load_incident(&mut w.tx, incident_id).await?;
    let status = incident.status.retrigger()?;
    sqlx::query("UPDATE incidents SET status = $1, acknowledged_at = NULL, acknowledged_by = NULL WHERE id = $2")
        .bind(status.as_str())
        .bind(incident_id)
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

#[async_trait]
impl PagingStore for StoreImpl {
    async fn get_escalation(&self, incident_id: i64) -> Result<Option<EscalationRow>> {
        let row = sqlx::query(
            "SELECT incident_id, policy_id, state, episode, version FROM escalations WHERE incident_id = $1",
        )
        .bind(incident_id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(escalation_from_row).transpose()
    }

    async fn open_escalations(&self, limit: i64) -> Result<Vec<EscalationRow>> {
        let rows = sqlx::query(
            "SELECT incident_id, policy_id, state, episode, version FROM escalations WHERE status <> 'resolved' \
             ORDER BY incident_id DESC LIMIT $1",
        )
        .bind(limit.max(0))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(escalation_from_row).collect()
    }

    async fn apply_step(&self, step: &EngineStep) -> Result<()> {
        self.steps.apply(step).await
    }

    async fn get_notification(&self, id: i64) -> Result<Option<NotificationRow>> {
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.read).await?;
        row.as_ref().map(notification_from_row).transpose()
    }

    async fn incident_notifications(&self, incident_id: i64) -> Result<Vec<NotificationRow>> {
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE incident_id = $1 ORDER BY id");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(incident_id).fetch_all(&self.read).await?;
        rows.iter().map(notification_from_row).collect()
    }

    async fn held_notifications(
        &self,
        contact_method: &str,
        through_id: i64,
        limit: i64,
    ) -> Result<Vec<NotificationRow>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE contact_method = $1 AND status = 'held' \
             AND id <= $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(contact_method)
            .bind(through_id)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(notification_from_row).collect()
    }

    async fn held_summary(&self, contact_method: &str) -> Result<HeldSummary> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MAX(id) AS last FROM notifications WHERE contact_method = $1 AND status = 'held'",
        )
        .bind(contact_method)
        .fetch_one(&self.read)
        .await?;
        Ok(HeldSummary { count: row.try_get("n")?, last_id: row.try_get::<Option<i64>, _>("last")?.unwrap_or(0) })
    }

    async fn held_after(&self, contact_method: &str, after_id: i64) -> Result<bool> {
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(id) FROM notifications WHERE contact_method = $1 AND status = 'held' AND id > $2",
        )
        .bind(contact_method)
        .bind(after_id)
        .fetch_one(&self.read)
        .await?;
        Ok(first.is_some())
    }

    async fn pending_notification(
        &self,
        incident_id: i64,
        user_id: &str,
        contact_method: &str,
        episode: i64,
        after: DateTime<Utc>,
    ) -> Result<Option<NotificationRow>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE incident_id = $1 AND user_id = $2 \
             AND contact_method = $3 AND episode = $4 AND status = 'pending' AND due_at > $5 ORDER BY due_at, id LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(incident_id)
            .bind(user_id)
            .bind(contact_method)
            .bind(episode)
            .bind(to_us(after))
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(notification_from_row).transpose()
    }

    async fn method_window(&self, contact_method: &str) -> Result<Vec<DateTime<Utc>>> {
        let sent: Option<String> = sqlx::query_scalar("SELECT sent FROM method_windows WHERE contact_method = $1")
            .bind(contact_method)
            .fetch_optional(&self.read)
            .await?;
        let Some(sent) = sent else { return Ok(Vec::new()) };
        let micros: Vec<i64> = json_from("method_windows.sent", &sent)?;
        micros.into_iter().map(from_us).collect()
    }

    async fn server_secret(&self, name: &str, generated: &str, at: DateTime<Utc>) -> Result<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(generated)
        .bind(to_us(at))
        .execute(&self.write)
        .await?;
        Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.write)
            .await?)
    }

    async fn request_incident_work(
        &self,
        incident_id: i64,
        kind: WorkKind,
        payload: serde_json::Value,
        who: &str,
        action: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut w = begin_write(&self.write).await?;
        let incident = load_incident(&mut w.tx, incident_id).await?;
        if !incident.status.is_open() {
            return Err(StoreError::Conflict(format!("incident {incident_id} is resolved")));
        }
        w.audit(audit_record(at, who, action, format!("incident:{incident_id}"), payload.clone())).await?;
        let mut work = payload;
        if let Some(map) = work.as_object_mut() {
            map.insert("incident_id".into(), json!(incident_id));
            map.insert("actor".into(), json!(who));
        }
        w.enqueue(kind, work, at, at, &Lane::Incident(incident_id)).await?;
        w.commit(&self.signal).await
    }
}

/// Writes one engine step inside `w`: everything it does, or (on a
/// `Conflict` or any error) nothing once the transaction rolls back.
pub(super) async fn write_step(w: &mut WriteTx<'_>, step: &EngineStep) -> Result<()> {
    let at = step.at;
    if let Some((id, worker)) = &step.complete {
        complete_claim(w, *id, worker, at).await?;
    }
    if let Some(e) = &step.escalation {
        write_escalation(w, e, at).await?;
    }
    if let Some(incident_id) = step.retrigger {
        retrigger_in_tx(w, incident_id).await?;
    }
    if let Some(incident_id) = step.group_update_sent {
        sqlx::query("UPDATE incidents SET next_update_at = NULL WHERE id = $1")
            .bind(incident_id)
            .execute(&mut *w.tx)
            .await?;
    }
    if let Some((incident_id, episode)) = step.cancel_before_episode {
        sqlx::query(
            "UPDATE notifications SET status = 'cancelled' \
             WHERE incident_id = $1 AND episode < $2 AND status IN ('pending', 'held')",
        )
        .bind(incident_id)
        .bind(episode)
        .execute(&mut *w.tx)
        .await?;
    }
    for t in &step.timeline {
        w.timeline(t.incident_id, at, t.kind, &t.actor, t.payload.clone()).await?;
    }
    for record in &step.audit {
        w.audit(record.clone()).await?;
    }
    for n in &step.notifications {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notifications (incident_id, user_id, contact_method, channel, episode, idempotency_key, \
             status, attempts, due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8) RETURNING id",
        )
        .bind(n.incident_id)
        .bind(&n.user_id)
        .bind(&n.contact_method)
        .bind(&n.channel)
        .bind(n.episode)
        .bind(&n.idempotency_key)
        .bind(to_us(n.due_at))
        .bind(to_us(at))
        .fetch_one(&mut *w.tx)
        .await?;
        w.enqueue(WorkKind::NotifySend, json!({"notification_id": id}), n.due_at, at, &Lane::Incident(n.incident_id))
            .await?;
    }
    for u in &step.notification_updates {
        sqlx::query("UPDATE notifications SET status = $1, attempts = $2, sent_at = $3, last_error = $4 WHERE id = $5")
            .bind(&u.status)
            .bind(u.attempts)
            .bind(u.sent_at.map(to_us))
            .bind(&u.last_error)
            .bind(u.id)
            .execute(&mut *w.tx)
            .await?;
    }
    for work in &step.outbox {
        w.enqueue(work.kind, work.payload.clone(), work.due_at, at, &work.lane).await?;
    }
    if let Some((method, sent)) = &step.method_window {
        let sent: Vec<i64> = sent.iter().map(|t| to_us(*t)).collect();
        sqlx::query(
            "INSERT INTO method_windows (contact_method, sent) VALUES ($1, $2) \
             ON CONFLICT (contact_method) DO UPDATE SET sent = excluded.sent",
        )
        .bind(method)
        .bind(json_to(&sent))
        .execute(&mut *w.tx)
        .await?;
    }
    Ok(())
}
