//! Paging latency benchmark: how long from an alert being accepted to the
//! first delivery attempt reaching the person's webhook.
//!
//! One process does both ends, so every instant comes from the same monotonic
//! clock (`std::time::Instant`):
//!
//! - a webhook receiver on loopback (axum) that timestamps each request as it
//!   arrives, answers `200` at once, and matches the body to the alert that
//!   caused it by a marker (`LB<run>_<seq>`) the sender put into the alert;
//! - a sender that posts one alert at a time on a fixed schedule (open loop:
//!   alert `i` goes out at `start + i / rate` whether or not earlier ones
//!   were answered) and records when each request left and when its
//!   response arrived.
//!
//! Latency is `webhook arrival - ingest response` (the sender's answer means
//! the alert is committed) and, as a second figure, `webhook arrival -
//! request sent`.
//!
//! Usage (bench/latency.sh runs it once per target):
//!
//! ```text
//! tocsin-bench-latency --target tocsin --format pagerduty \
//!     --url http://127.0.0.1:PORT/v2/enqueue --routing-key KEY \
//!     --listen 127.0.0.1:HOOKPORT --count 500 --rate 20
//! tocsin-bench-latency --target alertmanager --format alertmanager \
//!     --url http://127.0.0.1:PORT/api/v2/alerts --listen 127.0.0.1:HOOKPORT
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use clap::{Parser, ValueEnum};
use serde_json::json;
use tokio::sync::mpsc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// PagerDuty Events v2: one `trigger` per request (`POST /v2/enqueue`).
    Pagerduty,
    /// Alertmanager API v2: a one-alert array per request (`POST /api/v2/alerts`).
    Alertmanager,
}

#[derive(Parser, Debug)]
#[command(name = "tocsin-bench-latency", about = "Alert-to-webhook latency of one server")]
struct Args {
    /// Name of the server under test, used in the output.
    #[arg(long)]
    target: String,
    /// Body format of the alerts sent to --url.
    #[arg(long, value_enum)]
    format: Format,
    /// Where alerts are posted.
    #[arg(long)]
    url: String,
    /// PagerDuty routing key (integration key), for --format pagerduty.
    #[arg(long, default_value = "")]
    routing_key: String,
    /// Address the webhook receiver listens on (the server under test is
    /// configured to deliver here).
    #[arg(long)]
    listen: SocketAddr,
    /// Measured alerts.
    #[arg(long, default_value_t = 500)]
    count: usize,
    /// Alerts per second (open loop).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Unmeasured alerts sent first, at the same rate (connections, caches,
    /// first-use code paths).
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// An alert whose webhook has not arrived this long after its ingest
    /// response counts as not delivered.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Write one CSV row per measured alert here.
    #[arg(long)]
    raw: Option<PathBuf>,
    /// Append the result as one TSV line here.
    #[arg(long)]
    result: Option<PathBuf>,
}

/// What happened to one alert. Instants are from one monotonic clock.
#[derive(Clone, Debug, Default)]
struct Slot {
    sent: Option<Instant>,
    responded: Option<Instant>,
    status: Option<u16>,
    error: Option<String>,
    /// First webhook that named this alert.
    arrived: Option<Instant>,
    /// Webhooks that named this alert (retries, repeats).
    deliveries: u32,
}

#[derive(Default)]
struct Book {
    slots: Vec<Slot>,
    /// Webhook requests that named no alert of this run.
    unmatched: u64,
}

type Shared = Arc<Mutex<Book>>;

fn lock(book: &Shared) -> MutexGuard<'_, Book> {
    // A panic while holding the lock cannot leave a Book half-updated in a
    // way that matters for counting, so a poisoned lock is still usable.
    book.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The marker that names alert `seq` of run `run` in every body.
fn marker(run: &str, seq: usize) -> String {
    format!("LB{run}_{seq}")
}

/// Every alert sequence number of run `run` named in `body`, each once.
fn find_markers(body: &[u8], run: &str) -> Vec<usize> {
    let prefix = format!("LB{run}_");
    let prefix = prefix.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = body[at..].windows(prefix.len()).position(|w| w == prefix) {
        let digits_start = at + pos + prefix.len();
        let digits_end =
            body[digits_start..].iter().position(|b| !b.is_ascii_digit()).map_or(body.len(), |n| digits_start + n);
        if let Ok(text) = std::str::from_utf8(&body[digits_start..digits_end])
            && let Ok(seq) = text.parse::<usize>()
            && !found.contains(&seq)
        {
            found.push(seq);
        }
        at = digits_end.max(digits_start);
    }
    found
}

/// The webhook endpoint: timestamp, hand the body to the matcher, answer 200.
async fn hook(State(tx): State<mpsc::UnboundedSender<(Instant, Bytes)>>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    // The matcher lives as long as the run; if it is gone the run is over.
    let _ = tx.send((now, body));
    StatusCode::OK
}

/// Records arrivals against the alerts they name.
async fn matcher(mut rx: mpsc::UnboundedReceiver<(Instant, Bytes)>, book: Shared, run: String) {
    while let Some((at, body)) = rx.recv().await {
        let seqs = find_markers(&body, &run);
        let mut book = lock(&book);
        if seqs.is_empty() {
            book.unmatched += 1;
        }
        for seq in seqs {
            if let Some(slot) = book.slots.get_mut(seq) {
                slot.deliveries += 1;
                if slot.arrived.is_none() {
                    slot.arrived = Some(at);
                }
            } else {
                book.unmatched += 1;
            }
        }
    }
}

fn body_for(args: &Args, run: &str, seq: usize) -> serde_json::Value {
    let id = marker(run, seq);
    match args.format {
        Format::Pagerduty => json!({
            "routing_key": args.routing_key,
            "event_action": "trigger",
            "dedup_key": id,
            "payload": {
                "summary": format!("latency bench {id}"),
                "source": "bench-host",
                "severity": "critical",
            },
        }),
        Format::Alertmanager => json!([{
            "labels": { "alertname": "LatencyBench", "bench_id": id },
            "annotations": { "summary": format!("latency bench {id}") },
            "generatorURL": "http://prometheus.bench.invalid/graph",
        }]),
    }
}

/// Sends alerts `range` on an open-loop schedule starting now, and waits
/// until every one was answered.
async fn send_all(
    args: &Arc<Args>,
    client: &reqwest::Client,
    book: &Shared,
    run: &Arc<str>,
    range: std::ops::Range<usize>,
) -> Result<()> {
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, seq) in range.enumerate() {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let body = body_for(args, run, seq);
        let request = client.post(&args.url).json(&body);
        let book = book.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let outcome = request.send().await;
            let responded = Instant::now();
            let mut book = lock(&book);
            let Some(slot) = book.slots.get_mut(seq) else { return };
            slot.sent = Some(sent);
            match outcome {
                Ok(response) => {
                    slot.responded = Some(responded);
                    slot.status = Some(response.status().as_u16());
                }
                Err(err) => slot.error = Some(err.to_string()),
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("sender task failed")?;
    }
    Ok(())
}

/// Waits until every alert in `range` has a webhook, or `timeout` has passed
/// since the last ingest response.
async fn wait_for_hooks(book: &Shared, range: std::ops::Range<usize>, timeout: Duration) {
    loop {
        let (all_in, last) = {
            let book = lock(book);
            let slots = &book.slots[range.clone()];
            let all_in = slots.iter().all(|s| s.arrived.is_some() || !accepted(s));
            let last = slots.iter().filter_map(|s| s.responded.or(s.sent)).max();
            (all_in, last)
        };
        if all_in || last.is_none_or(|t| t.elapsed() >= timeout) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn accepted(slot: &Slot) -> bool {
    slot.status.is_some_and(|s| (200..300).contains(&s))
}

fn ms(d: f64) -> String {
    if d.is_finite() { format!("{d:.2}") } else { "-".to_owned() }
}

/// Nearest-rank percentile over `n` alerts, where alerts missing from
/// `sorted` (not delivered) count as infinitely late.
fn percentile(sorted: &[f64], n: usize, p: f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied().unwrap_or(f64::INFINITY)
}

fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(earlier.duration_since(later).as_secs_f64() * 1e3),
    }
}

struct Summary {
    n: usize,
    accepted: usize,
    delivered: usize,
    late: usize,
    errors: usize,
    duplicates: u64,
    unmatched: u64,
    /// webhook arrival - ingest response (ms), delivered alerts, sorted.
    commit: Vec<f64>,
    /// webhook arrival - request sent (ms), delivered alerts, sorted.
    sent: Vec<f64>,
    /// ingest response - request sent (ms), answered alerts, sorted.
    ingest: Vec<f64>,
}

fn summarize(book: &Book, range: std::ops::Range<usize>, timeout: Duration) -> Summary {
    let timeout_ms = timeout.as_secs_f64() * 1e3;
    let mut s = Summary {
        n: range.len(),
        accepted: 0,
        delivered: 0,
        late: 0,
        errors: 0,
        duplicates: 0,
        unmatched: book.unmatched,
        commit: Vec::new(),
        sent: Vec::new(),
        ingest: Vec::new(),
    };
    for slot in &book.slots[range] {
        if let (Some(sent), Some(responded)) = (slot.sent, slot.responded) {
            s.ingest.push(signed_ms(responded, sent));
        }
        if !accepted(slot) {
            s.errors += 1;
            continue;
        }
        s.accepted += 1;
        s.duplicates += u64::from(slot.deliveries.saturating_sub(1));
        let (Some(sent), Some(responded), Some(arrived)) = (slot.sent, slot.responded, slot.arrived) else {
            continue;
        };
        let commit = signed_ms(arrived, responded);
        if commit > timeout_ms {
            s.late += 1;
            continue;
        }
        s.delivered += 1;
        s.commit.push(commit);
        s.sent.push(signed_ms(arrived, sent));
    }
    for v in [&mut s.commit, &mut s.sent, &mut s.ingest] {
        v.sort_by(f64::total_cmp);
    }
    s
}

fn max_or_missing(sorted: &[f64], n: usize) -> f64 {
    if sorted.len() < n { f64::INFINITY } else { sorted.last().copied().unwrap_or(f64::NAN) }
}

fn write_raw(path: &PathBuf, book: &Book, range: std::ops::Range<usize>, run: &str) -> Result<()> {
    let mut out = String::from(
        "seq,marker,status,sent_to_response_ms,response_to_webhook_ms,sent_to_webhook_ms,webhooks,error\n",
    );
    for seq in range {
        let slot = &book.slots[seq];
        let d = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.3}", signed_ms(a, b)),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{seq},{},{},{},{},{},{},{}",
            marker(run, seq),
            slot.status.map(|s| s.to_string()).unwrap_or_default(),
            d(slot.responded, slot.sent),
            d(slot.arrived, slot.responded),
            d(slot.arrived, slot.sent),
            slot.deliveries,
            slot.error.as_deref().unwrap_or("").replace(',', ";"),
        );
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

async fn run(args: Args) -> Result<bool> {
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!("--rate must be a positive number");
    }
    if args.format == Format::Pagerduty && args.routing_key.is_empty() {
        bail!("--routing-key is required with --format pagerduty");
    }
    let args = Arc::new(args);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let run_id: Arc<str> = format!("{:x}{:x}", std::process::id(), nanos % 0xffff_ffff).into();
    let total = args.warmup + args.count;
    let book: Shared = Arc::new(Mutex::new(Book { slots: vec![Slot::default(); total], unmatched: 0 }));
    let timeout = Duration::from_millis(args.timeout_ms);

    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("webhook receiver cannot listen on {}", args.listen))?;
    let app = Router::new().fallback(hook).with_state(tx);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let matching = tokio::spawn(matcher(rx, book.clone(), run_id.to_string()));

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .context("building the HTTP client")?;

    if args.warmup > 0 {
        eprintln!("[latency] {}: warm-up, {} alerts at {}/s", args.target, args.warmup, args.rate);
        send_all(&args, &client, &book, &run_id, 0..args.warmup).await?;
        wait_for_hooks(&book, 0..args.warmup, timeout).await;
        let warm = summarize(&lock(&book), 0..args.warmup, timeout);
        eprintln!(
            "[latency] {}: warm-up accepted {}/{}, delivered {}",
            args.target, warm.accepted, warm.n, warm.delivered
        );
        if warm.accepted == 0 {
            let first = lock(&book).slots.first().cloned().unwrap_or_default();
            bail!(
                "{} accepted none of the warm-up alerts (first: status {:?}, error {:?})",
                args.target,
                first.status,
                first.error
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let measured = args.warmup..total;
    eprintln!("[latency] {}: measuring, {} alerts at {}/s (timeout {:?})", args.target, args.count, args.rate, timeout);
    send_all(&args, &client, &book, &run_id, measured.clone()).await?;
    wait_for_hooks(&book, measured.clone(), timeout).await;
    // Repeats or retries that land right after the last alert still count as
    // duplicates rather than vanishing.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let book_now = lock(&book);
    let s = summarize(&book_now, measured.clone(), timeout);
    if let Some(path) = &args.raw {
        write_raw(path, &book_now, measured, &run_id)?;
    }
    drop(book_now);
    server.abort();
    matching.abort();

    let p = |v: &[f64], q: f64| ms(percentile(v, s.n, q));
    let fields = [
        args.target.clone(),
        s.n.to_string(),
        s.delivered.to_string(),
        p(&s.commit, 0.50),
        p(&s.commit, 0.90),
        p(&s.commit, 0.99),
        ms(max_or_missing(&s.commit, s.n)),
        p(&s.sent, 0.50),
        p(&s.sent, 0.90),
        p(&s.sent, 0.99),
        ms(max_or_missing(&s.sent, s.n)),
        ms(percentile(&s.ingest, s.ingest.len(), 0.50)),
        ms(percentile(&s.ingest, s.ingest.len(), 0.99)),
        s.errors.to_string(),
        s.late.to_string(),
        s.duplicates.to_string(),
        s.unmatched.to_string(),
    ];
    let line = fields.join("\t");
    println!("LATRESULT\t{line}");
    if let Some(path) = &args.result {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{line}").with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "[latency] {}: {} of {} delivered within {:?} ({} rejected by the server, {} late, {} extra webhooks, {} unmatched)",
        args.target, s.delivered, s.n, timeout, s.errors, s.late, s.duplicates, s.unmatched
    );
    if s.delivered == 0 {
        eprintln!("[latency] {}: 0 delivered: no webhook arrived for any measured alert", args.target);
    }
    Ok(s.delivered == s.n)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("tocsin-bench-latency: cannot start runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        // Measured, but some alerts were never delivered.
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("tocsin-bench-latency: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_once_each() {
        let body = br#"{"a":"LBr1_12","b":["LBr1_12 x","LBr1_3"],"c":"LBr2_7","d":"LBr1_"}"#;
        assert_eq!(find_markers(body, "r1"), vec![12, 3]);
        assert_eq!(find_markers(body, "r2"), vec![7]);
        assert!(find_markers(b"nothing here", "r1").is_empty());
        assert_eq!(find_markers(b"LBr1_5", "r1"), vec![5]);
    }

    #[test]
    fn percentiles_count_missing_alerts_as_infinitely_late() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 100, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 100, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 100, 1.0), 100.0);
        assert_eq!(percentile(&sorted[..98], 100, 0.99), f64::INFINITY);
        assert_eq!(percentile(&[], 10, 0.5), f64::INFINITY);
        assert_eq!(ms(f64::INFINITY), "-");
    }

    #[test]
    fn pagerduty_and_alertmanager_bodies_carry_the_marker() {
        let mut args = Args::parse_from([
            "x",
            "--target",
            "t",
            "--format",
            "pagerduty",
            "--url",
            "http://127.0.0.1:1/",
            "--routing-key",
            "k",
            "--listen",
            "127.0.0.1:0",
        ]);
        let pd = body_for(&args, "r", 4).to_string();
        assert_eq!(find_markers(pd.as_bytes(), "r"), vec![4]);
        args.format = Format::Alertmanager;
        let am = body_for(&args, "r", 9);
        assert_eq!(am[0]["labels"]["bench_id"], "LBr_9");
    }
}
