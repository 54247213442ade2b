//! The audit log is a set of hash chains (shards): each entry commits to the
//! one before it in its shard, so an edited or deleted row breaks the link
//! after it, and each shard's head names its last entry, so a row deleted
//! from the end is noticed too. Several shards let several nodes append at
//! once without waiting for one another.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
}

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `sha256(prev ‖ 0x1f ‖ at ‖ 0x1f ‖ actor ‖ 0x1f ‖ action ‖ 0x1f ‖ target ‖ 0x1f ‖ details)`, hex.
pub fn chain_hash(prev: &str, record: &AuditRecord) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &record.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        &record.actor,
        &record.action,
        &record.target,
        &record.details.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

/// Where a chain stops following from itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The entry whose link is wrong; `None` when the shard's head does not
    /// name the shard's last entry.
    pub id: Option<i64>,
    /// `prev_hash` (an entry before it was deleted or reordered), `hash` (the
    /// entry itself was changed) or `head`.
    pub field: &'static str,
    pub expected: String,
    pub found: String,
}

/// Walks one shard's entries in order (by id), one at a time, so a long
/// chain is checked a page at a time.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    prev: String,
    checked: u64,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self { prev: GENESIS.to_string(), checked: 0 }
    }
}

impl ChainCheck {
    /// Checks the next entry: it links to the one before and its hash
    /// follows from its content.
    pub fn next(&mut self, id: i64, record: &AuditRecord, prev_hash: &str, hash: &str) -> Result<(), Break> {
        if prev_hash != self.prev {
            return Err(Break {
                id: Some(id),
                field: "prev_hash",
                expected: self.prev.clone(),
                found: prev_hash.to_string(),
            });
        }
        let expected = chain_hash(prev_hash, record);
        if expected != hash {
            return Err(Break { id: Some(id), field: "hash", expected, found: hash.to_string() });
        }
        self.prev = expected;
        self.checked += 1;
        Ok(())
    }

    /// Entries that checked out so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Checks the stored head against the last entry; returns how many
    /// entries were checked.
    pub fn finish(self, head: &str) -> Result<u64, Break> {
        if head != self.prev {
            return Err(Break { id: None, field: "head", expected: self.prev, found: head.to_string() });
        }
        Ok(self.checked)
    }
}

/// Checks a chain read back in order; returns the index of the first entry
/// whose hash does not follow from its predecessor.
pub fn verify<'a>(entries: impl IntoIterator<Item = (&'a AuditRecord, &'a str)>) -> Result<(), usize> {
    let mut prev = GENESIS.to_string();
    for (i, (record, hash)) in entries.into_iter().enumerate() {
        let expected = chain_hash(&prev, record);
        if expected != hash {
            return Err(i);
        }
        prev = expected;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(action: &str) -> AuditRecord {
        AuditRecord {
            at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap(),
            actor: "system".into(),
            action: action.into(),
            target: "incident:1".into(),
            details: serde_json::json!({}),
        }
    }

    #[test]
    fn tampering_is_detected() {
        let a = rec("open");
        let b = rec("ack");
        let ha = chain_hash(GENESIS, &a);
        let hb = chain_hash(&ha, &b);
        assert_eq!(verify([(&a, ha.as_str()), (&b, hb.as_str())]), Ok(()));
        let forged = rec("resolve");
        assert_eq!(verify([(&a, ha.as_str()), (&forged, hb.as_str())]), Err(1));
    }

    #[test]
    fn chain_check_names_the_broken_link() {
        let (a, b, c) = (rec("open"), rec("ack"), rec("resolve"));
        let ha = chain_hash(GENESIS, &a);
        let hb = chain_hash(&ha, &b);
        let hc = chain_hash(&hb, &c);

        let mut ok = ChainCheck::default();
        for (id, r, prev, h) in [(1, &a, GENESIS, &ha), (2, &b, ha.as_str(), &hb), (3, &c, hb.as_str(), &hc)] {
            ok.next(id, r, prev, h).unwrap();
        }
        assert_eq!(ok.finish(&hc), Ok(3));

        // Entry 2 deleted: entry 3 no longer links to entry 1.
        let mut gap = ChainCheck::default();
        gap.next(1, &a, GENESIS, &ha).unwrap();
        let err = gap.next(3, &c, &hb, &hc).unwrap_err();
        assert_eq!((err.id, err.field, err.expected, err.found), (Some(3), "prev_hash", ha.clone(), hb.clone()));

        // Entry 2 edited.
        let mut edited = ChainCheck::default();
        edited.next(1, &a, GENESIS, &ha).unwrap();
        let err = edited.next(2, &rec("forged"), &ha, &hb).unwrap_err();
        assert_eq!((err.id, err.field, err.found), (Some(2), "hash", hb.clone()));

        // The last entry deleted: the head still names it.
        let mut tail = ChainCheck::default();
        tail.next(1, &a, GENESIS, &ha).unwrap();
        tail.next(2, &b, &ha, &hb).unwrap();
        let err = tail.finish(&hc).unwrap_err();
        assert_eq!((err.id, err.field, err.expected, err.found), (None, "head", hb, hc));
    }
}
