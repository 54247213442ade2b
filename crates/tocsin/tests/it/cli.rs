//! The `tocsin` binary's client commands and config validation, run as a
//! user would run them.

use crate::harness::*;
use tokio::process::Command;

pub async fn tocsin(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    tocsin_as(s, ADMIN, args).await
}

/// The binary run with `token` as `TOCSIN_TOKEN`.
pub async fn tocsin_as(s: &TestServer, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(args)
        .env("TOCSIN_URL", &s.url)
        .env("TOCSIN_TOKEN", token)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_list_ack_note_resolve() {
    let s = TestServer::start().await;
    let (ok, out, err) = tocsin(&s, &["send", "--key", PD_KEY, "--dedup-key", "cli-1", "--summary", "CLI smoke"]).await;
    assert!(ok, "{out}{err}");
    let (ok, out, _) = tocsin(&s, &["incidents", "list", "--output", "json"]).await;
    assert!(ok);
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = page["items"][0]["id"].as_i64().unwrap().to_string();
    assert_eq!(page["items"][0]["title"], "CLI smoke");

    let (ok, out, _) = tocsin(&s, &["incidents", "list"]).await;
    assert!(ok && out.contains("CLI smoke") && out.contains("triggered"), "{out}");
    assert!(tocsin(&s, &["incidents", "ack", &id]).await.0);
    assert!(tocsin(&s, &["incidents", "note", &id, "looking at it"]).await.0);
    assert!(tocsin(&s, &["incidents", "resolve", &id]).await.0);
    let (ok, out, _) = tocsin(&s, &["incidents", "show", &id]).await;
    assert!(ok && out.contains("resolved") && out.contains("looking at it"), "{out}");

    for kind in ["alertmanager", "prometheus", "generic"] {
        let key = match kind {
            "alertmanager" => AM_KEY,
            "prometheus" => PROM_KEY,
            _ => GENERIC_KEY,
        };
        let summary = format!("from cli via {kind}");
        let (ok, out, err) = tocsin(&s, &["send", "--kind", kind, "--key", key, "--summary", &summary]).await;
        assert!(ok, "{kind}: {out}{err}");
    }
    let (_, page) = s.get("/alerts?status=triggered").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);

    // Failures exit non-zero with one line on stderr.
    let (ok, _, err) = tocsin(&s, &["incidents", "ack", "999999"]).await;
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("404"), "{err}");
    let (ok, _, err) = tocsin(&s, &["send", "--key", "nope-nope-nope-nope"]).await;
    assert!(!ok, "{err}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_via_cli() {
    let s = TestServer::start().await;
    let (ok, out, err) = tocsin(&s, &["tokens", "create", "--name", "bot", "--role", "viewer"]).await;
    assert!(ok, "{err}");
    let secret = out.trim().to_string();
    assert!(secret.starts_with("tcs_"));
    let (ok, out, _) = tocsin(&s, &["tokens", "list"]).await;
    assert!(ok && out.contains("bot") && !out.contains(&secret));
    let viewer = s.client(&secret);
    assert!(viewer.list_incidents(&Default::default()).await.is_ok());
    let tokens = s.admin().list_tokens().await.unwrap();
    let id = tokens.iter().find(|t| t.name == "bot").unwrap().id.to_string();
    assert!(tocsin(&s, &["tokens", "revoke", &id]).await.0);
    assert!(viewer.list_incidents(&Default::default()).await.is_err());
    s.stop().await;
}

/// Tokens issued for a person act as that person, and every list and show
/// a person needs answers from the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_tokens_and_the_catalog_via_cli() {
    let s = TestServer::start().await;
    let (ok, out, err) = tocsin(
        &s,
        &["tokens", "create", "--name", "laptop", "--role", "viewer", "--user", "bob", "--expires-in", "30d"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(err.contains("for bob, role viewer, expires "), "{err}");
    let bob = out.trim().to_string();

    let (ok, out, err) = tocsin_as(&s, &bob, &["whoami"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("bob (Bob Example)") && out.contains("Role:       responder"), "{out}");
    assert!(out.contains("This token acts as viewer."), "{out}");
    let (ok, _, err) = tocsin_as(&s, &bob, &["tokens", "create", "--name", "x", "--role", "viewer"]).await;
    assert!(!ok && err.contains("403"), "a viewer token creates none: {err}");
    let (ok, out, _) = tocsin(&s, &["tokens", "list", "--user", "bob"]).await;
    assert!(ok && out.contains("USER") && out.contains("EXPIRES") && out.contains("laptop  bob"), "{out}");
    let (_, out, _) = tocsin(&s, &["tokens", "list", "--user", "bob", "-o", "json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(listed[0]["expires_at"].is_string() && listed[0]["last_used_at"].is_string(), "{listed}");

    let (ok, out, _) = tocsin_as(&s, &bob, &["users", "list"]).await;
    assert!(ok && out.contains("admin") && out.contains("alice") && out.contains("bob"), "{out}");
    let (ok, out, _) = tocsin_as(&s, &bob, &["users", "show", "alice"]).await;
    assert!(ok && out.contains("Role:       manager") && !out.contains("alice@example.com"), "{out}");
    let (ok, out, _) = tocsin_as(&s, &bob, &["teams", "list"]).await;
    assert!(ok && out.contains("payments") && out.contains("alice, bob"), "{out}");

    let (ok, out, _) = tocsin(&s, &["services", "list"]).await;
    assert!(ok && out.contains("checkout"), "{out}");
    let (ok, out, _) = tocsin(&s, &["services", "show", "checkout"]).await;
    assert!(ok && out.contains("Policy:") && out.contains("checkout-primary") && !out.contains(PD_KEY), "{out}");
    let (ok, out, _) = tocsin(&s, &["schedules", "show", "primary"]).await;
    assert!(ok && out.contains("America/New_York") && out.contains("On call:"), "{out}");
    let (ok, out, _) = tocsin(&s, &["policies", "show", "checkout-primary"]).await;
    assert!(ok && out.contains("LEVEL") && out.contains("schedule primary"), "{out}");
    let (ok, _, err) = tocsin(&s, &["escalation-policies", "show", "nope"]).await;
    assert!(!ok && err.contains("404"), "{err}");

    assert!(tocsin(&s, &["send", "--key", PD_KEY, "--dedup-key", "cli-alert", "--summary", "Disk full"]).await.0);
    let (ok, out, _) = tocsin(&s, &["alerts", "list", "--dedup-key", "cli-alert", "-o", "json"]).await;
    assert!(ok, "{out}");
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = page["items"][0]["id"].as_i64().unwrap().to_string();
    let (ok, out, _) = tocsin(&s, &["alerts", "show", &id]).await;
    assert!(ok && out.contains("Disk full") && out.contains("cli-alert"), "{out}");

    let (ok, out, _) = tocsin(&s, &["audit", "list"]).await;
    assert!(ok && out.contains("token.create") && out.contains("user:admin"), "{out}");
    let (ok, _, err) = tocsin_as(&s, &bob, &["audit", "list"]).await;
    assert!(!ok && err.contains("403"), "{err}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_validate() {
    let s = TestServer::start().await;
    let (ok, out, _) = tocsin(&s, &["config", "validate", example_config().to_str().unwrap()]).await;
    assert!(ok, "{out}");
    let bad = s.dir.path().join("bad.yaml");
    std::fs::write(&bad, "services:\n  - id: checkout\n    name: Checkout\n    team: ghosts\n    colour: red\n")
        .unwrap();
    let (ok, _, err) = tocsin(&s, &["config", "validate", bad.to_str().unwrap()]).await;
    assert!(!ok);
    assert!(err.contains("bad.yaml:5:5") && err.contains("colour"), "{err}");
    assert!(err.contains("ghosts"), "{err}");
    s.stop().await;
}

/// Runs the binary without a server: success, stdout, stderr.
async fn offline(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin")).args(args).output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_commands_do_not_offer_client_options() {
    for args in [&["serve", "--help"][..], &["migrate", "--help"][..], &["config", "validate", "--help"][..]] {
        let (ok, out, err) = offline(args).await;
        assert!(ok, "{err}");
        assert!(!out.contains("--token") && !out.contains("--url"), "{args:?}: {out}");
    }
    let (_, out, _) = offline(&["serve", "--help"]).await;
    assert!(!out.contains("--output"), "{out}");
    let (ok, out, _) = offline(&["incidents", "show", "--help"]).await;
    assert!(ok && out.contains("--token") && out.contains("TOCSIN_TOKEN"), "{out}");
    assert!(out.contains("<ID>") && out.contains("The incident's id"), "positional arguments are explained: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_validate_speaks_json() {
    let example = example_config();
    let (ok, out, err) = offline(&["config", "validate", example.to_str().unwrap(), "-o", "json"]).await;
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(v["declared"]["escalation_policies"], 1);
    assert_eq!(
        [&v["declared"]["routed_integrations"], &v["declared"]["routes"], &v["declared"]["inhibit_rules"]],
        [1, 1, 1]
    );
    assert_eq!(v["declared"]["heartbeats"], 1);
    // Counts agree with their nouns.
    let (ok, out, _) = offline(&["config", "validate", example.to_str().unwrap()]).await;
    assert!(
        ok && out.contains(
            "(1 team, 2 users, 3 services, 5 integrations, 2 schedules, 1 escalation policy, 1 routed integration, \
             1 top-level route, 1 inhibit rule, 1 heartbeat)"
        ),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "services:\n  - id: checkout\n    name: Checkout\n    team: ghosts\n    colour: red\n")
        .unwrap();
    let (ok, out, _) = offline(&["config", "validate", bad.to_str().unwrap(), "--output", "json"]).await;
    assert!(!ok, "errors still exit non-zero");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    let colour = v["errors"].as_array().unwrap().iter().find(|e| e["path"] == "services[0].colour").unwrap();
    assert_eq!(
        (colour["file"].as_str(), colour["line"].as_u64(), colour["column"].as_u64()),
        (bad.to_str(), Some(5), Some(5))
    );
    assert!(colour["message"].as_str().unwrap().contains("unknown field"), "{colour}");

    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "# nothing yet\n").unwrap();
    let (ok, out, _) = offline(&["config", "validate", empty.to_str().unwrap(), "-o", "json"]).await;
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert!(v["warnings"][0]["message"].as_str().unwrap().starts_with("nothing is declared"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_config_validates_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("empty.yaml", ""), ("comments.yaml", "# to do: declare the services\n")] {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .args(["config", "validate", file.to_str().unwrap()])
            .output()
            .await
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{name}: {stdout}{stderr}");
        assert!(stderr.contains(&format!("{name}: warning: nothing is declared")), "{name}: {stderr}");
        assert!(stdout.contains(": ok"), "{name}: {stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oncall_via_cli() {
    let s = TestServer::start().await;
    // Saturday 2026-03-07: the example's override puts bob on call.
    let (ok, out, err) = tocsin(&s, &["oncall", "--at", "2026-03-07T12:00:00Z"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("primary") && out.contains("bob"), "{out}");
    let (ok, out, _) =
        tocsin(&s, &["oncall", "--schedule", "primary", "--at", "2026-03-14T15:00:00Z", "-o", "json"]).await;
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["users"], serde_json::json!([]), "a Saturday without override is a gap");
    let (ok, _, err) = tocsin(&s, &["oncall", "--schedule", "nope"]).await;
    assert!(!ok && err.contains("404"), "{err}");
    s.stop().await;
}

/// Changes rows of the server's database behind its back.
async fn tamper(s: &TestServer, statements: &[String]) {
    use sqlx::{AssertSqlSafe, Connection};
    match &s.pg {
        Some(pg) => {
            let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            for sql in statements {
                sqlx::query(AssertSqlSafe(sql.clone())).execute(&mut conn).await.unwrap();
            }
        }
        None => {
            let path = s.dir.path().join("data").join(tocsin::serve::SQLITE_FILE);
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display())).await.unwrap();
            for sql in statements {
                sqlx::query(AssertSqlSafe(sql.clone())).execute(&mut conn).await.unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_the_first_broken_link_and_exits_non_zero() {
    let s = TestServer::start().await;
    for key in ["v-1", "v-2", "v-3"] {
        let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, key, "verify me"))).await;
        assert_eq!(status, 202);
    }
    let (ok, out, err) = tocsin(&s, &["audit", "verify"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("Audit log verified:"), "{out}");
    let viewer = user_token(&s, "bob", "viewer").await;
    let (ok, _, err) = tocsin_as(&s, &viewer, &["audit", "verify"]).await;
    assert!(!ok && err.contains("audit log"), "admins only: {err}");

    let (_, out, _) = tocsin(&s, &["audit", "list", "--output", "json"]).await;
    let entries: serde_json::Value = serde_json::from_str(&out).unwrap();
    let opened: Vec<i64> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["record"]["action"] == "incident.open")
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(opened.len(), 3);

    // An edited entry: its own hash no longer follows.
    tamper(&s, &[format!("UPDATE audit_log SET details = '{{}}' WHERE id = {}", opened[1])]).await;
    let (ok, out, err) = tocsin(&s, &["audit", "verify"]).await;
    assert!(!ok, "a broken chain exits non-zero: {out}");
    assert!(err.contains(&format!("shard 0, entry {}: hash expected", opened[1])), "{err}");
    assert!(out.contains("BROKEN"), "{out}");

    // A deleted entry: the next one's link names it.
    tamper(&s, &[format!("DELETE FROM audit_log WHERE id = {}", opened[1])]).await;
    let (_, out, _) = tocsin(&s, &["audit", "verify", "--output", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_broken"]["id"], opened[2]);
    assert_eq!(v["first_broken"]["field"], "prev_hash");
    s.stop().await;
}
