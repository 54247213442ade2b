//! Noise control inside the ingestion transaction: routing the events of
//! integrations bound to no service, and reading the facts the noise rules
//! judge new alerts on (silences, open groups, upstream incidents, storm
//! and flap history, firing alerts for inhibition).

use chrono::{DateTime, Duration, Utc};
use sqlx::{AssertSqlSafe, Row};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tocsin_core::event::{Event, EventAction};
use tocsin_core::intake::{IncidentState, Incoming};
use tocsin_core::model::IntegrationKind;
use tocsin_core::noise::{FlapFacts, NoiseFacts, NoiseRules, StormFacts, inhibition_source_texts, quiet_group_key};
use tocsin_core::routing::routed_events;
use tocsin_core::silence::Silence;

use super::bulk::{CHUNK, inline_rows};
use super::{Tx, WriteTx, dialect};
use crate::codec::{from_us, opt_from_us, to_us};
use crate::{IngestBatch, Result};

/// Most firing alerts read as inhibition sources per commit (the newest).
const MAX_INHIBITION_SOURCES: i64 = 10_000;

/// The named lock for a service's noise facts: two commits cannot both
/// judge new alerts of one service on facts the other is changing.
pub(super) fn noise_lock(service_id: &str) -> String {
    format!("noise\u{1f}{service_id}")
}

/// One event as it will be planned: its service decided.
pub(super) struct Routed<'a> {
    pub service_id: Cow<'a, str>,
    pub integration_id: &'a str,
    pub kind: IntegrationKind,
    pub event: Cow<'a, Event>,
    pub at: DateTime<Utc>,
    /// Index of the event in the commit's flat list of received events.
    pub source: usize,
}

impl<'a> Routed<'a> {
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            service_id: &self.service_id,
            integration_id: self.integration_id,
            kind: self.kind,
            event: &self.event,
            at: self.at,
        }
    }
}

/// The named lock for one (routed integration, dedup key): two commits
/// cannot both decide where one new alert goes.
fn route_lock(integration_id: &str, dedup_key: &str) -> String {
    format!("route\u{1f}{integration_id}\u{1f}{dedup_key}")
}

/// Every event of the commit with its service: as sent for a service's own
/// integration; for a routed one, the services its open alerts of the same
/// key went to when they first arrived, else (a new trigger) where the
/// routing tree sends it, one copy per service. An event that goes nowhere
/// has no entry (its outcome is `unrouted`).
pub(super) async fn route<'a>(
    w: &mut WriteTx<'_>,
    batches: &[&'a IngestBatch],
    rules: &NoiseRules,
) -> Result<Vec<Routed<'a>>> {
    let routed_keys: Vec<(&str, &str)> = batches
        .iter()
        .filter(|b| b.noise.route.is_some())
        .flat_map(|b| b.events.iter().map(move |e| (b.origin.id.as_str(), e.dedup_key.as_str())))
        .collect();
    let mut open = HashMap::new();
    if !routed_keys.is_empty() {
        w.lock_names(routed_keys.iter().map(|(i, k)| route_lock(i, k))).await?;
        open = open_routed(&mut w.tx, &routed_keys).await?;
    }
    let mut out = Vec::new();
    let mut source = 0;
    for b in batches {
        for event in &b.events {
            let at = b.received_at;
            let (integration_id, kind) = (b.origin.id.as_str(), b.origin.kind);
            let Some(entry) = &b.noise.route else {
                let service_id = Cow::Borrowed(b.origin.service_id.as_str());
                out.push(Routed { service_id, integration_id, kind, event: Cow::Borrowed(event), at, source });
                source += 1;
                continue;
            };
            let key = (integration_id.to_string(), event.dedup_key.clone());
            let known: Vec<String> = open.get(&key).cloned().unwrap_or_default();
            if event.action == EventAction::Trigger {
                let fresh = routed_events(&rules.routes, entry, event);
                if known.is_empty() {
                    open.insert(key.clone(), fresh.iter().map(|(s, _)| s.clone()).collect());
                    for (service, e) in fresh {
                        out.push(routed(Cow::Owned(service), integration_id, kind, Cow::Owned(e), at, source));
                    }
                } else {
                    // The identity stays where it first went; the route's
                    // changes still apply where the same route matches.
                    for service in known {
                        let e = fresh.iter().find(|(s, _)| *s == service).map(|(_, e)| e.clone());
                        let e = e.map_or(Cow::Borrowed(event), Cow::Owned);
                        out.push(routed(Cow::Owned(service), integration_id, kind, e, at, source));
                    }
                }
            } else {
                if event.action == EventAction::Resolve {
                    open.remove(&key);
                }
                for service in known {
                    out.push(routed(Cow::Owned(service), integration_id, kind, Cow::Borrowed(event), at, source));
                }
            }
            source += 1;
        }
    }
    Ok(out)
}

fn routed<'a>(
    service_id: Cow<'a, str>,
    integration_id: &'a str,
    kind: IntegrationKind,
    event: Cow<'a, Event>,
    at: DateTime<Utc>,
    source: usize,
) -> Routed<'a> {
    Routed { service_id, integration_id, kind, event, at, source }
}

/// The services of the open alerts with these (integration, dedup key)s.
async fn open_routed(tx: &mut Tx<'_>, keys: &[(&str, &str)]) -> Result<HashMap<(String, String), Vec<String>>> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let mut open: HashMap<(String, String), Vec<String>> = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "SELECT a.integration_id, a.dedup_key, a.service_id FROM alerts a JOIN ({}) q \
             ON a.integration_id = q.i AND a.dedup_key = q.k WHERE a.status <> 'resolved' ORDER BY a.id",
            inline_rows(&["i", "k"], chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (integration, key) in chunk {
            q = q.bind(integration.to_string()).bind(key.to_string());
        }
        for r in q.fetch_all(&mut **tx).await? {
            open.entry((r.try_get("integration_id")?, r.try_get("dedup_key")?))
                .or_default()
                .push(r.try_get("service_id")?);
        }
    }
    Ok(open)
}

/// The silences' version (`silences_version.n`, bumped by every write).
type SilencesVersion = i64;

/// The silences in force, read again only when the table changed.
#[derive(Default)]
pub(super) struct SilenceCache {
    cached: Mutex<Option<(SilencesVersion, Arc<Vec<Silence>>)>>,
}

impl SilenceCache {
    async fn get(&self, tx: &mut Tx<'_>, now: DateTime<Utc>) -> Result<Arc<Vec<Silence>>> {
        let version: SilencesVersion =
            sqlx::query_scalar("SELECT n FROM silences_version WHERE id = 1").fetch_one(&mut **tx).await?;
        if let Some((v, silences)) = self.cached.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && *v == version
        {
            return Ok(silences.clone());
        }
        let rows = sqlx::query(AssertSqlSafe(format!("{} WHERE ends_at > $1", super::silences::COLUMNS)))
            .bind(to_us(now))
            .fetch_all(&mut **tx)
            .await?;
        let silences = Arc::new(rows.iter().map(super::silences::silence_from_row).collect::<Result<Vec<_>>>()?);
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((version, silences.clone()));
        Ok(silences)
    }
}

/// Reads what the rules need to judge the batch's triggers, and the state of
/// every incident those facts name (added to `incidents`).
pub(super) async fn load_facts(
    tx: &mut Tx<'_>,
    incoming: &[Incoming<'_>],
    rules: &NoiseRules,
    silences: &SilenceCache,
    incidents: &mut HashMap<i64, IncidentState>,
) -> Result<NoiseFacts> {
    let triggers: Vec<&Incoming<'_>> = incoming
        .iter()
        .filter(|i| i.event.action == EventAction::Trigger && rules.service(i.service_id).is_some())
        .collect();
    let mut facts = NoiseFacts::default();
    let Some(now) = triggers.iter().map(|i| i.at).min() else {
        return Ok(facts);
    };
    facts.silences = silences.get(tx, now).await?;
    facts.groups = open_groups(tx, &triggers, rules).await?;
    let services: HashSet<&str> = triggers.iter().map(|i| i.service_id).collect();
    let upstream: HashSet<&str> =
        services.iter().filter_map(|s| rules.service(s)).flat_map(|r| r.upstream.iter().map(String::as_str)).collect();
    facts.open_incidents = open_incidents(tx, &upstream).await?;
    for service in &services {
        let Some(storm) = rules.service(service).and_then(|r| r.storm) else { continue };
        facts.storms.insert(service.to_string(), storm_facts(tx, service, storm.max_new_alerts).await?);
    }
    facts.flaps = flap_facts(tx, &triggers, rules, now).await?;
    if !rules.inhibit.is_empty() {
        facts.firing = firing(tx, rules).await?;
    }
    let mut named: Vec<i64> = facts.groups.values().copied().collect();
    named.extend(facts.open_incidents.values().copied());
    named.extend(facts.storms.values().filter_map(|s| s.incident));
    named.retain(|id| !incidents.contains_key(id));
    incidents.extend(super::intake::load_incident_states(tx, named).await?);
    Ok(facts)
}

/// Open incidents of the groups (paging and quiet) the triggers fall in.
async fn open_groups(
    tx: &mut Tx<'_>,
    triggers: &[&Incoming<'_>],
    rules: &NoiseRules,
) -> Result<HashMap<(String, String), i64>> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for i in triggers {
        if let Some(key) = rules.group_key(i.service_id, &i.event.labels, i.sender_group()) {
            keys.push((i.service_id.to_string(), quiet_group_key(&key)));
            keys.push((i.service_id.to_string(), key));
        }
    }
    keys.sort_unstable();
    keys.dedup();
    let mut groups = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "SELECT i.service_id, i.group_key, MIN(i.id) AS id FROM incidents i JOIN ({}) q \
             ON i.service_id = q.s AND i.group_key = q.g WHERE i.status <> 'resolved' GROUP BY i.service_id, i.group_key",
            inline_rows(&["s", "g"], chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (service, key) in chunk {
            q = q.bind(service.clone()).bind(key.clone());
        }
        for r in q.fetch_all(&mut **tx).await? {
            groups.insert((r.try_get("service_id")?, r.try_get("group_key")?), r.try_get("id")?);
        }
    }
    Ok(groups)
}

/// Per service: its oldest open incident that pages.
async fn open_incidents(tx: &mut Tx<'_>, services: &HashSet<&str>) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    let services: Vec<&str> = services.iter().copied().collect();
    for chunk in services.chunks(CHUNK) {
        let sql = format!(
            "SELECT i.service_id, MIN(i.id) AS id FROM incidents i JOIN ({}) q ON i.service_id = q.s \
             WHERE i.status <> 'resolved' AND i.held_back IS NULL GROUP BY i.service_id",
            inline_rows(&["s"], chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for s in chunk {
            q = q.bind(s.to_string());
        }
        for r in q.fetch_all(&mut **tx).await? {
            out.insert(r.try_get("service_id")?, r.try_get("id")?);
        }
    }
    Ok(out)
}

/// A service's latest new alerts (enough to tell a storm) and its open
/// storm incident.
async fn storm_facts(tx: &mut Tx<'_>, service: &str, max_new_alerts: u32) -> Result<StormFacts> {
    let recent: Vec<i64> =
        sqlx::query_scalar("SELECT first_seen FROM alerts WHERE service_id = $1 ORDER BY first_seen DESC LIMIT $2")
            .bind(service)
            .bind(i64::from(max_new_alerts) + 1)
            .fetch_all(&mut **tx)
            .await?;
    let incident: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(id) FROM incidents WHERE service_id = $1 AND storm = 1 AND status <> 'resolved'",
    )
    .bind(service)
    .fetch_one(&mut **tx)
    .await?;
    Ok(StormFacts { recent: recent.into_iter().map(from_us).collect::<Result<_>>()?, incident })
}

/// Each trigger's identity's fires and resolves within its flap window, and
/// when one of them last opened an incident that paged.
async fn flap_facts(
    tx: &mut Tx<'_>,
    triggers: &[&Incoming<'_>],
    rules: &NoiseRules,
    now: DateTime<Utc>,
) -> Result<HashMap<(String, String), FlapFacts>> {
    let longest = triggers
        .iter()
        .filter_map(|i| rules.service(i.service_id).and_then(|r| r.flap))
        .map(|p| p.within)
        .max()
        .unwrap_or_else(Duration::zero);
    if longest <= Duration::zero() {
        return Ok(HashMap::new());
    }
    let since = to_us(now - longest);
    let mut keys: Vec<(&str, &str)> = triggers.iter().map(|i| (i.service_id, i.event.dedup_key.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut out: HashMap<(String, String), FlapFacts> = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let n = chunk.len() * 2 + 1;
        let mut since_param = String::new();
        dialect::push_param(&mut since_param, n);
        let sql = format!(
            "SELECT a.service_id, a.dedup_key, a.first_seen, a.resolved_at, \
             CAST(CASE WHEN a.held_back IS NULL THEN 1 ELSE 0 END AS BIGINT) AS paged FROM ({}) q JOIN alerts a{} \
             ON a.dedup_key = q.k AND a.service_id = q.s WHERE a.first_seen > {since_param} OR a.resolved_at > {since_param}",
            inline_rows(&["s", "k"], chunk.len()),
            dialect::ALERTS_BY_KEY
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (service, key) in chunk {
            q = q.bind(service.to_string()).bind(key.to_string());
        }
        for r in q.bind(since).fetch_all(&mut **tx).await? {
            let facts = out.entry((r.try_get("service_id")?, r.try_get("dedup_key")?)).or_default();
            let first_seen = from_us(r.try_get("first_seen")?)?;
            facts.changes.push(first_seen);
            if let Some(resolved) = opt_from_us(r.try_get("resolved_at")?)? {
                facts.changes.push(resolved);
            }
            if r.try_get::<i64, _>("paged")? == 1 {
                facts.last_paged = facts.last_paged.max(Some(first_seen));
            }
        }
    }
    Ok(out)
}

/// The newest firing alerts that can be inhibition sources.
async fn firing(tx: &mut Tx<'_>, rules: &NoiseRules) -> Result<Vec<tocsin_core::noise::Firing>> {
    let mut sql = String::from("SELECT id, labels FROM alerts WHERE status <> 'resolved'");
    let texts = inhibition_source_texts(rules).unwrap_or_default();
    for (n, _) in texts.iter().enumerate() {
        sql.push_str(if n == 0 { " AND (" } else { " OR " });
        sql.push_str("labels LIKE ");
        dialect::push_param(&mut sql, n + 1);
        sql.push_str(" ESCAPE '\\'");
    }
    if !texts.is_empty() {
        sql.push(')');
    }
    sql.push_str(" ORDER BY id DESC LIMIT ");
    dialect::push_param(&mut sql, texts.len() + 1);
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for text in &texts {
        q = q.bind(format!("%{}%", like_escaped(text)));
    }
    let rows = q.bind(MAX_INHIBITION_SOURCES).fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| {
            let labels: BTreeMap<String, String> =
                crate::codec::json_from("alerts.labels", &r.try_get::<String, _>("labels")?)?;
            Ok(tocsin_core::noise::Firing { alert_id: r.try_get("id")?, labels })
        })
        .collect()
}

/// `text` with LIKE's wildcards and escape character taken literally.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
