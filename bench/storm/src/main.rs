//! Alert storm benchmark: how long a new incident on a quiet service waits
//! for its first page while another service's storm is being worked off,
//! and how long the storm itself takes to drain.
//!
//! One process plays every part, so every instant comes from one monotonic
//! clock (`std::time::Instant`):
//!
//! - a webhook receiver on loopback (axum) that timestamps each request as
//!   it arrives and answers `200` at once: the storm's on-call person on
//!   `/hook/storm`, the quiet services' people on `/hook/quiet`;
//! - the storm: `--alerts` new alerts pushed to the storm service's
//!   Prometheus integration in pushes of `--batch`, one after another;
//! - probes: one new incident on a quiet service every `--probe-every-ms`
//!   (PagerDuty Events v2), each with a marker (`SP<run>_<seq>`) in its
//!   summary, which the page repeats as the incident title, from the end of
//!   the storm's pushes until the storm is drained. The quiet services take
//!   turns, so that no quiet person's rate limit (10 messages per 10
//!   minutes) holds back a probe.
//!
//! A probe's first-page delay is `webhook arrival - ingest response`
//! (Tocsin answers after the commit). The storm is drained when the newest
//! storm incident's notification has been dealt with (sent, or held for a
//! bundle by the rate limit): the engine does a service's work oldest
//! first, so that is the storm's last piece of paging work.
//!
//! Usage (bench/storm.sh runs it):
//!
//! ```text
//! tocsin-bench-storm config --hook http://127.0.0.1:HOOKPORT > storm.yaml
//! tocsin serve --config storm.yaml ...
//! tocsin-bench-storm run --url http://127.0.0.1:PORT --token TOKEN \
//!     --listen 127.0.0.1:HOOKPORT
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

/// The storm service's Prometheus integration key.
const STORM_KEY: &str = "stormbench-storm-prometheus-0001";

/// The PagerDuty integration key of quiet service `k`.
fn quiet_key(k: usize) -> String {
    format!("stormbench-quiet-{k:03}-pagerduty")
}

#[derive(Parser, Debug)]
#[command(name = "tocsin-bench-storm", about = "First-page delay on quiet services during an alert storm")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Prints the Tocsin config the run expects: one storm service and
    /// `--quiet-services` quiet ones, each paging its own person's webhook
    /// at `--hook`, and the example config's rate limit.
    Config {
        /// Base URL of the receiver (`http://127.0.0.1:PORT`).
        #[arg(long)]
        hook: String,
        #[arg(long, default_value_t = 40)]
        quiet_services: usize,
    },
    /// Runs the storm and the probes against a server started with that config.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Base URL of the Tocsin server.
    #[arg(long)]
    url: String,
    /// An admin API token (to find the storm's newest incident).
    #[arg(long)]
    token: String,
    /// Address the receiver listens on (the config's `--hook`).
    #[arg(long)]
    listen: SocketAddr,
    /// Alerts in the storm, each a new incident.
    #[arg(long, default_value_t = 10_000)]
    alerts: usize,
    /// Alerts per push.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Quiet services in the config.
    #[arg(long, default_value_t = 40)]
    quiet_services: usize,
    /// One probe this often during the storm.
    #[arg(long, default_value_t = 250)]
    probe_every_ms: u64,
    /// Most probes during the storm.
    #[arg(long, default_value_t = 300)]
    max_probes: usize,
    /// Probes before the storm, one at a time (the delay with no backlog).
    #[arg(long, default_value_t = 5)]
    baseline: usize,
    /// Give up on the storm draining after this long.
    #[arg(long, default_value_t = 1_800)]
    drain_timeout_s: u64,
    /// After the drain, wait this long for probes still undelivered.
    #[arg(long, default_value_t = 60)]
    probe_timeout_s: u64,
    /// Append the result as one TSV line here.
    #[arg(long)]
    result: Option<PathBuf>,
    /// Name of what is measured, in the output (e.g. a commit).
    #[arg(long, default_value = "tocsin")]
    label: String,
}

fn config(hook: &str, quiet_services: usize) -> String {
    let mut users = String::new();
    let mut policies = String::new();
    let mut services = String::new();
    // The storm service has `storm: off`: this bench measures how a
    // 10,000-incident paging backlog delays other services' pages, and the
    // default storm limit would collapse the storm into one incident.
    let mut add = |id: &str, name: &str, path: &str, integration: String, storm: &str| {
        let _ = writeln!(
            users,
            "  - {{ id: {id}, name: {name}, email: {id}@bench.invalid, \
             contact_methods: [{{ id: {id}-hook, kind: webhook, url: \"{hook}/hook/{path}\" }}] }}"
        );
        let _ = writeln!(
            policies,
            "  - {{ id: {id}-policy, levels: [{{ targets: [{{ user: {id} }}], escalate_after: 1h }}] }}"
        );
        let _ = writeln!(
            services,
            "  - {{ id: {id}, name: {name}, escalation_policy: {id}-policy, {storm}integrations: [{integration}] }}"
        );
    };
    add("storm", "Storm", "storm", format!("{{ kind: prometheus, key: {STORM_KEY} }}"), "storm: off, ");
    for k in 0..quiet_services {
        add(
            &format!("quiet-{k:03}"),
            &format!("Quiet {k}"),
            "quiet",
            format!("{{ kind: pagerduty, key: {} }}", quiet_key(k)),
            "",
        );
    }
    format!(
        "# Generated by tocsin-bench-storm.\nusers:\n{users}escalation_policies:\n{policies}services:\n{services}\
         notifications:\n  rate_limit: {{ messages: 10, window: 10m }}\n"
    )
}

/// What the receiver saw.
#[derive(Default)]
struct Book {
    /// First page naming each probe.
    arrived: HashMap<usize, Instant>,
    storm_pages: usize,
    /// Incidents the storm's pages named (bundles name several).
    storm_incidents: usize,
}

type Shared = Arc<Mutex<Book>>;

fn lock(book: &Shared) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn marker(run: &str, seq: usize) -> String {
    format!("SP{run}_{seq}")
}

/// The probe numbers of this run named in a page body.
fn probes_named(body: &[u8], run: &str) -> Vec<usize> {
    let text = String::from_utf8_lossy(body);
    let prefix = format!("SP{run}_");
    text.match_indices(&prefix)
        .filter_map(|(at, _)| {
            let digits: String = text[at + prefix.len()..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

async fn hook(State((book, run)): State<(Shared, Arc<String>)>, uri: Uri, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let mut book = lock(&book);
    if uri.path().ends_with("/storm") {
        book.storm_pages += 1;
        let named = serde_json::from_slice::<Value>(&body).ok().map_or(1, |v| match v.get("incidents") {
            Some(list) => list.as_array().map_or(0, Vec::len) + v["unlisted_incidents"].as_u64().unwrap_or(0) as usize,
            None => 1,
        });
        book.storm_incidents += named;
    } else {
        for seq in probes_named(&body, &run) {
            book.arrived.entry(seq).or_insert(now);
        }
    }
    StatusCode::OK
}

struct Probe {
    responded: Instant,
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
    run: String,
    quiet_services: usize,
}

impl Client {
    /// Opens probe `seq` on a quiet service; returns when it is committed.
    async fn probe(&self, seq: usize) -> Result<Probe> {
        let body = json!({
            "routing_key": quiet_key(seq % self.quiet_services),
            "event_action": "trigger",
            "dedup_key": format!("sp-{}-{seq}", self.run),
            "payload": {"summary": marker(&self.run, seq), "source": "bench", "severity": "critical"},
        });
        let r = self.http.post(format!("{}/v2/enqueue", self.url)).json(&body).send().await?;
        let responded = Instant::now();
        if r.status().as_u16() != 202 {
            bail!("probe {seq}: HTTP {}", r.status());
        }
        Ok(Probe { responded })
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let r = self.http.get(format!("{}/api/v1{path}", self.url)).bearer_auth(&self.token).send().await?;
        if !r.status().is_success() {
            bail!("GET {path}: HTTP {}", r.status());
        }
        Ok(r.json().await?)
    }
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn storm_push(run: &str, from: usize, n: usize) -> Value {
    let now = SystemTime::now();
    let (starts, ends) = (rfc3339(now), rfc3339(now + Duration::from_secs(86_400)));
    let alerts: Vec<Value> = (from..from + n)
        .map(|i| {
            json!({
                "labels": {"alertname": "StormBench", "instance": format!("host-{run}-{i}"), "severity": "critical"},
                "annotations": {"summary": format!("Storm alert {i}")},
                "startsAt": starts,
                "endsAt": ends,
            })
        })
        .collect();
    Value::Array(alerts)
}

/// Nearest-rank percentile over `n` probes; probes missing from `sorted`
/// (never paged) count as infinitely late.
fn percentile(sorted: &[f64], n: usize, p: f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied().unwrap_or(f64::INFINITY)
}

fn ms(v: f64) -> String {
    if v.is_finite() { format!("{v:.1}") } else { "-".into() }
}

/// Delays in ms of `probes` that were paged, sorted.
fn delays(book: &Book, probes: &[(usize, Probe)]) -> Vec<f64> {
    let mut out: Vec<f64> = probes
        .iter()
        .filter_map(|(seq, p)| {
            book.arrived.get(seq).map(|a| a.saturating_duration_since(p.responded).as_secs_f64() * 1e3)
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

async fn wait_paged(book: &Shared, seqs: &[usize], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if seqs.iter().all(|s| lock(book).arrived.contains_key(s)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn run(args: RunArgs) -> Result<bool> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let run = format!("{:06}", nanos % 1_000_000);
    let book: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind(args.listen).await.context("receiver")?;
    let app = Router::new().fallback(hook).with_state((book.clone(), Arc::new(run.clone())));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Arc::new(Client {
        http: reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?,
        url: args.url.trim_end_matches('/').to_string(),
        token: args.token.clone(),
        run: run.clone(),
        quiet_services: args.quiet_services.max(1),
    });

    // No backlog: one probe at a time.
    let mut baseline = Vec::new();
    for seq in 0..args.baseline {
        let probe = client.probe(seq).await?;
        wait_paged(&book, &[seq], Duration::from_secs(10)).await;
        baseline.push((seq, probe));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The storm.
    let started = Instant::now();
    let mut pushes = 0;
    for from in (0..args.alerts).step_by(args.batch.max(1)) {
        let n = args.batch.min(args.alerts - from);
        let url = format!("{}/integrations/prometheus/{STORM_KEY}/api/v2/alerts", client.url);
        let r = client.http.post(url).json(&storm_push(&run, from, n)).send().await?;
        if !r.status().is_success() {
            bail!("storm push at {from}: HTTP {}", r.status());
        }
        pushes += 1;
    }
    let pushed = started.elapsed();
    let newest = client.get("/incidents?service=storm&limit=1").await?;
    let Some(last) = newest["items"][0]["id"].as_i64() else { bail!("no storm incident: {newest}") };

    // Probes until the storm is drained.
    let drained = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let prober = {
        let (client, drained, sent) = (client.clone(), drained.clone(), sent.clone());
        let (every, max, first) = (Duration::from_millis(args.probe_every_ms), args.max_probes, args.baseline);
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            let mut tick = tokio::time::interval(every);
            for seq in first..first + max {
                tick.tick().await;
                if drained.load(Ordering::Relaxed) {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                let client = client.clone();
                tasks.push(tokio::spawn(async move { (seq, client.probe(seq).await) }));
            }
            let mut probes = Vec::new();
            for t in tasks {
                if let Ok((seq, Ok(p))) = t.await {
                    probes.push((seq, p));
                }
            }
            probes
        })
    };
    let deadline = started + Duration::from_secs(args.drain_timeout_s);
    let drain = loop {
        let notes = client.get(&format!("/incidents/{last}/notifications")).await?;
        let status = notes["items"][0]["status"].as_str().unwrap_or("");
        if !status.is_empty() && status != "pending" {
            break Some(started.elapsed());
        }
        if Instant::now() >= deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drained.store(true, Ordering::Relaxed);
    let probes = prober.await?;
    let seqs: Vec<usize> = probes.iter().map(|(s, _)| *s).collect();
    wait_paged(&book, &seqs, Duration::from_secs(args.probe_timeout_s)).await;
    server.abort();

    let book = lock(&book);
    let base = delays(&book, &baseline);
    let during = delays(&book, &probes);
    let n = probes.len();
    let asked = sent.load(Ordering::Relaxed);
    let p = |q| ms(percentile(&during, n, q));
    let drain_s = drain.map_or("-".to_string(), |d| format!("{:.1}", d.as_secs_f64()));
    println!(
        "{}: storm of {} alerts in {pushes} pushes of {} (pushed in {:.1} s), drained {drain_s} s after the first push; \
         the storm's person got {} pages naming {} incidents",
        args.label,
        args.alerts,
        args.batch,
        pushed.as_secs_f64(),
        book.storm_pages,
        book.storm_incidents,
    );
    println!(
        "{}: no backlog, first page after {} ms (median of {})",
        args.label,
        ms(percentile(&base, base.len(), 0.5)),
        base.len()
    );
    println!(
        "{}: during the storm, {n} new incidents on {} other services ({} accepted of {asked}), {} paged: \
         first page after p50 {} ms, p90 {}, p99 {}, max {}",
        args.label,
        args.quiet_services.min(n.max(1)),
        n,
        during.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        ms(percentile(&during, n, 1.0)),
    );
    if let Some(path) = &args.result {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(
            f,
            "{}\t{}\t{drain_s}\t{n}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            args.label,
            args.alerts,
            during.len(),
            p(0.5),
            p(0.9),
            p(0.99),
            ms(percentile(&during, n, 1.0)),
            ms(percentile(&base, base.len(), 0.5)),
            book.storm_pages,
        )?;
    }
    Ok(drain.is_some() && during.len() == n)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Config { hook, quiet_services } => {
            print!("{}", config(hook.trim_end_matches('/'), quiet_services));
            ExitCode::SUCCESS
        }
        Command::Run(args) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("[storm] cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(run(args)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("[storm] {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_found_in_pages_and_bundles() {
        let page = br#"{"incident": {"title": "SP123_7"}}"#;
        assert_eq!(probes_named(page, "123"), [7]);
        let bundle = br#"{"incidents": [{"incident": {"title": "SP123_8"}}, {"incident": {"title": "SP123_12"}}]}"#;
        assert_eq!(probes_named(bundle, "123"), [8, 12]);
        assert_eq!(probes_named(page, "124"), Vec::<usize>::new());
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_772_532_000)), "2026-03-03T10:00:00Z");
    }

    #[test]
    fn missing_probes_count_as_infinitely_late() {
        let sorted = [1.0, 2.0, 3.0];
        assert_eq!(percentile(&sorted, 3, 0.99), 3.0);
        assert_eq!(percentile(&sorted, 4, 0.99), f64::INFINITY);
    }

    #[test]
    fn the_config_gives_every_service_its_own_person() {
        let text = config("http://127.0.0.1:9", 2);
        assert!(text.contains("key: stormbench-storm-prometheus-0001"));
        assert!(text.contains("key: stormbench-quiet-001-pagerduty"));
        assert!(text.contains("url: \"http://127.0.0.1:9/hook/quiet\""));
        assert!(text.contains("rate_limit: { messages: 10, window: 10m }"));
    }
}
