//! What ingestion cannot produce, written straight into the stopped
//! server's database: ingestion opens one incident per alert (there is no
//! grouping yet), and every row it writes is stamped with the moment it
//! arrived. So this step
//!
//! - adds each incident's further alerts as copies of its first one (same
//!   service, integration, labels but `instance`, status, annotations; own
//!   dedup key), 0.1 s apart, and raises `alert_count`/`open_alerts`;
//! - moves each incident with everything stamped on it (alerts, timeline,
//!   notifications) back in time, by the rank of its id, so ages spread
//!   evenly over [`SPAN_DAYS`](crate::shape::SPAN_DAYS) days, newest now.
//!
//! The SQL is the same on SQLite and PostgreSQL.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use sqlx::AssertSqlSafe;

use crate::shape::{Planned, SPAN_DAYS};

enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    async fn open(location: &str) -> Result<Self> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(location).await?;
            Ok(Db::Postgres(pool))
        } else {
            let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(location).create_if_missing(false);
            let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
            Ok(Db::Sqlite(pool))
        }
    }

    async fn run(&self, sql: String) -> Result<()> {
        let what: String = sql.chars().take(60).collect();
        match self {
            Db::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
        }
        .with_context(|| format!("running `{what}…`"))
    }

    async fn close(self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// Applies the plan's alert counts and ages to the database at `location`
/// (a SQLite file or a `postgres://` URL).
pub async fn run(location: &str, plan: &[Planned]) -> Result<()> {
    let db = Db::open(location).await.with_context(|| format!("opening {location}"))?;
    let now_us = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros())?;
    let span_us = SPAN_DAYS * 86_400 * 1_000_000;
    let mut by_id: Vec<&Planned> = plan.iter().collect();
    by_id.sort_by_key(|p| p.incident_id);
    let last = by_id.len().saturating_sub(1).max(1) as i64;
    let most = plan.iter().map(|p| p.alerts).max().unwrap_or(1);

    let mut sql = String::from(
        "BEGIN;\n\
         CREATE TABLE bench_plan (incident_id BIGINT PRIMARY KEY, created_at BIGINT NOT NULL, \
         extra BIGINT NOT NULL, shift BIGINT);\n\
         CREATE TABLE bench_n (k BIGINT PRIMARY KEY);\n",
    );
    let _ = writeln!(
        sql,
        "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < {most}) \
         INSERT INTO bench_n (k) SELECT k FROM n;"
    );
    for (c, part) in by_id.chunks(500).enumerate() {
        sql.push_str("INSERT INTO bench_plan (incident_id, created_at, extra) VALUES ");
        for (k, p) in part.iter().enumerate() {
            let rank = (c * 500 + k) as i64;
            let created = now_us - span_us / last * (last - rank);
            let sep = if k == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}({}, {created}, {})", p.incident_id, p.alerts.saturating_sub(1));
        }
        sql.push_str(";\n");
    }
    sql.push_str(
        "UPDATE bench_plan SET shift = (SELECT i.created_at FROM incidents i WHERE i.id = bench_plan.incident_id) - created_at;\n\
         INSERT INTO alerts (service_id, integration_id, kind, dedup_key, status, summary, severity, source, labels, \
         details, links, first_seen, last_seen, occurrences, acknowledged_at, resolved_at, expires_at, incident_id) \
         SELECT a.service_id, a.integration_id, a.kind, a.dedup_key || '-' || CAST(n.k AS TEXT), a.status, a.summary, \
         a.severity, a.source, REPLACE(a.labels, '\"instance\":\"', '\"instance\":\"r' || CAST(n.k AS TEXT) || '.'), \
         a.details, a.links, a.first_seen + n.k * 100000, a.last_seen + n.k * 100000, 1 + n.k % 7, \
         a.acknowledged_at, a.resolved_at, a.expires_at, a.incident_id \
         FROM alerts a JOIN bench_plan p ON p.incident_id = a.incident_id JOIN bench_n n ON n.k <= p.extra \
         ORDER BY a.incident_id, n.k;\n\
         UPDATE incidents SET \
         alert_count = alert_count + (SELECT extra FROM bench_plan p WHERE p.incident_id = incidents.id), \
         open_alerts = CASE WHEN open_alerts > 0 THEN open_alerts + (SELECT extra FROM bench_plan p WHERE p.incident_id = incidents.id) ELSE 0 END \
         WHERE id IN (SELECT incident_id FROM bench_plan);\n",
    );
    let shifts: &[(&str, &str, &[&str])] = &[
        ("incidents", "id", &["created_at", "acknowledged_at", "resolved_at"]),
        ("alerts", "incident_id", &["first_seen", "last_seen", "acknowledged_at", "resolved_at"]),
        ("timeline", "incident_id", &["at"]),
        ("notifications", "incident_id", &["due_at", "created_at", "sent_at"]),
    ];
    for (table, key, columns) in shifts {
        let shift = format!("(SELECT shift FROM bench_plan p WHERE p.incident_id = {table}.{key})");
        let set: Vec<String> = columns.iter().map(|c| format!("{c} = {c} - {shift}")).collect();
        let _ =
            writeln!(sql, "UPDATE {table} SET {} WHERE {key} IN (SELECT incident_id FROM bench_plan);", set.join(", "));
    }
    sql.push_str("DROP TABLE bench_plan;\nDROP TABLE bench_n;\nCOMMIT;\n");
    db.run(sql).await?;
    // A PostgreSQL server analyses tables this changed on its own soon
    // after; do it now so the plans measured are the ones it would settle on.
    if matches!(db, Db::Postgres(_)) {
        db.run("ANALYZE;".to_string()).await?;
    }
    db.close().await;
    Ok(())
}
