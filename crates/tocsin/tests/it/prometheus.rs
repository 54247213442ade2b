//! A real Prometheus and a real Alertmanager (Debian's `prometheus` and
//! `prometheus-alertmanager`) against a real Tocsin: a rule fires on a
//! metric this test serves, Prometheus sends the alert straight to Tocsin
//! (`path_prefix`) and to Alertmanager, which forwards it by webhook. The
//! rule fires for two disks: on each path the two alerts group into one
//! incident (by `alertname` on the direct path; by Alertmanager's own
//! `groupKey` on the webhook path, although that service's `group_by`
//! would split them), and both resolve when the metric goes back to zero.
//!
//! Without the two binaries the test says so and passes, unless
//! `TOCSIN_REQUIRE_PROMETHEUS` is set (`.ci/run` installs them and sets it).

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::harness::{Options, PROM_KEY, SEARCH_PD_KEY, TestServer};

/// Alertmanager's webhook goes to the search service, so the two paths make
/// two incidents (on one service the same labels are one alert: deduplicated).
const SEARCH_AM_KEY: &str = "am-search-0123456789abcdef0";

const PROMETHEUS: &str = "/usr/bin/prometheus";
const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
/// Long enough for a scrape, a rule evaluation, Alertmanager's group_wait
/// and the webhook, on a loaded 2-core machine.
const WITHIN: Duration = Duration::from_secs(90);

fn available() -> bool {
    let present = Path::new(PROMETHEUS).exists() && Path::new(ALERTMANAGER).exists();
    if !present {
        assert!(
            std::env::var_os("TOCSIN_REQUIRE_PROMETHEUS").is_none(),
            "TOCSIN_REQUIRE_PROMETHEUS is set but {PROMETHEUS} or {ALERTMANAGER} is missing"
        );
        eprintln!(
            "skipped: {PROMETHEUS} and {ALERTMANAGER} are not installed (apt-get install prometheus prometheus-alertmanager)"
        );
    }
    present
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Serves `tocsin_test_disk_full <value>` for disks a and b in Prometheus'
/// text format.
async fn metrics_target(value: Arc<AtomicU32>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let value = value.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = format!(
                    "# TYPE tocsin_test_disk_full gauge\ntocsin_test_disk_full{{disk=\"a\"}} {v}\ntocsin_test_disk_full{{disk=\"b\"}} {v}\n",
                    v = value.load(Ordering::SeqCst)
                );
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

fn spawn(program: &str, args: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}

/// The example config with an Alertmanager integration on the search
/// service, which groups by Alertmanager's `groupKey` (its `group_by` alone
/// would put each disk in its own incident), and checkout grouping by
/// `alertname`.
fn config(dir: &Path) -> std::path::PathBuf {
    let example = std::fs::read_to_string(crate::harness::example_config()).unwrap();
    let anchor = format!("      - kind: pagerduty\n        key: {SEARCH_PD_KEY}\n");
    let extended = example.replacen(
        &anchor,
        &format!(
            "{anchor}      - kind: alertmanager\n        key: {SEARCH_AM_KEY}\n    \
             grouping: {{ group_by: [disk], group_wait: 0s, alertmanager_group_key: true }}\n"
        ),
        1,
    );
    assert_ne!(extended, example, "the example's search service has its PagerDuty integration");
    let anchor = "        key: generic-checkout-0123456789ab\n";
    let grouped =
        extended.replacen(anchor, &format!("{anchor}    grouping: {{ group_by: [alertname], group_wait: 0s }}\n"), 1);
    assert_ne!(grouped, extended, "the example's checkout service has its generic integration");
    let extended = grouped;
    let path = dir.join("tocsin.yaml");
    std::fs::write(&path, extended).unwrap();
    path
}

/// `service`'s alerts that came in through an integration of `kind`.
async fn alerts_of(s: &TestServer, service: &str, kind: &str) -> Vec<Value> {
    let (_, page) = s.get(&format!("/alerts?service={service}&limit=100")).await;
    page["items"].as_array().cloned().unwrap_or_default().into_iter().filter(|a| a["kind"] == kind).collect()
}

async fn wait_until<F, Fut>(what: &str, logs: &Path, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        if started.elapsed() > WITHIN {
            let log = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap_or_default();
            panic!(
                "{what}: not within {WITHIN:?}\n--- prometheus\n{}\n--- alertmanager\n{}",
                log("prometheus.log"),
                log("alertmanager.log")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("{what} after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_rule_and_alertmanager_open_and_resolve_incidents() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(Options { config: Some(config(dir.path())), ..Options::default() }).await;
    let tocsin = s.addr();
    let value = Arc::new(AtomicU32::new(1));
    let target = metrics_target(value.clone()).await;
    let (prom_port, am_port) = (free_port(), free_port());

    std::fs::write(
        dir.path().join("alertmanager.yml"),
        format!(
            "route:\n  receiver: tocsin\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: tocsin\n    webhook_configs:\n      - url: http://{tocsin}/integrations/alertmanager/{SEARCH_AM_KEY}\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: tocsin\n    interval: 1s\n    rules:\n      - alert: DiskFull\n        expr: tocsin_test_disk_full > 0\n        \
         labels: { severity: critical }\n        annotations: { summary: \"Disk full on {{ $labels.instance }}\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nrule_files: [{rules}]\n\
             scrape_configs:\n  - job_name: disks\n    static_configs: [{{ targets: ['127.0.0.1:{target}'] }}]\n\
             alerting:\n  alertmanagers:\n    - api_version: v2\n      path_prefix: /integrations/prometheus/{PROM_KEY}\n      static_configs: [{{ targets: ['{tocsin}'] }}]\n\
             \x20   - api_version: v2\n      static_configs: [{{ targets: ['127.0.0.1:{am_port}'] }}]\n",
            rules = dir.path().join("rules.yml").display()
        ),
    )
    .unwrap();

    let _alertmanager = spawn(
        ALERTMANAGER,
        &[
            format!("--config.file={}", dir.path().join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.path().join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            // One Alertmanager: no cluster, so nothing waits for gossip.
            "--cluster.listen-address=".into(),
        ],
        &dir.path().join("alertmanager.log"),
    );
    let _prometheus = spawn(
        PROMETHEUS,
        &[
            format!("--config.file={}", dir.path().join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.path().join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
            // Resolved alerts are re-sent this often; keep it short.
            "--rules.alert.resend-delay=1s".into(),
        ],
        &dir.path().join("prometheus.log"),
    );

    // Firing: two alerts (disks a and b) straight from Prometheus, two
    // through Alertmanager, each with the rule's labels; on each path one
    // incident holds both.
    let firing = |service: &'static str, kind: &'static str| {
        let s = &s;
        async move {
            let alerts = alerts_of(s, service, kind).await;
            ["a", "b"].iter().all(|disk| {
                alerts.iter().any(|a| {
                    a["status"] == "triggered"
                        && a["labels"]["alertname"] == "DiskFull"
                        && a["labels"]["disk"] == *disk
                        && a["labels"]["instance"] == format!("127.0.0.1:{target}")
                        && a["summary"] == "Disk full on 127.0.0.1:".to_string() + &target.to_string()
                })
            })
        }
    };
    wait_until("Prometheus' alert arrived", dir.path(), || firing("checkout", "prometheus")).await;
    wait_until("Alertmanager's webhook arrived", dir.path(), || firing("search", "alertmanager")).await;
    for service in ["checkout", "search"] {
        let (_, open) = s.get(&format!("/incidents?status=triggered&service={service}")).await;
        let titles: Vec<&str> = open["items"].as_array().unwrap().iter().filter_map(|i| i["title"].as_str()).collect();
        assert_eq!(titles, [format!("Disk full on 127.0.0.1:{target}")], "{service}");
        assert_eq!(open["items"][0]["alert_count"], 2, "{service}: {open}");
    }

    // The metric goes back to zero: Prometheus resolves the alert and both
    // paths resolve it in Tocsin, and with it the incidents.
    value.store(0, Ordering::SeqCst);
    let resolved = |service: &'static str, kind: &'static str| {
        let s = &s;
        async move {
            let alerts = alerts_of(s, service, kind).await;
            !alerts.is_empty() && alerts.iter().all(|a| a["status"] == "resolved")
        }
    };
    wait_until("Prometheus' resolution arrived", dir.path(), || resolved("checkout", "prometheus")).await;
    wait_until("Alertmanager's resolution arrived", dir.path(), || resolved("search", "alertmanager")).await;
    for service in ["checkout", "search"] {
        let (_, all) = s.get(&format!("/incidents?service={service}")).await;
        assert_eq!(all["items"].as_array().unwrap().len(), 1, "{service}: {all}");
        assert_eq!(all["items"][0]["status"], "resolved", "{service}: {all}");
    }
    s.stop().await;
}
