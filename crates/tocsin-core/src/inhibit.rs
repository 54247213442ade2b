//! Inhibition: a firing alert mutes related, usually less important, ones
//! (a datacenter being down mutes every host alert in it), with Alertmanager's
//! rule semantics.
//!
//! A target alert is inhibited by a rule when
//! - the target matches the rule's `target_matchers`,
//! - some firing alert matches the rule's `source_matchers`,
//! - and every label named in `equal` has the same value on both, a missing
//!   label counting as the empty string (so two alerts both lacking it are
//!   equal).
//!
//! An alert that matches both sides of a rule is never inhibited by an alert
//! that also matches both sides: otherwise two such alerts would mute each
//! other, and an alert would mute itself. Alertmanager applies the same
//! exclusion.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fingerprint::fingerprint;
use crate::matchers::{MAX_NAME_LEN, Matcher, Matchers};

/// Most inhibition rules one config may hold.
pub const MAX_RULES: usize = 256;
/// Most label names one rule's `equal` may list.
pub const MAX_EQUAL: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InhibitRule {
    pub source_matchers: Matchers,
    pub target_matchers: Matchers,
    pub equal: Vec<String>,
}

/// Which rule muted an alert, and which firing alert was the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inhibition {
    /// Index of the rule in the rule list.
    pub rule: usize,
    /// Index of the source in `firing_sources`.
    pub source: usize,
    /// The source's label-set fingerprint, as Alertmanager reports it.
    pub source_fingerprint: u64,
}

impl InhibitRule {
    /// The first firing alert that inhibits `target` under this rule.
    fn source_for(&self, target: &BTreeMap<String, String>, firing: &[&BTreeMap<String, String>]) -> Option<usize> {
        if !self.target_matchers.matches(target) {
            return None;
        }
        let target_is_two_sided = self.source_matchers.matches(target);
        firing.iter().position(|source| {
            self.source_matchers.matches(source)
                && self.equal.iter().all(|name| label(source, name) == label(target, name))
                && !(target_is_two_sided && self.target_matchers.matches(source))
        })
    }
}

fn label<'a>(labels: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    labels.get(name).map_or("", String::as_str)
}

/// Whether any rule mutes `target` given the alerts firing now; the first
/// rule (in order) and its first source (in the order given) win. Callers
/// pass only unresolved alerts as `firing_sources`; passing the target among
/// them is harmless.
pub fn inhibited_by(
    target: &BTreeMap<String, String>,
    firing_sources: &[&BTreeMap<String, String>],
    rules: &[InhibitRule],
) -> Option<Inhibition> {
    rules.iter().enumerate().find_map(|(rule, r)| {
        r.source_for(target, firing_sources).map(|source| Inhibition {
            rule,
            source,
            source_fingerprint: fingerprint(firing_sources[source]),
        })
    })
}

/// A rule as the config file writes it:
/// `{ source_matchers: ['alertname="DatacenterDown"'], target_matchers: ['severity!="critical"'], equal: [datacenter] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleSpec {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A rule entry that breaks a rule; `path` names it as the config does,
/// such as `inhibit_rules[1].target_matchers[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {message}")]
pub struct InhibitRuleError {
    pub path: String,
    pub message: String,
}

/// Compiles the config's rules, naming the first bad entry by its path.
pub fn compile(specs: &[InhibitRuleSpec]) -> Result<Vec<InhibitRule>, InhibitRuleError> {
    let err = |path: String, message: String| InhibitRuleError { path, message };
    if specs.len() > MAX_RULES {
        return Err(err("inhibit_rules".into(), format!("more than {MAX_RULES} rules")));
    }
    let side = |here: &str, field: &str, texts: &[String]| -> Result<Matchers, InhibitRuleError> {
        let list = texts
            .iter()
            .enumerate()
            .map(|(j, t)| Matcher::parse(t).map_err(|e| err(format!("{here}.{field}[{j}]"), e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Matchers::new(list).map_err(|e| err(format!("{here}.{field}"), e.to_string()))
    };
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let here = format!("inhibit_rules[{i}]");
            if spec.equal.len() > MAX_EQUAL {
                return Err(err(format!("{here}.equal"), format!("more than {MAX_EQUAL} label names")));
            }
            for (j, name) in spec.equal.iter().enumerate() {
                if name.is_empty() || name.len() > MAX_NAME_LEN {
                    return Err(err(
                        format!("{here}.equal[{j}]"),
                        format!("label name must be 1 to {MAX_NAME_LEN} bytes"),
                    ));
                }
            }
            Ok(InhibitRule {
                source_matchers: side(&here, "source_matchers", &spec.source_matchers)?,
                target_matchers: side(&here, "target_matchers", &spec.target_matchers)?,
                equal: spec.equal.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule {
            source_matchers: Matchers::parse(source).unwrap(),
            target_matchers: Matchers::parse(target).unwrap(),
            equal: equal.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The documentation's example: a datacenter outage mutes every
    /// non-critical alert in the same datacenter.
    fn datacenter_rule() -> InhibitRule {
        rule(r#"alertname="DatacenterDown""#, r#"severity!="critical""#, &["datacenter"])
    }

    #[test]
    fn the_documented_datacenter_example() {
        let rules = [datacenter_rule()];
        let down_eu = labels(&[("alertname", "DatacenterDown"), ("datacenter", "eu"), ("severity", "critical")]);
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("alertname", "HostDown"), ("datacenter", "eu"), ("severity", "warning")], true),
            // Missing severity is "", which is != "critical": muted.
            (&[("alertname", "DiskFull"), ("datacenter", "eu")], true),
            // Critical alerts stay.
            (&[("alertname", "HostDown"), ("datacenter", "eu"), ("severity", "critical")], false),
            // Another datacenter stays.
            (&[("alertname", "HostDown"), ("datacenter", "us"), ("severity", "warning")], false),
            // No datacenter label: "" differs from "eu".
            (&[("alertname", "HostDown"), ("severity", "warning")], false),
        ];
        for (target, muted) in cases {
            let got = inhibited_by(&labels(target), &[&down_eu], &rules);
            assert_eq!(got.is_some(), *muted, "{target:?}");
            if let Some(i) = got {
                assert_eq!((i.rule, i.source), (0, 0));
                assert_eq!(i.source_fingerprint, fingerprint(&down_eu));
            }
        }
    }

    #[test]
    fn without_a_firing_source_nothing_is_muted() {
        let rules = [datacenter_rule()];
        let target = labels(&[("alertname", "HostDown"), ("datacenter", "eu"), ("severity", "warning")]);
        assert_eq!(inhibited_by(&target, &[], &rules), None);
        let not_a_source = labels(&[("alertname", "HostDown"), ("datacenter", "eu")]);
        assert_eq!(inhibited_by(&target, &[&not_a_source], &rules), None);
        assert_eq!(inhibited_by(&target, &[&not_a_source], &[]), None);
    }

    #[test]
    fn missing_equal_labels_are_equal_empty_strings() {
        let rules = [rule("alertname=Outage", "severity=warning", &["cluster"])];
        let source = labels(&[("alertname", "Outage")]);
        let target = labels(&[("alertname", "Slow"), ("severity", "warning")]);
        assert!(inhibited_by(&target, &[&source], &rules).is_some());
        let target_with_cluster = labels(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "a")]);
        assert!(inhibited_by(&target_with_cluster, &[&source], &rules).is_none());
        // Every listed label must agree, not just one.
        let rules = [rule("alertname=Outage", "severity=warning", &["cluster", "zone"])];
        let source = labels(&[("alertname", "Outage"), ("cluster", "a"), ("zone", "1")]);
        let same_cluster_other_zone = labels(&[("severity", "warning"), ("cluster", "a"), ("zone", "2")]);
        assert!(inhibited_by(&same_cluster_other_zone, &[&source], &rules).is_none());
        let same_both = labels(&[("severity", "warning"), ("cluster", "a"), ("zone", "1")]);
        assert!(inhibited_by(&same_both, &[&source], &rules).is_some());
    }

    #[test]
    fn an_alert_never_inhibits_itself() {
        // Both sides match any alert of team x: each alert is source and target.
        let rules = [rule("team=x", "team=x", &["team"])];
        let a = labels(&[("team", "x"), ("alertname", "A")]);
        assert_eq!(inhibited_by(&a, &[&a], &rules), None);
    }

    #[test]
    fn two_sided_alerts_do_not_mute_each_other_but_mute_one_sided_ones() {
        // Critical mutes warning in the same cluster; "Paged" alerts match both sides.
        let rules = [rule("severity=~critical|page", "severity=~warning|page", &["cluster"])];
        let two_sided_a = labels(&[("severity", "page"), ("cluster", "c"), ("alertname", "A")]);
        let two_sided_b = labels(&[("severity", "page"), ("cluster", "c"), ("alertname", "B")]);
        assert_eq!(inhibited_by(&two_sided_a, &[&two_sided_b], &rules), None);
        // A purely source-side alert still mutes the two-sided one...
        let critical = labels(&[("severity", "critical"), ("cluster", "c")]);
        let got = inhibited_by(&two_sided_a, &[&two_sided_b, &critical], &rules).unwrap();
        assert_eq!(got.source, 1);
        // ...and a two-sided alert still mutes a purely target-side one.
        let warning = labels(&[("severity", "warning"), ("cluster", "c")]);
        assert_eq!(inhibited_by(&warning, &[&two_sided_a], &rules).map(|i| i.source), Some(0));
    }

    #[test]
    fn the_first_rule_and_first_source_win() {
        let rules = [
            rule("alertname=NeverFires", "severity=warning", &[]),
            rule("alertname=ClusterDown", "severity=warning", &["cluster"]),
            rule("alertname=RegionDown", "severity=warning", &[]),
        ];
        let target = labels(&[("severity", "warning"), ("cluster", "c1")]);
        let region = labels(&[("alertname", "RegionDown")]);
        let cluster_other = labels(&[("alertname", "ClusterDown"), ("cluster", "c2")]);
        let cluster_same = labels(&[("alertname", "ClusterDown"), ("cluster", "c1")]);
        let got = inhibited_by(&target, &[&region, &cluster_other, &cluster_same], &rules).unwrap();
        assert_eq!((got.rule, got.source), (1, 2));
        let got = inhibited_by(&target, &[&region, &cluster_other], &rules).unwrap();
        assert_eq!((got.rule, got.source), (2, 0));
    }

    #[test]
    fn empty_equal_mutes_across_everything() {
        let rules = [rule("alertname=Maintenance", "", &[])];
        let source = labels(&[("alertname", "Maintenance")]);
        let target = labels(&[("alertname", "Anything"), ("cluster", "z")]);
        assert!(inhibited_by(&target, &[&source], &rules).is_some());
    }

    #[test]
    fn compile_reads_the_config_shape_and_names_bad_entries() {
        let json = r#"[{"source_matchers": ["alertname=\"DatacenterDown\""],
                        "target_matchers": ["severity!=\"critical\""], "equal": ["datacenter"]}]"#;
        let specs: Vec<InhibitRuleSpec> = serde_json::from_str(json).unwrap();
        let rules = compile(&specs).unwrap();
        assert_eq!(rules, vec![datacenter_rule()]);

        let bad = vec![
            InhibitRuleSpec::default(),
            InhibitRuleSpec { target_matchers: vec!["a=b".into(), "severity=~\"(\"".into()], ..Default::default() },
        ];
        let e = compile(&bad).unwrap_err();
        assert_eq!(e.path, "inhibit_rules[1].target_matchers[1]");
        assert!(e.message.contains("regular expression"), "{e}");

        let bad_equal = vec![InhibitRuleSpec { equal: vec!["ok".into(), String::new()], ..Default::default() }];
        assert_eq!(compile(&bad_equal).unwrap_err().path, "inhibit_rules[0].equal[1]");
        let too_many = vec![InhibitRuleSpec::default(); MAX_RULES + 1];
        assert_eq!(compile(&too_many).unwrap_err().path, "inhibit_rules");
        assert!(serde_json::from_str::<InhibitRuleSpec>(r#"{"source_match": {}}"#).is_err());
    }
}
