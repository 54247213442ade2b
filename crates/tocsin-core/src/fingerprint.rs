//! Alertmanager's label-set fingerprint, so an alert keeps the identity that
//! Prometheus and Alertmanager users already see in their tools.

use std::collections::BTreeMap;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEPARATOR: u8 = 0xff;

/// FNV-1a 64 over the labels sorted by name, each as `name 0xFF value 0xFF`.
/// Labels with an empty value are dropped first: Prometheus treats a label
/// with an empty value as absent.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    for (name, value) in labels.iter().filter(|(_, v)| !v.is_empty()) {
        feed(name.as_bytes());
        feed(&[SEPARATOR]);
        feed(value.as_bytes());
        feed(&[SEPARATOR]);
    }
    hash
}

/// The fingerprint as Alertmanager renders it: 16 lowercase hex digits.
pub fn fingerprint_hex(labels: &BTreeMap<String, String>) -> String {
    format!("{:016x}", fingerprint(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matches_alertmanager_for_captured_alert() {
        // From the Alertmanager 0.25 webhook capture in shared fixtures.
        let l = labels(&[
            ("alertname", "HighErrorRate"),
            ("instance", "web-1"),
            ("service", "checkout"),
            ("severity", "critical"),
        ]);
        assert_eq!(fingerprint_hex(&l), "b1c11497b32ce15e");
    }

    #[test]
    fn empty_set_is_offset_basis() {
        assert_eq!(fingerprint(&BTreeMap::new()), FNV_OFFSET);
    }

    #[test]
    fn empty_values_do_not_count() {
        let a = labels(&[("alertname", "X")]);
        let b = labels(&[("alertname", "X"), ("job", "")]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }
}
