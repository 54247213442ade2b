//! What an escalation's actions mean for one incident: whom each page
//! reaches, which notifications fall due when, which timers to store, and
//! what the timeline says about it.
//!
//! [`escalation`](crate::escalation) decides *when* a level is paged; this
//! module resolves a level's targets against the directory (schedules to
//! whoever is on call at that instant, users to their notification rules).
//! The engine turns the returned [`Effects`] into rows in one transaction.
//!
//! Timeline payloads are read by people, so they number levels and passes
//! from 1 (`"level": 1` is the policy's first level), as the CLI and the
//! API's escalation view do. The escalation state counts from 0 internally.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::directory::Directory;
use crate::escalation::{Action, Target, Timer};
use crate::notify::rules::{ContactKind, Rule, effective_rules};
use crate::schedule::{Schedule, on_call_at};
use crate::timeline::TimelineKind;

/// Why the escalation moved, which decides how the timeline tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The incident just opened: the first level's page is not an escalation.
    Opened,
    /// A stored timer fired (escalation delay or ack timeout).
    Timer,
    /// Someone asked to escalate now.
    ByHand,
    /// Someone reassigned the incident to specific targets.
    Reassign,
}

/// One notification to send: `user` through `contact_method` at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub user: String,
    pub contact_method: String,
    /// `webhook`, `slack` or `email`.
    pub channel: &'static str,
    pub due_at: DateTime<Utc>,
}

/// A timer the engine must store in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerRow {
    pub due_at: DateTime<Utc>,
    pub generation: u64,
    pub timer: Timer,
}

/// Everything the actions of one transition amount to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub timeline: Vec<(TimelineKind, Value)>,
    pub notices: Vec<Notice>,
    pub timers: Vec<TimerRow>,
    /// The ack timeout ran out: the incident returns to triggered.
    pub retrigger: bool,
}

/// Channel name of a contact method, as stored and shown.
pub fn channel_of(kind: &ContactKind) -> &'static str {
    match kind {
        ContactKind::Webhook { .. } => "webhook",
        ContactKind::Slack { .. } => "slack",
        ContactKind::Email { .. } => "email",
    }
}

/// Resolves `actions` at `now`. `schedules` are the effective schedules
/// (config plus stored overrides); a schedule missing from them pages
/// nobody, which the timeline records.
pub fn effects(
    actions: &[Action],
    directory: &Directory,
    schedules: &[Schedule],
    cause: Cause,
    now: DateTime<Utc>,
) -> Effects {
    let mut out = Effects::default();
    for action in actions {
        match action {
            Action::Page { level, pass, targets } => {
                let step = Step::of(*level, *pass);
                if matches!(cause, Cause::Timer | Cause::ByHand) && (*level > 0 || *pass > 0) {
                    out.timeline.push((TimelineKind::Escalated, json!({"level": step.level, "pass": step.pass})));
                }
                page(&mut out, directory, schedules, step, targets, now);
            }
            Action::ScheduleNext { due, generation, timer } => {
                out.timers.push(TimerRow { due_at: *due, generation: *generation, timer: *timer });
            }
            Action::Exhausted => out.timeline.push((TimelineKind::EscalationExhausted, json!({}))),
            Action::ReTriggered => {
                out.retrigger = true;
                out.timeline.push((TimelineKind::AckTimeout, json!({})));
            }
            Action::Cancelled => {}
        }
    }
    out
}

/// A level and pass as people count them: the first is 1.
#[derive(Debug, Clone, Copy)]
struct Step {
    level: u64,
    pass: u64,
}

impl Step {
    /// From the escalation's 0-based `level` and `pass`.
    fn of(level: usize, pass: u32) -> Step {
        Step { level: (level as u64).saturating_add(1), pass: u64::from(pass).saturating_add(1) }
    }
}

/// Pages one level: each distinct person once, in target order.
fn page(
    out: &mut Effects,
    directory: &Directory,
    schedules: &[Schedule],
    step: Step,
    targets: &[Target],
    now: DateTime<Utc>,
) {
    let Step { level, pass } = step;
    let mut paged: Vec<String> = Vec::new();
    for target in targets {
        let (user, via) = match target {
            Target::User(id) => (Some(id.clone()), None),
            Target::Schedule(id) => (schedules.iter().find(|s| &s.id == id).and_then(|s| on_call_at(s, now)), Some(id)),
        };
        let Some(user) = user else {
            out.timeline.push((
                TimelineKind::NobodyPaged,
                json!({"level": level, "pass": pass, "schedule": via, "reason": "nobody is on call"}),
            ));
            continue;
        };
        if paged.contains(&user) {
            continue;
        }
        out.timeline
            .push((TimelineKind::Paged, json!({"user": user, "level": level, "pass": pass, "via_schedule": via})));
        notify_user(out, directory, &user, now);
        paged.push(user);
    }
    if paged.is_empty() {
        out.timeline.push((
            TimelineKind::NobodyPaged,
            json!({"level": level, "pass": pass, "reason": "this level reached nobody"}),
        ));
    }
}

/// Queues the user's notification rules, timed from `now`.
fn notify_user(out: &mut Effects, directory: &Directory, user_id: &str, now: DateTime<Utc>) {
    let Some(user) = directory.user(user_id) else {
        out.timeline.push((TimelineKind::NotificationFailed, json!({"user": user_id, "reason": "unknown user"})));
        return;
    };
    // Config validation rejects bad rules; should a bad set slip through,
    // every method at once is the safe reading.
    let rules = effective_rules(&user.contact_methods, &user.notification_rules).unwrap_or_else(|_| {
        user.contact_methods
            .iter()
            .map(|m| Rule { contact_method: m.id.clone(), after: chrono::TimeDelta::zero() })
            .collect()
    });
    if rules.is_empty() {
        out.timeline.push((
            TimelineKind::NotificationFailed,
            json!({"user": user_id, "reason": "the user has no contact methods"}),
        ));
    }
    for rule in rules {
        let Some(method) = user.contact_methods.iter().find(|m| m.id == rule.contact_method) else { continue };
        out.notices.push(Notice {
            user: user_id.to_string(),
            contact_method: method.id.clone(),
            channel: channel_of(&method.kind),
            due_at: now.checked_add_signed(rule.after).unwrap_or(DateTime::<Utc>::MAX_UTC),
        });
    }
}

#[cfg(test)]
mod tests;
