//! Releasing quiet incidents whose holds ended with no re-send to notice:
//! a sweep over the open quiet incidents, a slice at a time, judged by the
//! intake's own planning (`intake::plan_releases`) against the same facts
//! ingestion reads, under the same locks.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

use tocsin_core::alert::AlertStatus;
use tocsin_core::event::{Event, EventAction};
use tocsin_core::intake::{self, Incoming, QuietAlert};
use tocsin_core::model::IntegrationKind;
use tocsin_core::noise::NoiseRules;

use super::bulk::{CHUNK, inline_rows};
use super::intake::{dedup_lock, load_incident_states, write_plan};
use super::noise::{SilenceCache, load_facts, noise_lock};
use super::{StoreImpl, Tx, begin_relaxed};
use crate::codec::{from_us, json_from, parse_enum};
use crate::{ReleaseSweep, Result};

/// Most open alerts of quiet incidents one slice judges.
const MAX_ALERTS: i64 = 5_000;

impl StoreImpl {
    pub(super) async fn sweep_quiet(
        &self,
        now: DateTime<Utc>,
        rules: &NoiseRules,
        after: i64,
        limit: i64,
    ) -> Result<ReleaseSweep> {
        // Read first: most sweeps find nothing to judge and should not take
        // the write lock.
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM incidents WHERE held_back IS NOT NULL AND status = 'triggered' AND id > $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let Some(&last) = ids.last() else {
            return Ok(ReleaseSweep { released: Vec::new(), last_incident: None });
        };
        let last_incident = (ids.len() as i64 >= limit).then_some(last);
        if rules.services.is_empty() {
            return Ok(ReleaseSweep { released: Vec::new(), last_incident });
        }
        let mut w = begin_relaxed(&self.write).await?;
        let quiet = quiet_alerts(&mut w.tx, &ids).await?;
        w.lock_names(quiet.iter().map(|q| dedup_lock(&q.service_id, &q.dedup_key))).await?;
        let mut incidents = load_incident_states(&mut w.tx, ids).await?;
        w.lock_names(quiet.iter().map(|q| noise_lock(&q.service_id))).await?;
        // The facts are read as for a re-send of each alert.
        let resends: Vec<Event> = quiet.iter().map(resend).collect();
        let incoming: Vec<Incoming<'_>> = quiet
            .iter()
            .zip(&resends)
            .map(|(q, event)| Incoming {
                service_id: &q.service_id,
                integration_id: &q.integration_id,
                kind: q.kind,
                event,
                at: now,
            })
            .collect();
        let facts = load_facts(&mut w.tx, &incoming, rules, &SilenceCache::default(), &mut incidents).await?;
        let plan = intake::plan_releases(&quiet, &incidents, rules, facts, now);
        let released: Vec<i64> = plan.incidents.iter().filter(|i| i.released).map(|i| i.id).collect();
        if released.is_empty() {
            return Ok(ReleaseSweep { released, last_incident });
        }
        write_plan(&mut w, &[], &plan).await?;
        w.commit(&self.signal).await?;
        Ok(ReleaseSweep { released, last_incident })
    }
}

/// The open alerts of these incidents, oldest first per incident.
async fn quiet_alerts(tx: &mut Tx<'_>, incidents: &[i64]) -> Result<Vec<QuietAlert>> {
    let mut out = Vec::new();
    for chunk in incidents.chunks(CHUNK) {
        let sql = format!(
            "SELECT a.id, a.incident_id, a.service_id, a.integration_id, a.kind, a.dedup_key, a.labels, a.status, \
             a.last_seen FROM alerts a JOIN ({}) q ON a.incident_id = q.id WHERE a.status <> 'resolved' \
             ORDER BY a.incident_id, a.id LIMIT {MAX_ALERTS}",
            inline_rows(&["id"], chunk.len()),
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut **tx).await? {
            let labels: BTreeMap<String, String> = json_from("alerts.labels", &r.try_get::<String, _>("labels")?)?;
            out.push(QuietAlert {
                alert_id: r.try_get("id")?,
                incident_id: r.try_get("incident_id")?,
                service_id: r.try_get("service_id")?,
                integration_id: r.try_get("integration_id")?,
                kind: parse_enum("alerts.kind", &r.try_get::<String, _>("kind")?, IntegrationKind::parse)?,
                dedup_key: r.try_get("dedup_key")?,
                labels,
                status: parse_enum("alerts.status", &r.try_get::<String, _>("status")?, AlertStatus::parse)?,
                last_seen: from_us(r.try_get("last_seen")?)?,
            });
        }
    }
    Ok(out)
}

/// The alert as its sender would re-send it, for reading the facts it is
/// judged on.
fn resend(q: &QuietAlert) -> Event {
    Event { action: EventAction::Trigger, labels: q.labels.clone(), ..Event::resolve(q.dedup_key.clone()) }
}
