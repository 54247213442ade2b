use super::*;
use crate::event::{EventAction, Severity};
use chrono::TimeZone;
use std::collections::BTreeMap;

fn ev(key: &str, action: EventAction) -> Event {
    Event {
        action,
        dedup_key: key.into(),
        summary: format!("{key} {action:?}"),
        severity: Severity::Critical,
        source: None,
        labels: BTreeMap::new(),
        details: json!({}),
        links: vec![],
        occurred_at: None,
        expires_at: None,
    }
}

fn incoming(events: &[Event]) -> Vec<Incoming<'_>> {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
    events
        .iter()
        .map(|event| Incoming {
            service_id: "svc",
            integration_id: "svc-pd",
            kind: IntegrationKind::Pagerduty,
            event,
            at,
        })
        .collect()
}

fn ids() -> NewIds {
    NewIds::consecutive(10, 100, 8)
}

fn effects(p: &Plan) -> Vec<Effect> {
    p.outcomes.iter().map(|o| o.effect).collect()
}

fn rules_with(service: crate::noise::ServiceRules) -> NoiseRules {
    let mut rules = NoiseRules::default();
    rules.services.insert("svc".into(), service);
    rules
}

#[test]
fn grouped_alerts_join_one_incident_that_pages_after_group_wait_with_one_update() {
    use EventAction::*;
    let grouping = crate::grouping::Grouping {
        group_by: crate::grouping::GroupBy::Labels(Vec::new()),
        group_wait: chrono::Duration::seconds(30),
        group_interval: chrono::Duration::minutes(5),
        alertmanager_group_key: false,
    };
    let rules = rules_with(crate::noise::ServiceRules { grouping: Some(grouping), ..Default::default() });
    let events = [ev("a", Trigger), ev("b", Trigger), ev("c", Trigger), ev("a", Resolve)];
    let inc = incoming(&events);
    let p = plan_with_noise(&inc, &HashMap::new(), &HashMap::new(), &ids(), &rules, NoiseFacts::default()).unwrap();
    let at = inc[0].at;
    assert_eq!(p.incidents.len(), 1);
    assert_eq!(p.alerts.iter().map(|a| a.incident_id).collect::<Vec<_>>(), [Some(10); 3]);
    assert_eq!((p.incidents[0].alerts_added, p.incidents[0].open_alerts), (3, 2));
    assert_eq!(p.incidents[0].status, IncidentStatus::Triggered, "two alerts of the group are still open");
    let due = at + chrono::Duration::minutes(5);
    assert_eq!(p.incidents[0].next_update_at, Some(due));
    let outbox: Vec<_> = p.outbox.iter().map(|o| (o.kind, o.due_at)).collect();
    assert_eq!(
        outbox,
        [(WorkKind::IncidentOpened, at + chrono::Duration::seconds(30)), (WorkKind::IncidentGroupUpdate, due)]
    );
    for a in &p.alerts[1..] {
        assert_eq!(a.held_back, [HeldBack::Grouped { incident_id: 10, next_update_at: Some(due) }]);
    }
    assert!(p.alerts[0].held_back.is_empty(), "the first alert paged");
    let kinds: Vec<_> = p.timeline.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [TimelineKind::Opened, TimelineKind::AlertAdded, TimelineKind::AlertAdded, TimelineKind::AlertResolved]
    );
}

#[test]
fn a_held_alert_opens_a_quiet_incident_that_queues_no_paging() {
    use EventAction::*;
    let window = crate::maintenance::MaintenanceWindow {
        id: "deploys".into(),
        kind: crate::maintenance::WindowKind::OneOff { start: DateTime::<Utc>::MIN_UTC, end: DateTime::<Utc>::MAX_UTC },
    };
    let rules = rules_with(crate::noise::ServiceRules { windows: vec![window], ..Default::default() });
    let events = [ev("a", Trigger), ev("a", Resolve)];
    let p =
        plan_with_noise(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids(), &rules, NoiseFacts::default())
            .unwrap();
    let held = vec![HeldBack::Maintenance { window_id: "deploys".into() }];
    assert_eq!(p.incidents[0].held_back, held);
    assert_eq!(p.alerts[0].held_back, held);
    assert_eq!(p.incidents[0].status, IncidentStatus::Resolved);
    assert_eq!(
        p.outbox.iter().map(|o| o.kind).collect::<Vec<_>>(),
        [WorkKind::IncidentResolved],
        "no incident.opened: nobody is paged"
    );
    assert_eq!(p.timeline[0].payload["held_back"][0]["kind"], "maintenance");
}

#[test]
fn a_storm_opens_one_titled_incident_and_the_rest_join_it() {
    use EventAction::*;
    let storm = crate::storm::StormPolicy { max_new_alerts: 2, within: chrono::Duration::minutes(1) };
    let rules = rules_with(crate::noise::ServiceRules { storm: Some(storm), ..Default::default() });
    let events: Vec<Event> = (0..6).map(|n| ev(&format!("k{n}"), Trigger)).collect();
    let p =
        plan_with_noise(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids(), &rules, NoiseFacts::default())
            .unwrap();
    assert_eq!(p.incidents.len(), 3, "two alerts page on their own, the third starts the storm");
    assert!(p.incidents[2].storm);
    assert_eq!(
        p.incidents[2].title.as_deref(),
        Some("Alert storm on svc: more than 2 new alerts within 1m; first: k2 Trigger")
    );
    assert_eq!((p.incidents[2].alerts_added, p.incidents[2].open_alerts), (4, 4));
    let storm_id = p.incidents[2].id;
    for a in &p.alerts[3..] {
        assert_eq!(a.held_back, [HeldBack::Storm { incident_id: storm_id }]);
    }
    let opened = p.outbox.iter().filter(|o| o.kind == WorkKind::IncidentOpened).count();
    assert_eq!(opened, 3, "one page for the storm, not one per alert");
}

#[test]
fn a_resend_that_nothing_holds_back_any_more_releases_its_quiet_incident() {
    use EventAction::*;
    let open = HashMap::from([(
        ("svc".to_string(), "k".to_string()),
        OpenAlert { id: 7, status: AlertStatus::Triggered, incident_id: Some(3) },
    )]);
    let mut quiet = IncidentState::new("svc", IncidentStatus::Triggered, 1);
    quiet.quiet = true;
    let incidents = HashMap::from([(3, quiet)]);
    let rules = rules_with(crate::noise::ServiceRules::default());
    let events = [ev("k", Trigger), ev("k", Trigger)];
    let p = plan_with_noise(&incoming(&events), &open, &incidents, &ids(), &rules, NoiseFacts::default()).unwrap();
    assert_eq!(effects(&p), [Effect::Repeated, Effect::Repeated]);
    assert!(p.incidents[0].released && p.alerts[0].released);
    assert_eq!(p.timeline.iter().map(|t| t.kind).collect::<Vec<_>>(), [TimelineKind::Released], "released once");
    assert_eq!(p.outbox.iter().map(|o| o.kind).collect::<Vec<_>>(), [WorkKind::IncidentOpened]);

    // Still silenced: nothing changes.
    let silence = crate::silence::Silence {
        id: "s".into(),
        matchers: crate::matchers::Matchers::parse("{}").unwrap(),
        starts_at: DateTime::<Utc>::MIN_UTC,
        ends_at: DateTime::<Utc>::MAX_UTC,
        created_by: "alice".into(),
        comment: String::new(),
        updated_at: DateTime::<Utc>::MIN_UTC,
    };
    let facts = NoiseFacts { silences: std::sync::Arc::new(vec![silence]), ..NoiseFacts::default() };
    let p = plan_with_noise(&incoming(&events[..1]), &open, &incidents, &ids(), &rules, facts).unwrap();
    assert!(p.incidents.is_empty(), "a re-send that releases nothing leaves its incident row alone");
    assert!(p.timeline.is_empty() && p.outbox.is_empty());
}

#[test]
fn a_quiet_incident_is_released_when_its_silence_ends_without_a_resend() {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
    let quiet_alert = |alert_id, incident_id, key: &str, env: &str| QuietAlert {
        alert_id,
        incident_id,
        service_id: "svc".into(),
        integration_id: "svc-pd".into(),
        kind: IntegrationKind::Pagerduty,
        dedup_key: key.into(),
        labels: BTreeMap::from([("env".to_string(), env.to_string())]),
        status: AlertStatus::Triggered,
        last_seen: t0,
    };
    // Incident 3 has two alerts, incident 4 one; incident 5 was released
    // already, incident 6 was resolved meanwhile.
    let alerts = [
        quiet_alert(7, 3, "a", "prod"),
        quiet_alert(8, 3, "b", "prod"),
        quiet_alert(9, 4, "c", "staging"),
        quiet_alert(10, 5, "d", "prod"),
        quiet_alert(11, 6, "e", "prod"),
    ];
    let quiet = |status| IncidentState { quiet: true, ..IncidentState::new("svc", status, 1) };
    let incidents = HashMap::from([
        (3, quiet(IncidentStatus::Triggered)),
        (4, quiet(IncidentStatus::Triggered)),
        (5, IncidentState::new("svc", IncidentStatus::Triggered, 1)),
        (6, quiet(IncidentStatus::Resolved)),
    ]);
    let rules = rules_with(crate::noise::ServiceRules::default());
    let silence = |matcher: &str, ends_at| crate::silence::Silence {
        id: format!("s-{matcher}"),
        matchers: crate::matchers::Matchers::parse(matcher).unwrap(),
        starts_at: t0,
        ends_at,
        created_by: "alice".into(),
        comment: String::new(),
        updated_at: t0,
    };
    let hour = chrono::Duration::hours(1);
    let facts = || NoiseFacts {
        silences: std::sync::Arc::new(vec![
            silence("{env=\"prod\"}", t0 + hour),
            silence("{env=\"staging\"}", t0 + hour * 2),
        ]),
        ..NoiseFacts::default()
    };

    let p = plan_releases(&alerts, &incidents, &rules, facts(), t0 + hour / 2);
    assert!(p.incidents.is_empty() && p.timeline.is_empty() && p.outbox.is_empty(), "every silence still holds");

    let at = t0 + hour;
    let p = plan_releases(&alerts, &incidents, &rules, facts(), at);
    assert_eq!(p.incidents.iter().map(|i| (i.id, i.released)).collect::<Vec<_>>(), [(3, true)], "prod only, once");
    assert_eq!(p.alerts.iter().map(|a| (a.id, a.released, a.last_seen)).collect::<Vec<_>>(), [(7, true, t0)]);
    assert_eq!(
        p.timeline.iter().map(|t| (t.kind, t.actor.as_str())).collect::<Vec<_>>(),
        [(TimelineKind::Released, actor::SYSTEM)]
    );
    assert_eq!(p.audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["incident.release"]);
    assert_eq!(p.outbox.iter().map(|o| (o.kind, o.due_at)).collect::<Vec<_>>(), [(WorkKind::IncidentOpened, at)]);

    let p = plan_releases(&alerts, &incidents, &rules, facts(), t0 + hour * 2);
    assert_eq!(p.incidents.iter().map(|i| i.id).collect::<Vec<_>>(), [3, 4]);
}

#[test]
fn a_join_target_resolved_earlier_in_the_batch_is_not_joined() {
    use EventAction::*;
    let rules = rules_with(crate::noise::ServiceRules {
        grouping: Some(crate::grouping::Grouping::default()),
        ..Default::default()
    });
    let events = [ev("a", Trigger), ev("a", Resolve), ev("b", Trigger)];
    let p =
        plan_with_noise(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids(), &rules, NoiseFacts::default())
            .unwrap();
    assert_eq!(p.incidents.len(), 2);
    assert_eq!(p.incidents[0].status, IncidentStatus::Resolved);
    assert_eq!(p.alerts[1].incident_id, Some(p.incidents[1].id));
}

#[test]
fn trigger_resolve_trigger_in_one_batch() {
    use EventAction::*;
    let events = [ev("k", Trigger), ev("k", Trigger), ev("k", Resolve), ev("k", Trigger)];
    let p = plan(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids()).unwrap();
    assert_eq!(effects(&p), [Effect::Opened, Effect::Repeated, Effect::Resolved, Effect::Opened]);
    assert_eq!(p.alerts.len(), 2);
    assert_eq!((p.alerts[0].id, p.alerts[0].occurrences, p.alerts[0].status), (100, 2, AlertStatus::Resolved));
    assert_eq!(p.alerts[0].content_from, Some(1));
    assert_eq!((p.alerts[1].id, p.alerts[1].status), (101, AlertStatus::Triggered));
    assert_eq!(p.incidents[0].status, IncidentStatus::Resolved);
    assert_eq!(p.incidents[1].status, IncidentStatus::Triggered);
    let kinds: Vec<_> = p.timeline.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [TimelineKind::Opened, TimelineKind::AlertResolved, TimelineKind::Resolved, TimelineKind::Opened]
    );
    assert_eq!(p.audit.len(), 3);
    assert_eq!(
        p.outbox.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(),
        ["incident.opened", "incident.resolved", "incident.opened"]
    );
}

#[test]
fn acknowledging_a_stored_alert_acknowledges_its_incident_once() {
    use EventAction::*;
    let open = HashMap::from([(
        ("svc".to_string(), "k".to_string()),
        OpenAlert { id: 7, status: AlertStatus::Triggered, incident_id: Some(3) },
    )]);
    let incidents = HashMap::from([(3, IncidentState::new("svc", IncidentStatus::Triggered, 1))]);
    let events = [ev("k", Acknowledge), ev("k", Acknowledge), ev("other", Resolve)];
    let p = plan(&incoming(&events), &open, &incidents, &ids()).unwrap();
    assert_eq!(effects(&p), [Effect::Acknowledged, Effect::Ignored, Effect::Ignored]);
    assert_eq!(p.alerts.len(), 1);
    assert!(!p.alerts[0].is_new);
    assert_eq!(p.alerts[0].occurrences, 0, "acknowledging is not an occurrence");
    assert_eq!(p.incidents[0].status, IncidentStatus::Acknowledged);
    assert_eq!(p.incidents[0].acknowledged_by.as_deref(), Some("integration:svc-pd"));
    assert_eq!(p.audit.len(), 1);
}

#[test]
fn incident_with_other_open_alerts_stays_open() {
    use EventAction::*;
    let open = HashMap::from([(
        ("svc".to_string(), "k".to_string()),
        OpenAlert { id: 7, status: AlertStatus::Triggered, incident_id: Some(3) },
    )]);
    let incidents = HashMap::from([(3, IncidentState::new("svc", IncidentStatus::Acknowledged, 2))]);
    let p = plan(&incoming(&[ev("k", Resolve)]), &open, &incidents, &ids()).unwrap();
    assert_eq!(effects(&p), [Effect::Resolved]);
    assert_eq!((p.incidents[0].status, p.incidents[0].open_alerts), (IncidentStatus::Acknowledged, 1));
    assert!(p.audit.is_empty());
}

#[test]
fn a_heartbeat_acts_as_itself_not_as_an_integration() {
    use EventAction::*;
    let events = [ev("heartbeat:nightly", Trigger), ev("heartbeat:nightly", Resolve)];
    let mut incoming = incoming(&events);
    for i in &mut incoming {
        (i.integration_id, i.kind) = ("nightly", IntegrationKind::Heartbeat);
    }
    let p = plan(&incoming, &HashMap::new(), &HashMap::new(), &ids()).unwrap();
    assert_eq!(p.alerts[0].kind, IntegrationKind::Heartbeat);
    assert_eq!(p.incidents[0].resolved_by.as_deref(), Some("heartbeat:nightly"));
    assert!(p.audit.iter().all(|a| a.actor == "heartbeat:nightly"), "{:?}", p.audit);
}

#[test]
fn too_few_ids_is_an_error_not_a_guess() {
    use EventAction::*;
    let events = [ev("a", Trigger), ev("b", Trigger), ev("a", Trigger)];
    assert_eq!(openings(&incoming(&events), &HashMap::new()), 2);
    let short = NewIds::consecutive(1, 1, 1);
    assert_eq!(plan(&incoming(&events), &HashMap::new(), &HashMap::new(), &short), Err(TooFewIds { reserved: 1 }));
}

#[test]
fn reserved_ids_need_not_be_consecutive() {
    use EventAction::*;
    let events = [ev("a", Trigger), ev("b", Trigger)];
    let ids = NewIds { incidents: vec![5, 9], alerts: vec![40, 77] };
    let p = plan(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids).unwrap();
    assert_eq!(p.incidents.iter().map(|i| i.id).collect::<Vec<_>>(), [5, 9]);
    assert_eq!(p.alerts.iter().map(|a| (a.id, a.incident_id)).collect::<Vec<_>>(), [(40, Some(5)), (77, Some(9))]);
}

mod model {
    //! The batch planner agrees with applying events one at a time.
    use super::*;
    use crate::event::EventAction;
    use proptest::prelude::*;

    #[derive(Default)]
    struct Model {
        open: HashMap<u8, i64>,
        alerts: HashMap<i64, (AlertStatus, i64, i64)>, // status, occurrences, incident
        incidents: HashMap<i64, (IncidentStatus, i64)>, // status, open alerts
        next: i64,
        changes: usize,
    }

    impl Model {
        fn apply(&mut self, key: u8, action: EventAction) -> Effect {
            let current = self.open.get(&key).map(|id| self.alerts[id].0);
            match fold(current, action) {
                Fold::Open => {
                    let id = self.next;
                    self.next += 1;
                    self.open.insert(key, id);
                    self.alerts.insert(id, (AlertStatus::Triggered, 1, id));
                    self.incidents.insert(id, (IncidentStatus::Triggered, 1));
                    self.changes += 1;
                    Effect::Opened
                }
                Fold::Repeat => {
                    self.alerts.get_mut(&self.open[&key]).unwrap().1 += 1;
                    Effect::Repeated
                }
                Fold::Acknowledge => {
                    let a = self.alerts.get_mut(&self.open[&key]).unwrap();
                    a.0 = AlertStatus::Acknowledged;
                    let inc = self.incidents.get_mut(&a.2).unwrap();
                    if inc.0 == IncidentStatus::Triggered {
                        inc.0 = IncidentStatus::Acknowledged;
                        self.changes += 1;
                    }
                    Effect::Acknowledged
                }
                Fold::Resolve => {
                    let id = self.open.remove(&key).unwrap();
                    let a = self.alerts.get_mut(&id).unwrap();
                    a.0 = AlertStatus::Resolved;
                    let inc = self.incidents.get_mut(&a.2).unwrap();
                    inc.1 -= 1;
                    if inc.1 == 0 {
                        inc.0 = IncidentStatus::Resolved;
                        self.changes += 1;
                    }
                    Effect::Resolved
                }
                Fold::Ignore(_) => Effect::Ignored,
            }
        }
    }

    fn action() -> impl Strategy<Value = EventAction> {
        prop_oneof![Just(EventAction::Trigger), Just(EventAction::Acknowledge), Just(EventAction::Resolve)]
    }

    proptest! {
        #[test]
        fn plan_matches_one_at_a_time(steps in proptest::collection::vec((0u8..3, action()), 0..40)) {
            let events: Vec<Event> = steps.iter().map(|(k, a)| ev(&format!("k{k}"), *a)).collect();
            let ids = NewIds::consecutive(1, 1, events.len());
            let p = plan(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids).unwrap();
            prop_assert_eq!(openings(&incoming(&events), &HashMap::new()), p.alerts.iter().filter(|a| a.is_new).count());
            let mut m = Model { next: 1, ..Model::default() };
            let want: Vec<Effect> = steps.iter().map(|(k, a)| m.apply(*k, *a)).collect();
            prop_assert_eq!(effects(&p), want);
            prop_assert_eq!(p.alerts.len(), m.alerts.len());
            for row in &p.alerts {
                let (status, occurrences, incident) = m.alerts[&row.id];
                prop_assert_eq!((row.status, row.occurrences, row.incident_id), (status, occurrences, Some(incident)));
            }
            for row in &p.incidents {
                let (status, open) = m.incidents[&row.id];
                prop_assert_eq!((row.status, row.open_alerts), (status, open));
            }
            prop_assert_eq!(p.audit.len(), m.changes);
            prop_assert_eq!(p.outbox.len(), m.changes);
        }
    }
}
