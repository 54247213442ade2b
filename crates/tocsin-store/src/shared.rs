// The backend-independent half of a store, compiled once per backend.
//
// `sqlite.rs` and `postgres.rs` each define `Db` (the sqlx database type),
// `Conn` (its connection type) and a `dialect` module with the few statements
// whose text differs, then `include!` this file. That keeps one copy of the
// logic while every query is type-checked against each concrete backend
// (sqlx's `Any` driver cannot carry our types; generic code over
// `sqlx::Database` drowns in trait bounds).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, Pool, Row};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::Notify;

use tocsin_core::CoreError;
use tocsin_core::alert::{Alert, AlertStatus};
use tocsin_core::audit::{AuditRecord, chain_hash};
use tocsin_core::auth::Role;
use tocsin_core::event::{ChangeEvent, Event, EventAction, Link, Severity};
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::intake::{self, AlertRow, IncidentRow, IncidentState, Incoming, NextIds, OpenAlert, Plan};
use tocsin_core::model::{Catalog, IntegrationKind};
use tocsin_core::timeline::{TimelineEntry, TimelineKind, actor};

use crate::batcher::{BatchWriter, Batcher};
use crate::codec::{from_us, json_from, json_to, opt_from_us, parse_enum, to_us};
use crate::*;

type DbRow = <Db as sqlx::Database>::Row;
type Tx<'c> = sqlx::Transaction<'c, Db>;
type Conn = <Db as sqlx::Database>::Connection;

/// A store over one database: a pool for reads, a pool for writes (one
/// connection on SQLite, where there is only ever one writer), and the
/// group-commit queue for ingestion.
pub struct StoreImpl {
    read: Pool<Db>,
    write: Pool<Db>,
    batcher: Batcher,
    signal: Arc<Notify>,
}

/// The group-commit writer keeps one connection of its own, so a commit
/// never waits for the previous one's connection to return to a pool.
struct Writer {
    conn: tokio::sync::Mutex<Conn>,
    signal: Arc<Notify>,
}

impl StoreImpl {
    async fn from_pools(read: Pool<Db>, write: Pool<Db>) -> Result<Self> {
        let signal = Arc::new(Notify::new());
        let conn = write.acquire().await?.detach();
        let writer = Arc::new(Writer { conn: tokio::sync::Mutex::new(conn), signal: signal.clone() });
        Ok(Self { read, write, batcher: Batcher::start(writer), signal })
    }
}

// ---------------------------------------------------------------------------
// Write transactions: every one takes the audit head first. On PostgreSQL the
// row lock serialises writers across nodes, so dedup never races; on SQLite
// the single write connection already does.

struct WriteTx<'c> {
    tx: Tx<'c>,
    head: String,
    head_dirty: bool,
    queued_work: bool,
}

async fn begin_write(pool: &Pool<Db>) -> Result<WriteTx<'static>> {
    lock_head(pool.begin_with(dialect::BEGIN_WRITE).await?).await
}

async fn begin_write_on(conn: &mut Conn) -> Result<WriteTx<'_>> {
    lock_head(sqlx::Connection::begin_with(conn, dialect::BEGIN_WRITE).await?).await
}

async fn lock_head(mut tx: Tx<'_>) -> Result<WriteTx<'_>> {
    let head: String = sqlx::query_scalar(dialect::LOCK_AUDIT_HEAD).fetch_one(&mut *tx).await?;
    Ok(WriteTx { tx, head, head_dirty: false, queued_work: false })
}

impl WriteTx<'_> {
    async fn audit(&mut self, record: AuditRecord) -> Result<()> {
        let hash = chain_hash(&self.head, &record);
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(to_us(record.at))
        .bind(&record.actor)
        .bind(&record.action)
        .bind(&record.target)
        .bind(record.details.to_string())
        .bind(&self.head)
        .bind(&hash)
        .execute(&mut *self.tx)
        .await?;
        self.head = hash;
        self.head_dirty = true;
        Ok(())
    }

    async fn timeline(&mut self, incident_id: i64, at: DateTime<Utc>, kind: TimelineKind, actor: &str, payload: serde_json::Value) -> Result<TimelineEntry> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO timeline (incident_id, at, kind, actor, payload) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(incident_id)
        .bind(to_us(at))
        .bind(kind.as_str())
        .bind(actor)
        .bind(payload.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(TimelineEntry { id, incident_id, at, kind: kind.as_str().to_string(), actor: actor.to_string(), payload })
    }

    async fn enqueue(&mut self, kind: &str, payload: serde_json::Value, due_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("INSERT INTO outbox (kind, payload, due_at, created_at) VALUES ($1, $2, $3, $4)")
            .bind(kind)
            .bind(payload.to_string())
            .bind(to_us(due_at))
            .bind(to_us(now))
            .execute(&mut *self.tx)
            .await?;
        self.queued_work = true;
        Ok(())
    }

    async fn commit(mut self, signal: &Notify) -> Result<()> {
        if self.head_dirty {
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE singleton = 1")
                .bind(&self.head)
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        if self.queued_work {
            signal.notify_one();
        }
        Ok(())
    }
}

fn audit_record(at: DateTime<Utc>, actor: &str, action: &str, target: String, details: serde_json::Value) -> AuditRecord {
    AuditRecord { at, actor: actor.to_string(), action: action.to_string(), target, details }
}

// ---------------------------------------------------------------------------
// Ingestion: read what the batch names, plan in the domain, write in bulk.
// A commit costs a fixed handful of statements however many events it holds,
// which is what makes group commit pay off.

/// Rows per bulk statement; keeps bind counts far below both backends' limits.
const CHUNK: usize = 200;

#[async_trait]
impl BatchWriter for Writer {
    async fn write(&self, batches: &[&IngestBatch]) -> Result<Vec<Vec<IngestOutcome>>> {
        let incoming: Vec<Incoming<'_>> = batches
            .iter()
            .flat_map(|b| {
                b.events.iter().map(move |event| Incoming {
                    service_id: &b.origin.service_id,
                    integration_id: &b.origin.id,
                    kind: b.origin.kind,
                    event,
                    at: b.received_at,
                })
            })
            .collect();
        let mut conn = self.conn.lock().await;
        let mut w = begin_write_on(&mut conn).await?;
        let mut outcomes = write_events(&mut w, &incoming).await?.into_iter();
        w.commit(&self.signal).await?;
        Ok(batches
            .iter()
            .map(|b| {
                b.events
                    .iter()
                    .zip(outcomes.by_ref())
                    .map(|(event, o)| IngestOutcome {
                        dedup_key: event.dedup_key.clone(),
                        effect: o.effect.as_str(),
                        alert_id: o.alert_id,
                        incident_id: o.incident_id,
                    })
                    .collect()
            })
            .collect())
    }
}

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` placeholders.
fn values_list(rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            dialect::push_param(&mut sql, r * cols + c + 1);
        }
        sql.push(')');
    }
    sql
}

/// `SELECT $1 AS a, $2 AS b UNION ALL SELECT $3, $4`: an inline table that
/// both backends accept (SQLite has no column list on VALUES aliases).
fn inline_rows(names: &[&str], rows: usize) -> String {
    let mut sql = String::new();
    for r in 0..rows {
        sql.push_str(if r == 0 { "SELECT " } else { " UNION ALL SELECT " });
        for (c, name) in names.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            dialect::push_param(&mut sql, r * names.len() + c + 1);
            if r == 0 {
                sql.push_str(" AS ");
                sql.push_str(name);
            }
        }
    }
    sql
}

/// Folds events into alerts and incidents inside an open write transaction.
async fn write_events(w: &mut WriteTx<'_>, incoming: &[Incoming<'_>]) -> Result<Vec<intake::Outcome>> {
    let open = load_open_alerts(&mut w.tx, incoming).await?;
    let incidents = load_incident_states(&mut w.tx, open.values().filter_map(|a| a.incident_id).collect()).await?;
    let (max_incident, max_alert): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE((SELECT MAX(id) FROM incidents), 0), COALESCE((SELECT MAX(id) FROM alerts), 0)",
    )
    .fetch_one(&mut *w.tx)
    .await?;
    let plan = intake::plan(incoming, &open, &incidents, NextIds { incident: max_incident + 1, alert: max_alert + 1 });
    write_plan(w, incoming, &plan).await?;
    Ok(plan.outcomes)
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

async fn load_incident_states(tx: &mut Tx<'_>, mut ids: Vec<i64>) -> Result<HashMap<i64, IncidentState>> {
    ids.sort_unstable();
    ids.dedup();
    let mut states = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT i.id, i.status, i.open_alerts FROM incidents i JOIN ({}) q ON i.id = q.id",
            inline_rows(&["id"], chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut **tx).await? {
            let state = IncidentState {
                status: parse_enum("incidents.status", &r.try_get::<String, _>("status")?, IncidentStatus::parse)?,
                open_alerts: r.try_get("open_alerts")?,
            };
            states.insert(r.try_get("id")?, state);
        }
    }
    Ok(states)
}

/// A bind value of the column types bulk statements use.
enum Val {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}

impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Val::OptInt(v)
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}

impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        Val::OptText(v)
    }
}

impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        Val::OptText(v.map(str::to_string))
    }
}

/// One statement's text and its parameters, in order.
struct Binds {
    sql: String,
    vals: Vec<Val>,
}

impl Binds {
    fn new(sql: String) -> Self {
        Self { sql, vals: Vec::new() }
    }

    fn bind(mut self, v: impl Into<Val>) -> Self {
        self.vals.push(v.into());
        self
    }
}

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

fn bind_val(q: Query<'_>, v: Val) -> Query<'_> {
    match v {
        Val::Int(v) => q.bind(v),
        Val::OptInt(v) => q.bind(v),
        Val::Text(v) => q.bind(v),
        Val::OptText(v) => q.bind(v),
    }
}

/// The bulk statements of one commit. Where the driver allows it (SQLite)
/// they travel as one multi-statement query, one round trip to the database
/// thread; otherwise one after another.
#[derive(Default)]
struct Script {
    statements: Vec<Binds>,
}

impl Script {
    fn push(&mut self, statement: Binds) {
        self.statements.push(statement);
    }

    async fn run(&mut self, tx: &mut Tx<'_>) -> Result<()> {
        let statements = std::mem::take(&mut self.statements);
        if statements.is_empty() {
            return Ok(());
        }
        if dialect::MULTI_STATEMENT_QUERIES {
            let sql = statements.iter().map(|s| s.sql.as_str()).collect::<Vec<_>>().join(";\n");
            // Row counts vary per commit, so these texts rarely repeat: keep them
            // out of the prepared-statement cache.
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for v in statements.into_iter().flat_map(|s| s.vals) {
                q = bind_val(q, v);
            }
            q.execute(&mut **tx).await?;
        } else {
            for s in statements {
                let mut q = sqlx::query(AssertSqlSafe(s.sql)).persistent(false);
                for v in s.vals {
                    q = bind_val(q, v);
                }
                q.execute(&mut **tx).await?;
            }
        }
        Ok(())
    }
}

async fn write_plan(w: &mut WriteTx<'_>, incoming: &[Incoming<'_>], plan: &Plan) -> Result<()> {
    let mut script = Script::default();
    let event = |idx: Option<usize>| idx.and_then(|i| incoming.get(i)).map(|i| i.event);
    let (new_incidents, changed_incidents): (Vec<&IncidentRow>, Vec<&IncidentRow>) = plan.incidents.iter().partition(|i| i.is_new);
    let (new_alerts, changed_alerts): (Vec<&AlertRow>, Vec<&AlertRow>) = plan.alerts.iter().partition(|a| a.is_new);

    for chunk in new_incidents.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO incidents (id, service_id, title, severity, status, created_at, acknowledged_at, acknowledged_by, \
             resolved_at, resolved_by, alert_count, open_alerts) VALUES {}",
            values_list(chunk.len(), 12)
        );
        let mut q = Binds::new(sql);
        for i in chunk {
            let opened = event(i.opened_by).ok_or_else(|| StoreError::Corrupt("incident without its event".into()))?;
            q = q
                .bind(i.id)
                .bind(i.service_id.clone())
                .bind(opened.summary.clone())
                .bind(opened.severity.as_str())
                .bind(i.status.as_str())
                .bind(to_us(i.created_at))
                .bind(i.acknowledged_at.map(to_us))
                .bind(i.acknowledged_by.clone())
                .bind(i.resolved_at.map(to_us))
                .bind(i.resolved_by.clone())
                .bind(i.alerts_added)
                .bind(i.open_alerts);
        }
        script.push(q);
    }
    for chunk in new_alerts.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO alerts (id, service_id, integration_id, kind, dedup_key, status, summary, severity, source, labels, \
             details, links, first_seen, last_seen, occurrences, acknowledged_at, resolved_at, expires_at, incident_id) VALUES {}",
            values_list(chunk.len(), 19)
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
                .bind(a.incident_id);
        }
        script.push(q);
    }
    script.run(&mut w.tx).await?;
    if let Some(sync) = dialect::SYNC_ID_SEQUENCES
        && (!new_incidents.is_empty() || !new_alerts.is_empty())
    {
        let (max_incident, max_alert): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE((SELECT MAX(id) FROM incidents), 1), COALESCE((SELECT MAX(id) FROM alerts), 1)",
        )
        .fetch_one(&mut *w.tx)
        .await?;
        sqlx::query(sync).bind(max_incident).bind(max_alert).execute(&mut *w.tx).await?;
    }
    for chunk in changed_alerts.chunks(CHUNK) {
        let columns = [
            "id", "status", "added", "last_seen", "ack", "res", "content", "summary", "severity", "source", "labels", "details",
            "links", "expires_at",
        ];
        let sql = format!(
            "UPDATE alerts SET status = u.status, occurrences = alerts.occurrences + u.added, last_seen = u.last_seen, \
             acknowledged_at = COALESCE(u.ack, alerts.acknowledged_at), resolved_at = COALESCE(u.res, alerts.resolved_at), \
             summary = COALESCE(u.summary, alerts.summary), severity = COALESCE(u.severity, alerts.severity), \
             source = CASE WHEN u.content = 1 THEN u.source ELSE alerts.source END, \
             labels = COALESCE(u.labels, alerts.labels), details = COALESCE(u.details, alerts.details), \
             links = COALESCE(u.links, alerts.links), \
             expires_at = CASE WHEN u.content = 1 THEN u.expires_at ELSE alerts.expires_at END \
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
                .bind(e.and_then(|e| e.expires_at.map(to_us)));
        }
        script.push(q);
    }
    for chunk in changed_incidents.chunks(CHUNK) {
        let columns = ["id", "status", "open_alerts", "added", "ack_at", "ack_by", "res_at", "res_by"];
        let sql = format!(
            "UPDATE incidents SET status = u.status, open_alerts = u.open_alerts, alert_count = incidents.alert_count + u.added, \
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
                .bind(i.resolved_by.clone());
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
            q = q.bind(t.incident_id).bind(to_us(t.at)).bind(t.kind.as_str()).bind(t.actor.clone()).bind(t.payload.to_string());
        }
        script.push(q);
    }
    for chunk in plan.audit.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO audit_log (at, actor, action, target, details, prev_hash, hash) VALUES {}",
            values_list(chunk.len(), 7)
        );
        let mut q = Binds::new(sql);
        for record in chunk {
            let hash = chain_hash(&w.head, record);
            q = q
                .bind(to_us(record.at))
                .bind(record.actor.clone())
                .bind(record.action.clone())
                .bind(record.target.clone())
                .bind(record.details.to_string())
                .bind(std::mem::replace(&mut w.head, hash.clone()))
                .bind(hash);
            w.head_dirty = true;
        }
        script.push(q);
    }
    for chunk in plan.outbox.chunks(CHUNK) {
        let sql = format!("INSERT INTO outbox (kind, payload, due_at, created_at) VALUES {}", values_list(chunk.len(), 4));
        let mut q = Binds::new(sql);
        for o in chunk {
            q = q.bind(o.kind).bind(o.payload.to_string()).bind(to_us(o.due_at)).bind(to_us(o.due_at));
        }
        script.push(q);
        w.queued_work = true;
    }
    script.run(&mut w.tx).await
}

async fn acknowledge_in_tx(w: &mut WriteTx<'_>, incident: Incident, who: &str, now: DateTime<Utc>) -> Result<Incident> {
    let status = incident.status.acknowledge()?;
    sqlx::query("UPDATE incidents SET status = $1, acknowledged_at = $2, acknowledged_by = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(to_us(now))
        .bind(who)
        .bind(incident.id)
        .execute(&mut *w.tx)
        .await?;
    w.timeline(incident.id, now, TimelineKind::Acknowledged, who, json!({})).await?;
    w.audit(audit_record(now, who, "incident.acknowledge", format!("incident:{}", incident.id), json!({}))).await?;
    w.enqueue("incident.acknowledged", json!({"incident_id": incident.id}), now, now).await?;
    Ok(Incident { status, acknowledged_at: Some(now), acknowledged_by: Some(who.to_string()), ..incident })
}

async fn set_resolved(w: &mut WriteTx<'_>, incident: Incident, who: &str, now: DateTime<Utc>, reason: &str) -> Result<Incident> {
    let status = incident.status.resolve()?;
    sqlx::query("UPDATE incidents SET status = $1, resolved_at = $2, resolved_by = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(to_us(now))
        .bind(who)
        .bind(incident.id)
        .execute(&mut *w.tx)
        .await?;
    w.timeline(incident.id, now, TimelineKind::Resolved, who, json!({"reason": reason})).await?;
    w.audit(audit_record(now, who, "incident.resolve", format!("incident:{}", incident.id), json!({"reason": reason}))).await?;
    w.enqueue("incident.resolved", json!({"incident_id": incident.id}), now, now).await?;
    Ok(Incident { status, resolved_at: Some(now), resolved_by: Some(who.to_string()), ..incident })
}

// ---------------------------------------------------------------------------
// Row mapping

fn incident_from_row(r: &DbRow) -> Result<Incident> {
    Ok(Incident {
        id: r.try_get("id")?,
        service_id: r.try_get("service_id")?,
        title: r.try_get("title")?,
        severity: parse_enum("incidents.severity", &r.try_get::<String, _>("severity")?, Severity::parse)?,
        status: parse_enum("incidents.status", &r.try_get::<String, _>("status")?, IncidentStatus::parse)?,
        created_at: from_us(r.try_get("created_at")?)?,
        acknowledged_at: opt_from_us(r.try_get("acknowledged_at")?)?,
        acknowledged_by: r.try_get("acknowledged_by")?,
        resolved_at: opt_from_us(r.try_get("resolved_at")?)?,
        resolved_by: r.try_get("resolved_by")?,
        alert_count: r.try_get("alert_count")?,
    })
}

fn alert_from_row(r: &DbRow) -> Result<Alert> {
    Ok(Alert {
        id: r.try_get("id")?,
        service_id: r.try_get("service_id")?,
        integration_id: r.try_get("integration_id")?,
        kind: parse_enum("alerts.kind", &r.try_get::<String, _>("kind")?, IntegrationKind::parse)?,
        dedup_key: r.try_get("dedup_key")?,
        status: parse_enum("alerts.status", &r.try_get::<String, _>("status")?, AlertStatus::parse)?,
        summary: r.try_get("summary")?,
        severity: parse_enum("alerts.severity", &r.try_get::<String, _>("severity")?, Severity::parse)?,
        source: r.try_get("source")?,
        labels: json_from::<BTreeMap<String, String>>("alerts.labels", &r.try_get::<String, _>("labels")?)?,
        details: json_from("alerts.details", &r.try_get::<String, _>("details")?)?,
        links: json_from::<Vec<Link>>("alerts.links", &r.try_get::<String, _>("links")?)?,
        first_seen: from_us(r.try_get("first_seen")?)?,
        last_seen: from_us(r.try_get("last_seen")?)?,
        occurrences: r.try_get("occurrences")?,
        acknowledged_at: opt_from_us(r.try_get("acknowledged_at")?)?,
        resolved_at: opt_from_us(r.try_get("resolved_at")?)?,
        expires_at: opt_from_us(r.try_get("expires_at")?)?,
        incident_id: r.try_get("incident_id")?,
    })
}

fn timeline_from_row(r: &DbRow) -> Result<TimelineEntry> {
    Ok(TimelineEntry {
        id: r.try_get("id")?,
        incident_id: r.try_get("incident_id")?,
        at: from_us(r.try_get("at")?)?,
        kind: r.try_get("kind")?,
        actor: r.try_get("actor")?,
        payload: json_from("timeline.payload", &r.try_get::<String, _>("payload")?)?,
    })
}

fn token_from_row(r: &DbRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: parse_enum("api_tokens.role", &r.try_get::<String, _>("role")?, Role::parse)?,
        created_at: from_us(r.try_get("created_at")?)?,
        created_by: r.try_get("created_by")?,
        revoked_at: opt_from_us(r.try_get("revoked_at")?)?,
    })
}

async fn load_incident(tx: &mut Tx<'_>, id: i64) -> Result<Incident> {
    let row = sqlx::query(
        "SELECT id, service_id, title, severity, status, created_at, acknowledged_at, acknowledged_by, \
         resolved_at, resolved_by, alert_count FROM incidents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    incident_from_row(&row)
}

fn page<T>(mut items: Vec<T>, limit: i64, id_of: impl Fn(&T) -> i64) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|t| cursor::encode(id_of(t)))
    } else {
        None
    };
    Page { items, next_cursor }
}

fn clamp_limit(limit: i64) -> i64 {
    if limit <= 0 { DEFAULT_PAGE } else { limit.min(MAX_PAGE) }
}

fn key_hint(key: &str) -> String {
    let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{tail}")
}

// ---------------------------------------------------------------------------

impl StoreImpl {
    /// Active services with their enabled integrations: all of them, or the
    /// one named by `only`.
    async fn services(&self, only: Option<&str>) -> Result<Vec<ServiceView>> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, s.description, s.team_id, \
             (SELECT COUNT(*) FROM incidents i WHERE i.service_id = s.id AND i.status <> 'resolved') AS open_incidents \
             FROM services s WHERE s.active AND ($1 IS NULL OR s.id = $1) ORDER BY s.id",
        )
        .bind(only)
        .fetch_all(&self.read)
        .await?;
        let integrations = sqlx::query(
            "SELECT id, service_id, kind, key_hint FROM integrations WHERE enabled AND ($1 IS NULL OR service_id = $1) \
             ORDER BY id",
        )
        .bind(only)
        .fetch_all(&self.read)
        .await?;
        let mut by_service: BTreeMap<String, Vec<IntegrationView>> = BTreeMap::new();
        for r in &integrations {
            by_service.entry(r.try_get("service_id")?).or_default().push(IntegrationView {
                id: r.try_get("id")?,
                kind: parse_enum("integrations.kind", &r.try_get::<String, _>("kind")?, IntegrationKind::parse)?,
                key_hint: r.try_get("key_hint")?,
            });
        }
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(ServiceView {
                    integrations: by_service.remove(&id).unwrap_or_default(),
                    id,
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    team: r.try_get("team_id")?,
                    open_incidents: r.try_get("open_incidents")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl Store for StoreImpl {
    fn backend(&self) -> &'static str {
        dialect::NAME
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    async fn close(&self) {
        self.batcher.shutdown().await;
        self.write.close().await;
        self.read.close().await;
    }
}

#[async_trait]
impl CatalogStore for StoreImpl {
    async fn apply_catalog(&self, catalog: &Catalog, who: &str, now: DateTime<Utc>) -> Result<CatalogChanges> {
        let mut w = begin_write(&self.write).await?;
        let mut changes = CatalogChanges::default();
        for team in &catalog.teams {
            sqlx::query("INSERT INTO teams (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name")
                .bind(&team.id)
                .bind(&team.name)
                .execute(&mut *w.tx)
                .await?;
            changes.teams += 1;
        }
        for user in &catalog.users {
            sqlx::query(
                "INSERT INTO users (id, name, email) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email",
            )
            .bind(&user.id)
            .bind(&user.name)
            .bind(&user.email)
            .execute(&mut *w.tx)
            .await?;
            changes.users += 1;
        }
        sqlx::query("UPDATE integrations SET enabled = FALSE").execute(&mut *w.tx).await?;
        sqlx::query("UPDATE services SET active = FALSE").execute(&mut *w.tx).await?;
        for service in &catalog.services {
            sqlx::query(
                "INSERT INTO services (id, name, description, team_id, active) VALUES ($1, $2, $3, $4, TRUE) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                 team_id = excluded.team_id, active = TRUE",
            )
            .bind(&service.id)
            .bind(&service.name)
            .bind(&service.description)
            .bind(&service.team)
            .execute(&mut *w.tx)
            .await?;
            changes.services += 1;
        }
        for integration in &catalog.integrations {
            // A key that moved to another integration id frees its hash first.
            let hash = tocsin_core::auth::hash_secret(&integration.key);
            sqlx::query("DELETE FROM integrations WHERE key_hash = $1 AND id <> $2")
                .bind(&hash)
                .bind(&integration.id)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query(
                "INSERT INTO integrations (id, service_id, kind, key_hash, key_hint, enabled) VALUES ($1, $2, $3, $4, $5, TRUE) \
                 ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, kind = excluded.kind, \
                 key_hash = excluded.key_hash, key_hint = excluded.key_hint, enabled = TRUE",
            )
            .bind(&integration.id)
            .bind(&integration.service_id)
            .bind(integration.kind.as_str())
            .bind(&hash)
            .bind(key_hint(&integration.key))
            .execute(&mut *w.tx)
            .await?;
            changes.integrations += 1;
        }
        let inactive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM services WHERE NOT active").fetch_one(&mut *w.tx).await?;
        changes.services_inactive = usize::try_from(inactive).unwrap_or(0);
        let disabled: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM integrations WHERE NOT enabled").fetch_one(&mut *w.tx).await?;
        changes.integrations_disabled = usize::try_from(disabled).unwrap_or(0);
        w.audit(audit_record(now, who, "config.apply", "catalog".to_string(), serde_json::to_value(&changes).unwrap_or_default()))
            .await?;
        w.commit(&self.signal).await?;
        Ok(changes)
    }

    async fn find_integration(&self, key_hash: &str) -> Result<Option<IntegrationRef>> {
        let row = sqlx::query("SELECT id, service_id, kind FROM integrations WHERE key_hash = $1 AND enabled")
            .bind(key_hash)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(IntegrationRef {
                id: r.try_get("id")?,
                service_id: r.try_get("service_id")?,
                kind: parse_enum("integrations.kind", &r.try_get::<String, _>("kind")?, IntegrationKind::parse)?,
            })
        })
        .transpose()
    }

    async fn list_services(&self) -> Result<Vec<ServiceView>> {
        self.services(None).await
    }

    async fn get_service(&self, id: &str) -> Result<Option<ServiceView>> {
        Ok(self.services(Some(id)).await?.pop())
    }
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
        w.audit(audit_record(at, &who, "service.change", format!("service:{}", origin.service_id), json!({"change_id": id, "summary": change.summary})))
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
        let mut w = begin_write(&self.write).await?;
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
            let event = Event {
                action: EventAction::Resolve,
                dedup_key: r.try_get("dedup_key")?,
                summary: String::new(),
                severity: Severity::Info,
                source: None,
                labels: BTreeMap::new(),
                details: serde_json::Value::Null,
                links: Vec::new(),
                occurred_at: None,
                expires_at: None,
            };
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
        write_events(&mut w, &incoming).await?;
        w.commit(&self.signal).await?;
        Ok(rows.len())
    }
}

#[async_trait]
impl IncidentStore for StoreImpl {
    async fn list_incidents(&self, f: &IncidentFilter) -> Result<Page<Incident>> {
        let limit = clamp_limit(f.limit);
        let rows = sqlx::query(
            "SELECT id, service_id, title, severity, status, created_at, acknowledged_at, acknowledged_by, \
             resolved_at, resolved_by, alert_count FROM incidents \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR service_id = $2) AND ($3 IS NULL OR created_at >= $3) \
             AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(f.status.map(|s| s.as_str()))
        .bind(&f.service)
        .bind(f.since.map(to_us))
        .bind(f.before_id)
        .bind(limit + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(incident_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |i| i.id))
    }

    async fn get_incident(&self, id: i64) -> Result<Option<Incident>> {
        let row = sqlx::query(
            "SELECT id, service_id, title, severity, status, created_at, acknowledged_at, acknowledged_by, \
             resolved_at, resolved_by, alert_count FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    async fn incident_alerts(&self, incident_id: i64) -> Result<Vec<Alert>> {
        let rows = sqlx::query("SELECT * FROM alerts WHERE incident_id = $1 ORDER BY id").bind(incident_id).fetch_all(&self.read).await?;
        rows.iter().map(alert_from_row).collect()
    }

    async fn incident_timeline(&self, incident_id: i64) -> Result<Vec<TimelineEntry>> {
        let rows = sqlx::query("SELECT * FROM timeline WHERE incident_id = $1 ORDER BY id").bind(incident_id).fetch_all(&self.read).await?;
        rows.iter().map(timeline_from_row).collect()
    }

    async fn acknowledge_incident(&self, id: i64, who: &str, at: DateTime<Utc>) -> Result<Incident> {
        let mut w = begin_write(&self.write).await?;
        let incident = load_incident(&mut w.tx, id).await?;
        let incident = acknowledge_in_tx(&mut w, incident, who, at).await?;
        w.commit(&self.signal).await?;
        Ok(incident)
    }

    async fn resolve_incident(&self, id: i64, who: &str, at: DateTime<Utc>) -> Result<Incident> {
        let mut w = begin_write(&self.write).await?;
        let incident = load_incident(&mut w.tx, id).await?;
        // Check the transition before touching alerts, so a refused resolve changes nothing.
        incident.status.resolve()?;
        let open: Vec<i64> = sqlx::query_scalar("SELECT id FROM alerts WHERE incident_id = $1 AND status <> 'resolved' ORDER BY id")
            .bind(id)
            .fetch_all(&mut *w.tx)
            .await?;
        for alert_id in &open {
            sqlx::query("UPDATE alerts SET status = 'resolved', resolved_at = $1 WHERE id = $2")
                .bind(to_us(at))
                .bind(alert_id)
                .execute(&mut *w.tx)
                .await?;
        }
        sqlx::query("UPDATE incidents SET open_alerts = 0 WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        let incident = set_resolved(&mut w, incident, who, at, "resolved by hand").await?;
        w.commit(&self.signal).await?;
        Ok(incident)
    }

    async fn add_note(&self, id: i64, who: &str, text: &str, at: DateTime<Utc>) -> Result<TimelineEntry> {
        let mut w = begin_write(&self.write).await?;
        load_incident(&mut w.tx, id).await?;
        let entry = w.timeline(id, at, TimelineKind::Note, who, json!({"text": text})).await?;
        w.audit(audit_record(at, who, "incident.note", format!("incident:{id}"), json!({"timeline_id": entry.id}))).await?;
        w.commit(&self.signal).await?;
        Ok(entry)
    }

    async fn list_alerts(&self, f: &AlertFilter) -> Result<Page<Alert>> {
        let limit = clamp_limit(f.limit);
        let rows = sqlx::query(
            "SELECT * FROM alerts WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR service_id = $2) \
             AND ($3 IS NULL OR dedup_key = $3) AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(f.status.map(|s| s.as_str()))
        .bind(&f.service)
        .bind(&f.dedup_key)
        .bind(f.before_id)
        .bind(limit + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(alert_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |a| a.id))
    }

    async fn get_alert(&self, id: i64) -> Result<Option<Alert>> {
        let row = sqlx::query("SELECT * FROM alerts WHERE id = $1").bind(id).fetch_optional(&self.read).await?;
        row.as_ref().map(alert_from_row).transpose()
    }

    async fn open_incident_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE status <> 'resolved'").fetch_one(&self.read).await?)
    }
}

#[async_trait]
impl AccountStore for StoreImpl {
    async fn create_token(&self, new: &NewToken, who: &str, at: DateTime<Utc>) -> Result<TokenInfo> {
        let mut w = begin_write(&self.write).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, secret_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (secret_hash) DO NOTHING RETURNING id",
        )
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(&new.secret_hash)
        .bind(to_us(at))
        .bind(who)
        .fetch_optional(&mut *w.tx)
        .await?
        .ok_or_else(|| StoreError::Conflict("a token with this secret already exists".into()))?;
        w.audit(audit_record(at, who, "token.create", format!("token:{id}"), json!({"name": new.name, "role": new.role.as_str()})))
            .await?;
        w.commit(&self.signal).await?;
        Ok(TokenInfo { id, name: new.name.clone(), role: new.role, created_at: at, created_by: who.to_string(), revoked_at: None })
    }

    async fn authenticate(&self, secret_hash: &str) -> Result<Option<TokenInfo>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE secret_hash = $1 AND revoked_at IS NULL")
            .bind(secret_hash)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY id").fetch_all(&self.read).await?;
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
        let replaced = sqlx::query(
            "UPDATE ical_tokens SET token_hash = $1, created_at = $2, created_by = $3 WHERE user_id = $4",
        )
        .bind(token_hash)
        .bind(to_us(at))
        .bind(who)
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            > 0;
        if !replaced {
            sqlx::query("INSERT INTO ical_tokens (user_id, token_hash, created_at, created_by) VALUES ($1, $2, $3, $4)")
                .bind(user_id)
                .bind(token_hash)
                .bind(to_us(at))
                .bind(who)
                .execute(&mut *w.tx)
                .await?;
        }
        w.audit(audit_record(at, who, "user.ical_token.rotate", format!("user:{user_id}"), json!({"replaced": replaced})))
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

#[async_trait]
impl ScheduleStore for StoreImpl {
    async fn create_override(&self, new: &NewOverride, who: &str, at: DateTime<Utc>) -> Result<ScheduleOverride> {
        if new.end <= new.start {
            return Err(CoreError::invalid("end", "must be after `start`").into());
        }
        for (field, value) in [("schedule_id", &new.schedule_id), ("user_id", &new.user_id)] {
            if value.is_empty() || value.contains('\0') {
                return Err(CoreError::invalid(field, "must be a non-empty id without NUL characters").into());
            }
        }
        let mut w = begin_write(&self.write).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO schedule_overrides (schedule_id, user_id, start_at, end_at, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&new.schedule_id)
        .bind(&new.user_id)
        .bind(to_us(new.start))
        .bind(to_us(new.end))
        .bind(to_us(at))
        .bind(who)
        .fetch_one(&mut *w.tx)
        .await?;
        let details = json!({"id": id, "user": new.user_id, "start": new.start, "end": new.end});
        w.audit(audit_record(at, who, "schedule.override.create", format!("schedule:{}", new.schedule_id), details)).await?;
        w.commit(&self.signal).await?;
        Ok(ScheduleOverride {
            id,
            schedule_id: new.schedule_id.clone(),
            user_id: new.user_id.clone(),
            start: new.start,
            end: new.end,
            created_at: at,
            created_by: who.to_string(),
        })
    }

    async fn list_overrides(&self, schedule_id: Option<&str>, ending_after: DateTime<Utc>) -> Result<Vec<ScheduleOverride>> {
        let rows = sqlx::query(
            "SELECT id, schedule_id, user_id, start_at, end_at, created_at, created_by FROM schedule_overrides \
             WHERE deleted_at IS NULL AND ($1 IS NULL OR schedule_id = $1) AND end_at > $2 ORDER BY id",
        )
        .bind(schedule_id)
        .bind(to_us(ending_after))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScheduleOverride {
                    id: r.try_get("id")?,
                    schedule_id: r.try_get("schedule_id")?,
                    user_id: r.try_get("user_id")?,
                    start: from_us(r.try_get("start_at")?)?,
                    end: from_us(r.try_get("end_at")?)?,
                    created_at: from_us(r.try_get("created_at")?)?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn delete_override(&self, schedule_id: &str, id: i64, who: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut w = begin_write(&self.write).await?;
        let done = sqlx::query(
            "UPDATE schedule_overrides SET deleted_at = $1, deleted_by = $2 \
             WHERE id = $3 AND schedule_id = $4 AND deleted_at IS NULL",
        )
        .bind(to_us(at))
        .bind(who)
        .bind(id)
        .bind(schedule_id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            > 0;
        if done {
            w.audit(audit_record(at, who, "schedule.override.delete", format!("schedule:{schedule_id}"), json!({"id": id})))
                .await?;
            w.commit(&self.signal).await?;
        }
        Ok(done)
    }
}

#[async_trait]
impl OutboxStore for StoreImpl {
    async fn claim_outbox(&self, worker: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxItem>> {
        let rows = sqlx::query(dialect::CLAIM_OUTBOX)
            .bind(worker)
            .bind(to_us(lease_until))
            .bind(to_us(now))
            .bind(limit)
            .fetch_all(&self.write)
            .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    payload: json_from("outbox.payload", &r.try_get::<String, _>("payload")?)?,
                    due_at: from_us(r.try_get("due_at")?)?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| (i.due_at, i.id));
        Ok(items)
    }

    async fn complete_outbox(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE outbox SET done_at = $1, lease_until = NULL WHERE id = $2 AND claimed_by = $3 AND done_at IS NULL")
            .bind(to_us(now))
            .bind(id)
            .bind(worker)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        // A leased item becomes claimable when its lease runs out, not before.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at THEN lease_until ELSE due_at END) \
             FROM outbox WHERE done_at IS NULL",
        )
        .fetch_one(&self.read)
        .await?;
        opt_from_us(due)
    }
}

#[async_trait]
impl AuditStore for StoreImpl {
    async fn audit_log(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(clamp_limit(limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    record: AuditRecord {
                        at: from_us(r.try_get("at")?)?,
                        actor: r.try_get("actor")?,
                        action: r.try_get("action")?,
                        target: r.try_get("target")?,
                        details: json_from("audit_log.details", &r.try_get::<String, _>("details")?)?,
                    },
                    prev_hash: r.try_get("prev_hash")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }
}
