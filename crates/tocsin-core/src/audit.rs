//! The audit log is a hash chain: each entry commits to the one before it,
//! so an edited or deleted row breaks every hash after it.

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
}
