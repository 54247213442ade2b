//! Escalation policies, and the state machine that walks one incident
//! through its policy.
//!
//! A policy is an ordered list of levels (whom to page, and how long to wait
//! for an acknowledgement before paging the next level) plus a repeat count.
//! The state machine is pure: the engine feeds it events and the current
//! instant, persists the returned [`EscalationState`], and carries out the
//! returned [`Action`]s (pages to send, a timer to store in the outbox).
//!
//! # Rules
//! - **Snapshot.** [`start`] copies the policy into the state: an incident
//!   follows the policy as it stood when the incident opened, so editing a
//!   policy never reshuffles who is paged for incidents already running.
//! - **Order.** Level 0 is paged at once; each level waits its own
//!   `escalate_after`, measured from when that level was actually paged, then
//!   the next level is paged. After the last level's delay, the walk starts
//!   again at level 0 while repeats remain (`repeat` counts the extra passes:
//!   `repeat: 2` means three passes), and then the escalation is
//!   [`Action::Exhausted`]: nobody acknowledged.
//! - **Acknowledge** stops escalation. With an ack timeout, a timer is set;
//!   when it fires the incident is [`Action::ReTriggered`] and paging starts
//!   over at level 0, pass 0, as if it had just opened.
//! - **Resolve** cancels everything pending; a resolved escalation never pages
//!   again, whatever arrives later.
//! - **Timers are identified by generation, not by clock.** Every change of
//!   state bumps [`EscalationState::generation`], and each
//!   [`Action::ScheduleNext`] carries the generation it belongs to. A timer
//!   whose generation is not the current one is stale (the state moved on:
//!   acknowledged, resolved, escalated by hand) and is ignored, so the engine
//!   never has to delete outbox rows in the same breath as the change that
//!   voided them. A current timer is honoured even if `now` is slightly before
//!   its due time, so a node whose clock lags cannot silently drop a step.
//! - **Late timers** (the server was down while steps fell due) advance
//!   exactly one step per firing, at `now`, and the new step gets its full
//!   delay from `now`. This neither replays the missed steps in one burst
//!   (everyone paged at once, ordering lost) nor jumps to the step "due now",
//!   which after a long outage would skip straight to exhaustion without ever
//!   paging the later levels, the very people the policy says to try next.
//!   The cost is that the remaining escalation runs later by the outage's
//!   length; a page is never skipped.
//! - **Ignored means untouched.** Every call that changes the state returns
//!   at least one action; an empty list means the call did not apply (stale
//!   timer, already resolved, nothing left to escalate to) and the state is
//!   exactly as before. No sequence of calls panics, including on a state
//!   deserialized from a damaged row.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::format_duration;
use crate::error::CoreError;

/// Whom a level pages: a person directly, or whoever a schedule says is on
/// call at the moment of the page (resolved by the engine, not here).
///
/// Serialized as `{"user": "carol"}` / `{"schedule": "primary"}`, the shape of
/// the config contract.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    User(String),
    Schedule(String),
}

impl Target {
    fn id(&self) -> &str {
        match self {
            Target::User(id) | Target::Schedule(id) => id,
        }
    }
}

/// One step of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub targets: Vec<Target>,
    /// How long this level has to acknowledge before the next one is paged.
    pub escalate_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    /// How many extra passes over all levels after the first.
    pub repeat: u32,
    pub levels: Vec<Level>,
}

/// Checks the rules a policy must meet before it can page anyone: at least
/// one level, every level with a target and a delay greater than zero (a
/// zero delay would page every level at once and spin through repeats).
/// Errors name the field as `levels[1].escalate_after`.
pub fn validate(p: &Policy) -> Result<(), CoreError> {
    if p.id.trim().is_empty() {
        return Err(CoreError::invalid("id", "a policy needs an id"));
    }
    if p.levels.is_empty() {
        return Err(CoreError::invalid("levels", "a policy needs at least one level, or nobody would be paged"));
    }
    p.levels.iter().enumerate().try_for_each(|(i, level)| validate_level(i, level))
}

fn validate_level(i: usize, level: &Level) -> Result<(), CoreError> {
    validate_targets(&format!("levels[{i}].targets"), &level.targets)?;
    if level.escalate_after <= Duration::zero() {
        return Err(CoreError::invalid(
            format!("levels[{i}].escalate_after"),
            format!("must be greater than zero, got `{}`", format_duration(level.escalate_after)),
        ));
    }
    Ok(())
}

fn validate_targets(field: &str, targets: &[Target]) -> Result<(), CoreError> {
    if targets.is_empty() {
        return Err(CoreError::invalid(field, "needs at least one user or schedule to page"));
    }
    match targets.iter().position(|t| t.id().trim().is_empty()) {
        Some(j) => Err(CoreError::invalid(format!("{field}[{j}]"), "a target needs a user or schedule id")),
        None => Ok(()),
    }
}

/// Where an escalation stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscState {
    /// Paging: a level has been paged and the next step is scheduled.
    Active,
    /// Someone acknowledged; only the ack timeout (if any) is pending.
    Acknowledged,
    /// Resolved: nothing is pending and nothing will be paged.
    Resolved,
    /// Every level of every pass was paged and nobody acknowledged.
    Exhausted,
}

impl EscState {
    pub fn as_str(self) -> &'static str {
        match self {
            EscState::Active => "active",
            EscState::Acknowledged => "acknowledged",
            EscState::Resolved => "resolved",
            EscState::Exhausted => "exhausted",
        }
    }
}

/// What a scheduled timer does when it fires; the engine stores it with the
/// outbox row and passes it back to [`on_timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Page the next step ([`on_due`]).
    Escalate,
    /// The acknowledgement ran out ([`on_ack_timeout`]).
    AckTimeout,
}

/// One incident's escalation, persisted by the engine between calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationState {
    /// Snapshot taken when the incident opened: the incident follows the
    /// policy as it stood then.
    pub policy: Policy,
    /// How long an acknowledgement holds before the incident re-triggers;
    /// `None` means it holds until resolve.
    pub ack_timeout: Option<Duration>,
    pub status: EscState,
    /// Current pass over the levels, 0-based (at most `policy.repeat`).
    pub pass: u32,
    /// Level paged most recently in the current pass.
    pub level: usize,
    /// When the pending timer fires; `None` when nothing is pending.
    pub next_due: Option<DateTime<Utc>>,
    /// Bumped on every change; identifies the one timer that is current.
    pub generation: u64,
}

/// Work the engine must do after a call, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Page these targets now, as step (`pass`, `level`) of the policy.
    Page { level: usize, pass: u32, targets: Vec<Target> },
    /// Store a timer: at `due`, call [`on_timer`] with `timer` and
    /// `generation`. It supersedes every earlier timer of this escalation.
    ScheduleNext { due: DateTime<Utc>, generation: u64, timer: Timer },
    /// Nobody acknowledged after all levels and repeats; nothing is pending.
    Exhausted,
    /// The ack timeout ran out: the incident is triggered again and paging
    /// restarts at level 0 (a `Page` follows).
    ReTriggered,
    /// Escalation stopped (resolve, or acknowledge without a timeout):
    /// nothing is pending, earlier timers may be deleted.
    Cancelled,
}

/// Starts escalating a newly opened incident: pages level 0 now and
/// schedules level 1 (or the next pass, or exhaustion) at
/// `now + levels[0].escalate_after`.
///
/// The policy is validated here, so a state built by `start` always has a
/// level to page; `ack_timeout`, when set, must be greater than zero.
pub fn start(
    policy: Policy,
    ack_timeout: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<(EscalationState, Vec<Action>), CoreError> {
    validate(&policy)?;
    validate_ack_timeout(ack_timeout)?;
    let mut state = EscalationState {
        policy,
        ack_timeout,
        status: EscState::Active,
        pass: 0,
        level: 0,
        next_due: None,
        generation: 0,
    };
    begin_transition(&mut state);
    let actions = enter_step(&mut state, 0, 0, now);
    Ok((state, actions))
}

/// An ack timeout of zero would re-trigger the moment anyone acknowledged;
/// "no timeout" is `None`, not zero.
fn validate_ack_timeout(ack_timeout: Option<Duration>) -> Result<(), CoreError> {
    match ack_timeout {
        Some(timeout) if timeout <= Duration::zero() => Err(CoreError::invalid(
            "ack_timeout",
            format!("must be greater than zero, got `{}`", format_duration(timeout)),
        )),
        _ => Ok(()),
    }
}

/// Fires a stored timer: dispatches to [`on_due`] or [`on_ack_timeout`].
pub fn on_timer(state: &mut EscalationState, timer: Timer, generation: u64, now: DateTime<Utc>) -> Vec<Action> {
    match timer {
        Timer::Escalate => on_due(state, generation, now),
        Timer::AckTimeout => on_ack_timeout(state, generation, now),
    }
}

/// The escalation timer of `generation` fired: page the next step, or
/// declare the escalation exhausted. Ignored unless the escalation is active
/// and `generation` is current. A late firing advances one step only (see
/// the module docs for why).
pub fn on_due(state: &mut EscalationState, generation: u64, now: DateTime<Utc>) -> Vec<Action> {
    if state.status != EscState::Active || !is_current(state, generation) {
        return Vec::new();
    }
    advance(state, now)
}

/// Someone acknowledged: escalation stops. With an ack timeout, the timeout
/// is scheduled from `now`. Also applies to an exhausted escalation (someone
/// finally answered). A second acknowledgement is ignored, so a retried
/// request cannot push the timeout back.
pub fn on_acknowledge(state: &mut EscalationState, now: DateTime<Utc>) -> Vec<Action> {
    if !matches!(state.status, EscState::Active | EscState::Exhausted) {
        return Vec::new();
    }
    begin_transition(state);
    state.status = EscState::Acknowledged;
    state.next_due = None;
    match state.ack_timeout {
        Some(timeout) => vec![arm(state, Timer::AckTimeout, timeout, now)],
        None => vec![Action::Cancelled],
    }
}

/// The ack timeout of `generation` ran out: back to active, re-page from
/// level 0, pass 0. Ignored unless acknowledged with that timer current.
pub fn on_ack_timeout(state: &mut EscalationState, generation: u64, now: DateTime<Utc>) -> Vec<Action> {
    if state.status != EscState::Acknowledged || !is_current(state, generation) {
        return Vec::new();
    }
    begin_transition(state);
    let mut actions = vec![Action::ReTriggered];
    actions.extend(enter_step(state, 0, 0, now));
    actions
}

/// The incident resolved: cancel everything pending. Final: nothing after
/// this pages again.
pub fn on_resolve(state: &mut EscalationState, _now: DateTime<Utc>) -> Vec<Action> {
    if state.status == EscState::Resolved {
        return Vec::new();
    }
    begin_transition(state);
    state.status = EscState::Resolved;
    state.next_due = None;
    vec![Action::Cancelled]
}

/// "Escalate now": take the next step immediately instead of waiting.
///
/// - Active: exactly what the pending timer would do, now (the last step of
///   the last pass leads to exhaustion).
/// - Acknowledged: the responder asks for help, so escalation resumes from
///   the step after the one last paged; if no step is left, nothing changes
///   (the acknowledgement stands).
/// - Exhausted or resolved: nothing to escalate to; ignored. Use
///   [`reassign`] to page someone specific.
pub fn escalate_now(state: &mut EscalationState, now: DateTime<Utc>) -> Vec<Action> {
    let has_next = next_step(&state.policy, state.pass, state.level).is_some();
    match state.status {
        EscState::Active => advance(state, now),
        EscState::Acknowledged if has_next => advance(state, now),
        EscState::Acknowledged | EscState::Exhausted | EscState::Resolved => Vec::new(),
    }
}

/// Pages `targets` now in place of the current level and restarts the
/// escalation clock from the current level: if they do not acknowledge
/// within its `escalate_after`, escalation continues with the next step.
/// The policy itself is unchanged; later passes page the policy's targets.
///
/// Reassigning an acknowledged or exhausted escalation makes it active again
/// (the new assignee has not acknowledged). A resolved one is left alone.
pub fn reassign(
    state: &mut EscalationState,
    targets: Vec<Target>,
    now: DateTime<Utc>,
) -> Result<Vec<Action>, CoreError> {
    validate_targets("targets", &targets)?;
    if state.status == EscState::Resolved {
        return Ok(Vec::new());
    }
    begin_transition(state);
    state.status = EscState::Active;
    let mut actions = vec![Action::Page { level: state.level, pass: state.pass, targets }];
    actions.extend(arm_current_level(state, now));
    Ok(actions)
}

/// Why an escalation's next step happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextCause {
    /// Nobody acknowledged in time: the next level of this pass.
    Escalate,
    /// The last level went unanswered: level 0 of the next pass.
    Repeat,
    /// The acknowledgement runs out: the incident triggers again and level 0
    /// is paged as if it had just opened.
    AckTimeout,
}

/// What an escalation will page next, and when, unless someone acts first;
/// what a responder reads as "level 2 is paged at 10:35".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextStep {
    pub level: usize,
    pub pass: u32,
    pub at: DateTime<Utc>,
    /// The level's targets in the policy snapshot the incident follows.
    pub targets: Vec<Target>,
    pub cause: NextCause,
}

/// The step the pending timer of `state` will take: `None` when nothing is
/// pending (resolved, exhausted, acknowledged without a timeout) or when the
/// pending timer only declares the escalation exhausted.
pub fn upcoming(state: &EscalationState) -> Option<NextStep> {
    let at = state.next_due?;
    let targets = |level: usize| state.policy.levels.get(level).map(|l| l.targets.clone());
    match state.status {
        EscState::Active => {
            let (pass, level) = next_step(&state.policy, state.pass, state.level)?;
            let cause = if pass == state.pass { NextCause::Escalate } else { NextCause::Repeat };
            Some(NextStep { level, pass, at, targets: targets(level)?, cause })
        }
        EscState::Acknowledged => {
            Some(NextStep { level: 0, pass: 0, at, targets: targets(0)?, cause: NextCause::AckTimeout })
        }
        EscState::Resolved | EscState::Exhausted => None,
    }
}

/// Whether `generation` names the timer that is pending right now.
fn is_current(state: &EscalationState, generation: u64) -> bool {
    state.next_due.is_some() && state.generation == generation
}

/// Marks a change of state: every earlier timer becomes stale. Wrapping, so
/// even a damaged stored value cannot overflow.
fn begin_transition(state: &mut EscalationState) {
    state.generation = state.generation.wrapping_add(1);
}

/// The step after (`pass`, `level`): the next level, else level 0 of the
/// next pass while repeats remain, else none.
fn next_step(policy: &Policy, pass: u32, level: usize) -> Option<(u32, usize)> {
    let next_level = level.saturating_add(1);
    if next_level < policy.levels.len() {
        Some((pass, next_level))
    } else if pass < policy.repeat && !policy.levels.is_empty() {
        Some((pass.saturating_add(1), 0))
    } else {
        None
    }
}

/// Takes the step after the current one (a new transition).
fn advance(state: &mut EscalationState, now: DateTime<Utc>) -> Vec<Action> {
    begin_transition(state);
    match next_step(&state.policy, state.pass, state.level) {
        Some((pass, level)) => enter_step(state, pass, level, now),
        None => exhaust(state),
    }
}

/// Makes (`pass`, `level`) the current step: pages its targets and arms its
/// delay. Part of a transition already begun.
fn enter_step(state: &mut EscalationState, pass: u32, level: usize, now: DateTime<Utc>) -> Vec<Action> {
    let Some(targets) = state.policy.levels.get(level).map(|l| l.targets.clone()) else {
        // Only reachable from a damaged stored state: nothing left to page.
        return exhaust(state);
    };
    state.status = EscState::Active;
    state.pass = pass;
    state.level = level;
    let mut actions = vec![Action::Page { level, pass, targets }];
    actions.extend(arm_current_level(state, now));
    actions
}

/// Arms the escalation timer for the current level's delay.
fn arm_current_level(state: &mut EscalationState, now: DateTime<Utc>) -> Vec<Action> {
    match state.policy.levels.get(state.level).map(|l| l.escalate_after) {
        Some(delay) => vec![arm(state, Timer::Escalate, delay, now)],
        None => exhaust(state),
    }
}

/// Sets the pending timer to `now + delay`. A delay too large to add
/// saturates at the latest representable instant (in effect, never), rather
/// than failing the transition.
fn arm(state: &mut EscalationState, timer: Timer, delay: Duration, now: DateTime<Utc>) -> Action {
    let due = now.checked_add_signed(delay).unwrap_or(DateTime::<Utc>::MAX_UTC);
    state.next_due = Some(due);
    Action::ScheduleNext { due, generation: state.generation, timer }
}

fn exhaust(state: &mut EscalationState) -> Vec<Action> {
    state.status = EscState::Exhausted;
    state.next_due = None;
    vec![Action::Exhausted]
}

#[cfg(test)]
mod tests;
