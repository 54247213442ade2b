//! Paging: walks incidents through their escalation policies and delivers
//! the notifications that follow, all driven by outbox items.
//!
//! Every decision is made by the pure domain (`escalation`, `paging`,
//! `notify`); this module reads what a decision needs, asks, and writes the
//! result as one [`EngineStep`] that also completes the outbox item, so a
//! step happens exactly once even across crashes and several nodes. Network
//! sends happen between a read and the step that records them: a crash in
//! between re-sends with the same idempotency key (at least once).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tocsin_core::audit::AuditRecord;
use tocsin_core::directory::LiveDirectory;
use tocsin_core::escalation::{self, Action, EscState, EscalationState, Target, Timer};
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::model::User;
use tocsin_core::notify::ack_link;
use tocsin_core::notify::backoff::RetryPolicy;
use tocsin_core::notify::ratelimit::{Admit, MethodWindow, RateLimiter};
use tocsin_core::notify::render::{self, PageMessage};
use tocsin_core::notify::rules::{ContactKind, ContactMethod, Rule, effective_rules, fallback_after_failure};
use tocsin_core::paging::{Cause, Effects, channel_of, effects};
use tocsin_core::schedule::Schedule;
use tocsin_core::timeline::{TimelineKind, actor};
use tocsin_core::work::WorkKind;
use tocsin_store::{
    ACK_LINK, EngineStep, EscalationRow, EscalationWrite, Lane, NewNotification, NewWork, NotificationRow,
    NotificationUpdate, OutboxItem, ServerSecrets, StepTimeline, Store, StoreError, merge_overrides,
};

use crate::channels::{Channels, Outcome};
use crate::{Handled, Handler};

/// How paging behaves, resolved at start.
#[derive(Clone)]
pub struct PagingSettings {
    /// Base of links in pages, without a trailing slash.
    pub public_url: String,
    pub webhook_secret: Vec<u8>,
    /// The server's keys; acknowledge links are signed with the `ack_link`
    /// key as it is at each send, so a rotation applies to the next page.
    pub secrets: ServerSecrets,
    pub ack_link_ttl: Duration,
    pub retry: RetryPolicy,
    pub limiter: RateLimiter,
}

pub struct Paging {
    pub(crate) store: Arc<dyn Store>,
    /// The applied config in force; replaced when a new version is applied.
    pub(crate) directory: LiveDirectory,
    pub(crate) channels: Channels,
    pub(crate) settings: PagingSettings,
    /// One lock per contact method: a method's rate-limit window is read,
    /// used and written by one delivery at a time on this node, so a storm
    /// of concurrent deliveries cannot all slip under the limit.
    method_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Alerts whose summaries a page shows.
const SUMMARY_ALERTS: i64 = 5;

/// The incident's page in the web UI, where every message links to.
pub fn incident_url(public_url: &str, incident_id: i64) -> String {
    format!("{public_url}/incidents/{incident_id}")
}

/// Attempts at a step that lost a race with another node before giving up
/// (the item fails and is retried after a backoff).
const MAX_CONFLICTS: usize = 3;

/// Held notifications one bundle step reads, lists and records; the rest of
/// a storm is counted in the message and recorded by follow-up steps of this
/// size, so no step grows with the backlog.
const BUNDLE_CHUNK: i64 = 100;

/// What a bundle came to for the `remaining` held notifications it counted
/// but did not list (the oldest held ones with ids up to `through`): they
/// are recorded in chunks by follow-up `notify.bundle` items that carry
/// this.
#[derive(Debug, Clone, PartialEq)]
struct Settle {
    through: i64,
    remaining: i64,
    outcome: Settled,
}

#[derive(Debug, Clone, PartialEq)]
enum Settled {
    Sent,
    Failed(String),
}

impl Settle {
    fn read(payload: &Value) -> Option<Settle> {
        let through = payload.get("through").and_then(Value::as_i64)?;
        let remaining = payload.get("remaining").and_then(Value::as_i64)?;
        let outcome = match payload.get("outcome").and_then(Value::as_str)? {
            "sent" => Settled::Sent,
            _ => Settled::Failed(payload.get("reason").and_then(Value::as_str).unwrap_or_default().to_string()),
        };
        Some(Settle { through, remaining, outcome })
    }

    fn work(&self, method_id: &str, due: DateTime<Utc>) -> NewWork {
        let mut payload = json!({"contact_method": method_id, "through": self.through, "remaining": self.remaining});
        match &self.outcome {
            Settled::Sent => payload["outcome"] = json!("sent"),
            Settled::Failed(reason) => {
                payload["outcome"] = json!("failed");
                payload["reason"] = json!(reason);
            }
        }
        NewWork::new(WorkKind::NotifyBundle, payload, due, Lane::ContactMethod(method_id.to_string()))
    }
}

/// A contact method's next bundle, due at `due`.
fn bundle_work(method_id: &str, due: DateTime<Utc>) -> NewWork {
    NewWork::new(
        WorkKind::NotifyBundle,
        json!({"contact_method": method_id}),
        due,
        Lane::ContactMethod(method_id.to_string()),
    )
}

impl Paging {
    pub fn new(store: Arc<dyn Store>, directory: LiveDirectory, channels: Channels, settings: PagingSettings) -> Self {
        Self { store, directory, channels, settings, method_locks: std::sync::Mutex::new(HashMap::new()) }
    }

    fn method_lock(&self, method_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.method_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(method_id.to_string()).or_default().clone()
    }

    /// Handles one claimed item. An item whose payload cannot be read fails
    /// (it is retried, then kept as a dead letter for a person to see).
    pub async fn handle(&self, item: &OutboxItem, worker: &str, now: DateTime<Utc>) -> Result<Handled, StoreError> {
        let done = Some((item.id, worker.to_string()));
        let payload = &item.payload;
        let incident =
            || payload.get("incident_id").and_then(Value::as_i64).ok_or_else(|| unreadable(item, "incident_id"));
        let actor = || payload.get("actor").and_then(Value::as_str).unwrap_or(actor::SYSTEM).to_string();
        match item.kind {
            WorkKind::IncidentOpened => self.opened(incident()?, done, now).await,
            WorkKind::IncidentAcknowledged => {
                self.transition(incident()?, done, now, Cause::Timer, None, escalation::on_acknowledge).await
            }
            WorkKind::IncidentResolved => {
                self.transition(incident()?, done, now, Cause::Timer, None, escalation::on_resolve).await
            }
            WorkKind::EscalationTimer => {
                let id = incident()?;
                let generation =
                    payload.get("generation").and_then(Value::as_u64).ok_or_else(|| unreadable(item, "generation"))?;
                let timer = serde_json::from_value::<Timer>(payload["timer"].clone())
                    .map_err(|e| unreadable(item, &format!("timer ({e})")))?;
                self.transition(id, done, now, Cause::Timer, None, move |s, now| {
                    escalation::on_timer(s, timer, generation, now)
                })
                .await
            }
            WorkKind::IncidentEscalate => {
                self.transition(incident()?, done, now, Cause::ByHand, Some(actor()), escalation::escalate_now).await
            }
            WorkKind::IncidentReassign => {
                let targets: Vec<Target> = serde_json::from_value(payload["targets"].clone())
                    .map_err(|e| unreadable(item, &format!("targets ({e})")))?;
                self.transition(incident()?, done, now, Cause::Reassign, Some(actor()), move |s, now| {
                    escalation::reassign(s, targets.clone(), now).unwrap_or_default()
                })
                .await
            }
            WorkKind::NotifySend => {
                let id = payload.get("notification_id").and_then(Value::as_i64);
                self.send(id.ok_or_else(|| unreadable(item, "notification_id"))?, done, now).await
            }
            WorkKind::NotifyTest => {
                let id = payload.get("test_page_id").and_then(Value::as_i64);
                self.test_page(id.ok_or_else(|| unreadable(item, "test_page_id"))?, done, now).await
            }
            WorkKind::IncidentGroupUpdate => self.group_update(incident()?, done, now).await,
            WorkKind::NotifyBundle => {
                let method = payload.get("contact_method").and_then(Value::as_str);
                let method = method.ok_or_else(|| unreadable(item, "contact_method"))?;
                match Settle::read(payload) {
                    Some(settle) => self.settle(method, settle, done, now).await.map(|()| Handled::Completed),
                    None => self.bundle(method, done, now).await.map(|()| Handled::Completed),
                }
            }
        }
    }

    // --- escalation -------------------------------------------------------

    /// A grouped incident's update: the alerts that joined it since it paged
    /// (or since the last update), summed up once on its timeline.
    async fn group_update(
        &self,
        id: i64,
        done: Option<(i64, String)>,
        now: DateTime<Utc>,
    ) -> Result<Handled, StoreError> {
        let Some(incident) = self.store.get_incident(id).await? else {
            return Ok(Handled::NothingToDo);
        };
        let mut step = EngineStep { at: now, complete: done, group_update_sent: Some(id), ..EngineStep::default() };
        if incident.status.is_open() {
            step.timeline.push(StepTimeline {
                incident_id: id,
                kind: TimelineKind::GroupUpdate,
                actor: actor::SYSTEM.to_string(),
                payload: json!({"alerts": incident.alert_count}),
            });
        }
        self.store.apply_step(&step).await.map(|()| Handled::Completed)
    }

    /// A new incident: snapshot its service's policy and page its first level.
    /// Nothing to do (and nothing written) when its service has no policy.
    async fn opened(&self, id: i64, done: Option<(i64, String)>, now: DateTime<Utc>) -> Result<Handled, StoreError> {
        let incident = self.store.get_incident(id).await?;
        let directory = self.directory.current();
        let service = incident.as_ref().and_then(|i| directory.service(&i.service_id));
        let policy = incident.as_ref().and_then(|i| directory.service_policy(&i.service_id));
        let (Some(incident), Some(service), Some(policy)) = (incident, service, policy) else {
            return Ok(Handled::NothingToDo);
        };
        if self.store.get_escalation(id).await?.is_some() || !incident.status.is_open() {
            return Ok(Handled::NothingToDo);
        }
        let (state, actions) = match escalation::start(policy.clone(), service.ack_timeout, now) {
            Ok(started) => started,
            Err(err) => {
                tracing::error!(incident = id, error = %err, "escalation policy cannot start");
                return Ok(Handled::NothingToDo);
            }
        };
        let schedules = self.schedules(now).await?;
        let fx = effects(&actions, &directory, &schedules, Cause::Opened, now);
        let mut step = EngineStep { at: now, complete: done, ..EngineStep::default() };
        step.escalation = Some(EscalationWrite::Insert {
            incident_id: id,
            policy_id: policy.id.clone(),
            status: status_name(state.status).to_string(),
            state: state_json(&state),
            episode: 0,
        });
        self.add_effects(&mut step, &incident, fx, Cause::Opened, 0, now);
        self.store.apply_step(&step).await.map(|()| Handled::Completed)
    }

    /// Feeds one event to an incident's escalation and writes the outcome.
    /// Retries when another node changed the escalation meanwhile. Nothing
    /// to do (and nothing written) for an incident without an escalation,
    /// or an event that changes nothing.
    async fn transition(
        &self,
        id: i64,
        done: Option<(i64, String)>,
        now: DateTime<Utc>,
        cause: Cause,
        by: Option<String>,
        event: impl Fn(&mut EscalationState, DateTime<Utc>) -> Vec<Action>,
    ) -> Result<Handled, StoreError> {
        for _ in 0..MAX_CONFLICTS {
            let (Some(row), Some(incident)) =
                (self.store.get_escalation(id).await?, self.store.get_incident(id).await?)
            else {
                return Ok(Handled::NothingToDo);
            };
            let mut state = serde_json::from_value::<EscalationState>(row.state.clone())
                .map_err(|e| StoreError::Corrupt(format!("escalation of incident {id} is unreadable: {e}")))?;
            let actions = event(&mut state, now);
            let mut step = EngineStep { at: now, complete: done.clone(), ..EngineStep::default() };
            if let Some(who) = &by {
                let kind =
                    if cause == Cause::Reassign { TimelineKind::Reassigned } else { TimelineKind::EscalatedByHand };
                let payload = match (cause, actions.is_empty()) {
                    (_, true) => json!({"applied": false, "reason": "nothing left to escalate to"}),
                    (Cause::Reassign, false) => json!({"applied": true, "targets": reassigned_targets(&actions)}),
                    _ => json!({"applied": true}),
                };
                step.timeline.push(StepTimeline { incident_id: id, kind, actor: who.clone(), payload });
            }
            if actions.is_empty() {
                if step.timeline.is_empty() {
                    return Ok(Handled::NothingToDo);
                }
                match self.store.apply_step(&step).await {
                    Err(StoreError::Conflict(_)) => continue,
                    other => return other.map(|()| Handled::Completed),
                }
            }
            // Paging stops for good or for now: queued notifications of the
            // old episode are cancelled in this step (and dropped, should one
            // still fall due).
            let stopped = matches!(state.status, EscState::Acknowledged | EscState::Resolved);
            let episode = if stopped { row.episode.saturating_add(1) } else { row.episode };
            if stopped {
                step.cancel_before_episode = Some((id, episode));
            }
            let schedules = self.schedules(now).await?;
            let fx = effects(&actions, &self.directory.current(), &schedules, cause, now);
            step.escalation = Some(EscalationWrite::Update {
                incident_id: id,
                status: status_name(state.status).to_string(),
                state: state_json(&state),
                episode,
                expected_version: row.version,
            });
            self.add_effects(&mut step, &incident, fx, cause, episode, now);
            match self.store.apply_step(&step).await {
                Err(StoreError::Conflict(_)) => continue,
                other => return other.map(|()| Handled::Completed),
            }
        }
        Err(StoreError::Conflict(format!("the escalation of incident {id} kept changing")))
    }

    /// Turns domain effects into rows of `step`.
    ///
    /// An acknowledged incident that pages again (its acknowledgement timed
    /// out, or someone escalated or reassigned it) is triggered again: the
    /// people now paged have not acknowledged, and its pages must go out.
    fn add_effects(
        &self,
        step: &mut EngineStep,
        incident: &Incident,
        fx: Effects,
        cause: Cause,
        episode: i64,
        now: DateTime<Utc>,
    ) {
        let id = incident.id;
        for (kind, payload) in fx.timeline {
            step.timeline.push(StepTimeline { incident_id: id, kind, actor: actor::SYSTEM.to_string(), payload });
        }
        let pages_again = fx.retrigger || (matches!(cause, Cause::ByHand | Cause::Reassign) && !fx.notices.is_empty());
        if pages_again && incident.status == IncidentStatus::Acknowledged {
            step.retrigger = Some(id);
            let reason = if fx.retrigger { "acknowledgement timed out" } else { "escalated or reassigned by hand" };
            step.audit.push(AuditRecord {
                at: now,
                actor: actor::SYSTEM.to_string(),
                action: "incident.retrigger".into(),
                target: format!("incident:{id}"),
                details: json!({ "reason": reason }),
            });
        }
        for notice in fx.notices {
            step.notifications.push(NewNotification {
                incident_id: id,
                user_id: notice.user,
                contact_method: notice.contact_method,
                channel: notice.channel.to_string(),
                episode,
                idempotency_key: idempotency_key(),
                due_at: notice.due_at,
            });
        }
        for timer in fx.timers {
            step.outbox.push(NewWork::new(
                WorkKind::EscalationTimer,
                json!({"incident_id": id, "generation": timer.generation, "timer": timer.timer}),
                timer.due_at,
                Lane::Incident(id),
            ));
        }
    }

    /// Every schedule with the overrides stored at run time.
    async fn schedules(&self, now: DateTime<Utc>) -> Result<Vec<Schedule>, StoreError> {
        let stored = self.store.list_overrides(None, now).await?;
        Ok(self.directory.current().schedules.iter().map(|s| merge_overrides(s, &stored)).collect())
    }

    // --- delivery ---------------------------------------------------------

    /// Whether a notification should still go out: its incident is still
    /// triggered and paging has not stopped since it was queued.
    async fn still_wanted(&self, n: &NotificationRow) -> Result<Option<Incident>, StoreError> {
        let Some(incident) = self.store.get_incident(n.incident_id).await? else { return Ok(None) };
        if incident.status != IncidentStatus::Triggered {
            return Ok(None);
        }
        let episode = self.store.get_escalation(n.incident_id).await?.map_or(n.episode, |e: EscalationRow| e.episode);
        Ok((episode == n.episode).then_some(incident))
    }

    fn method(&self, user_id: &str, method_id: &str) -> Option<(User, ContactMethod)> {
        let directory = self.directory.current();
        let user = directory.user(user_id)?;
        let method = user.contact_methods.iter().find(|m| m.id == method_id)?;
        Some((user.clone(), method.clone()))
    }

    async fn send(&self, id: i64, done: Option<(i64, String)>, now: DateTime<Utc>) -> Result<Handled, StoreError> {
        let Some(n) = self.store.get_notification(id).await? else { return Ok(Handled::NothingToDo) };
        if n.status != "pending" {
            return Ok(Handled::NothingToDo);
        }
        let mut step = EngineStep { at: now, complete: done, ..EngineStep::default() };
        let Some(incident) = self.still_wanted(&n).await? else {
            step.notification_updates.push(update(&n, "cancelled", n.attempts, None, None));
            return self.store.apply_step(&step).await.map(|()| Handled::Completed);
        };
        let Some((user, method)) = self.method(&n.user_id, &n.contact_method) else {
            self.failed(&mut step, &n, n.attempts, "the contact method is no longer configured".into(), now).await?;
            return self.store.apply_step(&step).await.map(|()| Handled::Completed);
        };
        let lock = self.method_lock(&method.id);
        let _serial = lock.lock().await;
        let mut window = MethodWindow { sent: self.store.method_window(&method.id).await?.into() };
        if let Admit::Bundle { until } = self.settings.limiter.admit(&mut window, now) {
            // Whatever is held has a bundle queued: one index probe says
            // whether this is the first, however many are held.
            if !self.store.held_after(&method.id, 0).await? {
                step.outbox.push(bundle_work(&method.id, until));
            }
            step.notification_updates.push(update(&n, "held", n.attempts, None, None));
            return self.store.apply_step(&step).await.map(|()| Handled::Completed);
        }
        step.method_window = Some((method.id.clone(), window.sent.iter().copied().collect()));
        let message = self.message(&incident, &user.id, n.episode, now).await?;
        let outcome = self.deliver(&method, &[message], 0, &n.idempotency_key, now).await;
        self.record(&mut step, &[n], &method.kind, outcome, false, now).await?;
        self.store.apply_step(&step).await.map(|()| Handled::Completed)
    }

    /// Sends everything a rate limit held for `method_id` as one message.
    ///
    /// The message lists the oldest [`BUNDLE_CHUNK`] held notifications and
    /// counts the rest; this step records the listed ones, and follow-up
    /// steps ([`Paging::settle`]) record the counted ones a chunk at a time.
    async fn bundle(&self, method_id: &str, done: Option<(i64, String)>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let lock = self.method_lock(method_id);
        let _serial = lock.lock().await;
        let mut step = EngineStep { at: now, complete: done, ..EngineStep::default() };
        let held = self.store.held_summary(method_id).await?;
        let listed = self.store.held_notifications(method_id, held.last_id, BUNDLE_CHUNK).await?;
        let unlisted = usize::try_from(held.count).unwrap_or(0).saturating_sub(listed.len());
        let counted =
            |outcome| Settle { through: held.last_id, remaining: i64::try_from(unlisted).unwrap_or(i64::MAX), outcome };
        let mut wanted = Vec::new();
        let mut messages = Vec::new();
        for n in listed {
            match self.still_wanted(&n).await? {
                Some(incident) => {
                    messages.push(self.message(&incident, &n.user_id, n.episode, now).await?);
                    wanted.push(n);
                }
                None => step.notification_updates.push(update(&n, "cancelled", n.attempts, None, None)),
            }
        }
        let Some(first) = wanted.first() else {
            // Nothing in this chunk is still wanted: the rest is bundled next.
            if unlisted > 0 {
                step.outbox.push(bundle_work(method_id, now));
            }
            return self.store.apply_step(&step).await;
        };
        let Some((_, method)) = self.method(&first.user_id, method_id) else {
            let reason = "the contact method is no longer configured".to_string();
            for n in &wanted {
                self.failed(&mut step, n, n.attempts, reason.clone(), now).await?;
            }
            if unlisted > 0 {
                step.outbox.push(counted(Settled::Failed(reason)).work(method_id, now));
            }
            return self.store.apply_step(&step).await;
        };
        let mut window = MethodWindow { sent: self.store.method_window(method_id).await?.into() };
        if let Admit::Bundle { until } = self.settings.limiter.admit(&mut window, now) {
            step.outbox.push(bundle_work(method_id, until));
            return self.store.apply_step(&step).await;
        }
        step.method_window = Some((method_id.to_string(), window.sent.iter().copied().collect()));
        // A bundle's key follows from the first notification it lists, so a
        // retry, or a resend after a crash, carries the same key.
        let single = messages.len() == 1 && unlisted == 0;
        let key = if single { first.idempotency_key.clone() } else { format!("{}.bundle", first.idempotency_key) };
        let outcome = self.deliver(&method, &messages, unlisted, &key, now).await;
        let settle = match (&outcome, unlisted) {
            (_, 0) | (Outcome::Retry { .. }, _) => None,
            (Outcome::Delivered, _) => Some(counted(Settled::Sent)),
            (Outcome::Permanent { reason }, _) => Some(counted(Settled::Failed(reason.clone()))),
        };
        self.record(&mut step, &wanted, &method.kind, outcome, !single, now).await?;
        if let Some(settle) = settle {
            step.outbox.push(settle.work(method_id, now));
        }
        self.store.apply_step(&step).await
    }

    /// Records, a chunk at a time, the held notifications a bundle counted
    /// without listing: sent with it, or failed with it (each then falls
    /// through to its user's next method). Notifications held since get a
    /// bundle of their own.
    async fn settle(
        &self,
        method_id: &str,
        settle: Settle,
        done: Option<(i64, String)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lock = self.method_lock(method_id);
        let _serial = lock.lock().await;
        let mut step = EngineStep { at: now, complete: done, ..EngineStep::default() };
        let chunk = settle.remaining.clamp(0, BUNDLE_CHUNK);
        let rows = self.store.held_notifications(method_id, settle.through, chunk).await?;
        match &settle.outcome {
            Settled::Sent => {
                let channel = rows.first().map_or("", |n| n.channel.as_str()).to_string();
                metrics::counter!("tocsin_notifications_total", "channel" => channel, "outcome" => "delivered")
                    .increment(rows.len() as u64);
                for n in &rows {
                    delivered(&mut step, n, n.attempts.saturating_add(1), &n.channel, true, now);
                }
            }
            Settled::Failed(reason) => {
                for n in &rows {
                    self.failed(&mut step, n, n.attempts.saturating_add(1), reason.clone(), now).await?;
                }
            }
        }
        let done_now = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let rest = Settle { remaining: settle.remaining.saturating_sub(done_now), ..settle };
        if rest.remaining > 0 && done_now == chunk {
            step.outbox.push(rest.work(method_id, now));
        } else if self.store.held_summary(method_id).await?.count > done_now {
            // Held since the bundle (beyond the rows this step records): the
            // next bundle, which waits for the rate limit.
            step.outbox.push(bundle_work(method_id, now));
        }
        self.store.apply_step(&step).await
    }

    /// Sends one message (or a bundle of several, and of `unlisted` more
    /// it counts) through `method`.
    async fn deliver(
        &self,
        method: &ContactMethod,
        messages: &[PageMessage],
        unlisted: usize,
        key: &str,
        now: DateTime<Utc>,
    ) -> Outcome {
        let single = messages.len() == 1 && unlisted == 0;
        let bundle = if single { None } else { render::bundle(messages, unlisted, key) };
        match (&method.kind, messages.first(), bundle) {
            (_, None, _) => Outcome::Permanent { reason: "nothing to send".into() },
            (ContactKind::Webhook { url }, Some(m), b) => {
                let body = b.map_or_else(|| render::webhook_payload(m, key), |b| b.webhook);
                self.channels.webhook(url, &body, key, &self.settings.webhook_secret, now.timestamp()).await
            }
            (ContactKind::Slack { url }, Some(m), b) => {
                let body = b.map_or_else(|| render::slack_payload(m), |b| b.slack);
                self.channels.slack(url, &body, key).await
            }
            (ContactKind::Email { address }, Some(m), b) => {
                let email = b.map_or_else(|| render::email(m), |b| b.email);
                self.channels.email(address, &email, key).await
            }
        }
    }

    /// Records what a delivery of `sent` (one notification, or those listed
    /// in a bundle) came to: sent, retry later, or failed and fall through.
    async fn record(
        &self,
        step: &mut EngineStep,
        sent: &[NotificationRow],
        kind: &ContactKind,
        outcome: Outcome,
        bundled: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let attempts = sent.iter().map(|n| n.attempts).max().unwrap_or(0).saturating_add(1);
        let channel = channel_of(kind);
        metrics::counter!("tocsin_notifications_total", "channel" => channel, "outcome" => outcome_name(&outcome))
            .increment(sent.len() as u64);
        match outcome {
            Outcome::Delivered => {
                for n in sent {
                    delivered(step, n, attempts, channel, bundled, now);
                }
            }
            Outcome::Retry { reason, retry_after } => {
                let failed_attempt = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
                let asked = retry_after.and_then(|d| d.to_std().ok());
                match self.settings.retry.next_delay_with_retry_after(failed_attempt, random_u64(), asked) {
                    Some(delay) => {
                        let due = now + Duration::from_std(delay).unwrap_or(Duration::seconds(1));
                        for n in sent {
                            let status = if bundled { "held" } else { "pending" };
                            step.notification_updates.push(update(n, status, attempts, None, Some(reason.clone())));
                        }
                        match (sent, bundled) {
                            ([], _) => {}
                            ([n, ..], true) => step.outbox.push(bundle_work(&n.contact_method, due)),
                            ([n, ..], false) => step.outbox.push(NewWork::new(
                                WorkKind::NotifySend,
                                json!({"notification_id": n.id}),
                                due,
                                Lane::Incident(n.incident_id),
                            )),
                        }
                    }
                    None => {
                        let tries = if attempts == 1 { "attempt" } else { "attempts" };
                        let reason = format!("gave up after {attempts} {tries}: {reason}");
                        for n in sent {
                            self.failed(step, n, attempts, reason.clone(), now).await?;
                        }
                    }
                }
            }
            Outcome::Permanent { reason } => {
                for n in sent {
                    self.failed(step, n, attempts, reason.clone(), now).await?;
                }
            }
        }
        Ok(())
    }

    /// A method failed for good: say so on the incident and page the user
    /// through their next method right away.
    async fn failed(
        &self,
        step: &mut EngineStep,
        n: &NotificationRow,
        attempts: i64,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        step.notification_updates.push(update(n, "failed", attempts, None, Some(reason.clone())));
        let rules = self.directory.current().user(&n.user_id).map(user_rules).unwrap_or_default();
        let fallback = fallback_after_failure(&rules, &n.contact_method).map(|r| r.contact_method.clone());
        step.timeline.push(StepTimeline {
            incident_id: n.incident_id,
            kind: TimelineKind::NotificationFailed,
            actor: actor::SYSTEM.to_string(),
            payload: json!({
                "user": n.user_id, "contact_method": n.contact_method, "channel": n.channel,
                "reason": reason, "attempts": attempts, "fallback": fallback,
            }),
        });
        let Some(next) = fallback else { return Ok(()) };
        // A later rule for that method is sent now instead of at its time.
        if let Some(pending) = self.store.pending_notification(n.incident_id, &n.user_id, &next, n.episode, now).await?
        {
            let send = NewWork::new(
                WorkKind::NotifySend,
                json!({"notification_id": pending.id}),
                now,
                Lane::Incident(n.incident_id),
            );
            step.outbox.push(send);
            return Ok(());
        }
        let Some((_, method)) = self.method(&n.user_id, &next) else { return Ok(()) };
        step.notifications.push(NewNotification {
            incident_id: n.incident_id,
            user_id: n.user_id.clone(),
            contact_method: method.id.clone(),
            channel: channel_of(&method.kind).to_string(),
            episode: n.episode,
            idempotency_key: idempotency_key(),
            due_at: now,
        });
        Ok(())
    }

    /// What a page about `incident` shows `user_id`, with their own
    /// acknowledge link, valid for the paging `episode` the page belongs to.
    async fn message(
        &self,
        incident: &Incident,
        user_id: &str,
        episode: i64,
        now: DateTime<Utc>,
    ) -> Result<PageMessage, StoreError> {
        let service_name = match self.directory.current().service(&incident.service_id) {
            Some(s) if !s.name.is_empty() => s.name.clone(),
            _ => incident.service_id.clone(),
        };
        let alerts = self.store.incident_alerts_first(incident.id, SUMMARY_ALERTS).await?;
        let summary_lines = alerts.iter().map(|a| a.summary.clone()).collect();
        let key = self.settings.secrets.get(ACK_LINK).await?;
        let expires = now + self.settings.ack_link_ttl;
        let token = ack_link::issue(key.as_bytes(), incident.id, user_id, episode, expires);
        Ok(PageMessage {
            incident_id: incident.id,
            title: incident.title.clone(),
            severity: incident.severity,
            service_id: incident.service_id.clone(),
            service_name,
            status: incident.status,
            created_at: incident.created_at,
            ack_url: Some(format!("{}/ack/{}?token={token}", self.settings.public_url, incident.id)),
            incident_url: Some(incident_url(&self.settings.public_url, incident.id)),
            summary_lines,
        })
    }
}

#[async_trait]
impl Handler for Paging {
    fn kinds(&self) -> &'static [WorkKind] {
        &WorkKind::ALL
    }

    /// Sends are slow and network-bound, and safe to run alongside others;
    /// escalation steps keep their order.
    fn is_delivery(&self, kind: WorkKind) -> bool {
        matches!(kind, WorkKind::NotifySend | WorkKind::NotifyBundle | WorkKind::NotifyTest)
    }

    async fn handle(&self, item: &OutboxItem, worker: &str, now: DateTime<Utc>) -> Result<Handled, StoreError> {
        Paging::handle(self, item, worker, now).await
    }
}

/// The error of an item whose payload lacks what its kind needs.
fn unreadable(item: &OutboxItem, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{} item {} has no readable {what}", item.kind, item.id))
}

/// Records `n` as delivered (alone, or in a bundle) on its `attempts`th try.
fn delivered(
    step: &mut EngineStep,
    n: &NotificationRow,
    attempts: i64,
    channel: &str,
    bundled: bool,
    now: DateTime<Utc>,
) {
    step.notification_updates.push(update(n, "sent", attempts, Some(now), None));
    step.timeline.push(StepTimeline {
        incident_id: n.incident_id,
        kind: TimelineKind::Notified,
        actor: actor::SYSTEM.to_string(),
        payload: json!({
            "user": n.user_id, "contact_method": n.contact_method, "channel": channel,
            "attempts": attempts, "bundled": bundled,
        }),
    });
}

fn user_rules(user: &User) -> Vec<Rule> {
    effective_rules(&user.contact_methods, &user.notification_rules).unwrap_or_default()
}

fn update(
    n: &NotificationRow,
    status: &str,
    attempts: i64,
    sent_at: Option<DateTime<Utc>>,
    error: Option<String>,
) -> NotificationUpdate {
    NotificationUpdate {
        id: n.id,
        status: status.to_string(),
        attempts,
        sent_at,
        last_error: error.or_else(|| n.last_error.clone()),
    }
}

fn reassigned_targets(actions: &[Action]) -> Value {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Page { targets, .. } => serde_json::to_value(targets).ok(),
            _ => None,
        })
        .unwrap_or(Value::Null)
}

fn status_name(s: EscState) -> &'static str {
    match s {
        EscState::Active => "active",
        EscState::Acknowledged => "acknowledged",
        EscState::Resolved => "resolved",
        EscState::Exhausted => "exhausted",
    }
}

fn state_json(state: &EscalationState) -> Value {
    serde_json::to_value(state).unwrap_or(Value::Null)
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Delivered => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Permanent { .. } => "failed",
    }
}

/// A fresh idempotency key: receivers drop repeats of the same key.
fn idempotency_key() -> String {
    format!("tcn_{}", hex::encode(random_bytes::<16>()))
}

pub(crate) fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        tracing::error!("operating system random source failed");
        std::process::abort();
    }
    bytes
}
