//! Two real `tocsin serve` processes on one PostgreSQL database, with real
//! webhook receivers: work is shared, never doubled, and survives a node
//! killed in the middle of a delivery. PostgreSQL only (one SQLite file has
//! one process); without `TOCSIN_TEST_PG_URL` these tests return at once.

use crate::harness::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tocsin_store::Store;
use tocsin_testkit::{HttpRecorder, Recorded};
use tokio::process::{Child, Command};

/// The engine lease the nodes run with: the shortest allowed, so a takeover
/// is quick to observe.
const LEASE: Duration = tocsin::serve::MIN_ENGINE_LEASE;

struct Node {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Node {
    /// Starts `tocsin serve` on a free port against `pg` and waits for its
    /// "listening" line.
    async fn start(pg: &PgDb, config: Option<&Path>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--database-url", &pg.url])
            .arg("--engine-lease")
            .arg(format!("{}s", LEASE.as_secs()))
            .arg("--data-dir")
            .arg(dir.path())
            .env("TOCSIN_ADMIN_TOKEN", ADMIN)
            .env("RUST_LOG", "warn")
            .env_remove("TOCSIN_DATABASE_URL")
            .env_remove("TOCSIN_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd.spawn().unwrap();
        let url = listening_url(&mut child).await;
        Node { child, url, _dir: dir }
    }

    /// The id this node's engine claims work under.
    fn worker(&self) -> String {
        format!("node-{}", self.child.id().unwrap())
    }

    fn client(&self) -> tocsin_client::Client {
        tocsin_client::Client::new(&self.url, Some(ADMIN)).unwrap()
    }

    async fn trigger(&self, key: &str) {
        let sent = reqwest::Client::new()
            .post(format!("{}/v2/enqueue", self.url))
            .json(&pd_trigger(PD_KEY, key, &format!("{key} is down")))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status().as_u16(), 202, "trigger {key} through {}", self.url);
    }

    async fn kill(mut self) {
        self.child.start_kill().unwrap(); // SIGKILL
        self.child.wait().await.unwrap();
    }
}

/// A config paging `alice` (then `bob` after `escalate_after`) through
/// webhooks on `hooks`, for the `checkout` service.
fn write_config(dir: &Path, hooks: &HttpRecorder, escalate_after: &str, ack_timeout: &str) -> PathBuf {
    let path = dir.join("tocsin.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
users:
  - {{ id: alice, name: Alice, email: alice@example.com, contact_methods: [{{ id: alice-hook, kind: webhook, url: "{alice}" }}] }}
  - {{ id: bob, name: Bob, email: bob@example.com, contact_methods: [{{ id: bob-hook, kind: webhook, url: "{bob}" }}] }}
escalation_policies:
  - id: two-level
    levels:
      - {{ targets: [{{ user: alice }}], escalate_after: {escalate_after} }}
      - {{ targets: [{{ user: bob }}], escalate_after: 1h }}
services:
  - id: checkout
    name: Checkout
    escalation_policy: two-level
    ack_timeout: {ack_timeout}
    integrations: [{{ kind: pagerduty, key: {PD_KEY} }}]
notifications:
  rate_limit: {{ messages: 1000, window: 1m }}
"#,
            alice = hooks.url("/alice"),
            bob = hooks.url("/bob"),
        ),
    )
    .unwrap();
    path
}

/// Two nodes on a fresh database, the first applying `config`.
async fn two_nodes(pg: &PgDb, config: &Path) -> (Node, Node, Arc<dyn Store>) {
    let a = Node::start(pg, Some(config)).await;
    let b = Node::start(pg, Some(config)).await;
    let store = tocsin::serve::open_store(Some(&pg.url), Path::new("/nonexistent")).await.unwrap();
    (a, b, store)
}

/// Polls `done` until it holds or `within` has passed (then fails, naming `what`).
async fn eventually<F, Fut>(what: &str, within: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until no engine work is due or claimed in the next minute: every
/// page that will be sent has been.
async fn quiet(store: &Arc<dyn Store>, within: Duration) {
    eventually("engine work left", within, || async {
        let due = store.next_outbox_due(&tocsin_core::work::WorkKind::ALL).await.unwrap();
        due.is_none_or(|d| d > chrono::Utc::now() + chrono::Duration::minutes(1))
    })
    .await;
}

fn to(requests: &[Recorded], path: &str) -> Vec<Recorded> {
    requests.iter().filter(|r| r.path == path).cloned().collect()
}

fn idempotency_keys(requests: &[Recorded]) -> BTreeSet<String> {
    requests.iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect()
}

async fn finish(store: Arc<dyn Store>, nodes: Vec<Node>, pg: PgDb) {
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.first_break(), None, "the audit chains verify after both nodes wrote: {v:?}");
    store.close().await;
    for node in nodes {
        node.kill().await;
    }
    pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_through_either_node_page_each_incident_exactly_once() {
    let Some(pg) = PgDb::create().await else { return };
    let hooks = HttpRecorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b, store) = two_nodes(&pg, &write_config(dir.path(), &hooks, "1h", "off")).await;
    const KEYS: usize = 20;

    // Each key triggered through both nodes at once, twice each.
    let mut sends = Vec::new();
    for k in 0..KEYS {
        for node in [&a, &b, &b, &a] {
            let (url, key) = (node.url.clone(), format!("either-{k}"));
            sends.push(tokio::spawn(async move {
                let sent = reqwest::Client::new()
                    .post(format!("{url}/v2/enqueue"))
                    .json(&pd_trigger(PD_KEY, &key, "down"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(sent.status().as_u16(), 202);
            }));
        }
    }
    for s in sends {
        s.await.unwrap();
    }

    hooks.wait_for(KEYS, Duration::from_secs(30)).await.unwrap();
    quiet(&store, Duration::from_secs(30)).await;
    let alice = to(&hooks.requests(), "/alice");
    assert_eq!(alice.len(), KEYS, "one page per incident");
    assert_eq!(idempotency_keys(&alice).len(), KEYS);
    let incidents = a.client().list_incidents(&Default::default()).await.unwrap().items;
    assert_eq!(incidents.len(), KEYS, "one incident per key");
    for i in &incidents {
        assert_eq!(i.alert_count, 1);
        let sent: Vec<_> = store.incident_notifications(i.id).await.unwrap();
        assert_eq!(sent.iter().map(|n| n.status.as_str()).collect::<Vec<_>>(), ["sent"], "incident {}", i.id);
    }
    // Both nodes' engines took part.
    let workers: BTreeSet<String> = claimed_by(&pg, "incident.opened").await;
    assert!(workers.is_subset(&BTreeSet::from([a.worker(), b.worker()])), "{workers:?}");

    finish(store, vec![a, b], pg).await;
}

/// The workers that claimed outbox rows of `kind`.
async fn claimed_by(pg: &PgDb, kind: &str) -> BTreeSet<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let rows: Vec<Option<String>> = sqlx::query_scalar("SELECT claimed_by FROM outbox WHERE kind = $1")
        .bind(kind)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    rows.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_delivery_is_covered_by_the_other_within_the_lease_once() {
    let Some(pg) = PgDb::create().await else { return };
    let hooks = HttpRecorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b, store) = two_nodes(&pg, &write_config(dir.path(), &hooks, "1h", "off")).await;
    hooks.hang_next(1);

    a.trigger("killed-mid-send").await;
    let first = hooks.wait_for(1, Duration::from_secs(15)).await.unwrap().remove(0);
    // The node whose delivery hangs holds the lease on it.
    let holders = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT claimed_by FROM outbox WHERE kind = 'notify.send' AND done_at IS NULL AND claimed_by IS NOT NULL",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.ok();
        rows
    };
    assert_eq!(holders.len(), 1, "one node holds the delivery: {holders:?}");
    let (dead, survivor) = if holders[0] == a.worker() { (a, b) } else { (b, a) };
    assert_eq!(holders[0], dead.worker());
    dead.kill().await;

    // The survivor sends it again once the lease ran out, with the same key.
    let all = hooks.wait_for(2, LEASE + Duration::from_secs(10)).await.unwrap();
    let second = &all[1];
    assert_eq!(second.path, "/alice");
    assert_eq!(second.header("idempotency-key"), first.header("idempotency-key"), "a resend keeps its key");
    let took = second.received_at - first.received_at;
    assert!(took <= LEASE + Duration::from_secs(3), "taken over {took:?} after the first attempt (lease {LEASE:?})");
    eprintln!("delivery taken over {took:?} after the first attempt (lease {LEASE:?})");

    quiet(&store, Duration::from_secs(30)).await;
    assert_eq!(hooks.requests().len(), 2, "covered once: {:?}", hooks.requests());
    let incident = survivor.client().list_incidents(&Default::default()).await.unwrap().items.remove(0);
    let notifications = store.incident_notifications(incident.id).await.unwrap();
    assert_eq!(notifications.iter().map(|n| n.status.as_str()).collect::<Vec<_>>(), ["sent"]);
    assert_eq!(claimed_by(&pg, "notify.send").await, BTreeSet::from([survivor.worker()]), "the survivor completed it");

    finish(store, vec![survivor], pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_through_one_node_stops_escalation_run_by_the_other() {
    let Some(pg) = PgDb::create().await else { return };
    let hooks = HttpRecorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Level 2 (bob) 4 s after the page; an acknowledgement holds for 6 s.
    let (a, b, store) = two_nodes(&pg, &write_config(dir.path(), &hooks, "4s", "6s")).await;

    a.trigger("acked-elsewhere").await;
    hooks.wait_for(1, Duration::from_secs(15)).await.unwrap();
    let incident = a.client().list_incidents(&Default::default()).await.unwrap().items.remove(0);
    // Acknowledge through the node whose engine did not start the escalation.
    let starter = claimed_by(&pg, "incident.opened").await;
    assert_eq!(starter.len(), 1, "{starter:?}");
    let other = if starter.contains(&a.worker()) { &b } else { &a };
    let acked_at = Instant::now();
    other.client().acknowledge(incident.id).await.unwrap();

    // The acknowledgement holds for 6 s, then alice is paged again (a new
    // episode), once; bob's level-2 timer from the first walk does nothing.
    let all = hooks.wait_for(2, Duration::from_secs(20)).await.unwrap();
    assert!(acked_at.elapsed() >= Duration::from_secs(6), "re-paged before the ack timeout");
    assert_eq!(to(&all, "/alice").len(), 2, "{all:?}");
    assert_eq!(to(&all, "/bob").len(), 0, "the acknowledged walk escalated: {all:?}");
    // Stop it for good through the first node, before the new walk reaches bob.
    let resolved = a.client().resolve(incident.id).await.unwrap();
    assert_eq!(resolved.status.as_str(), "resolved");
    quiet(&store, Duration::from_secs(30)).await;

    let requests = hooks.requests();
    assert_eq!(to(&requests, "/bob").len(), 0, "nobody escalated past alice: {requests:?}");
    let alice = to(&requests, "/alice");
    assert_eq!(alice.len(), 2, "{requests:?}");
    assert_eq!(idempotency_keys(&alice).len(), 2, "two pages, not one page sent twice");
    let detail = b.client().get_incident(incident.id).await.unwrap();
    let kinds: Vec<&str> = detail.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "paged").count(), 2, "{kinds:?}");

    finish(store, vec![a, b], pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_applied_through_one_node_is_served_by_the_other_within_the_follow_interval() {
    let Some(pg) = PgDb::create().await else { return };
    let hooks = HttpRecorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &hooks, "1h", "off");
    let a = Node::start(&pg, Some(&config)).await;
    // The second node has no config file: versions are shared.
    let b = Node::start(&pg, None).await;
    let store = tocsin::serve::open_store(Some(&pg.url), Path::new("/nonexistent")).await.unwrap();
    assert_eq!(b.client().config_status().await.unwrap().version, 1);

    let text = std::fs::read_to_string(&config).unwrap().replace(
        "services:\n",
        "services:\n  - { id: search, name: Search, escalation_policy: two-level, integrations: [{ kind: pagerduty, key: 0a1b2c3d4e5f60718293a4b5c6d7e8f9 }] }\n",
    );
    let applied = Instant::now();
    let applied_version = a.client().apply_config("tocsin.yaml", &text).await.unwrap();
    assert_eq!(applied_version.version.version, 2);
    eventually("the other node serves version 2", Duration::from_secs(4), || async {
        b.client().get_service("search").await.is_ok()
    })
    .await;
    let took = applied.elapsed();
    assert!(took <= Duration::from_millis(2_500), "served {took:?} after applying (follow interval 2 s)");
    eprintln!("config version 2 served by the other node {took:?} after it was applied");
    assert_eq!(b.client().config_status().await.unwrap().version, 2);

    finish(store, vec![a, b], pg).await;
}
