//! The engine's work queue: claims are leases, so a dead worker's items
//! come back; each claim is shared between lanes (see [`crate::outbox`]);
//! items that keep failing become dead letters.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use tocsin_core::work::WorkKind;

use super::{DbRow, StoreImpl, audit_record, begin_relaxed, begin_write, clamp_limit, page};
use crate::codec::{from_us, json_from, opt_from_us, to_us};
use crate::outbox::priorities;
use crate::{DeadLetter, Failed, OutboxItem, OutboxStore, Page, Result, StoreError};

/// Every lane with claimable work, by a skip scan of `outbox_lanes`: one
/// index probe per lane, however many items each holds.
const LANES: &str = "WITH RECURSIVE lanes(lane) AS ( \
       SELECT MIN(lane) FROM outbox WHERE done_at IS NULL AND dead_at IS NULL \
       UNION ALL \
       SELECT (SELECT MIN(o.lane) FROM outbox o WHERE o.done_at IS NULL AND o.dead_at IS NULL AND o.lane > lanes.lane) \
       FROM lanes WHERE lanes.lane IS NOT NULL) \
     SELECT lane FROM lanes WHERE lane IS NOT NULL";

/// Unfinished items that may be claimed: the predicate of `outbox_lanes`.
const CLAIMABLE: &str = "done_at IS NULL AND dead_at IS NULL";

/// The oldest claimable items of one lane, priority and kind: one range of
/// `outbox_lanes` (lane, priority, kind, due_at, id), read in order up to
/// the limit. Rows skipped there are only the few leased ones; items of
/// kinds this node does not know lie in other ranges and are never read.
fn lane_candidates(sql: &mut String, n: usize) {
    let lane = 3 + n * 3;
    let (priority, kind) = (lane + 1, lane + 2);
    sql.push_str(&format!(
        "SELECT * FROM (SELECT id, lane, priority, due_at FROM outbox WHERE {CLAIMABLE} \
         AND lane = ${lane} AND priority = ${priority} AND kind = ${kind} AND due_at <= $1 \
         AND (lease_until IS NULL OR lease_until <= $1) ORDER BY due_at, id LIMIT $2) AS c{n}"
    ));
}

/// Index ranges read by one statement: below SQLite's limit of 500 terms in
/// one compound SELECT, and three binds each, far below either backend's
/// limit on binds.
const RANGES_PER_QUERY: usize = 300;

const RETURNING: &str = "RETURNING id, kind, payload, due_at, attempts, lane, priority";

fn item_from_row(r: &DbRow) -> Result<OutboxItem> {
    let kind: String = r.try_get("kind")?;
    Ok(OutboxItem {
        id: r.try_get("id")?,
        kind: WorkKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("claimed an outbox item of kind {kind}")))?,
        payload: json_from("outbox.payload", &r.try_get::<String, _>("payload")?)?,
        due_at: from_us(r.try_get("due_at")?)?,
        attempts: r.try_get("attempts")?,
        lane: r.try_get("lane")?,
        priority: r.try_get("priority")?,
    })
}

const DEAD_COLUMNS: &str = "id, kind, lane, payload, attempts, last_error, created_at, dead_at";

fn dead_letter_from_row(r: &DbRow) -> Result<DeadLetter> {
    Ok(DeadLetter {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        lane: r.try_get("lane")?,
        payload: json_from("outbox.payload", &r.try_get::<String, _>("payload")?)?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: from_us(r.try_get("created_at")?)?,
        dead_at: opt_from_us(r.try_get("dead_at")?)?,
    })
}

/// `($first, $first+1, …)`: `n` placeholders.
fn placeholders(first: usize, n: usize) -> String {
    let mut sql = String::from("(");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('$');
        sql.push_str(&(first + i).to_string());
    }
    sql.push(')');
    sql
}

/// `kinds` as binds for `kind IN (…)`; never empty, so the SQL stays valid
/// (no kind has an empty name).
fn kind_names(kinds: &[WorkKind]) -> Vec<&'static str> {
    if kinds.is_empty() { vec![""] } else { kinds.iter().map(|k| k.as_str()).collect() }
}

/// A claimable item and its place in the round: its turn within its lane.
struct Candidate {
    id: i64,
    priority: i64,
    due_us: i64,
    turn: usize,
}

/// Picks up to `limit` candidates (`(id, priority, due)` by lane)
/// round-robin across lanes: every lane's first turn, then every lane's
/// second, each lane taking its items in priority, due time and id order.
/// Within a turn, higher priority and then older work goes first.
fn pick(by_lane: HashMap<String, Vec<(i64, i64, i64)>>, limit: usize) -> Vec<Candidate> {
    let mut all = Vec::new();
    for (_, mut items) in by_lane {
        items.sort_unstable_by_key(|&(id, priority, due)| (priority, due, id));
        all.extend(items.into_iter().enumerate().map(|(turn, (id, priority, due_us))| Candidate {
            id,
            priority,
            due_us,
            turn,
        }));
    }
    all.sort_unstable_by_key(|c| (c.turn, c.priority, c.due_us, c.id));
    all.truncate(limit);
    all
}

#[async_trait]
impl OutboxStore for StoreImpl {
    async fn claim_outbox(
        &self,
        worker: &str,
        kinds: &[WorkKind],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>> {
        self.shared.faults.outbox_claim();
        let Ok(wanted) = usize::try_from(limit) else { return Ok(Vec::new()) };
        // The index ranges of one lane: each kind at each priority it can have.
        let ranges: Vec<(i64, &str)> =
            kinds.iter().flat_map(|k| priorities(*k).iter().map(move |p| (*p, k.as_str()))).collect();
        if wanted == 0 || ranges.is_empty() {
            return Ok(Vec::new());
        }
        // Candidates are read without locks; the update below claims only
        // those still unclaimed, so two nodes never both get one item.
        let lanes: Vec<String> = sqlx::query_scalar(LANES).fetch_all(&self.read).await?;
        if lanes.is_empty() {
            return Ok(Vec::new());
        }
        let lanes_per_query = (RANGES_PER_QUERY / ranges.len()).max(1);
        let mut by_lane: HashMap<String, Vec<(i64, i64, i64)>> = HashMap::new();
        for group in lanes.chunks(lanes_per_query) {
            let mut sql = String::new();
            for n in 0..group.len() * ranges.len() {
                if n > 0 {
                    sql.push_str(" UNION ALL ");
                }
                lane_candidates(&mut sql, n);
            }
            let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(to_us(now)).bind(limit);
            for lane in group {
                for (priority, kind) in &ranges {
                    query = query.bind(lane.clone()).bind(*priority).bind(*kind);
                }
            }
            for r in query.fetch_all(&self.read).await? {
                let lane: String = r.try_get("lane")?;
                let candidate = (r.try_get("id")?, r.try_get("priority")?, r.try_get("due_at")?);
                by_lane.entry(lane).or_default().push(candidate);
            }
        }
        let picked = pick(by_lane, wanted);
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let order: HashMap<i64, usize> = picked.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        let sql = format!(
            "UPDATE outbox SET claimed_by = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE {CLAIMABLE} AND (lease_until IS NULL OR lease_until <= $3) AND id IN {} {RETURNING}",
            placeholders(4, picked.len())
        );
        let mut update = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(worker).bind(to_us(lease_until));
        update = update.bind(to_us(now));
        for c in &picked {
            update = update.bind(c.id);
        }
        let mut w = begin_relaxed(&self.write).await?;
        let rows = update.fetch_all(&mut *w.tx).await?;
        w.commit(&self.signal).await?;
        let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| order.get(&i.id).copied().unwrap_or(usize::MAX));
        Ok(items)
    }

    async fn release_outbox(&self, ids: &[i64], worker: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut w = begin_relaxed(&self.write).await?;
        for chunk in ids.chunks(super::bulk::CHUNK) {
            let sql = format!(
                "UPDATE outbox SET claimed_by = NULL, lease_until = NULL, attempts = attempts - 1 \
                 WHERE claimed_by = $1 AND {CLAIMABLE} AND id IN {}",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(worker);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *w.tx).await?;
        }
        w.commit(&self.signal).await
    }

    async fn complete_outbox(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()> {
        self.complete_outbox_many(&[id], worker, now).await.map(|_| ())
    }

    async fn complete_outbox_many(&self, ids: &[i64], worker: &str, now: DateTime<Utc>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut done = 0;
        let mut w = begin_relaxed(&self.write).await?;
        for chunk in ids.chunks(super::bulk::CHUNK) {
            let sql = format!(
                "UPDATE outbox SET done_at = $1, lease_until = NULL \
                 WHERE claimed_by = $2 AND {CLAIMABLE} AND id IN {}",
                placeholders(3, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(to_us(now)).bind(worker);
            for id in chunk {
                query = query.bind(*id);
            }
            done += query.execute(&mut *w.tx).await?.rows_affected();
        }
        w.commit(&self.signal).await?;
        self.outbox_writes.fetch_add(1, Ordering::Relaxed);
        Ok(done)
    }

    async fn fail_outbox(&self, id: i64, worker: &str, error: &str, outcome: Failed) -> Result<()> {
        let (due_at, dead_at) = match outcome {
            Failed::RetryAt(at) => (Some(to_us(at)), None),
            Failed::DeadAt(at) => (None, Some(to_us(at))),
        };
        let mut w = begin_relaxed(&self.write).await?;
        sqlx::query(
            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL, last_error = $1, \
             due_at = COALESCE($2, due_at), dead_at = $3 \
             WHERE id = $4 AND claimed_by = $5 AND done_at IS NULL AND dead_at IS NULL",
        )
        .bind(error)
        .bind(due_at)
        .bind(dead_at)
        .bind(id)
        .bind(worker)
        .execute(&mut *w.tx)
        .await?;
        w.commit(&self.signal).await?;
        self.outbox_writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn next_outbox_due(&self, kinds: &[WorkKind]) -> Result<Option<DateTime<Utc>>> {
        // A leased item becomes claimable when its lease runs out, not before.
        let names = kind_names(kinds);
        let sql = format!(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at THEN lease_until ELSE due_at END) \
             FROM outbox WHERE {CLAIMABLE} AND kind IN {}",
            placeholders(1, names.len())
        );
        let mut query = sqlx::query_scalar(AssertSqlSafe(sql));
        for name in names {
            query = query.bind(name);
        }
        let due: Option<i64> = query.fetch_one(&self.read).await?;
        opt_from_us(due)
    }

    async fn dead_letters(&self, before_id: Option<i64>, limit: i64) -> Result<Page<DeadLetter>> {
        let limit = clamp_limit(limit);
        let sql = format!(
            "SELECT {DEAD_COLUMNS} FROM outbox WHERE dead_at IS NOT NULL AND id < $1 ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(limit + 1)
            .fetch_all(&self.read)
            .await?;
        let items = rows.iter().map(dead_letter_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |d| d.id))
    }

    async fn dead_letter_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL").fetch_one(&self.read).await?)
    }

    async fn retry_dead_letter(&self, id: i64, who: &str, now: DateTime<Utc>) -> Result<DeadLetter> {
        let mut w = begin_write(&self.write).await?;
        let sql = format!(
            "UPDATE outbox SET dead_at = NULL, due_at = $1, attempts = 0, claimed_by = NULL, lease_until = NULL \
             WHERE id = $2 AND dead_at IS NOT NULL AND done_at IS NULL RETURNING {DEAD_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql)).bind(to_us(now)).bind(id).fetch_optional(&mut *w.tx).await?;
        let item = dead_letter_from_row(&row.ok_or(StoreError::NotFound)?)?;
        let details = json!({"kind": item.kind, "lane": item.lane, "last_error": item.last_error});
        w.audit(audit_record(now, who, "outbox.retry", format!("outbox:{id}"), details)).await?;
        w.queued_work = true;
        w.commit(&self.signal).await?;
        Ok(item)
    }

    fn outbox_writes(&self) -> u64 {
        self.outbox_writes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(items: &[(i64, i64, i64)]) -> Vec<(i64, i64, i64)> {
        items.to_vec()
    }

    #[test]
    fn a_claim_takes_turns_between_lanes() {
        // (id, priority, due): a storm of new incidents and their pages on
        // one service, one new incident and one timer on another, one bundle.
        let by_lane = HashMap::from([
            ("storm".to_string(), lane(&[(1, 1, 1), (2, 1, 2), (3, 1, 3), (4, 0, 4), (5, 2, 0)])),
            ("quiet".to_string(), lane(&[(9, 2, 0), (10, 1, 9)])),
            ("contact_method:m".to_string(), lane(&[(7, 2, 5)])),
        ]);
        let ids = |c: &[Candidate]| c.iter().map(|c| c.id).collect::<Vec<_>>();
        // First turns: the storm's page under way, the quiet service's new
        // incident, the bundle; then second turns, and so on.
        assert_eq!(ids(&pick(by_lane.clone(), 5)), [4, 10, 7, 1, 9]);
        assert_eq!(ids(&pick(by_lane.clone(), 100)), [4, 10, 7, 1, 9, 2, 3, 5]);
        assert_eq!(ids(&pick(by_lane, 1)), [4], "higher priority wins a tie of turns");
    }
}
