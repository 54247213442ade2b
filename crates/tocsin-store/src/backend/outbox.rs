//! The engine's work queue: claims are leases, so a dead worker's items
//! come back; each claim is shared between lanes (see [`crate::outbox`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

use super::{DbRow, StoreImpl};
use crate::codec::{from_us, json_from, opt_from_us, to_us};
use crate::outbox::{DELIVER_NOW, FOLLOW_UP, INCIDENT_CHANGE};
use crate::{OutboxItem, OutboxStore, Result};

/// Every lane with unfinished work, by a skip scan of `outbox_lanes`: one
/// index probe per lane, however many items each holds.
const LANES: &str = "WITH RECURSIVE lanes(lane) AS ( \
       SELECT MIN(lane) FROM outbox WHERE done_at IS NULL \
       UNION ALL \
       SELECT (SELECT MIN(o.lane) FROM outbox o WHERE o.done_at IS NULL AND o.lane > lanes.lane) \
       FROM lanes WHERE lanes.lane IS NOT NULL) \
     SELECT lane FROM lanes WHERE lane IS NOT NULL";

/// The oldest claimable items of one lane and priority: one range of
/// `outbox_lanes` (lane, priority, due_at, id), read in order up to the
/// limit. Rows skipped there are only the few leased ones.
fn lane_candidates(sql: &mut String, n: usize) {
    let lane = 3 + n * 2;
    let priority = lane + 1;
    sql.push_str(&format!(
        "SELECT * FROM (SELECT id, lane, priority, due_at FROM outbox WHERE done_at IS NULL \
         AND lane = ${lane} AND priority = ${priority} AND due_at <= $1 \
         AND (lease_until IS NULL OR lease_until <= $1) ORDER BY due_at, id LIMIT $2) AS c{n}"
    ));
}

const PRIORITIES: [i64; 3] = [DELIVER_NOW, INCIDENT_CHANGE, FOLLOW_UP];

/// Lanes read by one statement (two binds per lane and priority: far below
/// either backend's limit on binds, whatever the number of services).
const LANES_PER_QUERY: usize = 100;

const RETURNING: &str = "RETURNING id, kind, payload, due_at, attempts, lane, priority";

fn item_from_row(r: &DbRow) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        payload: json_from("outbox.payload", &r.try_get::<String, _>("payload")?)?,
        due_at: from_us(r.try_get("due_at")?)?,
        attempts: r.try_get("attempts")?,
        lane: r.try_get("lane")?,
        priority: r.try_get("priority")?,
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
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>> {
        self.shared.faults.outbox_claim();
        let Ok(wanted) = usize::try_from(limit) else { return Ok(Vec::new()) };
        if wanted == 0 {
            return Ok(Vec::new());
        }
        // Candidates are read without locks; the update below claims only
        // those still unclaimed, so two nodes never both get one item.
        let lanes: Vec<String> = sqlx::query_scalar(LANES).fetch_all(&self.read).await?;
        if lanes.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_lane: HashMap<String, Vec<(i64, i64, i64)>> = HashMap::new();
        for group in lanes.chunks(LANES_PER_QUERY) {
            let mut sql = String::new();
            for n in 0..group.len() * PRIORITIES.len() {
                if n > 0 {
                    sql.push_str(" UNION ALL ");
                }
                lane_candidates(&mut sql, n);
            }
            let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(to_us(now)).bind(limit);
            for lane in group {
                for priority in PRIORITIES {
                    query = query.bind(lane.clone()).bind(priority);
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
             WHERE done_at IS NULL AND (lease_until IS NULL OR lease_until <= $3) AND id IN {} {RETURNING}",
            placeholders(4, picked.len())
        );
        let mut update = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(worker).bind(to_us(lease_until));
        update = update.bind(to_us(now));
        for c in &picked {
            update = update.bind(c.id);
        }
        let rows = update.fetch_all(&self.write).await?;
        let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| order.get(&i.id).copied().unwrap_or(usize::MAX));
        Ok(items)
    }

    async fn release_outbox(&self, ids: &[i64], worker: &str) -> Result<()> {
        for chunk in ids.chunks(super::bulk::CHUNK) {
            let sql = format!(
                "UPDATE outbox SET claimed_by = NULL, lease_until = NULL, attempts = attempts - 1 \
                 WHERE claimed_by = $1 AND done_at IS NULL AND id IN {}",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(worker);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&self.write).await?;
        }
        Ok(())
    }

    async fn complete_outbox(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET done_at = $1, lease_until = NULL WHERE id = $2 AND claimed_by = $3 AND done_at IS NULL",
        )
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
