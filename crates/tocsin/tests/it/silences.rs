//! Alertmanager's own CLI, `amtool` (Debian's `prometheus-alertmanager`),
//! adds, queries and expires silences in Tocsin through the Alertmanager
//! API v2, authenticated with a Tocsin token; and what it did is audited.
//! Without amtool the test says so and passes, unless
//! `TOCSIN_REQUIRE_PROMETHEUS` is set (`.ci/run` installs it and sets it).

use serde_json::Value;
use std::path::Path;

use crate::harness::{TestServer, user_token};

const AMTOOL: &str = "/usr/bin/amtool";

async fn amtool(s: &TestServer, auth: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(AMTOOL)
        .arg(format!("--alertmanager.url={}", s.url))
        .arg(format!("--http.config.file={}", auth.display()))
        .args(args)
        .output()
        .await
        .expect("amtool runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn auth_file(dir: &Path, name: &str, token: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("authorization:\n  credentials: {token}\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_adds_queries_and_expires_silences() {
    if !Path::new(AMTOOL).exists() {
        assert!(
            std::env::var_os("TOCSIN_REQUIRE_PROMETHEUS").is_none(),
            "TOCSIN_REQUIRE_PROMETHEUS is set but {AMTOOL} is missing"
        );
        eprintln!("skipped: {AMTOOL} is not installed (apt-get install prometheus-alertmanager)");
        return;
    }
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let alice = auth_file(dir.path(), "alice.yml", &user_token(&s, "alice", "responder").await);

    // add: one silence, its id printed.
    let (ok, id, err) = amtool(
        &s,
        &alice,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "service=~check.*",
            "--comment=deploy 41",
            "--author=alice",
            "--duration=2h",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    // query: as JSON, active, with the matchers as sent.
    let (ok, out, err) = amtool(&s, &alice, &["silence", "query", "-o", "json"]).await;
    assert!(ok, "{err}");
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["status"]["state"], "active");
    assert_eq!(listed[0]["comment"], "deploy 41");
    let matchers: Vec<(String, String, bool)> = listed[0]["matchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (m["name"].as_str().unwrap().into(), m["value"].as_str().unwrap().into(), m["isRegex"].as_bool().unwrap())
        })
        .collect();
    assert!(matchers.contains(&("alertname".into(), "DiskFull".into(), false)), "{matchers:?}");
    assert!(matchers.contains(&("service".into(), "check.*".into(), true)), "{matchers:?}");
    // query with a filter: the silence is found by what it matches on.
    let (ok, out, _) = amtool(&s, &alice, &["silence", "query", "-q", "alertname=DiskFull"]).await;
    assert!(ok && out.trim() == id, "{out}");
    let (ok, out, _) = amtool(&s, &alice, &["silence", "query", "-q", "alertname=Other"]).await;
    assert!(ok && out.trim().is_empty(), "{out}");

    // Changing a silence (Alertmanager's POST with its id): a new comment and
    // end stay under the same id; new matchers expire it and start another.
    let token = std::fs::read_to_string(&alice).unwrap().rsplit(' ').next().unwrap().trim().to_string();
    let post = |body: Value| {
        let (s, token) = (&s, token.clone());
        async move {
            let r =
                s.http.post(format!("{}/api/v2/silences", s.url)).bearer_auth(token).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // (Read it back from the API itself: amtool reformats instants.)
    let r = s.http.get(format!("{}/api/v2/silence/{id}", s.url)).bearer_auth(&token).send().await.unwrap();
    let mut change: Value = r.json().await.unwrap();
    change["comment"] = "deploy 41, slower".into();
    change["endsAt"] = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339().into();
    let (status, answer) = post(change.clone()).await;
    assert_eq!((status, answer["silenceID"].as_str()), (200, Some(id.as_str())), "{answer}");
    change["matchers"][0]["value"] = "DiskAlmostFull".into();
    let (status, answer) = post(change).await;
    assert_eq!(status, 200, "{answer}");
    let replaced_by = answer["silenceID"].as_str().unwrap().to_string();
    assert_ne!(replaced_by, id, "new matchers make a new silence");
    let r = s.http.get(format!("{}/api/v2/silence/{id}", s.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"]["state"], "expired");
    let (ok, _, err) = amtool(&s, &alice, &["silence", "expire", &replaced_by]).await;
    assert!(ok, "{err}");
    // A silence that would mute everything is refused, naming the field.
    let (status, answer) = post(serde_json::json!({
        "matchers": [{"name": "alertname", "value": ".*", "isRegex": true}],
        "startsAt": chrono::Utc::now().to_rfc3339(), "endsAt": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "alice", "comment": "everything"
    }))
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "matchers", "{answer}");

    // A viewer may look but not add; amtool reports the refusal.
    let victor = auth_file(dir.path(), "viewer.yml", &user_token(&s, "bob", "viewer").await);
    let (ok, _, err) = amtool(&s, &victor, &["silence", "add", "alertname=X", "--comment=c", "--author=bob"]).await;
    assert!(!ok, "a viewer added a silence");
    assert!(err.contains("403") || err.to_lowercase().contains("forbidden"), "{err}");

    // Expired (the update above ended the first one): no longer listed by
    // default, listed as expired with --expired.
    let (ok, out, _) = amtool(&s, &alice, &["silence", "query", "-q"]).await;
    assert!(ok && out.trim().is_empty(), "{out}");
    let (ok, out, _) = amtool(&s, &alice, &["silence", "query", "--expired", "-o", "json"]).await;
    assert!(ok, "{out}");
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 2, "{out}");
    assert!(listed.iter().all(|l| l["status"]["state"] == "expired"), "{out}");
    // Expiring again is refused.
    let (ok, _, _) = amtool(&s, &alice, &["silence", "expire", &id]).await;
    assert!(!ok);

    // Tocsin's own CLI does the same through the same API.
    let (ok, cli_id, err) = crate::cli::tocsin(
        &s,
        &[
            "silence",
            "add",
            "alertname=Backup",
            r#"env!~"dev|test""#,
            "--comment",
            "restore drill",
            "--duration",
            "30m",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let cli_id = cli_id.trim().to_string();
    let (ok, out, _) = crate::cli::tocsin(&s, &["silence", "list"]).await;
    assert!(ok && out.contains(&cli_id) && out.contains(r#"env!~"dev|test""#) && out.contains("admin"), "{out}");
    let (ok, out, _) = crate::cli::tocsin(&s, &["silence", "expire", &cli_id]).await;
    assert!(ok && out.contains("Expired silence"), "{out}");
    let (ok, out, _) = crate::cli::tocsin(&s, &["silence", "list"]).await;
    assert!(ok && out.trim() == "No silences.", "{out}");
    let (ok, _, err) = crate::cli::tocsin(&s, &["silence", "add", "alertname=\"open", "--comment", "x"]).await;
    assert!(!ok && err.contains("matchers:"), "{err}");

    // Without a token: 401.
    let r = s.http.get(format!("{}/api/v2/silences", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Every change is in the audit log, by alice.
    let (_, audit) = s.get("/audit?limit=500").await;
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["record"])
        .filter(|r| r["action"].as_str().unwrap_or("").starts_with("silence."))
        .map(|r| (r["action"].as_str().unwrap(), r["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("silence.create", "user:alice"),
            ("silence.update", "user:alice"),
            ("silence.expire", "user:alice"),
            ("silence.create", "user:alice"),
            ("silence.expire", "user:alice"),
            ("silence.create", "user:admin"),
            ("silence.expire", "user:admin"),
        ],
        "{audit}"
    );
    s.stop().await;
}
