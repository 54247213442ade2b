use super::*;
use proptest::prelude::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn by(names: &[&str]) -> Grouping {
    Grouping { group_by: GroupBy::Labels(names.iter().map(|s| (*s).to_owned()).collect()), ..Grouping::default() }
}

fn all() -> Grouping {
    Grouping { group_by: GroupBy::All, ..Grouping::default() }
}

fn field_of(err: CoreError) -> String {
    match err {
        CoreError::Invalid { field, .. } => field,
        other => format!("{other:?}"),
    }
}

#[test]
fn defaults_are_alertmanagers() {
    let g = Grouping::default();
    assert_eq!(g.group_wait, Duration::seconds(30));
    assert_eq!(g.group_interval, Duration::minutes(5));
    assert_eq!(g.group_by, GroupBy::Labels(Vec::new()));
}

#[test]
fn key_uses_only_the_group_by_labels() {
    let g = by(&["alertname", "cluster"]);
    let a = labels(&[("alertname", "HighLatency"), ("cluster", "eu"), ("instance", "a:9090")]);
    let b = labels(&[("cluster", "eu"), ("alertname", "HighLatency"), ("instance", "b:9090")]);
    let c = labels(&[("alertname", "HighLatency"), ("cluster", "us")]);
    assert_eq!(group_key("checkout", &a, &g), group_key("checkout", &b, &g));
    assert_ne!(group_key("checkout", &a, &g), group_key("checkout", &c, &g));
    assert_ne!(group_key("checkout", &a, &g), group_key("payments", &a, &g));
    assert_eq!(
        group_key("checkout", &a, &g).as_str(),
        r#""checkout"/labels:{"alertname":"HighLatency","cluster":"eu"}"#
    );
}

#[test]
fn key_order_of_group_by_does_not_matter() {
    let a = labels(&[("alertname", "X"), ("cluster", "eu")]);
    assert_eq!(group_key("s", &a, &by(&["alertname", "cluster"])), group_key("s", &a, &by(&["cluster", "alertname"])));
}

#[test]
fn missing_labels_and_empty_values_are_left_out_alike() {
    // Alertmanager: "a missing label and a label with an empty value are the
    // same thing"; its API drops empty labels before grouping.
    let g = by(&["alertname", "cluster"]);
    let without = labels(&[("alertname", "X")]);
    let empty = labels(&[("alertname", "X"), ("cluster", "")]);
    assert_eq!(group_key("s", &without, &g).as_str(), r#""s"/labels:{"alertname":"X"}"#);
    assert_eq!(group_key("s", &without, &g), group_key("s", &empty, &g));
    assert_eq!(group_key("s", &without, &all()), group_key("s", &empty, &all()));
    let pairs = |l: BTreeMap<&str, &str>| l.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<Vec<_>>();
    assert_eq!(pairs(group_labels(&empty, &g.group_by)), [("alertname".to_owned(), "X".to_owned())]);
    assert_eq!(pairs(group_labels(&empty, &GroupBy::All)), [("alertname".to_owned(), "X".to_owned())]);
}

#[test]
fn no_group_by_labels_means_one_group_per_service() {
    let g = Grouping::default();
    let a = labels(&[("alertname", "X")]);
    let b = labels(&[("alertname", "Y")]);
    assert_eq!(group_key("s", &a, &g), group_key("s", &b, &g));
}

#[test]
fn all_labels_groups_identical_sets_only() {
    let a = labels(&[("alertname", "X"), ("instance", "a")]);
    let b = labels(&[("alertname", "X"), ("instance", "b")]);
    assert_ne!(group_key("s", &a, &all()), group_key("s", &b, &all()));
    assert_eq!(group_key("s", &a, &all()), group_key("s", &a.clone(), &all()));
}

#[test]
fn escaping_keeps_distinct_sets_apart() {
    let g = all();
    let cases = [
        (labels(&[("a", "b,c=d")]), labels(&[("a", "b"), ("c", "d")])),
        (labels(&[("a", r#"x","b":"y"#)]), labels(&[("a", "x"), ("b", "y")])),
        (labels(&[("a\"", "b")]), labels(&[("a", "\"b")])),
    ];
    for (x, y) in cases {
        assert_ne!(group_key("s", &x, &g), group_key("s", &y, &g), "{x:?} vs {y:?}");
    }
    // A service id cannot impersonate a label set either.
    assert_ne!(group_key(r#"s"/labels:{"a":"b"}"#, &BTreeMap::new(), &g), group_key("s", &labels(&[("a", "b")]), &g));
}

#[test]
fn external_key_takes_precedence_and_never_collides() {
    let g = by(&["alertname"]);
    let a = labels(&[("alertname", "X")]);
    let b = labels(&[("alertname", "Y")]);
    let am = r#"{}/{severity="page"}:{alertname="X"}"#;
    assert_eq!(group_key_with_external("s", &a, &g, Some(am)), group_key_with_external("s", &b, &g, Some(am)));
    assert_ne!(group_key_with_external("s", &a, &g, Some(am)), group_key_with_external("t", &a, &g, Some(am)));
    assert_eq!(group_key_with_external("s", &a, &g, None), group_key("s", &a, &g));
    assert_eq!(group_key_with_external("s", &a, &g, Some("")), group_key("s", &a, &g));
    let huge = "k".repeat(MAX_EXTERNAL_KEY_LEN + 1);
    assert_eq!(group_key_with_external("s", &a, &g, Some(&huge)), group_key("s", &a, &g));
    // An external key spelled like a label key stays distinct.
    let lookalike = r#"labels:{"alertname":"X"}"#;
    assert_ne!(group_key_with_external("s", &a, &g, Some(lookalike)), group_key("s", &a, &g));
}

#[test]
fn digest_is_fixed_length_and_follows_the_key() {
    let g = all();
    let a = group_key("s", &labels(&[("a", "1")]), &g);
    let b = group_key("s", &labels(&[("a", "2")]), &g);
    assert_eq!(a.digest().len(), 64);
    assert_eq!(a.digest(), a.clone().digest());
    assert_ne!(a.digest(), b.digest());
}

proptest! {
    #[test]
    fn keys_are_injective_over_label_sets(
        x in proptest::collection::btree_map("[a-c\"=,{}:\\\\]{0,3}", "[a-c\"=,{}:\\\\]{0,3}", 0..4),
        y in proptest::collection::btree_map("[a-c\"=,{}:\\\\]{0,3}", "[a-c\"=,{}:\\\\]{0,3}", 0..4),
    ) {
        // Injective over label sets as Alertmanager sees them: without the
        // labels whose value is empty.
        let present = |l: &BTreeMap<String, String>| {
            l.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>()
        };
        let g = all();
        prop_assert_eq!(group_key("s", &x, &g) == group_key("s", &y, &g), present(&x) == present(&y));
    }
}

#[test]
fn group_by_parsing() {
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(GroupBy::parse("g", &names(&["..."])), Ok(GroupBy::All));
    assert_eq!(GroupBy::parse("g", &names(&["a", "b"])), Ok(GroupBy::Labels(names(&["a", "b"]))));
    assert_eq!(GroupBy::parse("g", &[]), Ok(GroupBy::Labels(Vec::new())));
    assert_eq!(field_of(GroupBy::parse("g", &names(&["...", "a"])).unwrap_err()), "g");
    assert_eq!(field_of(GroupBy::parse("g", &names(&["a", "b", "a"])).unwrap_err()), "g[2]");
    assert_eq!(field_of(GroupBy::parse("g", &names(&["a", ""])).unwrap_err()), "g[1]");
    assert_eq!(field_of(GroupBy::parse("g", &names(&[&"x".repeat(129)])).unwrap_err()), "g[0]");
    assert_eq!(field_of(GroupBy::parse("g", &vec!["a".to_owned(); MAX_GROUP_BY + 1]).unwrap_err()), "g");
}

#[test]
fn grouping_validation() {
    assert_eq!(Grouping::default().validate("g"), Ok(()));
    let zero_wait = Grouping { group_wait: Duration::zero(), ..Grouping::default() };
    assert_eq!(zero_wait.validate("g"), Ok(()));
    let zero_interval = Grouping { group_interval: Duration::zero(), ..Grouping::default() };
    assert_eq!(field_of(zero_interval.validate("g").unwrap_err()), "g.group_interval");
    let negative = Grouping { group_wait: Duration::seconds(-1), ..Grouping::default() };
    assert_eq!(field_of(negative.validate("g").unwrap_err()), "g.group_wait");
}

#[test]
fn first_page_waits_group_wait() {
    let g = Grouping::default();
    let t0 = utc("2026-05-01T10:00:00Z");
    let mut s = GroupState::new(t0);
    assert_eq!(next_notification(&s, t0, &g), Some(utc("2026-05-01T10:00:30Z")));
    s.add_alert(utc("2026-05-01T10:00:10Z"));
    s.add_alert(utc("2026-05-01T10:00:29Z"));
    // Alerts in the wait do not push the page back.
    assert_eq!(next_notification(&s, utc("2026-05-01T10:00:29Z"), &g), Some(utc("2026-05-01T10:00:30Z")));
    assert_eq!(s.take_due(utc("2026-05-01T10:00:29.999Z"), &g), None);
    assert_eq!(s.take_due(utc("2026-05-01T10:00:30Z"), &g), Some(GroupNotification::First { alerts: 3 }));
    assert_eq!(s.last_notified_at, Some(utc("2026-05-01T10:00:30Z")));
    assert_eq!(next_notification(&s, utc("2026-05-01T10:00:30Z"), &g), None);
    assert_eq!(s.take_due(utc("2026-05-01T10:10:00Z"), &g), None);
}

#[test]
fn zero_wait_pages_the_first_alert_at_once() {
    let g = Grouping { group_wait: Duration::zero(), ..Grouping::default() };
    let t0 = utc("2026-05-01T10:00:00Z");
    let mut s = GroupState::new(t0);
    assert_eq!(s.take_due(t0, &g), Some(GroupNotification::First { alerts: 1 }));
}

#[test]
fn later_alerts_are_summarised_once_per_interval() {
    let g = Grouping::default();
    let mut s = GroupState::new(utc("2026-05-01T10:00:00Z"));
    assert!(s.take_due(utc("2026-05-01T10:00:30Z"), &g).is_some());
    for second in [40, 50, 59] {
        s.add_alert(utc("2026-05-01T10:00:00Z") + Duration::seconds(second));
    }
    // Last page at 10:00:30, so the update is due at 10:05:30.
    assert_eq!(next_notification(&s, utc("2026-05-01T10:01:00Z"), &g), Some(utc("2026-05-01T10:05:30Z")));
    assert_eq!(s.take_due(utc("2026-05-01T10:05:29Z"), &g), None);
    assert_eq!(s.take_due(utc("2026-05-01T10:05:30Z"), &g), Some(GroupNotification::Update { added: 3 }));
    assert_eq!(s.pending_alerts, 0);
    assert_eq!(s.pending_since, None);
    // An alert right after the update waits a full interval.
    s.add_alert(utc("2026-05-01T10:05:31Z"));
    assert_eq!(next_notification(&s, utc("2026-05-01T10:05:31Z"), &g), Some(utc("2026-05-01T10:10:30Z")));
}

#[test]
fn a_late_burst_is_settled_by_group_wait() {
    let g = Grouping::default();
    let mut s = GroupState::new(utc("2026-05-01T10:00:00Z"));
    assert!(s.take_due(utc("2026-05-01T10:00:30Z"), &g).is_some());
    // An hour of quiet, then a burst: one update 30 s after its first alert.
    s.add_alert(utc("2026-05-01T11:00:00Z"));
    s.add_alert(utc("2026-05-01T11:00:05Z"));
    assert_eq!(next_notification(&s, utc("2026-05-01T11:00:05Z"), &g), Some(utc("2026-05-01T11:00:30Z")));
    assert_eq!(s.take_due(utc("2026-05-01T11:00:30Z"), &g), Some(GroupNotification::Update { added: 2 }));
}

#[test]
fn an_overdue_notification_is_due_now() {
    let g = Grouping::default();
    let s = GroupState::new(utc("2026-05-01T10:00:00Z"));
    let later = utc("2026-05-01T12:00:00Z");
    assert_eq!(next_notification(&s, later, &g), Some(later));
}

#[test]
fn summaries_read_well() {
    assert_eq!(GroupNotification::First { alerts: 1 }.summary(), "1 alert in this group");
    assert_eq!(GroupNotification::First { alerts: 4 }.summary(), "4 alerts in this group");
    assert_eq!(
        GroupNotification::Update { added: 1 }.summary(),
        "1 more alert joined this incident since the last page"
    );
    assert_eq!(
        GroupNotification::Update { added: 2 }.summary(),
        "2 more alerts joined this incident since the last page"
    );
}
