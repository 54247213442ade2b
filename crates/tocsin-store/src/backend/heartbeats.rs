//! Heartbeat monitors: one row each, written by config apply, moved by
//! pings, marked by the monitor. The row lock orders a ping and a check of
//! one monitor (`FOR UPDATE` on PostgreSQL; SQLite has one writer); each
//! then folds its event in with the intake's own planning (`write_events`),
//! which takes the alert's dedup lock after it.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashSet;

use tocsin_core::heartbeat::{self, Heartbeat, HeartbeatAction, HeartbeatState};
use tocsin_core::intake::{Effect, Incoming};
use tocsin_core::model::{HeartbeatSpec, IntegrationKind};
use tocsin_core::noise::NoiseRules;

use super::catalog::key_hint;
use super::intake::write_events;
use super::{DbRow, StoreImpl, WriteTx, begin_relaxed, begin_write, dialect};
use crate::codec::{from_us, opt_from_us, to_us};
use crate::{HeartbeatRef, HeartbeatRow, HeartbeatStore, Missed, Ping, Result, StoreError};

const COLUMNS: &str = "id, service_id, key_hint, interval_us, grace_us, created_at, last_ping_at, deadline_at, \
                       missed_at, missed_service_id";

/// The later of the stored last ping and `$2`.
const LATEST_PING: &str = "CASE WHEN last_ping_at IS NULL OR last_ping_at < $2 THEN $2 ELSE last_ping_at END";

/// A monitor row as the domain reads it, with what only the store keeps.
struct Stored {
    heartbeat: Heartbeat,
    state: HeartbeatState,
    key_hint: String,
    deadline: DateTime<Utc>,
    missed_at: Option<DateTime<Utc>>,
    missed_service_id: Option<String>,
}

fn stored_from_row(r: &DbRow) -> Result<Stored> {
    let missed_at = opt_from_us(r.try_get("missed_at")?)?;
    Ok(Stored {
        heartbeat: Heartbeat {
            id: r.try_get("id")?,
            service: r.try_get("service_id")?,
            interval: Duration::microseconds(r.try_get("interval_us")?),
            grace: Duration::microseconds(r.try_get("grace_us")?),
        },
        state: HeartbeatState {
            last_ping: opt_from_us(r.try_get("last_ping_at")?)?,
            created_at: from_us(r.try_get("created_at")?)?,
            open_incident: missed_at.is_some(),
        },
        key_hint: r.try_get("key_hint")?,
        deadline: from_us(r.try_get("deadline_at")?)?,
        missed_at,
        missed_service_id: r.try_get("missed_service_id")?,
    })
}

/// Microseconds of a duration config validated (at most
/// [`heartbeat::MAX_PERIOD`]).
fn micros(d: Duration) -> i64 {
    d.num_microseconds().unwrap_or(i64::MAX)
}

/// Makes the stored monitors match `specs` inside a config apply: removed
/// ones deleted, new ones counted from `now`, changed ones keep their last
/// ping (and an open alert), with the deadline recomputed from the row as
/// it is at write time. Keys are stored as their hash, like integration keys.
pub(super) async fn write_heartbeats(w: &mut WriteTx<'_>, specs: &[HeartbeatSpec], now: DateTime<Utc>) -> Result<()> {
    for (index, spec) in specs.iter().enumerate() {
        spec.heartbeat().validate(&format!("heartbeats[{index}]"))?;
    }
    // Rows are locked in id order, as the monitor locks them, so the two
    // never wait on each other in a cycle.
    let sql = AssertSqlSafe(format!("SELECT id FROM heartbeats ORDER BY id{}", dialect::LOCK_ROWS));
    let stored: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *w.tx).await?;
    let declared: HashSet<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    for id in stored.iter().filter(|id| !declared.contains(id.as_str())) {
        sqlx::query("DELETE FROM heartbeats WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
    }
    let mut specs: Vec<&HeartbeatSpec> = specs.iter().collect();
    specs.sort_by(|a, b| a.id.cmp(&b.id));
    for spec in specs {
        let hash = tocsin_core::auth::hash_secret(&spec.key);
        // A key that moved here from another monitor frees its hash first;
        // that monitor gets its own new key further on (every row left is
        // declared).
        sqlx::query("UPDATE heartbeats SET key_hash = 'moving:' || id WHERE key_hash = $1 AND id <> $2")
            .bind(&hash)
            .bind(&spec.id)
            .execute(&mut *w.tx)
            .await?;
        let (interval, grace) = (micros(spec.interval), micros(spec.grace));
        sqlx::query(
            "INSERT INTO heartbeats (id, service_id, key_hash, key_hint, interval_us, grace_us, created_at, deadline_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, key_hash = excluded.key_hash, \
             key_hint = excluded.key_hint, interval_us = excluded.interval_us, grace_us = excluded.grace_us, \
             deadline_at = COALESCE(heartbeats.last_ping_at, heartbeats.created_at) + excluded.interval_us + excluded.grace_us",
        )
        .bind(&spec.id)
        .bind(&spec.service)
        .bind(&hash)
        .bind(key_hint(&spec.key))
        .bind(interval)
        .bind(grace)
        .bind(to_us(now))
        .bind(to_us(now).saturating_add(interval).saturating_add(grace))
        .execute(&mut *w.tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl HeartbeatStore for StoreImpl {
    async fn find_heartbeat(&self, key_hash: &str) -> Result<Option<HeartbeatRef>> {
        let row = sqlx::query("SELECT id, service_id FROM heartbeats WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| Ok(HeartbeatRef { id: r.try_get("id")?, service_id: r.try_get("service_id")? })).transpose()
    }

    async fn ping_heartbeat(&self, id: &str, at: DateTime<Utc>) -> Result<Option<Ping>> {
        let mut w = begin_write(&self.write).await?;
        let sql = AssertSqlSafe(format!(
            "UPDATE heartbeats SET last_ping_at = {LATEST_PING}, deadline_at = {LATEST_PING} + interval_us + grace_us \
             WHERE id = $1 RETURNING {COLUMNS}"
        ));
        let Some(row) = sqlx::query(sql).bind(id).bind(to_us(at)).fetch_optional(&mut *w.tx).await? else {
            return Ok(None);
        };
        let stored = stored_from_row(&row)?;
        let mut resolved_incident = None;
        if heartbeat::check(&stored.heartbeat, &stored.state, at) == HeartbeatAction::Resolve {
            // The alert is on the service the monitor had when it opened it.
            let service_id = stored.missed_service_id.as_deref().unwrap_or(&stored.heartbeat.service);
            let event = stored.heartbeat.resolve_event();
            let incoming =
                [Incoming { service_id, integration_id: id, kind: IntegrationKind::Heartbeat, event: &event, at }];
            let outcomes = write_events(&mut w, &incoming, &NoiseRules::default(), None).await?;
            resolved_incident = outcomes.first().filter(|o| o.effect == Effect::Resolved).and_then(|o| o.incident_id);
            sqlx::query("UPDATE heartbeats SET missed_at = NULL, missed_service_id = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit(&self.signal).await?;
        Ok(Some(Ping { heartbeat: stored.heartbeat.id, deadline: stored.deadline, resolved_incident }))
    }

    async fn open_missed_heartbeats(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Missed>> {
        // Read first: most checks find nothing and should not take the write lock.
        let due: Option<String> =
            sqlx::query_scalar("SELECT id FROM heartbeats WHERE missed_at IS NULL AND deadline_at <= $1 LIMIT 1")
                .bind(to_us(now))
                .fetch_optional(&self.read)
                .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut w = begin_relaxed(&self.write).await?;
        // Locked, and so read again after another node's check of the same
        // rows commits: a monitor it marked no longer matches.
        let sql = AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM heartbeats WHERE missed_at IS NULL AND deadline_at <= $1 ORDER BY id LIMIT $2{}",
            dialect::LOCK_ROWS
        ));
        let rows = sqlx::query(sql).bind(to_us(now)).bind(limit.max(1)).fetch_all(&mut *w.tx).await?;
        let mut missed = Vec::with_capacity(rows.len());
        for row in &rows {
            let stored = stored_from_row(row)?;
            if let HeartbeatAction::Open { overdue_since } = heartbeat::check(&stored.heartbeat, &stored.state, now) {
                let event = stored.heartbeat.missed_event(&stored.state, overdue_since);
                missed.push((stored.heartbeat, event));
            }
        }
        if missed.is_empty() {
            return Ok(Vec::new());
        }
        let incoming: Vec<Incoming<'_>> = missed
            .iter()
            .map(|(hb, event)| Incoming {
                service_id: &hb.service,
                integration_id: &hb.id,
                kind: IntegrationKind::Heartbeat,
                event,
                at: now,
            })
            .collect();
        let outcomes = write_events(&mut w, &incoming, &NoiseRules::default(), None).await?;
        for (hb, _) in &missed {
            sqlx::query("UPDATE heartbeats SET missed_at = $2, missed_service_id = service_id WHERE id = $1")
                .bind(&hb.id)
                .bind(to_us(now))
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit(&self.signal).await?;
        if outcomes.len() != missed.len() {
            return Err(StoreError::Corrupt("the intake planned a different number of outcomes".into()));
        }
        Ok(missed
            .into_iter()
            .zip(outcomes)
            .map(|((hb, _), o)| Missed { heartbeat: hb.id, service_id: hb.service, incident_id: o.incident_id })
            .collect())
    }

    async fn next_heartbeat_deadline(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = sqlx::query_scalar("SELECT MIN(deadline_at) FROM heartbeats WHERE missed_at IS NULL")
            .fetch_one(&self.read)
            .await?;
        opt_from_us(next)
    }

    async fn list_heartbeats(&self) -> Result<Vec<HeartbeatRow>> {
        // The open incident: the monitor's unresolved alert on the service it
        // opened it on (or its service), in an incident not resolved by hand.
        let sql = AssertSqlSafe(format!(
            "SELECT {COLUMNS}, (SELECT a.incident_id FROM alerts a JOIN incidents i ON i.id = a.incident_id \
               WHERE a.service_id = COALESCE(heartbeats.missed_service_id, heartbeats.service_id) \
               AND a.dedup_key = $1 || heartbeats.id AND a.status <> 'resolved' AND i.status <> 'resolved' \
               ORDER BY a.id DESC LIMIT 1) AS open_incident \
             FROM heartbeats ORDER BY id"
        ));
        let rows = sqlx::query(sql).bind(heartbeat::dedup_key("")).fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                let stored = stored_from_row(r)?;
                Ok(HeartbeatRow {
                    heartbeat: stored.heartbeat,
                    state: stored.state,
                    key_hint: stored.key_hint,
                    missed_at: stored.missed_at,
                    open_incident: r.try_get("open_incident")?,
                })
            })
            .collect()
    }
}
