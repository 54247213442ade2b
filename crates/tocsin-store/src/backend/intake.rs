//! Ingestion: read what the batch names, plan in the domain, write in bulk.
//! A commit costs a fixed handful of statements however many events it holds,
//! which is what makes group commit pay off. Alert expiry is a resolve
//! through the same path.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

use tocsin_core::alert::AlertStatus;
use tocsin_core::event::{ChangeEvent, Event, EventAction};
use tocsin_core::holdback::HeldBack;
use tocsin_core::incident::IncidentStatus;
use tocsin_core::intake::{self, AlertRow, IncidentRow, IncidentState, Incoming, NewIds, OpenAlert, Plan};
use tocsin_core::model::IntegrationKind;
use tocsin_core::noise::{NoiseFacts, NoiseRules};
use tocsin_core::timeline::actor;

use super::bulk::{Binds, CHUNK, Script, inline_rows, values_list};
use super::noise::{self, Routed, SilenceCache};
use super::{
    Db, Shared, StoreImpl, Tx, WriteTx, audit_record, begin_on, begin_relaxed, begin_write, clamp_limit, dialect,
};
use crate::batcher::BatchWriter;
use crate::codec::{from_us, json_from, json_to, opt_from_us, parse_enum, to_us};
use crate::wal_sync::WalFile;
use crate::{ChangeRecord, IngestBatch, IngestOutcome, IntakeStore, IntegrationRef, ReleaseSweep, Result, StoreError};

/// The group-commit writer takes a write connection from the pool (on
/// SQLite the one write connection, shared with every other write) and keeps
/// it only while commits follow one another and succeed, so a connection
/// the database dropped is replaced at the next commit.
pub(super) struct Writer {
    pool: sqlx::Pool<Db>,
    signal: Arc<Notify>,
    shared: Arc<Shared>,
    silences: SilenceCache,
    /// SQLite's log: commits do not wait for the disk, and the batcher
    /// answers them after syncing it (see `crate::wal_sync`).
    wal: Option<Arc<WalFile>>,
    /// The write connection, kept from one commit to the next while
    /// requests keep coming (see `BatchWriter::release_connection`).
    held: tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<Db>>>,
}

impl Writer {
    pub(super) fn new(pool: sqlx::Pool<Db>, signal: Arc<Notify>, shared: Arc<Shared>, wal: Option<WalFile>) -> Self {
        Self {
            pool,
            signal,
            shared,
            silences: SilenceCache::default(),
            wal: wal.map(Arc::new),
            held: Default::default(),
        }
    }

    /// One transaction on a connection of its own. A connection that failed
    /// in a way that says the database is unusable (lost, full, read-only)
    /// is closed instead of going back to the pool. Every outcome is
    /// recorded for the readiness check.
    async fn commit(&self, batches: &[&IngestBatch]) -> Result<Vec<Vec<IngestOutcome>>> {
        let mut phase = Phases::start();
        let mut held = self.held.lock().await;
        let kept = held.take();
        let mut conn = match kept {
            Some(conn) => conn,
            None => match self.pool.acquire().await {
                Ok(conn) => conn,
                Err(err) => {
                    let err = StoreError::from(err);
                    self.shared.write_health.record_failure(&err);
                    return Err(err);
                }
            },
        };
        phase.done("acquire");
        let result: Result<Vec<Vec<IngestOutcome>>> = async {
            let begin = if self.wal.is_some() { dialect::BEGIN_RELAXED } else { dialect::BEGIN_WRITE };
            let mut w = begin_on(&mut conn, begin).await?;
            phase.done("begin");
            // One config's rules for the whole commit: batches of one commit
            // arrive within milliseconds of each other.
            let rules = batches.first().map(|b| b.noise.rules.clone()).unwrap_or_default();
            let routed = noise::route(&mut w, batches, &rules).await?;
            phase.done("route");
            let incoming: Vec<Incoming<'_>> = routed.iter().map(Routed::incoming).collect();
            let outcomes = write_events(&mut w, &incoming, &rules, Some(&self.silences)).await?;
            let mut phase = Phases::start();
            w.commit(&self.signal).await?;
            phase.done("commit");
            Ok(answer(batches, &routed, &outcomes))
        }
        .await;
        match &result {
            // Kept for the next commit; any failure hands it back to the pool,
            // whose release check settles what the failed transaction left.
            Ok(_) => *held = Some(conn),
            Err(err) if crate::health::is_unavailable(err) => conn.close_on_drop(),
            Err(_) => {}
        }
        self.shared.write_health.record(result.as_ref().map(|_| ()));
        result
    }
}

#[async_trait]
impl BatchWriter for Writer {
    async fn write(&self, batches: &[&IngestBatch]) -> Result<Vec<Vec<IngestOutcome>>> {
        self.shared.faults.ingest_commit();
        self.commit(batches).await
    }

    fn defers_sync(&self) -> bool {
        self.wal.is_some()
    }

    fn release_connection(&self) {
        if let Ok(mut held) = self.held.try_lock() {
            held.take();
        }
    }

    async fn sync(&self) -> Result<()> {
        let Some(wal) = &self.wal else { return Ok(()) };
        let synced = wal.sync().await;
        if let Err(err) = &synced {
            self.shared.write_health.record_failure(err);
        }
        synced
    }
}

/// One outcome per received event, in order: what its first routed copy
/// did; an event of a routed integration that went nowhere is `unrouted`
/// (a trigger no route took) or `ignored` (nothing open to change).
fn answer(batches: &[&IngestBatch], routed: &[Routed<'_>], outcomes: &[intake::Outcome]) -> Vec<Vec<IngestOutcome>> {
    let mut first: HashMap<usize, intake::Outcome> = HashMap::new();
    for (r, o) in routed.iter().zip(outcomes) {
        first.entry(r.source).or_insert(*o);
    }
    let mut source = 0;
    batches
        .iter()
        .map(|b| {
            b.events
                .iter()
                .map(|event| {
                    let o = first.get(&source).copied();
                    source += 1;
                    let nowhere = if event.action == EventAction::Trigger { "unrouted" } else { "ignored" };
                    IngestOutcome {
                        dedup_key: event.dedup_key.clone(),
                        effect: o.map_or(nowhere, |o| o.effect.as_str()),
                        alert_id: o.and_then(|o| o.alert_id),
                        incident_id: o.and_then(|o| o.incident_id),
                    }
                })
                .collect()
        })
        .collect()
}

/// Folds events into alerts and incidents inside an open write transaction.
///
/// What the plan decides on is locked first, always in this order: the
/// batch's dedup keys (named locks, so two nodes cannot both open an alert
/// for one key; every writer that changes an alert holds its key's lock),
/// then the incidents of the open alerts (their status and open-alert count
/// are rewritten from what is read here).
///
/// With noise rules, each service with new alerts is locked next (what
/// opens, joins or starts a storm there is decided by one commit at a
/// time), and the facts the rules need are read.
pub(super) async fn write_events(
    w: &mut WriteTx<'_>,
    incoming: &[Incoming<'_>],
    rules: &NoiseRules,
    silences: Option<&SilenceCache>,
) -> Result<Vec<intake::Outcome>> {
    let mut phase = Phases::start();
    w.lock_names(incoming.iter().map(|i| dedup_lock(i.service_id, &i.event.dedup_key))).await?;
    let open = load_open_alerts(&mut w.tx, incoming).await?;
    let mut incidents = load_incident_states(&mut w.tx, open.values().filter_map(|a| a.incident_id).collect()).await?;
    phase.done("read");
    let facts = match silences {
        Some(cache) if !rules.services.is_empty() => {
            w.lock_names(
                incoming
                    .iter()
                    .filter(|i| i.event.action == EventAction::Trigger && rules.service(i.service_id).is_some())
                    .map(|i| noise::noise_lock(i.service_id)),
            )
            .await?;
            noise::load_facts(&mut w.tx, incoming, rules, cache, &mut incidents).await?
        }
        _ => NoiseFacts::default(),
    };
    phase.done("noise_facts");
    let ids = reserve_ids(&mut w.tx, intake::openings(incoming, &open)).await?;
    phase.done("reserve_ids");
    let plan = intake::plan_with_noise(incoming, &open, &incidents, &ids, rules, facts)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    phase.done("plan");
    write_plan(w, incoming, &plan).await?;
    phase.done("write");
    Ok(plan.outcomes)
}

/// Where an ingest commit's time goes, phase by phase
/// (`tocsin_store_ingest_phase_seconds{phase}`): what to look at first when
/// ingestion is slow.
pub(super) struct Phases(std::time::Instant);

impl Phases {
    pub(super) fn start() -> Self {
        Self(std::time::Instant::now())
    }

    /// Records the time since the previous phase ended as `phase`.
    pub(super) fn done(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        metrics::histogram!("tocsin_store_ingest_phase_seconds", "phase" => phase)
            .record(now.duration_since(self.0).as_secs_f64());
        self.0 = now;
    }
}

/// A `held_back` column's value: NULL when nothing held it back.
fn held_back_text(reasons: &[HeldBack]) -> Option<String> {
    (!reasons.is_empty()).then(|| json_to(&reasons))
}

/// The named lock for one (service, dedup key).
pub(super) fn dedup_lock(service_id: &str, dedup_key: &str) -> String {
    format!("alert\u{1f}{service_id}\u{1f}{dedup_key}")
}

/// Ids for `n` new incidents and alerts: from the sequences where nodes
/// write at once, else after the largest stored ones.
async fn reserve_ids(tx: &mut Tx<'_>, n: usize) -> Result<NewIds> {
    if n == 0 {
        return Ok(NewIds::default());
    }
    let count = i64::try_from(n).map_err(|_| StoreError::Corrupt("batch too large".into()))?;
    if let Some(reserve) = dialect::RESERVE_IDS {
        let rows: Vec<(i64, i64)> = sqlx::query_as(reserve).bind(count).fetch_all(&mut **tx).await?;
        let (mut incidents, mut alerts): (Vec<i64>, Vec<i64>) = rows.into_iter().unzip();
        incidents.sort_unstable();
        alerts.sort_unstable();
        return Ok(NewIds { incidents, alerts });
    }
    let (max_incident, max_alert): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE((SELECT MAX(id) FROM incidents), 0), COALESCE((SELECT MAX(id) FROM alerts), 0)",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(NewIds::consecutive(max_incident + 1, max_alert + 1, n))
}

async fn load_open_alerts(tx: &mut Tx<'_>, incoming: &[Incoming<'_>]) -> Result<HashMap<(String, String), OpenAlert>> {
    let mut keys: Vec<(&str, &str)> = incoming.iter().map(|i| (i.service_id, i.event.dedup_key.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut open = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "SELECT a.id, a.service_id, a.dedup_key, a.status, a.incident_id FROM alerts a JOIN ({}) q \
             ON a.service_id = q.s AND a.dedup_key = q.k WHERE a.status <> 'resolved'",
            inline_rows(&["s", "k"], chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (service, key) in chunk {
            q = q.bind(service.to_string()).bind(key.to_string());
        }
        for r in q.fetch_all(&mut **tx).await? {
            let alert = OpenAlert {
                id: r.try_get("id")?,
                status: parse_enum("alerts.status", &r.try_get::<String, _>("status")?, AlertStatus::parse)?,
                incident_id: r.try_get("incident_id")?,
            };
            open.insert((r.try_get("service_id")?, r.try_get("dedup_key")?), alert);
        }
    }
    Ok(open)
}

pub(super) async fn load_incident_states(tx: &mut Tx<'_>, mut ids: Vec<i64>) -> Result<HashMap<i64, IncidentState>> {
    ids.sort_unstable();
    ids.dedup();
    let mut states = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT i.id, i.service_id, i.status, i.open_alerts, CAST(CASE WHEN i.held_back IS NULL THEN 0 ELSE 1 END AS BIGINT) AS quiet, \
             i.next_update_at FROM incidents i JOIN ({}) q ON i.id = q.id ORDER BY i.id{}",
            inline_rows(&["id"], chunk.len()),
            dialect::LOCK_INCIDENT_ROWS
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut **tx).await? {
            let state = IncidentState {
                service_id: r.try_get("service_id")?,
                status: parse_enum("incidents.status", &r.try_get::<String, _>("status")?, IncidentStatus::parse)?,
                open_alerts: r.try_get("open_alerts")?,
                quiet: r.try_get::<i64, _>("quiet")? == 1,
                next_update_at: opt_from_us(r.try_get("next_update_at")?)?,
            };
            states.insert(r.try_get("id")?, state);
        }
    }
    Ok(states)
}

pub(super) async fn write_plan(w: &mut WriteTx<'_>, incoming: &[Incoming<'_>], plan: &Plan) -> Result<()> {
    let mut script = Script::default();
    let event = |idx: Option<usize>| idx.and_then(|i| incoming.get(i)).map(|i| i.event);
    let (new_incidents, changed_incidents): (Vec<&IncidentRow>, Vec<&IncidentRow>) =
        plan.incidents.iter().partition(|i| i.is_new);
    let (new_alerts, changed_alerts): (Vec<&AlertRow>, Vec<&AlertRow>) = plan.alerts.iter().partition(|a| a.is_new);

    for chunk in new_incidents.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO incidents (id, service_id, title, severity, status, created_at, acknowledged_at, acknowledged_by, \
             resolved_at, resolved_by, alert_count, open_alerts, held_back, group_key, storm, next_update_at) VALUES {}",
            values_list(chunk.len(), 16)
        );
        let mut q = Binds::new(sql);
        for i in chunk {
            let opened = event(i.opened_by).ok_or_else(|| StoreError::Corrupt("incident without its event".into()))?;
            q = q
                .bind(i.id)
                .bind(i.service_id.clone())
                .bind(i.title.clone().unwrap_or_else(|| opened.summary.clone()))
                .bind(opened.severity.as_str())
                .bind(i.status.as_str())
                .bind(to_us(i.created_at))
                .bind(i.acknowledged_at.map(to_us))
                .bind(i.acknowledged_by.clone())
                .bind(i.resolved_at.map(to_us))
                .bind(i.resolved_by.clone())
                .bind(i.alerts_added)
                .bind(i.open_alerts)
                .bind(held_back_text(&i.held_back))
                .bind(i.group_key.clone())
                .bind(i64::from(i.storm))
                .bind(i.next_update_at.map(to_us));
        }
        script.push(q);
    }
    for chunk in new_alerts.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO alerts (id, service_id, integration_id, kind, dedup_key, status, summary, severity, source, labels, \
             details, links, first_seen, last_seen, occurrences, acknowledged_at, resolved_at, expires_at, incident_id, \
             held_back) VALUES {}",
            values_list(chunk.len(), 20)
        );
        let mut q = Binds::new(sql);
        for a in chunk {
            let e = event(a.content_from).ok_or_else(|| StoreError::Corrupt("alert without its event".into()))?;
            q = q
                .bind(a.id)
                .bind(a.service_id.clone())
                .bind(a.integration_id.clone())
                .bind(a.kind.as_str())
                .bind(a.dedup_key.clone())
                .bind(a.status.as_str())
                .bind(e.summary.clone())
                .bind(e.severity.as_str())
                .bind(e.source.clone())
                .bind(json_to(&e.labels))
                .bind(e.details.to_string())
                .bind(json_to(&e.links))
                .bind(to_us(a.first_seen))
                .bind(to_us(a.last_seen))
                .bind(a.occurrences)
                .bind(a.acknowledged_at.map(to_us))
                .bind(a.resolved_at.map(to_us))
                .bind(e.expires_at.map(to_us))
                .bind(a.incident_id)
                .bind(held_back_text(&a.held_back));
        }
        script.push(q);
    }
    for chunk in changed_alerts.chunks(CHUNK) {
        let columns = [
            "id",
            "status",
            "added",
            "last_seen",
            "ack",
            "res",
            "content",
            "summary",
            "severity",
            "source",
            "labels",
            "details",
            "links",
            "expires_at",
            "released",
        ];
        let sql = format!(
            "UPDATE alerts SET status = u.status, occurrences = alerts.occurrences + u.added, last_seen = u.last_seen, \
             acknowledged_at = COALESCE(u.ack, alerts.acknowledged_at), resolved_at = COALESCE(u.res, alerts.resolved_at), \
             summary = COALESCE(u.summary, alerts.summary), severity = COALESCE(u.severity, alerts.severity), \
             source = CASE WHEN u.content = 1 THEN u.source ELSE alerts.source END, \
             labels = COALESCE(u.labels, alerts.labels), details = COALESCE(u.details, alerts.details), \
             links = COALESCE(u.links, alerts.links), \
             expires_at = CASE WHEN u.content = 1 THEN u.expires_at ELSE alerts.expires_at END, \
             held_back = CASE WHEN u.released = 1 THEN NULL ELSE alerts.held_back END \
             FROM ({}) AS u WHERE alerts.id = u.id",
            inline_rows(&columns, chunk.len())
        );
        let mut q = Binds::new(sql);
        for a in chunk {
            let e = event(a.content_from);
            q = q
                .bind(a.id)
                .bind(a.status.as_str())
                .bind(a.occurrences)
                .bind(to_us(a.last_seen))
                .bind(a.acknowledged_at.map(to_us))
                .bind(a.resolved_at.map(to_us))
                .bind(i64::from(e.is_some()))
                .bind(e.map(|e| e.summary.clone()))
                .bind(e.map(|e| e.severity.as_str()))
                .bind(e.and_then(|e| e.source.clone()))
                .bind(e.map(|e| json_to(&e.labels)))
                .bind(e.map(|e| e.details.to_string()))
                .bind(e.map(|e| json_to(&e.links)))
                .bind(e.and_then(|e| e.expires_at.map(to_us)))
                .bind(i64::from(a.released));
        }
        script.push(q);
    }
    for chunk in changed_incidents.chunks(CHUNK) {
        let columns =
            ["id", "status", "open_alerts", "added", "ack_at", "ack_by", "res_at", "res_by", "next_update", "released"];
        let sql = format!(
            "UPDATE incidents SET status = u.status, open_alerts = u.open_alerts, alert_count = incidents.alert_count + u.added, \
             next_update_at = COALESCE(u.next_update, incidents.next_update_at), \
             held_back = CASE WHEN u.released = 1 THEN NULL ELSE incidents.held_back END, \
             acknowledged_at = COALESCE(u.ack_at, incidents.acknowledged_at), \
             acknowledged_by = COALESCE(u.ack_by, incidents.acknowledged_by), \
             resolved_at = COALESCE(u.res_at, incidents.resolved_at), resolved_by = COALESCE(u.res_by, incidents.resolved_by) \
             FROM ({}) AS u WHERE incidents.id = u.id",
            inline_rows(&columns, chunk.len())
        );
        let mut q = Binds::new(sql);
        for i in chunk {
            q = q
                .bind(i.id)
                .bind(i.status.as_str())
                .bind(i.open_alerts)
                .bind(i.alerts_added)
                .bind(i.acknowledged_at.map(to_us))
                .bind(i.acknowledged_by.clone())
                .bind(i.resolved_at.map(to_us))
                .bind(i.resolved_by.clone())
                .bind(i.next_update_at.map(to_us))
                .bind(i64::from(i.released));
        }
        script.push(q);
    }
    for chunk in plan.timeline.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO timeline (incident_id, at, kind, actor, payload) VALUES {}",
            values_list(chunk.len(), 5)
        );
        let mut q = Binds::new(sql);
        for t in chunk {
            q = q
                .bind(t.incident_id)
                .bind(to_us(t.at))
                .bind(t.kind.as_str())
                .bind(t.actor.clone())
                .bind(t.payload.to_string());
        }
        script.push(q);
    }
    w.audit.extend(plan.audit.iter().cloned());
    for chunk in plan.outbox.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO outbox (kind, payload, due_at, created_at, priority, lane) VALUES {}",
            values_list(chunk.len(), 6)
        );
        let mut q = Binds::new(sql);
        for o in chunk {
            q = q
                .bind(o.kind.as_str())
                .bind(o.payload.to_string())
                .bind(to_us(o.due_at))
                .bind(to_us(o.due_at))
                .bind(crate::outbox::priority(o.kind, o.due_at, o.due_at))
                .bind(o.service_id.clone());
        }
        script.push(q);
        w.queued_work = true;
    }
    script.run(&mut w.tx).await
}

#[async_trait]
impl IntakeStore for StoreImpl {
    async fn ingest(&self, batch: IngestBatch) -> Result<Vec<IngestOutcome>> {
        if batch.events.is_empty() {
            return Ok(Vec::new());
        }
        for event in &batch.events {
            event.check_storable()?;
        }
        self.batcher.submit(batch).await
    }

    async fn record_change(&self, origin: &IntegrationRef, change: &ChangeEvent, at: DateTime<Utc>) -> Result<i64> {
        change.check_storable()?;
        let mut w = begin_write(&self.write).await?;
        let who = actor::integration(&origin.id);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO service_changes (service_id, at, occurred_at, summary, source, actor, details, links) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&origin.service_id)
        .bind(to_us(at))
        .bind(change.occurred_at.map(to_us))
        .bind(&change.summary)
        .bind(&change.source)
        .bind(&who)
        .bind(change.details.to_string())
        .bind(json_to(&change.links))
        .fetch_one(&mut *w.tx)
        .await?;
        w.audit(audit_record(
            at,
            &who,
            "service.change",
            format!("service:{}", origin.service_id),
            json!({"change_id": id, "summary": change.summary}),
        ))
        .await?;
        w.commit(&self.signal).await?;
        Ok(id)
    }

    async fn list_changes(&self, service_id: &str, limit: i64) -> Result<Vec<ChangeRecord>> {
        let rows = sqlx::query(
            "SELECT id, service_id, at, occurred_at, summary, source, actor, details, links FROM service_changes \
             WHERE service_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(service_id)
        .bind(clamp_limit(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChangeRecord {
                    id: r.try_get("id")?,
                    service_id: r.try_get("service_id")?,
                    at: from_us(r.try_get("at")?)?,
                    occurred_at: opt_from_us(r.try_get("occurred_at")?)?,
                    summary: r.try_get("summary")?,
                    source: r.try_get("source")?,
                    actor: r.try_get("actor")?,
                    details: json_from("service_changes.details", &r.try_get::<String, _>("details")?)?,
                    links: json_from("service_changes.links", &r.try_get::<String, _>("links")?)?,
                })
            })
            .collect()
    }

    async fn release_quiet_incidents(
        &self,
        now: DateTime<Utc>,
        rules: &NoiseRules,
        after: i64,
        limit: i64,
    ) -> Result<ReleaseSweep> {
        self.sweep_quiet(now, rules, after, limit).await
    }

    async fn expire_alerts(&self, now: DateTime<Utc>, limit: i64) -> Result<usize> {
        // Read first: most sweeps find nothing and should not take the write lock.
        let due: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM alerts WHERE status <> 'resolved' AND expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(to_us(now))
        .fetch_one(&self.read)
        .await?;
        if due == 0 {
            return Ok(0);
        }
        let mut w = begin_relaxed(&self.write).await?;
        let rows = sqlx::query(
            "SELECT service_id, integration_id, kind, dedup_key FROM alerts \
             WHERE status <> 'resolved' AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(to_us(now))
        .bind(limit)
        .fetch_all(&mut *w.tx)
        .await?;
        // An expiry is a resolve from the sender that went quiet.
        let mut expired = Vec::with_capacity(rows.len());
        for r in &rows {
            let service_id: String = r.try_get("service_id")?;
            let integration_id: String = r.try_get("integration_id")?;
            let kind = parse_enum("alerts.kind", &r.try_get::<String, _>("kind")?, IntegrationKind::parse)?;
            let event = Event::resolve(r.try_get("dedup_key")?);
            expired.push((service_id, integration_id, kind, event));
        }
        let incoming: Vec<Incoming<'_>> = expired
            .iter()
            .map(|(service_id, integration_id, kind, event)| Incoming {
                service_id,
                integration_id,
                kind: *kind,
                event,
                at: now,
            })
            .collect();
        write_events(&mut w, &incoming, &NoiseRules::default(), None).await?;
        w.commit(&self.signal).await?;
        Ok(rows.len())
    }
}
