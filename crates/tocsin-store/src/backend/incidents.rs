//! Incidents and their alerts: reads, acknowledge, resolve, notes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

use tocsin_core::alert::{Alert, AlertStatus};
use tocsin_core::event::{Link, Severity};
use tocsin_core::holdback::HeldBack;
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::model::IntegrationKind;
use tocsin_core::timeline::{TimelineEntry, TimelineKind};
use tocsin_core::work::WorkKind;

use super::bulk::{Binds, Val};
use super::{DbRow, StoreImpl, Tx, WriteTx, audit_record, begin_write, clamp_limit, dialect, page};
use crate::codec::{from_us, json_from, opt_from_us, parse_enum, to_us};
use crate::{AlertFilter, IncidentFilter, IncidentStore, Lane, Page, Result, StoreError};

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
    w.enqueue(
        WorkKind::IncidentAcknowledged,
        json!({"incident_id": incident.id}),
        now,
        now,
        &Lane::Incident(incident.id),
    )
    .await?;
    Ok(Incident { status, acknowledged_at: Some(now), acknowledged_by: Some(who.to_string()), ..incident })
}

async fn set_resolved(
    w: &mut WriteTx<'_>,
    incident: Incident,
    who: &str,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<Incident> {
    let status = incident.status.resolve()?;
    sqlx::query("UPDATE incidents SET status = $1, resolved_at = $2, resolved_by = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(to_us(now))
        .bind(who)
        .bind(incident.id)
        .execute(&mut *w.tx)
        .await?;
    w.timeline(incident.id, now, TimelineKind::Resolved, who, json!({"reason": reason})).await?;
    w.audit(audit_record(now, who, "incident.resolve", format!("incident:{}", incident.id), json!({"reason": reason})))
        .await?;
    w.enqueue(WorkKind::IncidentResolved, json!({"incident_id": incident.id}), now, now, &Lane::Incident(incident.id))
        .await?;
    Ok(Incident { status, resolved_at: Some(now), resolved_by: Some(who.to_string()), ..incident })
}

// ---------------------------------------------------------------------------
// Listing with filters

const INCIDENT_COLUMNS: &str = "id, service_id, title, severity, status, created_at, acknowledged_at, \
     acknowledged_by, resolved_at, resolved_by, alert_count, held_back";

/// The statuses a filter asks for; empty when it asks for all of them, so
/// the status needs no condition at all.
fn statuses_of(f: &IncidentFilter) -> Vec<IncidentStatus> {
    let mut statuses = f.statuses.clone();
    statuses.sort_by_key(|s| s.as_str());
    statuses.dedup();
    if statuses.len() >= 3 { Vec::new() } else { statuses }
}

/// A `WHERE` clause built one condition at a time, with its parameters in
/// the order their placeholders appear.
#[derive(Default)]
struct Conditions {
    sql: String,
    vals: Vec<Val>,
}

impl Conditions {
    /// The next placeholder, bound to `v`.
    fn param(&mut self, v: impl Into<Val>) -> String {
        self.vals.push(v.into());
        let mut p = String::new();
        dialect::push_param(&mut p, self.vals.len());
        p
    }

    fn and(&mut self, column_op: &str, v: impl Into<Val>) {
        let p = self.param(v);
        self.sql.push_str(if self.sql.is_empty() { " WHERE " } else { " AND " });
        self.sql.push_str(column_op);
        self.sql.push(' ');
        self.sql.push_str(&p);
    }

    /// Every condition of `f` but its statuses, which are `statuses` here.
    fn filter(&mut self, f: &IncidentFilter, statuses: Vec<IncidentStatus>) {
        if let Some(service) = &f.service {
            self.and("service_id =", service.as_str());
        }
        match statuses.as_slice() {
            [] => {}
            [one] => self.and("status =", one.as_str()),
            many => {
                let list: Vec<String> = many.iter().map(|s| self.param(s.as_str())).collect();
                self.sql.push_str(if self.sql.is_empty() { " WHERE " } else { " AND " });
                self.sql.push_str(&format!("status IN ({})", list.join(", ")));
            }
        }
        if let Some(since) = f.since {
            self.and("created_at >=", to_us(since));
        }
        if let Some(until) = f.until {
            self.and("created_at <", to_us(until));
        }
        if let Some(before) = f.before_id {
            self.and("id <", before);
        }
    }

    fn into_binds(self, sql: String) -> Binds {
        self.vals.into_iter().fold(Binds::new(sql), |b, v| b.bind(v))
    }
}

/// The newest `take` incidents matching `f`. One status (or none) is one
/// index range read newest first (`incidents_by_status`,
/// `incidents_by_service`, `incidents_by_service_status`, or the primary
/// key), stopping after `take` rows. Two statuses ("open") are two such
/// ranges, each stopped after `take` rows, merged: an `IN` list would read
/// every open incident and sort them.
fn list_query(f: &IncidentFilter, take: i64) -> Binds {
    let statuses = statuses_of(f);
    let mut q = Conditions::default();
    if statuses.len() <= 1 {
        q.filter(f, statuses);
        let limit = q.param(take);
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents{} ORDER BY id DESC LIMIT {limit}", q.sql);
        return q.into_binds(sql);
    }
    let mut branches = Vec::new();
    for (n, status) in statuses.into_iter().enumerate() {
        let mut branch = Conditions { sql: String::new(), vals: std::mem::take(&mut q.vals) };
        branch.filter(f, vec![status]);
        let limit = branch.param(take);
        branches.push(format!(
            "SELECT * FROM (SELECT {INCIDENT_COLUMNS} FROM incidents{} ORDER BY id DESC LIMIT {limit}) AS s{n}",
            branch.sql
        ));
        q.vals = branch.vals;
    }
    let limit = q.param(take);
    let sql = format!("{} ORDER BY id DESC LIMIT {limit}", branches.join(" UNION ALL "));
    q.into_binds(sql)
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
        held_back: held_back_from(r, "incidents.held_back")?,
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
        held_back: held_back_from(r, "alerts.held_back")?,
    })
}

/// The reasons stored in a nullable `held_back` column (NULL: none).
fn held_back_from(r: &DbRow, column: &str) -> Result<Vec<HeldBack>> {
    let name = column.rsplit('.').next().unwrap_or(column);
    match r.try_get::<Option<String>, _>(name)? {
        Some(text) => json_from(column, &text),
        None => Ok(Vec::new()),
    }
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

/// Reads an incident a write transaction is about to change, locking its
/// row until commit so a concurrent change on another node waits for it.
pub(super) async fn load_incident(tx: &mut Tx<'_>, id: i64) -> Result<Incident> {
    let sql = format!(
        "SELECT id, service_id, title, severity, status, created_at, acknowledged_at, acknowledged_by, \
         resolved_at, resolved_by, alert_count, held_back FROM incidents WHERE id = $1{}",
        dialect::LOCK_ROWS
    );
    let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&mut **tx).await?.ok_or(StoreError::NotFound)?;
    incident_from_row(&row)
}

#[async_trait]
impl IncidentStore for StoreImpl {
    async fn list_incidents(&self, f: &IncidentFilter) -> Result<Page<Incident>> {
        let limit = clamp_limit(f.limit);
        let rows = list_query(f, limit + 1).into_query().fetch_all(&self.read).await?;
        let items = rows.iter().map(incident_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |i| i.id))
    }

    async fn count_incidents(&self, f: &IncidentFilter, at_most: i64) -> Result<i64> {
        let mut q = Conditions::default();
        q.filter(&IncidentFilter { before_id: None, ..f.clone() }, statuses_of(f));
        let limit = q.param(at_most.max(0).saturating_add(1));
        let sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM incidents{} LIMIT {limit}) AS counted", q.sql);
        let n: i64 = q.into_binds(sql).into_query_scalar().fetch_one(&self.read).await?;
        Ok(n)
    }

    async fn get_incident(&self, id: i64) -> Result<Option<Incident>> {
        let row = sqlx::query(
            "SELECT id, service_id, title, severity, status, created_at, acknowledged_at, acknowledged_by, \
             resolved_at, resolved_by, alert_count, held_back FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    async fn incident_alerts(&self, incident_id: i64) -> Result<Vec<Alert>> {
        let rows = sqlx::query("SELECT * FROM alerts WHERE incident_id = $1 ORDER BY id")
            .bind(incident_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    async fn incident_alerts_first(&self, incident_id: i64, limit: i64) -> Result<Vec<Alert>> {
        let rows = sqlx::query("SELECT * FROM alerts WHERE incident_id = $1 ORDER BY id LIMIT $2")
            .bind(incident_id)
            .bind(limit.max(0))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    async fn user_open_incidents(&self, user_id: &str, limit: i64) -> Result<Vec<Incident>> {
        // Driven by the open incidents (few, except in a storm), each probed
        // in `notifications_by_user`; a person's long history of resolved
        // incidents is never read.
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.status IN ('triggered', 'acknowledged') \
             AND (i.acknowledged_by = $1 OR EXISTS (SELECT 1 FROM notifications n \
             WHERE n.user_id = $2 AND n.incident_id = i.id)) ORDER BY i.id DESC LIMIT $3"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(tocsin_core::timeline::actor::user(user_id))
            .bind(user_id)
            .bind(limit.max(0))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn incident_timeline(&self, incident_id: i64) -> Result<Vec<TimelineEntry>> {
        let rows = sqlx::query("SELECT * FROM timeline WHERE incident_id = $1 ORDER BY id")
            .bind(incident_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(timeline_from_row).collect()
    }

    async fn acknowledge_incident(&self, id: i64, who: &str, at: DateTime<Utc>) -> Result<Incident> {
        let mut w = begin_write(&self.write).await?;
        let incident = load_incident(&mut w.tx, id).await?;
        let incident = acknowledge_in_tx(&mut w, incident, who, at).await?;
        w.commit(&self.signal).await?;
        Ok(incident)
    }

    async fn acknowledge_incident_in_episode(
        &self,
        id: i64,
        episode: i64,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Incident> {
        let mut w = begin_write(&self.write).await?;
        let incident = load_incident(&mut w.tx, id).await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT episode FROM escalations WHERE incident_id = $1")
            .bind(id)
            .fetch_optional(&mut *w.tx)
            .await?;
        if incident.status == IncidentStatus::Triggered && current != Some(episode) {
            return Err(StoreError::Conflict(format!("incident {id} was paged again after episode {episode}")));
        }
        let incident = acknowledge_in_tx(&mut w, incident, who, at).await?;
        w.commit(&self.signal).await?;
        Ok(incident)
    }

    async fn resolve_incident(&self, id: i64, who: &str, at: DateTime<Utc>) -> Result<Incident> {
        let mut w = begin_write(&self.write).await?;
        // Every change to an alert holds its dedup key's lock, taken before
        // the incident's row, as ingestion does; then read again under it.
        let keys: Vec<(String, String)> =
            sqlx::query_as("SELECT service_id, dedup_key FROM alerts WHERE incident_id = $1 AND status <> 'resolved'")
                .bind(id)
                .fetch_all(&mut *w.tx)
                .await?;
        w.lock_names(keys.iter().map(|(service, key)| super::intake::dedup_lock(service, key))).await?;
        let open: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM alerts WHERE incident_id = $1 AND status <> 'resolved' ORDER BY id")
                .bind(id)
                .fetch_all(&mut *w.tx)
                .await?;
        let incident = load_incident(&mut w.tx, id).await?;
        // Check the transition before touching alerts, so a refused resolve changes nothing.
        incident.status.resolve()?;
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
        w.audit(audit_record(at, who, "incident.note", format!("incident:{id}"), json!({"timeline_id": entry.id})))
            .await?;
        w.commit(&self.signal).await?;
        Ok(entry)
    }

    async fn list_alerts(&self, f: &AlertFilter) -> Result<Page<Alert>> {
        let limit = clamp_limit(f.limit);
        // Only the filters given, so that the planner can take the index
        // they name (a `($n IS NULL OR …)` form hides it). A service's alerts
        // come from `alerts_by_service_status` (service, status, id), one
        // range per status merged, rather than by walking every alert.
        let statuses: Vec<Option<AlertStatus>> = match (&f.service, f.status) {
            (Some(_), None) => [AlertStatus::Triggered, AlertStatus::Acknowledged, AlertStatus::Resolved]
                .into_iter()
                .map(Some)
                .collect(),
            (_, status) => vec![status],
        };
        let mut sql = String::new();
        let mut n = 0;
        let mut param = |sql: &mut String, text: &str| {
            n += 1;
            sql.push_str(text);
            dialect::push_param(sql, n);
        };
        for (i, status) in statuses.iter().enumerate() {
            sql.push_str(if i == 0 { "SELECT * FROM (" } else { " UNION ALL SELECT * FROM (" });
            sql.push_str("SELECT * FROM alerts WHERE 1 = 1");
            if f.service.is_some() {
                param(&mut sql, " AND service_id = ");
            }
            if status.is_some() {
                param(&mut sql, " AND status = ");
            }
            if f.dedup_key.is_some() {
                param(&mut sql, " AND dedup_key = ");
            }
            if f.before_id.is_some() {
                param(&mut sql, " AND id < ");
            }
            param(&mut sql, " ORDER BY id DESC LIMIT ");
            sql.push_str(&format!(") AS s{i}"));
        }
        let mut sql = format!("SELECT * FROM ({sql}) AS a ORDER BY id DESC LIMIT ");
        param(&mut sql, "");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for status in &statuses {
            if let Some(service) = &f.service {
                query = query.bind(service.clone());
            }
            if let Some(status) = status {
                query = query.bind(status.as_str());
            }
            if let Some(key) = &f.dedup_key {
                query = query.bind(key.clone());
            }
            if let Some(before) = f.before_id {
                query = query.bind(before);
            }
            query = query.bind(limit + 1);
        }
        let rows = query.bind(limit + 1).fetch_all(&self.read).await?;
        let items = rows.iter().map(alert_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |a| a.id))
    }

    async fn get_alert(&self, id: i64) -> Result<Option<Alert>> {
        let row = sqlx::query("SELECT * FROM alerts WHERE id = $1").bind(id).fetch_optional(&self.read).await?;
        row.as_ref().map(alert_from_row).transpose()
    }

    async fn open_incident_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE status <> 'resolved'")
            .fetch_one(&self.read)
            .await?)
    }
}
