//! Per-user contact methods and notification rules: which method is used how
//! long after a page, and where a page goes when a method fails for good.
//!
//! A rule says "notify through this method once `after` has passed since the
//! user was paged" (config: `{ contact_method: alice-mail, after: 2m }`).
//! [`effective_rules`] validates a user's rules against their methods and
//! returns them in firing order; the other functions take that output.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One way to reach a person, as declared in config
/// (`{ id: alice-hook, kind: webhook, url: "…" }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMethod {
    pub id: String,
    #[serde(flatten)]
    pub kind: ContactKind,
}

/// The channel behind a contact method; the `kind` tag matches the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContactKind {
    /// Generic JSON webhook, signed (see [`super::signature`]).
    Webhook { url: String },
    /// Slack-compatible incoming webhook.
    Slack { url: String },
    /// Email over the server's SMTP relay.
    Email { address: String },
}

/// Notify through `contact_method` once `after` has passed since the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub contact_method: String,
    pub after: TimeDelta,
}

/// A user's methods and rules that do not fit together. Each names the
/// offending method or rule (by its index in the given list).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RuleError {
    #[error("contact method id {id:?} is declared more than once")]
    DuplicateMethod { id: String },
    #[error("notification rule {rule} names unknown contact method {contact_method:?}")]
    UnknownMethod { rule: usize, contact_method: String },
    #[error("notification rule {rule} has a negative delay")]
    NegativeDelay { rule: usize },
    #[error("notification rule {rule} repeats an earlier rule (same method, same delay)")]
    DuplicateRule { rule: usize },
}

/// Validates `rules` against `methods` (all problems, not just the first)
/// and returns the rules the engine should follow, in firing order.
///
/// - Rules must name declared methods, have `after ≥ 0`, and not repeat a
///   (method, after) pair; method ids must be unique. The same method may
///   appear in several rules at different delays (a reminder).
/// - Firing order is by `after`; rules with equal delays keep their listed
///   order (a stable sort). "Rule order" elsewhere in this module means
///   this order.
/// - A user with methods but no rules gets one rule per method at 0 s, in
///   declaration order. Failing safe matters more than being quiet: a user
///   who forgot to write rules is still paged, everywhere, at once.
/// - A user with neither is valid and has no rules; paging them reaches
///   nobody, which the caller records on the incident.
pub fn effective_rules(methods: &[ContactMethod], rules: &[Rule]) -> Result<Vec<Rule>, Vec<RuleError>> {
    let mut errors = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        let first_seen = methods.iter().position(|other| other.id == m.id) == Some(i);
        let repeated = methods.iter().filter(|other| other.id == m.id).count() > 1;
        if first_seen && repeated {
            errors.push(RuleError::DuplicateMethod { id: m.id.clone() });
        }
    }
    for (i, r) in rules.iter().enumerate() {
        if !methods.iter().any(|m| m.id == r.contact_method) {
            errors.push(RuleError::UnknownMethod { rule: i, contact_method: r.contact_method.clone() });
        }
        if r.after < TimeDelta::zero() {
            errors.push(RuleError::NegativeDelay { rule: i });
        }
        if rules.iter().take(i).any(|earlier| earlier == r) {
            errors.push(RuleError::DuplicateRule { rule: i });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if rules.is_empty() {
        return Ok(methods.iter().map(|m| Rule { contact_method: m.id.clone(), after: TimeDelta::zero() }).collect());
    }
    let mut ordered = rules.to_vec();
    ordered.sort_by_key(|r| r.after);
    Ok(ordered)
}

/// When `rule` falls due for a page at `paged_at`; `None` if that instant
/// is beyond the representable range (then it never falls due).
fn due_at(rule: &Rule, paged_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    paged_at.checked_add_signed(rule.after)
}

/// The rules that are due at `now` for a page at `paged_at` (their `after`
/// has passed, inclusive), in rule order. The caller keeps track of which of
/// them it has already sent.
pub fn due_methods(rules: &[Rule], paged_at: DateTime<Utc>, now: DateTime<Utc>) -> Vec<&Rule> {
    rules.iter().filter(|r| due_at(r, paged_at).is_some_and(|t| t <= now)).collect()
}

/// The earliest instant after `now` at which another rule falls due, so the
/// engine can schedule its next wake-up; `None` when every rule is due.
pub fn next_rule_due(rules: &[Rule], paged_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rules.iter().filter_map(|r| due_at(r, paged_at)).filter(|t| *t > now).min()
}

/// Where a page goes when `failed_method_id` has failed permanently (or used
/// up its retries): the first rule after the failed method's first rule, in
/// rule order, that uses a different method. The caller sends it right away
/// instead of waiting for its `after`; a person must not wait longer because
/// a channel is broken.
///
/// Earlier rules are not revisited: they have fired already. If the failed
/// method has no rule (it was paged by some other path), the first rule with
/// another method is the fallback, so a failure never drops a page silently.
/// `None` means every method has had its turn; the caller records that on
/// the incident.
pub fn fallback_after_failure<'a>(rules: &'a [Rule], failed_method_id: &str) -> Option<&'a Rule> {
    let start = rules.iter().position(|r| r.contact_method == failed_method_id).unwrap_or(0);
    rules.iter().skip(start).find(|r| r.contact_method != failed_method_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn method(id: &str) -> ContactMethod {
        ContactMethod { id: id.into(), kind: ContactKind::Webhook { url: format!("http://127.0.0.1:9000/{id}") } }
    }

    fn rule(id: &str, secs: i64) -> Rule {
        Rule { contact_method: id.into(), after: TimeDelta::seconds(secs) }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap()
    }

    #[test]
    fn contact_methods_have_the_config_shape() {
        let m: Vec<ContactMethod> = serde_json::from_str(
            r#"[{"id":"alice-hook","kind":"webhook","url":"http://127.0.0.1:9000/hook"},
                {"id":"alice-mail","kind":"email","address":"alice@example.com"},
                {"id":"alice-slack","kind":"slack","url":"https://hooks.slack.test/x"}]"#,
        )
        .unwrap();
        assert_eq!(m[1].kind, ContactKind::Email { address: "alice@example.com".into() });
        assert_eq!(
            serde_json::to_string(&m[0]).unwrap(),
            r#"{"id":"alice-hook","kind":"webhook","url":"http://127.0.0.1:9000/hook"}"#
        );
        assert!(serde_json::from_str::<ContactMethod>(r#"{"id":"x","kind":"pager"}"#).is_err());
    }

    #[test]
    fn rules_are_ordered_by_delay_stably() {
        let methods = [method("hook"), method("mail"), method("slack")];
        let rules = [rule("mail", 120), rule("hook", 0), rule("slack", 120), rule("hook", 600)];
        let got = effective_rules(&methods, &rules).unwrap();
        assert_eq!(got, [rule("hook", 0), rule("mail", 120), rule("slack", 120), rule("hook", 600)]);
    }

    #[test]
    fn no_rules_means_every_method_at_once() {
        let methods = [method("hook"), method("mail")];
        assert_eq!(effective_rules(&methods, &[]).unwrap(), [rule("hook", 0), rule("mail", 0)]);
        assert_eq!(effective_rules(&[], &[]).unwrap(), []);
    }

    #[test]
    fn every_problem_is_reported() {
        let methods = [method("hook"), method("mail"), method("hook")];
        let rules = [
            rule("hook", 0),
            rule("pager", 0),
            Rule { contact_method: "mail".into(), after: TimeDelta::seconds(-1) },
            rule("hook", 0),
        ];
        assert_eq!(
            effective_rules(&methods, &rules).unwrap_err(),
            [
                RuleError::DuplicateMethod { id: "hook".into() },
                RuleError::UnknownMethod { rule: 1, contact_method: "pager".into() },
                RuleError::NegativeDelay { rule: 2 },
                RuleError::DuplicateRule { rule: 3 },
            ]
        );
        assert_eq!(
            effective_rules(&[], &[rule("hook", 0)]).unwrap_err(),
            [RuleError::UnknownMethod { rule: 0, contact_method: "hook".into() }]
        );
    }

    #[test]
    fn due_and_next_due_follow_the_delays() {
        let rules = [rule("hook", 0), rule("mail", 120), rule("slack", 300)];
        let ids = |v: Vec<&Rule>| v.into_iter().map(|r| r.contact_method.clone()).collect::<Vec<_>>();
        assert_eq!(ids(due_methods(&rules, t0(), t0())), ["hook"]);
        assert_eq!(next_rule_due(&rules, t0(), t0()), Some(t0() + TimeDelta::seconds(120)));
        assert_eq!(ids(due_methods(&rules, t0(), t0() + TimeDelta::seconds(119))), ["hook"]);
        assert_eq!(ids(due_methods(&rules, t0(), t0() + TimeDelta::seconds(120))), ["hook", "mail"]);
        assert_eq!(next_rule_due(&rules, t0(), t0() + TimeDelta::seconds(120)), Some(t0() + TimeDelta::seconds(300)));
        assert_eq!(ids(due_methods(&rules, t0(), t0() + TimeDelta::hours(1))), ["hook", "mail", "slack"]);
        assert_eq!(next_rule_due(&rules, t0(), t0() + TimeDelta::hours(1)), None);
        // Before the page nothing is due.
        assert!(due_methods(&rules, t0(), t0() - TimeDelta::seconds(1)).is_empty());
    }

    #[test]
    fn out_of_range_due_times_never_fire() {
        let far = [Rule { contact_method: "hook".into(), after: TimeDelta::MAX }];
        assert!(due_methods(&far, t0(), DateTime::<Utc>::MAX_UTC).is_empty());
        assert_eq!(next_rule_due(&far, t0(), t0()), None);
    }

    #[test]
    fn a_failed_method_falls_through_to_the_next_one() {
        let rules = [rule("hook", 0), rule("mail", 120), rule("hook", 300), rule("slack", 600)];
        let next = |failed| fallback_after_failure(&rules, failed).map(|r| r.contact_method.as_str());
        assert_eq!(next("hook"), Some("mail"));
        assert_eq!(next("mail"), Some("hook"), "a method that worked earlier is tried again");
        assert_eq!(next("slack"), None);
        assert_eq!(next("unknown"), Some("hook"));
        assert_eq!(fallback_after_failure(&[rule("hook", 0)], "hook"), None);
        assert_eq!(fallback_after_failure(&[], "hook"), None);
    }
}
