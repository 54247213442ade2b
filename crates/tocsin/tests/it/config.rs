//! Config as code without restarts: plan and apply against a running
//! server, a second node following the applied version, and a file that
//! does not validate changing nothing.

use crate::cli::tocsin;
use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A config whose one schedule has `on_call` on call all the time.
fn config(on_call: &str) -> String {
    format!(
        "users:
  - {{ id: alice, name: Alice, email: alice@example.com }}
  - {{ id: bob, name: Bob, email: bob@example.com }}
services:
  - id: api
    name: API
    escalation_policy: api
    integrations:
      - {{ kind: pagerduty, key: {PD_KEY} }}
schedules:
  - id: primary
    time_zone: UTC
    layers:
      - {{ id: all, users: [{on_call}], start: \"2026-01-05T00:00:00\", turn: 1w }}
escalation_policies:
  - id: api
    levels:
      - {{ targets: [{{ schedule: primary }}], escalate_after: 5m }}
"
    )
}

const AT: &str = "2026-03-04T15:00:00Z";

async fn on_call(url: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{url}/api/v1/schedules/primary/oncall?at={AT}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["users"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_a_config_changes_answers_on_every_node_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.yaml");
    std::fs::write(&file, config("alice")).unwrap();
    let s = TestServer::start_with(Options { config: Some(file.clone()), ..Options::default() }).await;
    let (status, current) = s.get("/config").await;
    assert_eq!((status, current["version"].clone(), current["applied_by"].clone()), (200, json!(1), json!("system")));
    let node_b = s.second_node().await;
    let b_url = format!("http://{}", node_b.addr);
    assert_eq!(on_call(&b_url).await, json!(["alice"]), "a node without a file serves the version in force");

    // plan says what would change and changes nothing.
    let v2 = config("bob");
    let plan = s.admin().plan_config("tocsin.yaml", &v2).await.unwrap();
    assert_eq!((plan.current_version, plan.summary.as_str()), (1, "schedules: 1 changed"));
    assert_eq!(plan.changes.schedules.changed, ["primary"]);
    assert_eq!(on_call(&s.url).await, json!(["alice"]));

    // apply puts it in force here at once, and on the other node within 5 s.
    let applied = s.admin().apply_config("tocsin.yaml", &v2).await.unwrap();
    assert_eq!((applied.version.version, applied.created), (2, true));
    assert_eq!(applied.version.applied_by, "user:admin");
    assert_eq!(on_call(&s.url).await, json!(["bob"]));
    let applied_at = Instant::now();
    while on_call(&b_url).await != json!(["bob"]) {
        assert!(applied_at.elapsed() < Duration::from_secs(5), "the second node did not follow within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A key the new version adds opens at once, even one tried (and cached
    // as unknown) just before.
    let added = v2.replace("integrations:\n", "integrations:\n      - { kind: generic, key: added-key-0123456789 }\n");
    let (status, _) = s.post("/integrations/generic/added-key-0123456789", r#"{"summary":"x"}"#).await;
    assert_eq!(status, 404);
    let applied = s.admin().apply_config("tocsin.yaml", &added).await.unwrap();
    assert_eq!((applied.version.version, applied.version.summary.as_str()), (3, "integrations: 1 added"));
    let (status, v) = s.post("/integrations/generic/added-key-0123456789", r#"{"summary":"x"}"#).await;
    assert_eq!(status, 202, "{v}");
    let v2 = added;

    // The same text again stores nothing new.
    let again = s.admin().apply_config("tocsin.yaml", &v2).await.unwrap();
    assert_eq!((again.version.version, again.created), (3, false));

    // A file that does not validate is refused whole; the version stays.
    let broken = v2.replace("users: [bob]", "users: [zed]");
    let (status, v) =
        s.api(Method::POST, "/config", Some(ADMIN), Some(json!({"file": "tocsin.yaml", "source": broken}))).await;
    assert_eq!((status, v["error"]["code"].clone()), (422, json!("invalid_config")), "{v}");
    let details = v["error"]["details"].as_array().unwrap();
    assert_eq!(details[0]["path"], "schedules[0].layers[0].users[0]", "{v}");
    assert!(details[0]["line"].is_u64(), "{v}");
    let (_, current) = s.get("/config").await;
    assert_eq!(current["version"], 3);
    assert_eq!(on_call(&s.url).await, json!(["bob"]));

    // Only admins apply; the apply is audited with its version.
    let bob = user_token(&s, "bob", "responder").await;
    let (status, _) =
        s.api(Method::POST, "/config", Some(&bob), Some(json!({"file": "x.yaml", "source": config("alice")}))).await;
    assert_eq!(status, 403);
    let (_, audit) = s.get("/audit").await;
    let entry = audit["items"].as_array().unwrap().iter().rev().find(|e| e["record"]["action"] == "config.apply");
    let entry = entry.unwrap();
    assert_eq!(
        (entry["record"]["target"].clone(), entry["record"]["actor"].clone()),
        (json!("config:3"), json!("user:admin"))
    );
    assert_eq!(entry["record"]["details"]["version"], 3);

    node_b.shutdown().await.unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_plan_and_apply_and_a_bad_file_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.yaml");
    std::fs::write(&file, config("alice")).unwrap();
    let s = TestServer::start_with(Options { config: Some(file.clone()), ..Options::default() }).await;
    let path = file.to_str().unwrap();

    std::fs::write(&file, config("bob")).unwrap();
    let (ok, out, err) = tocsin(&s, &["config", "plan", path]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("against version 1: schedules: 1 changed") && out.contains("~ schedules/primary"), "{out}");
    assert_eq!(on_call(&s.url).await, json!(["alice"]), "plan changes nothing");

    let (ok, out, err) = tocsin(&s, &["config", "apply", path]).await;
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("applied version 2: schedules: 1 changed"), "{out}");
    assert_eq!(on_call(&s.url).await, json!(["bob"]));

    std::fs::write(&file, config("bob").replace("users: [bob]", "users: [zed]")).unwrap();
    let (ok, out, err) = tocsin(&s, &["config", "apply", path]).await;
    assert!(!ok, "{out}");
    assert!(err.contains(&format!("{path}:14:28:")) && err.contains("`zed`"), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    let (_, current) = s.get("/config").await;
    assert_eq!(current["version"], 2);
    s.stop().await;
}

/// The real binary applies its `--config` file again on SIGHUP; a file that
/// does not validate is logged and leaves the running version in force.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_the_file_again() {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::Command;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.yaml");
    std::fs::write(&file, config("alice")).unwrap();
    let pg = PgDb::create().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&file)
        .env("TOCSIN_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "info")
        .env_remove("TOCSIN_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(pg) = &pg {
        cmd.arg("--database-url").arg(&pg.url);
    }
    let mut child = cmd.spawn().unwrap();
    let url = listening_url(&mut child).await;
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let pid = child.id().unwrap().to_string();
    // Waits for the log line that says how a SIGHUP ended.
    let mut hangup = async |expect: &str| {
        assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
        loop {
            let line = logs.next_line().await.unwrap().expect("server exited");
            if line.contains("SIGHUP") {
                assert!(line.contains(expect), "{line}");
                return;
            }
        }
    };

    std::fs::write(&file, config("bob").replace("users: [bob]", "users: [zed]")).unwrap();
    hangup("config not applied").await;
    assert_eq!(on_call(&url).await, json!(["alice"]), "the running version stays");

    std::fs::write(&file, config("bob")).unwrap();
    hangup("config applied").await;
    assert_eq!(on_call(&url).await, json!(["bob"]));
    hangup("unchanged").await;

    child.kill().await.unwrap();
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}
