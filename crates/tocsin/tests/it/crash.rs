//! Durability of the real binary: whatever was acknowledged with a 2xx is
//! there after `kill -9` or after a graceful SIGTERM shutdown.

use crate::harness::*;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) url: String,
}

/// Starts `tocsin serve` on a free port and waits for its "listening" line.
pub(crate) async fn spawn_binary(data_dir: &std::path::Path, pg: Option<&PgDb>) -> Proc {
    spawn_with_config(data_dir, pg, &example_config()).await
}

async fn spawn_with_config(data_dir: &std::path::Path, pg: Option<&PgDb>, config: &std::path::Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .env("TOCSIN_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .env_remove("TOCSIN_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(pg) = pg {
        cmd.arg("--database-url").arg(&pg.url);
    }
    let mut child = cmd.spawn().unwrap();
    let url = listening_url(&mut child).await;
    Proc { child, url }
}

/// Concurrent senders and what they saw acknowledged.
pub(crate) struct Load {
    /// Dedup keys that were answered 202.
    pub(crate) acked: Arc<Mutex<BTreeSet<String>>>,
    /// Notified after every acknowledgement.
    pub(crate) progress: Arc<Notify>,
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Sends PagerDuty triggers from `workers` concurrent clients until the
/// server goes away.
pub(crate) fn start_load(url: &str, workers: usize) -> Load {
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let progress = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (acked, progress, url) = (acked.clone(), progress.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0.. {
                let key = format!("crash-{w}-{i}");
                let sent = http.post(format!("{url}/v2/enqueue")).json(&pd_trigger(PD_KEY, &key, "load")).send().await;
                match sent {
                    Ok(r) if r.status().as_u16() == 202 => {
                        acked.lock().unwrap().insert(key);
                        progress.notify_waiters();
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    // The server went away mid-request: that event was never acknowledged.
                    Err(_) => return,
                }
            }
        }));
    }
    Load { acked, progress, tasks }
}

pub(crate) async fn wait_for_acks(acked: &Mutex<BTreeSet<String>>, progress: &Notify, at_least: usize) {
    loop {
        let notified = progress.notified();
        if acked.lock().unwrap().len() >= at_least {
            return;
        }
        notified.await;
    }
}

/// Every alert key stored, following cursors.
pub(crate) async fn stored_keys(url: &str) -> BTreeSet<String> {
    let client = tocsin_client::Client::new(url, Some(ADMIN)).unwrap();
    let mut keys = BTreeSet::new();
    let mut cursor = None;
    loop {
        let q = tocsin_client::AlertQuery {
            service: Some("checkout".into()),
            cursor,
            limit: Some(500),
            ..Default::default()
        };
        let page = client.list_alerts(&q).await.unwrap();
        keys.extend(page.items.into_iter().map(|a| a.dedup_key));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return keys,
        }
    }
}

pub(crate) async fn stop_load(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        // A worker ends when its connection fails; a panic is a test failure.
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let mut server = spawn_binary(dir.path(), pg.as_ref()).await;
    let Load { acked, progress, tasks } = start_load(&server.url, 16);
    wait_for_acks(&acked, &progress, 400).await;
    server.child.start_kill().unwrap(); // SIGKILL
    server.child.wait().await.unwrap();
    stop_load(tasks).await;
    let acked = acked.lock().unwrap().clone();

    let restarted = spawn_binary(dir.path(), pg.as_ref()).await;
    let stored = stored_keys(&restarted.url).await;
    let missing: Vec<&String> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(acked.len() >= 400);
    drop(restarted);
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let mut server = spawn_binary(dir.path(), pg.as_ref()).await;
    let Load { acked, progress, tasks } = start_load(&server.url, 8);
    wait_for_acks(&acked, &progress, 200).await;
    let pid = server.child.id().unwrap().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(status.success());
    let exit = server.child.wait().await.unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    stop_load(tasks).await;
    let acked = acked.lock().unwrap().clone();

    let restarted = spawn_binary(dir.path(), pg.as_ref()).await;
    let stored = stored_keys(&restarted.url).await;
    assert!(acked.is_subset(&stored), "{} acknowledged events missing", acked.difference(&stored).count());
    drop(restarted);
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

/// A page sent and a timer stored before `kill -9` are not lost: after the
/// restart the next level is paged by the stored timer, and the escalation
/// step that paged the first level is not repeated. (A notification whose
/// send raced the kill may go out again, with the same idempotency key.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_survives_kill_9() {
    let hooks = tocsin_testkit::HttpRecorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tocsin.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
users:
  - {{ id: alice, name: Alice, email: alice@example.com, contact_methods: [{{ id: alice-hook, kind: webhook, url: "{alice}" }}] }}
  - {{ id: bob, name: Bob, email: bob@example.com, contact_methods: [{{ id: bob-hook, kind: webhook, url: "{bob}" }}] }}
escalation_policies:
  - id: quick
    levels:
      - {{ targets: [{{ user: alice }}], escalate_after: 2s }}
      - {{ targets: [{{ user: bob }}], escalate_after: 1h }}
services:
  - id: checkout
    name: Checkout
    escalation_policy: quick
    integrations: [{{ kind: pagerduty, key: {PD_KEY} }}]
"#,
            alice = hooks.url("/alice"),
            bob = hooks.url("/bob"),
        ),
    )
    .unwrap();
    let pg = PgDb::create().await;
    let data = dir.path().join("data");
    let mut server = spawn_with_config(&data, pg.as_ref(), &config).await;
    let http = reqwest::Client::new();
    let sent = http.post(format!("{}/v2/enqueue", server.url)).json(&pd_trigger(PD_KEY, "k9", "Killed")).send().await;
    assert_eq!(sent.unwrap().status().as_u16(), 202);
    hooks.wait_for(1, std::time::Duration::from_secs(10)).await.unwrap();
    server.child.start_kill().unwrap(); // SIGKILL, well before level 2 is due
    server.child.wait().await.unwrap();

    let restarted = spawn_with_config(&data, pg.as_ref(), &config).await;
    let all = hooks.wait_for(2, std::time::Duration::from_secs(20)).await.unwrap();
    let bob: Vec<_> = all.iter().filter(|r| r.path == "/bob").collect();
    assert_eq!(bob.len(), 1, "level 2 paged once after the restart");
    let alice_keys: BTreeSet<&str> =
        all.iter().filter(|r| r.path == "/alice").map(|r| r.header("idempotency-key").unwrap()).collect();
    assert_eq!(alice_keys.len(), 1, "a re-sent page keeps its idempotency key");

    let client = tocsin_client::Client::new(&restarted.url, Some(ADMIN)).unwrap();
    let page = client.list_incidents(&Default::default()).await.unwrap();
    let detail = client.get_incident(page.items[0].id).await.unwrap();
    let paged = detail.timeline.iter().filter(|e| e.kind == "paged").count();
    assert_eq!(paged, 2, "one page per level: {:?}", detail.timeline);
    drop(restarted);
    if let Some(pg) = &pg {
        pg.drop_db().await;
    }
}

/// SIGTERM during a paging backlog: the engine stops mid-pass and the
/// process exits cleanly within 10 s; the work it did not get to stays in
/// the outbox and is done after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_paging_backlog_exits_within_10_s_and_the_rest_is_done_after_restart() {
    const ALERTS: usize = 10_000;
    let hooks = tocsin_testkit::HttpRecorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tocsin.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
users:
  - {{ id: sam, name: Sam, email: sam@example.com, contact_methods: [{{ id: sam-hook, kind: webhook, url: "{sam}" }}] }}
escalation_policies:
  - {{ id: to-sam, levels: [{{ targets: [{{ user: sam }}], escalate_after: 1h }}] }}
services:
  # A backlog of pages, not an alert storm: every alert opens its incident.
  - {{ id: storm, name: Storm, escalation_policy: to-sam, storm: {{ max_new_alerts: 10000, within: 1m }},
      integrations: [{{ kind: prometheus, key: {PROM_KEY} }}] }}
"#,
            sam = hooks.url("/sam"),
        ),
    )
    .unwrap();
    let pg = PgDb::create().await;
    let data = dir.path().join("data");
    let mut server = spawn_with_config(&data, pg.as_ref(), &config).await;
    let http = reqwest::Client::new();
    let starts = chrono::Utc::now().to_rfc3339();
    let ends = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    for batch in 0..ALERTS / 1000 {
        let alerts: Vec<serde_json::Value> = (batch * 1000..(batch + 1) * 1000)
            .map(|i| {
                serde_json::json!({
                    "labels": {"alertname": "DiskFull", "instance": format!("host-{i}")},
                    "annotations": {"summary": format!("Disk full on host-{i}")},
                    "startsAt": starts, "endsAt": ends,
                })
            })
            .collect();
        let url = format!("{}/integrations/prometheus/{PROM_KEY}/api/v2/alerts", server.url);
        let sent = http.post(url).json(&alerts).send().await.unwrap();
        assert_eq!(sent.status().as_u16(), 200);
    }
    // The engine is paging through the backlog.
    hooks.wait_for(1, std::time::Duration::from_secs(10)).await.unwrap();

    let pid = server.child.id().unwrap().to_string();
    let asked = std::time::Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(10), server.child.wait()).await;
    let waited = asked.elapsed();
    let exit = exit.unwrap_or_else(|_| panic!("still running {waited:?} after SIGTERM")).unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");

    // What was left is done after the restart: every incident is paged
    // (its escalation started, its page sent or held for a bundle) and no
    // work is due any more.
    let restarted = spawn_with_config(&data, pg.as_ref(), &config).await;
    let store = tocsin::serve::open_store(pg.as_ref().map(|p| p.url.as_str()), &data).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let due = store.next_outbox_due(&tocsin_core::work::WorkKind::ALL).await.unwrap();
        if due.is_none_or(|d| d > chrono::Utc::now() + chrono::Duration::minutes(1)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the backlog was not worked off after the restart");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let client = tocsin_client::Client::new(&restarted.url, Some(ADMIN)).unwrap();
    let (mut ids, mut cursor) = (Vec::new(), None);
    loop {
        let q = tocsin_client::IncidentQuery { cursor, limit: Some(500), ..Default::default() };
        let page = client.list_incidents(&q).await.unwrap();
        ids.extend(page.items.iter().map(|i| i.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(ids.len(), ALERTS);
    for id in ids {
        let notifications = store.incident_notifications(id).await.unwrap();
        let states: Vec<&str> = notifications.iter().map(|n| n.status.as_str()).collect();
        assert!(matches!(states.as_slice(), ["sent"] | ["held"]), "incident {id}: {states:?}");
    }
    let keys: BTreeSet<String> =
        hooks.requests().iter().filter_map(|r| r.header("idempotency-key").map(String::from)).collect();
    assert!(keys.len() <= 10, "the rate limit (10 per 10 minutes) holds across the restart: {}", keys.len());
    store.close().await;
    drop(restarted);
    if let Some(pg) = &pg {
        pg.drop_db().await;
    }
}
