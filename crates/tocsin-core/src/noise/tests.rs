use super::*;
use crate::maintenance::WindowKind;
use crate::matchers::Matchers;
use chrono::TimeZone;

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 3, 12, 0, 0).single().unwrap() + Duration::minutes(min)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn rules() -> NoiseRules {
    let mut r = NoiseRules::default();
    r.services.insert("checkout".into(), ServiceRules::default());
    r
}

fn alert<'a>(labels: &'a BTreeMap<String, String>, at: DateTime<Utc>) -> NewAlert<'a> {
    NewAlert { service: "checkout", dedup_key: "k", labels, sender_group: None, at }
}

fn page_now(at: DateTime<Utc>) -> Disposition {
    Disposition::Page { page_at: at, group_key: None, storm: false }
}

#[test]
fn a_service_without_rules_pages_at_once() {
    let l = labels(&[]);
    assert_eq!(decide(&alert(&l, t(0)), &NoiseRules::default(), &NoiseFacts::default()), page_now(t(0)));
    assert_eq!(decide(&alert(&l, t(0)), &rules(), &NoiseFacts::default()), page_now(t(0)));
}

#[test]
fn an_active_silence_makes_it_quiet_and_an_ended_one_does_not() {
    let l = labels(&[("alertname", "Disk"), ("team", "payments")]);
    let silence = Silence {
        id: "s-1".into(),
        matchers: Matchers::parse(r#"{team="payments"}"#).unwrap(),
        starts_at: t(-10),
        ends_at: t(10),
        created_by: "alice".into(),
        comment: "deploy".into(),
        updated_at: t(-10),
    };
    let facts = NoiseFacts { silences: std::sync::Arc::new(vec![silence]), ..NoiseFacts::default() };
    assert_eq!(
        decide(&alert(&l, t(0)), &rules(), &facts),
        Disposition::Quiet { reasons: vec![HeldBack::Silenced { silence_id: "s-1".into() }], group_key: None }
    );
    assert_eq!(decide(&alert(&l, t(10)), &rules(), &facts), page_now(t(10)), "ends_at is exclusive");
}

#[test]
fn a_maintenance_window_makes_it_quiet_while_open() {
    let mut r = rules();
    r.services.get_mut("checkout").unwrap().windows =
        vec![MaintenanceWindow { id: "migration".into(), kind: WindowKind::OneOff { start: t(0), end: t(60) } }];
    let l = labels(&[]);
    let held = decide(&alert(&l, t(5)), &r, &NoiseFacts::default());
    assert_eq!(
        held,
        Disposition::Quiet { reasons: vec![HeldBack::Maintenance { window_id: "migration".into() }], group_key: None }
    );
    assert_eq!(decide(&alert(&l, t(60)), &r, &NoiseFacts::default()), page_now(t(60)));
}

#[test]
fn a_firing_source_inhibits_by_rule_and_equal_labels() {
    let mut r = rules();
    r.inhibit = crate::inhibit::compile(&[crate::inhibit::InhibitRuleSpec {
        source_matchers: vec![r#"alertname="DatacenterDown""#.into()],
        target_matchers: vec![r#"severity!="critical""#.into()],
        equal: vec!["datacenter".into()],
    }])
    .unwrap();
    let source = Firing { alert_id: 41, labels: labels(&[("alertname", "DatacenterDown"), ("datacenter", "fra")]) };
    let facts = NoiseFacts { firing: vec![source], ..NoiseFacts::default() };
    let same_dc = labels(&[("alertname", "Disk"), ("severity", "warning"), ("datacenter", "fra")]);
    let other_dc = labels(&[("alertname", "Disk"), ("severity", "warning"), ("datacenter", "ams")]);
    let critical = labels(&[("alertname", "Disk"), ("severity", "critical"), ("datacenter", "fra")]);
    assert_eq!(
        decide(&alert(&same_dc, t(0)), &r, &facts),
        Disposition::Quiet { reasons: vec![HeldBack::Inhibited { rule: 0, by_alert: 41 }], group_key: None }
    );
    assert_eq!(decide(&alert(&other_dc, t(0)), &r, &facts), page_now(t(0)));
    assert_eq!(decide(&alert(&critical, t(0)), &r, &facts), page_now(t(0)));
}

#[test]
fn an_open_upstream_incident_takes_the_alert_as_likely_cause() {
    let d = Directory {
        services: vec![
            crate::model::Service { id: "checkout".into(), depends_on: vec!["payments".into()], ..Default::default() },
            crate::model::Service { id: "payments".into(), depends_on: vec!["postgres".into()], ..Default::default() },
            crate::model::Service { id: "postgres".into(), ..Default::default() },
        ],
        ..Directory::default()
    };
    let r = NoiseRules::from_directory(&d);
    assert_eq!(r.service("checkout").unwrap().upstream, ["payments", "postgres"], "nearest first, transitively");
    let l = labels(&[]);
    let facts = NoiseFacts { open_incidents: HashMap::from([("postgres".to_string(), 7)]), ..NoiseFacts::default() };
    assert_eq!(
        decide(&alert(&l, t(0)), &r, &facts),
        Disposition::Join {
            incident_id: 7,
            reasons: vec![HeldBack::DependsOn { service: "postgres".into(), incident_id: 7 }]
        }
    );
    // The upstream service itself is not held back by its own incident.
    let own = NewAlert { service: "postgres", dedup_key: "k", labels: &l, sender_group: None, at: t(0) };
    assert_eq!(decide(&own, &r, &facts), page_now(t(0)));
}

#[test]
fn grouped_alerts_wait_then_join_their_groups_incident() {
    let mut r = rules();
    let grouping = Grouping {
        group_by: crate::grouping::GroupBy::Labels(vec!["alertname".into()]),
        group_wait: Duration::seconds(30),
        group_interval: Duration::minutes(5),
        alertmanager_group_key: false,
    };
    r.services.get_mut("checkout").unwrap().grouping = Some(grouping);
    let a = labels(&[("alertname", "Disk"), ("host", "a")]);
    let b = labels(&[("alertname", "Disk"), ("host", "b")]);
    let mut facts = NoiseFacts::default();
    let first = decide(&alert(&a, t(0)), &r, &facts);
    let key = r.group_key("checkout", &a, None).unwrap();
    assert_eq!(first, Disposition::Page { page_at: t(0) + Duration::seconds(30), group_key: Some(key), storm: false });
    facts.record(&alert(&a, t(0)), 1, &first, 3, &r);
    assert_eq!(
        decide(&NewAlert { dedup_key: "k2", ..alert(&b, t(1)) }, &r, &facts),
        Disposition::Join { incident_id: 3, reasons: vec![HeldBack::Grouped { incident_id: 3, next_update_at: None }] }
    );
    // Another group opens its own incident.
    let c = labels(&[("alertname", "Cpu")]);
    assert!(matches!(decide(&alert(&c, t(1)), &r, &facts), Disposition::Page { .. }));
    // Once the incident is gone, the group opens a new one.
    facts.forget_incident(3);
    assert!(matches!(decide(&alert(&b, t(2)), &r, &facts), Disposition::Page { .. }));
}

#[test]
fn alertmanagers_group_key_groups_when_the_service_says_so() {
    let mut r = rules();
    let by_host = Grouping { group_by: crate::grouping::GroupBy::Labels(vec!["host".into()]), ..Grouping::default() };
    r.services.get_mut("checkout").unwrap().grouping = Some(by_host.clone());
    let a = labels(&[("alertname", "Disk"), ("host", "a")]);
    let b = labels(&[("alertname", "Disk"), ("host", "b")]);
    let am = Some("{}:{alertname=\"Disk\"}");
    // By default `group_by` decides: two hosts, two groups.
    assert_ne!(r.group_key("checkout", &a, am), r.group_key("checkout", &b, am));
    // With `alertmanager_group_key`, Alertmanager's group decides.
    r.services.get_mut("checkout").unwrap().grouping = Some(Grouping { alertmanager_group_key: true, ..by_host });
    assert_eq!(r.group_key("checkout", &a, am), r.group_key("checkout", &b, am));
    assert_ne!(r.group_key("checkout", &a, None), r.group_key("checkout", &b, None), "no groupKey: the labels");
    let mut facts = NoiseFacts::default();
    let first = decide(&NewAlert { sender_group: am, ..alert(&a, t(0)) }, &r, &facts);
    facts.record(&NewAlert { sender_group: am, ..alert(&a, t(0)) }, 1, &first, 3, &r);
    let second = decide(&NewAlert { dedup_key: "k2", sender_group: am, ..alert(&b, t(0)) }, &r, &facts);
    assert!(matches!(second, Disposition::Join { incident_id: 3, .. }), "{second:?}");
    // A service without grouping ignores it.
    r.services.get_mut("checkout").unwrap().grouping = None;
    assert_eq!(r.group_key("checkout", &a, am), None);
}

#[test]
fn held_alerts_of_a_group_share_one_quiet_incident_apart_from_the_paging_one() {
    let mut r = rules();
    r.services.get_mut("checkout").unwrap().grouping = Some(Grouping::default());
    r.services.get_mut("checkout").unwrap().windows =
        vec![MaintenanceWindow { id: "w".into(), kind: WindowKind::OneOff { start: t(0), end: t(60) } }];
    let l = labels(&[]);
    let mut facts = NoiseFacts::default();
    let first = decide(&alert(&l, t(1)), &r, &facts);
    let Disposition::Quiet { group_key: Some(key), .. } = &first else { panic!("{first:?}") };
    assert!(key.starts_with("quiet/"));
    facts.record(&alert(&l, t(1)), 1, &first, 9, &r);
    let second = decide(&NewAlert { dedup_key: "k2", ..alert(&l, t(2)) }, &r, &facts);
    assert!(matches!(second, Disposition::Join { incident_id: 9, .. }), "{second:?}");
    // After the window the group pages with an incident of its own.
    assert!(matches!(decide(&alert(&l, t(61)), &r, &facts), Disposition::Page { .. }));
}

#[test]
fn the_alert_past_the_storm_limit_opens_the_storm_incident_and_later_ones_join_it() {
    let mut r = rules();
    r.services.get_mut("checkout").unwrap().storm =
        Some(StormPolicy { max_new_alerts: 3, within: Duration::minutes(1) });
    let l = labels(&[]);
    let mut facts = NoiseFacts::default();
    // An old arrival falls outside the window.
    facts.storms.insert("checkout".into(), StormFacts { recent: vec![t(-5)], incident: None });
    let keys: Vec<String> = (0..6).map(|n| format!("k{n}")).collect();
    let nth = |n: usize, at: DateTime<Utc>| NewAlert {
        service: "checkout",
        dedup_key: &keys[n],
        labels: &l,
        sender_group: None,
        at,
    };
    for n in 0..3 {
        let a = nth(n as usize, t(0) + Duration::seconds(n));
        let d = decide(&a, &r, &facts);
        assert!(matches!(d, Disposition::Page { storm: false, .. }), "alert {n}: {d:?}");
        facts.record(&a, n, &d, 10 + n, &r);
    }
    let a = nth(3, t(0) + Duration::seconds(3));
    let d = decide(&a, &r, &facts);
    assert_eq!(d, Disposition::Page { page_at: a.at, group_key: None, storm: true });
    facts.record(&a, 3, &d, 20, &r);
    let later = nth(4, t(0) + Duration::seconds(4));
    assert_eq!(
        decide(&later, &r, &facts),
        Disposition::Join { incident_id: 20, reasons: vec![HeldBack::Storm { incident_id: 20 }] }
    );
    // A quiet minute later the storm is over.
    assert!(matches!(decide(&nth(5, t(2)), &r, &facts), Disposition::Page { storm: false, .. }));
}

#[test]
fn a_flapping_alert_pages_once_per_window() {
    let mut r = rules();
    r.services.get_mut("checkout").unwrap().flap = Some(FlapPolicy { max_changes: 4, within: Duration::minutes(10) });
    let l = labels(&[]);
    let key = ("checkout".to_string(), "k".to_string());
    // Fired and resolved twice (4 changes), the first fire paged.
    let history = FlapFacts { changes: vec![t(0), t(1), t(2), t(3)], last_paged: Some(t(0)) };
    let facts = NoiseFacts { flaps: HashMap::from([(key.clone(), history)]), ..NoiseFacts::default() };
    assert_eq!(
        decide(&alert(&l, t(4)), &r, &facts),
        Disposition::Quiet { reasons: vec![HeldBack::Flapping { until: t(10) }], group_key: None }
    );
    // Flapping, but nothing paged within the window: this one pages.
    let stale = FlapFacts { changes: vec![t(1), t(2), t(3), t(4)], last_paged: Some(t(-20)) };
    let facts = NoiseFacts { flaps: HashMap::from([(key, stale)]), ..NoiseFacts::default() };
    assert_eq!(decide(&alert(&l, t(5)), &r, &facts), page_now(t(5)));
}

#[test]
fn facts_forget_resolved_sources_and_incidents() {
    let mut r = rules();
    r.inhibit = vec![crate::inhibit::InhibitRule::default()];
    let l = labels(&[("a", "b")]);
    let mut facts = NoiseFacts::default();
    let d = Disposition::Page { page_at: t(0), group_key: Some("g".into()), storm: false };
    facts.record(&alert(&l, t(0)), 50, &d, 5, &r);
    assert_eq!(facts.firing[0].alert_id, 50);
    assert_eq!(facts.groups.get(&("checkout".to_string(), "g".to_string())), Some(&5));
    facts.record_resolve("checkout", "k", 50, t(1));
    assert!(facts.firing.is_empty());
    assert_eq!(facts.flaps[&("checkout".to_string(), "k".to_string())].changes, [t(0), t(1)]);
    facts.forget_incident(5);
    assert!(facts.groups.is_empty() && facts.open_incidents.is_empty());
}
