//! Grouping: alerts with the same group key join one open incident, and
//! people get one page for the group plus periodic summaries instead of a
//! page per alert.
//!
//! The semantics follow Alertmanager's dispatcher:
//! - the group key is built from the `group_by` labels the alert has (a
//!   listed label the alert lacks is left out), or from all its labels when
//!   `group_by` is `...`;
//! - the first page waits `group_wait` after the group's first alert, so a
//!   burst lands in one page;
//! - alerts that join later are summarised in one update at most every
//!   `group_interval`.
//!
//! A service without a `grouping` section keeps the behaviour from before
//! grouping existed: every alert opens its own incident and pages at once.
//! Callers express that as `Option<Grouping>::None`; [`Grouping::default`]
//! is what a `grouping` section with its fields left out means.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::CoreError;

/// Alertmanager's default `group_wait`: long enough for the alerts of one
/// failure to arrive together, short enough not to delay the page much.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::seconds(30);
/// Alertmanager's default `group_interval`.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::minutes(5);
/// Most labels `group_by` may list.
pub const MAX_GROUP_BY: usize = 64;
/// Longest label name in `group_by`.
pub const MAX_LABEL_NAME_LEN: usize = 128;
/// Longest external group key taken as is; a longer one is ignored and the
/// labels decide (intake limits payload sizes long before this).
pub const MAX_EXTERNAL_KEY_LEN: usize = 4_096;
/// The `group_by` entry that means "all labels".
pub const ALL_LABELS: &str = "...";

/// Which labels make up the group key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// These labels (an empty list puts all the service's alerts in one group).
    Labels(Vec<String>),
    /// Every label: alerts group only with identical label sets.
    All,
}

/// A service's grouping settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    /// Alerts that arrive in an Alertmanager webhook group by its `groupKey`
    /// instead of `group_by`: one Alertmanager notification group, one
    /// incident, whatever Alertmanager grouped by.
    pub alertmanager_group_key: bool,
}

impl Default for Grouping {
    /// Alertmanager's defaults: no `group_by` labels (one group per
    /// service), 30 s wait, 5 min interval.
    fn default() -> Self {
        Self {
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            alertmanager_group_key: false,
        }
    }
}

impl GroupBy {
    /// Reads a config list: `["..."]` is [`GroupBy::All`], anything else a
    /// list of distinct label names. As in Alertmanager, `...` cannot be
    /// mixed with names.
    pub fn parse(field: &str, names: &[String]) -> Result<Self, CoreError> {
        if names.len() > MAX_GROUP_BY {
            return Err(CoreError::invalid(field, format!("at most {MAX_GROUP_BY} labels")));
        }
        if names.iter().any(|n| n == ALL_LABELS) {
            if names.len() > 1 {
                return Err(CoreError::invalid(field, "`...` groups by all labels and cannot be combined with names"));
            }
            return Ok(GroupBy::All);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, name) in names.iter().enumerate() {
            let entry = format!("{field}[{i}]");
            if name.is_empty() {
                return Err(CoreError::invalid(entry, "must not be empty"));
            }
            if name.len() > MAX_LABEL_NAME_LEN {
                return Err(CoreError::invalid(entry, format!("must be at most {MAX_LABEL_NAME_LEN} bytes")));
            }
            if !seen.insert(name.as_str()) {
                return Err(CoreError::invalid(entry, format!("label `{name}` is listed twice")));
            }
        }
        Ok(GroupBy::Labels(names.to_vec()))
    }
}

impl Grouping {
    /// `group_wait` may be zero (page the first alert at once);
    /// `group_interval` may not, as in Alertmanager, since it spaces updates.
    pub fn validate(&self, field: &str) -> Result<(), CoreError> {
        if self.group_wait < Duration::zero() {
            return Err(CoreError::invalid(format!("{field}.group_wait"), "must not be negative"));
        }
        if self.group_interval <= Duration::zero() {
            return Err(CoreError::invalid(format!("{field}.group_interval"), "must be greater than zero"));
        }
        Ok(())
    }
}

/// A group key: equal exactly when two alerts belong to the same group of
/// the same service.
///
/// The text is the service id and the selected labels, each name and value
/// JSON-quoted, so no choice of characters in ids, names or values can make
/// two different groups print the same (`a="b,c"` vs `a="b",c=…`). It can be
/// long (every label with `...`); [`GroupKey::digest`] is a fixed-size form
/// for an index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey(String);

impl GroupKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the key, hex: fixed length for storage and indexes.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The labels that make up an alert's group, as Alertmanager reports a
/// group's `labels`: the `group_by` labels the alert has, or all of them.
///
/// A label with an empty value is a missing label (Alertmanager's rule,
/// which its API applies by dropping such labels), so it is left out too:
/// `cluster=""` and no `cluster` land in the same group.
pub fn group_labels<'a>(labels: &'a BTreeMap<String, String>, group_by: &GroupBy) -> BTreeMap<&'a str, &'a str> {
    let present = |(k, v): (&'a String, &'a String)| (!v.is_empty()).then_some((k.as_str(), v.as_str()));
    match group_by {
        GroupBy::All => labels.iter().filter_map(present).collect(),
        GroupBy::Labels(names) => {
            names.iter().filter_map(|name| labels.get_key_value(name.as_str())).filter_map(present).collect()
        }
    }
}

/// The group key of an alert with `labels` in `service`.
pub fn group_key(service: &str, labels: &BTreeMap<String, String>, grouping: &Grouping) -> GroupKey {
    let selected = group_labels(labels, &grouping.group_by);
    let labels = serde_json::to_string(&selected).unwrap_or_default();
    GroupKey(format!("{}/labels:{labels}", quote(service)))
}

/// Like [`group_key`], but a key the sender already grouped by (Alertmanager's
/// `groupKey` in its webhook payload) takes precedence, so one Alertmanager
/// notification group is one incident. Empty or oversized external keys are
/// ignored. External and label keys never collide, and the service is part
/// of both, so two services never share a group.
pub fn group_key_with_external(
    service: &str,
    labels: &BTreeMap<String, String>,
    grouping: &Grouping,
    external: Option<&str>,
) -> GroupKey {
    match external {
        Some(key) if !key.is_empty() && key.len() <= MAX_EXTERNAL_KEY_LEN => {
            GroupKey(format!("{}/external:{}", quote(service), quote(key)))
        }
        _ => group_key(service, labels, grouping),
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Notification timing of one group (one open incident).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// When the group's first alert arrived.
    pub first_alert_at: DateTime<Utc>,
    /// When the group last paged (first page or update); `None` before the
    /// first page.
    pub last_notified_at: Option<DateTime<Utc>>,
    /// When the oldest alert not yet in a notification arrived; `None` when
    /// every alert has been told.
    pub pending_since: Option<DateTime<Utc>>,
    /// How many alerts arrived since the last notification.
    pub pending_alerts: u32,
}

/// What a due notification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupNotification {
    /// The group's first page, covering every alert so far.
    First { alerts: u32 },
    /// A summary of the alerts that joined since the last page.
    Update { added: u32 },
}

impl GroupNotification {
    /// A line for the page.
    pub fn summary(&self) -> String {
        let plural = |n: u32| if n == 1 { "alert" } else { "alerts" };
        match *self {
            GroupNotification::First { alerts } => format!("{alerts} {} in this group", plural(alerts)),
            GroupNotification::Update { added } => {
                format!("{added} more {} joined this incident since the last page", plural(added))
            }
        }
    }
}

impl GroupState {
    /// A group opened by its first alert at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self { first_alert_at: at, last_notified_at: None, pending_since: Some(at), pending_alerts: 1 }
    }

    /// Another alert joined the group at `now`.
    pub fn add_alert(&mut self, now: DateTime<Utc>) {
        self.pending_alerts = self.pending_alerts.saturating_add(1);
        self.pending_since.get_or_insert(now);
    }

    /// The notification due at `now`, if any, recorded as sent: call it when
    /// the timer from [`next_notification`] fires and page with the result.
    pub fn take_due(&mut self, now: DateTime<Utc>, grouping: &Grouping) -> Option<GroupNotification> {
        let due = next_notification(self, now, grouping)?;
        if due > now {
            return None;
        }
        let notification = match self.last_notified_at {
            None => GroupNotification::First { alerts: self.pending_alerts },
            Some(_) => GroupNotification::Update { added: self.pending_alerts },
        };
        self.last_notified_at = Some(now);
        self.pending_since = None;
        self.pending_alerts = 0;
        Some(notification)
    }
}

/// When the group should page next, never before `now` (so the engine can
/// schedule it directly); `None` when there is nothing new to tell.
///
/// - First page: `first_alert_at + group_wait`.
/// - Update: `last_notified_at + group_interval`, but also no earlier than
///   `group_wait` after the first alert it reports, so a burst arriving long
///   after the last page is still batched into one update rather than
///   paging for its first alert and summarising the rest later.
pub fn next_notification(state: &GroupState, now: DateTime<Utc>, grouping: &Grouping) -> Option<DateTime<Utc>> {
    let pending_since = state.pending_since?;
    let due = match state.last_notified_at {
        None => state.first_alert_at.checked_add_signed(grouping.group_wait)?,
        Some(last) => {
            let spaced = last.checked_add_signed(grouping.group_interval)?;
            let settled = pending_since.checked_add_signed(grouping.group_wait)?;
            spaced.max(settled)
        }
    };
    Some(due.max(now))
}

#[cfg(test)]
mod tests;
