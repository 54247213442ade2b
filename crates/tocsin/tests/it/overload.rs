//! Overload, against the real binary on loopback under the open-file limit
//! most systems give a process (1024): clients that open connections and
//! never finish a request, and floods of large request bodies. Health checks
//! must keep answering throughout, and what the server sheds it answers with
//! 503 + `Retry-After` (or closes, for connections), never with a hang.

use crate::harness::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin::connections::ConnectionLimits;
use tocsin_http::OverloadLimits;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Held by each test here for its whole run: they load the machine, and
/// each times health checks, so one at a time.
static ONE_LOAD_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The soft limit on open files most Linux systems start a process with.
const SERVER_NOFILE: u32 = 1024;

/// How long a health check may take, however busy the server is.
const HEALTH_BOUND: Duration = Duration::from_secs(1);

/// How long a health check on the main listener may take during a flood
/// of work that keeps its runtime busy (the health listener answers within
/// [`HEALTH_BOUND`]).
const MAIN_HEALTH_BOUND: Duration = Duration::from_secs(5);

/// The header timeout the tests run the server with (short, to keep them
/// quick; the default is 10 s).
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The first half of a request: the headers never end.
const HALF_REQUEST: &[u8] = b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";

/// Raises this process's soft limit on open files to `want` (within the hard
/// limit): the tests hold more connections than the common default of 1024.
fn raise_nofile(want: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(limit.rlim_cur >= want, "the test needs {want} open files, the hard limit is {}", limit.rlim_max);
}

/// The real binary, started with `ulimit -n 1024`.
struct Server {
    child: Child,
    addr: SocketAddr,
    url: String,
    /// The health listener, when `TOCSIN_HEALTH_LISTEN` was set.
    health_url: Option<String>,
    /// Everything it wrote to stderr so far.
    log: Arc<Mutex<String>>,
}

impl Server {
    async fn spawn(data_dir: &std::path::Path, pg: Option<&PgDb>, env: &[(&str, String)]) -> Server {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {SERVER_NOFILE} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_tocsin"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--config")
            .arg(example_config())
            .env("TOCSIN_ADMIN_TOKEN", ADMIN)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("TOCSIN_DATABASE_URL")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(pg) = pg {
            cmd.arg("--database-url").arg(&pg.url);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut health_url = None;
        let url = loop {
            let line = lines.next_line().await.unwrap().expect("server exited before listening");
            if let Some(url) = line.strip_prefix("tocsin health checks on ") {
                health_url = Some(url.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("tocsin listening on ") {
                break url.trim().to_string();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = url.trim_start_matches("http://").parse().unwrap();
        let server = Server { child, addr, url, health_url, log };
        assert_eq!(server.open_file_limit(), SERVER_NOFILE as u64, "the server runs under the common default");
        server
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// The soft limit on open files the server runs with.
    fn open_file_limit(&self) -> u64 {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).unwrap();
        let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    }

    /// The server's resident set size in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// The main listener's series.
const MAIN: &[(&str, &str)] = &[("listener", "main")];

/// A client that opens a new connection for every request, as probes do.
fn probe_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}

/// GETs `path` on a new connection; the time it took, or why it failed.
async fn probe(http: &reqwest::Client, url: &str, path: &str) -> Result<Duration, String> {
    probe_within(http, url, path, HEALTH_BOUND).await
}

/// [`probe`] with another bound.
async fn probe_within(http: &reqwest::Client, url: &str, path: &str, bound: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    match tokio::time::timeout(bound, http.get(format!("{url}{path}")).send()).await {
        Ok(Ok(r)) if r.status().as_u16() == 200 => Ok(started.elapsed()),
        Ok(Ok(r)) => Err(format!("{url}{path}: {}", r.status())),
        Ok(Err(e)) => Err(format!("{url}{path}: {e}")),
        Err(_) => Err(format!("{url}{path}: no answer within {bound:?}")),
    }
}

/// The value of the series of metric `name` with (at least) these labels,
/// from `/metrics`; 0 when there is none.
async fn metric(http: &reqwest::Client, url: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    try_metric(http, url, name, labels).await.unwrap_or_else(|e| panic!("{e}"))
}

/// [`metric`], or why `/metrics` did not answer within 5 s.
async fn try_metric(http: &reqwest::Client, url: &str, name: &str, labels: &[(&str, &str)]) -> Result<f64, String> {
    let fetch = async { http.get(format!("{url}/metrics")).send().await?.text().await };
    let text = match tokio::time::timeout(Duration::from_secs(5), fetch).await {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => return Err(format!("{url}/metrics: {e}")),
        Err(_) => return Err(format!("{url}/metrics: no answer within 5 s")),
    };
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter_map(|rest| rest.rsplit_once(' '))
        .find(|(series, _)| {
            (series.is_empty() || series.starts_with('{'))
                && labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v.trim().parse().unwrap())
        .unwrap_or(0.0))
}

/// Counters shared by the slow clients.
#[derive(Default)]
struct Slow {
    /// Connections opened and sent half a request.
    opened: AtomicUsize,
    /// Of those, the ones the server has closed.
    closed: AtomicUsize,
}

/// Opens a connection, sends half a request and waits for the server to
/// close it; while `holding`, opens another after a short pause.
async fn slow_client(addr: SocketAddr, holding: Arc<AtomicBool>, slow: Arc<Slow>) {
    loop {
        if let Ok(mut stream) = TcpStream::connect(addr).await
            && stream.write_all(HALF_REQUEST).await.is_ok()
        {
            slow.opened.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            slow.closed.fetch_add(1, Ordering::SeqCst);
        }
        if !holding.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 1,100 connections that each send half a request, opened again as soon as
/// the server drops them, against a server limited to 1024 open files: the
/// health checks still answer within a second throughout, the server never
/// holds more connections than its cap, and every slow connection is closed
/// once the header timeout has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_neither_starve_health_checks_nor_stay_open() {
    const SLOW_CLIENTS: usize = 1_100;
    const HOLD: Duration = Duration::from_secs(6);
    let _alone = ONE_LOAD_AT_A_TIME.lock().await;
    raise_nofile(4 * SLOW_CLIENTS as u64);
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let timeout_env = format!("{}s", HEADER_TIMEOUT.as_secs());
    let server = Server::spawn(&dir.path().join("data"), pg.as_ref(), &[("TOCSIN_HEADER_TIMEOUT", timeout_env)]).await;
    let http = probe_client();
    probe(&http, &server.url, "/readyz").await.unwrap();

    let holding = Arc::new(AtomicBool::new(true));
    let slow = Arc::new(Slow::default());
    let clients: Vec<_> =
        (0..SLOW_CLIENTS).map(|_| tokio::spawn(slow_client(server.addr, holding.clone(), slow.clone()))).collect();
    let ramp = Instant::now();
    while slow.opened.load(Ordering::SeqCst) < SLOW_CLIENTS {
        assert!(
            ramp.elapsed() < Duration::from_secs(10),
            "only {} slow connections opened",
            slow.opened.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Probe while the slow clients hold (and reopen) their connections.
    let watching = Arc::new(AtomicBool::new(true));
    let watch = watch_health(vec![(server.url.clone(), HEALTH_BOUND)], server.pid(), watching.clone());
    let started = Instant::now();
    let (mut most_open, mut unread) = (0.0f64, Vec::new());
    while started.elapsed() < HOLD {
        match try_metric(&http, &server.url, "tocsin_connections_open", MAIN).await {
            Ok(open) => most_open = most_open.max(open),
            Err(e) => unread.push(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watching.store(false, Ordering::SeqCst);
    let Watch { probed, .. } = tokio::task::spawn_blocking(move || watch.join().unwrap()).await.unwrap();
    holding.store(false, Ordering::SeqCst);
    let opened = slow.opened.load(Ordering::SeqCst);
    eprintln!(
        "{} health answers while slow clients held connections, slowest {:?}; \
         {opened} slow connections opened; at most {most_open} open on the server",
        probed[0].answered, probed[0].slowest,
    );
    assert!(
        probed[0].failures.is_empty(),
        "with {opened} slow connections opened, {} closed: {:?}",
        slow.closed.load(Ordering::SeqCst),
        probed[0].failures
    );
    assert!(unread.is_empty(), "{unread:?}");
    let answered = probed[0].answered;
    assert!(answered >= 20, "{answered} answers");
    let cap = metric(&http, &server.url, "tocsin_connections_max", MAIN).await;
    assert!(cap > 0.0 && cap < f64::from(SERVER_NOFILE), "the cap {cap} leaves file descriptors for the rest");
    assert!(most_open <= cap, "{most_open} connections open, over the cap of {cap}");

    // Every slow connection still open is closed once the header timeout passes.
    let all_closed = tokio::time::timeout(HEADER_TIMEOUT + Duration::from_millis(1500), async {
        for client in clients {
            client.await.unwrap();
        }
    })
    .await;
    assert!(
        all_closed.is_ok(),
        "{} of {} slow connections still open {:?} after the last was opened",
        slow.opened.load(Ordering::SeqCst) - slow.closed.load(Ordering::SeqCst),
        slow.opened.load(Ordering::SeqCst),
        HEADER_TIMEOUT + Duration::from_millis(1500)
    );

    // With no pressure, a slow connection lives for the header timeout, not less.
    let mut quiet = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(HALF_REQUEST).await.unwrap();
        quiet.push(tokio::spawn(async move {
            let sent = Instant::now();
            let mut buf = [0u8; 1024];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            sent.elapsed()
        }));
    }
    let mut lifetimes = Vec::new();
    for lived in quiet {
        let lived =
            tokio::time::timeout(HEADER_TIMEOUT * 3, lived).await.expect("closed after the header timeout").unwrap();
        assert!(
            lived >= HEADER_TIMEOUT - Duration::from_millis(100) && lived <= HEADER_TIMEOUT + Duration::from_secs(1),
            "a slow connection lived {lived:?}; the header timeout is {HEADER_TIMEOUT:?}"
        );
        lifetimes.push(lived);
    }
    eprintln!(
        "without pressure, slow connections lived {:?} to {:?}",
        lifetimes.iter().min().unwrap(),
        lifetimes.iter().max().unwrap()
    );

    // The operator can see what happened.
    let shed = "tocsin_connections_shed_total";
    let by_cap = metric(&http, &server.url, shed, &[MAIN[0], ("reason", "cap")]).await;
    assert!(by_cap > 0.0, "what the cap sheds is counted");
    let by_timeout = metric(&http, &server.url, shed, &[MAIN[0], ("reason", "header_timeout")]).await;
    assert!(by_timeout >= 20.0, "what the header timeout closes is counted: {by_timeout}");
    let log = server.log();
    assert!(log.contains("connection limit reached"), "the cap is logged: {log}");
    assert!(log.lines().filter(|l| l.contains("connection limit reached")).count() <= 3, "rate-limited: {log}");
    drop(server);
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

/// What the health watcher saw of one listener.
#[derive(Default)]
struct Probed {
    answered: usize,
    slowest: Duration,
    failures: Vec<String>,
}

/// What the health watcher saw.
struct Watch {
    /// Per listener, in the order given.
    probed: Vec<Probed>,
    /// Highest resident set size sampled, KiB.
    peak_rss: u64,
}

/// Probes `/healthz` and `/readyz` on each `(url, bound)` and samples the
/// server's memory until `running` turns false. On a thread of its own, so
/// that the load the test generates does not delay the probes it times.
fn watch_health(
    targets: Vec<(String, Duration)>,
    pid: u32,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Watch> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let http = probe_client();
            let mut watch = Watch { probed: targets.iter().map(|_| Probed::default()).collect(), peak_rss: 0 };
            while running.load(Ordering::SeqCst) {
                for ((url, bound), seen) in targets.iter().zip(&mut watch.probed) {
                    for path in ["/healthz", "/readyz"] {
                        match probe_within(&http, url, path, *bound).await {
                            Ok(took) => {
                                seen.answered += 1;
                                seen.slowest = seen.slowest.max(took);
                            }
                            Err(e) => seen.failures.push(e),
                        }
                    }
                }
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1));
                watch.peak_rss = watch.peak_rss.max(rss.and_then(|v| v.parse().ok()).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            watch
        })
    })
}

/// What one kind of flood request looks like.
struct Kind {
    name: &'static str,
    path: String,
    body: axum::body::Bytes,
}

/// A JSON object `value` with a top-level `"padding"` member (which every
/// format ignores) making the body `size` bytes long.
fn padded(mut value: serde_json::Value, size: usize) -> axum::body::Bytes {
    value["padding"] = serde_json::Value::String(String::new());
    let bare = serde_json::to_vec(&value).unwrap().len();
    value["padding"] = serde_json::Value::String("p".repeat(size.saturating_sub(bare)));
    let bytes = serde_json::to_vec(&value).unwrap();
    assert_eq!(bytes.len(), size.max(bare));
    bytes.into()
}

/// Answers seen by the flood, by status; transport errors separately.
#[derive(Default)]
struct Answers {
    by_status: std::collections::BTreeMap<(String, u16), usize>,
    without_retry_after: usize,
    errors: Vec<String>,
}

/// Thousands of large-bodied requests from more clients than the server
/// handles at once, against the real binary under `ulimit -n 1024`: its
/// memory stays bounded, health checks answer within a second throughout,
/// and what it cannot take it answers with 503 (or 429) and `Retry-After`,
/// never with another 5xx or a dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_large_bodies_is_shed_with_bounded_memory() {
    const REQUESTS: usize = 2_400;
    const CLIENTS: usize = 320;
    const AM_SIZE: usize = 2 * 1024 * 1024;
    const PD_SIZE: usize = 480 * 1024;
    /// The bound on the server's resident memory (README, "Overload").
    const RSS_BOUND_MIB: u64 = 256;
    let _alone = ONE_LOAD_AT_A_TIME.lock().await;
    raise_nofile(4 * CLIENTS as u64);
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    // A low ingest rate, so that accepted events are few (each is a commit)
    // and the rate limit's 429 is part of the mix.
    let env = [("TOCSIN_INGEST_RATE", "20".to_string()), ("TOCSIN_HEALTH_LISTEN", "127.0.0.1:0".to_string())];
    let server = Server::spawn(&dir.path().join("data"), pg.as_ref(), &env).await;
    let http = probe_client();
    probe(&http, &server.url, "/readyz").await.unwrap();
    let idle_rss = server.rss_kib();

    let am = String::from_utf8(fixture("alertmanager/webhook-v4-firing.json")).unwrap();
    let am: serde_json::Value = serde_json::from_str(&am).unwrap();
    let kinds = Arc::new(vec![
        Kind {
            name: "alertmanager, known key",
            path: format!("/integrations/alertmanager/{AM_KEY}"),
            body: padded(am.clone(), AM_SIZE),
        },
        Kind {
            name: "alertmanager, unknown key",
            path: "/integrations/alertmanager/no-such-key-0123456789".into(),
            body: padded(am, AM_SIZE),
        },
        Kind {
            name: "pagerduty, known key",
            path: "/v2/enqueue".into(),
            body: padded(pd_trigger(PD_KEY, "flood", "Flood"), PD_SIZE),
        },
        Kind {
            name: "pagerduty, unknown key",
            path: "/v2/enqueue".into(),
            body: padded(pd_trigger("0000000000000000000000000000dead", "flood", "Flood"), PD_SIZE),
        },
    ]);

    let flooding = Arc::new(AtomicBool::new(true));
    let health_url = server.health_url.clone().expect("the health listener is on");
    let targets = vec![(health_url, HEALTH_BOUND), (server.url.clone(), MAIN_HEALTH_BOUND)];
    let watch = watch_health(targets, server.pid(), flooding.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(Mutex::new(Answers::default()));
    let started = Instant::now();
    let senders: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (kinds, next, answers, url) = (kinds.clone(), next.clone(), answers.clone(), server.url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= REQUESTS {
                        return;
                    }
                    let kind = &kinds[i % kinds.len()];
                    let sent = client
                        .post(format!("{url}{}", kind.path))
                        .header("content-type", "application/json")
                        .body(kind.body.clone())
                        .send()
                        .await;
                    let mut answers = answers.lock().unwrap();
                    match sent {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            if matches!(status, 429 | 503) && r.headers().get("retry-after").is_none() {
                                answers.without_retry_after += 1;
                            }
                            *answers.by_status.entry((kind.name.to_string(), status)).or_default() += 1;
                        }
                        Err(e) => answers.errors.push(format!("{}: {e:?}", kind.name)),
                    }
                }
            })
        })
        .collect();
    let flood = tokio::time::timeout(Duration::from_secs(180), async {
        for sender in senders {
            sender.await.unwrap();
        }
    })
    .await;
    let took = started.elapsed();
    flooding.store(false, Ordering::SeqCst);
    let Watch { probed, peak_rss } = tokio::task::spawn_blocking(move || watch.join().unwrap()).await.unwrap();
    let (own, main) = (&probed[0], &probed[1]);
    assert!(flood.is_ok(), "the flood did not finish within 180 s");
    let shed_concurrency = metric(&http, &server.url, "tocsin_requests_shed_total", &[("reason", "concurrency")]).await;
    let shed_budget = metric(&http, &server.url, "tocsin_requests_shed_total", &[("reason", "body_budget")]).await;
    let cap_shed = metric(&http, &server.url, "tocsin_connections_shed_total", &[MAIN[0], ("reason", "cap")]).await;
    let accepted_conns = metric(&http, &server.url, "tocsin_connections_accepted_total", MAIN).await;

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let total: usize = answers.by_status.values().sum();
    let mut table = String::new();
    for ((kind, status), n) in &answers.by_status {
        table.push_str(&format!("  {kind}: {status} × {n}\n"));
    }
    eprintln!(
        "{total} answers and {} errors in {took:.1?} from {CLIENTS} clients:\n{table}\
         shed: {shed_concurrency} for concurrency, {shed_budget} for the byte budget; \
         {accepted_conns} connections accepted, {cap_shed} shed by the cap; \
         RSS idle {} MiB, peak {} MiB; health listener: {} answers, slowest {:?}; \
         main listener: {} answers, slowest {:?}",
        answers.errors.len(),
        idle_rss / 1024,
        peak_rss / 1024,
        own.answered,
        own.slowest,
        main.answered,
        main.slowest,
    );
    assert!(
        answers.errors.is_empty(),
        "dropped instead of answered: {:?}",
        &answers.errors[..answers.errors.len().min(5)]
    );
    assert_eq!(total, REQUESTS);
    assert!(own.failures.is_empty(), "health checks failed during the flood: {:?}", own.failures);
    assert!(main.failures.is_empty(), "health checks on the main listener failed: {:?}", main.failures);
    assert!(own.answered >= 10 && main.answered >= 10, "only {} and {} health answers", own.answered, main.answered);
    assert!(peak_rss / 1024 < RSS_BOUND_MIB, "peak RSS {} MiB, over {RSS_BOUND_MIB} MiB", peak_rss / 1024);
    for ((kind, status), n) in &answers.by_status {
        let expected = match kind.as_str() {
            "alertmanager, known key" => [200, 429, 503].contains(status),
            "pagerduty, known key" => [202, 429, 503].contains(status),
            _ => [404, 503].contains(status),
        };
        assert!(expected, "{kind}: {n} answered {status}");
    }
    assert_eq!(answers.without_retry_after, 0, "every 429 and 503 says when to retry");
    let shed: usize = answers.by_status.iter().filter(|((_, s), _)| *s == 503).map(|(_, n)| n).sum();
    assert!(
        shed > 0 && shed_concurrency + shed_budget >= shed as f64,
        "{shed} answered 503; the metrics count what is shed"
    );
    let accepted: usize = answers.by_status.iter().filter(|((_, s), _)| matches!(s, 200 | 202)).map(|(_, n)| n).sum();
    assert!(accepted > 0, "some of the flood got through");
    let log = server.log();
    let reports = log.lines().filter(|l| l.contains("shedding requests")).count();
    assert!(reports >= 1, "shedding is logged: {log}");
    assert!(reports as f64 <= 1.0 + took.as_secs_f64() / 10.0, "at most once per 10 s: {log}");
    drop(server);
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

/// Reads from `stream` until the server closes it; what it sent, and how
/// long after `since` it closed (`None` if still open after `within`).
async fn read_until_closed(stream: &mut TcpStream, since: Instant, within: Duration) -> (String, Option<Duration>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(within, async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    (String::from_utf8_lossy(&seen).into_owned(), closed.ok().map(|()| since.elapsed()))
}

/// Every request slot taken by bodies that never finish: the next request
/// is answered 503 with `Retry-After` at once, health checks still answer,
/// the stalled bodies get 408 when their deadline passes, and then the
/// server takes requests again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_limit_get_503_and_stalled_bodies_408() {
    const SLOTS: usize = 3;
    const BODY_TIMEOUT: Duration = Duration::from_secs(1);
    let overload = OverloadLimits { max_requests: SLOTS, body_timeout: BODY_TIMEOUT, ..OverloadLimits::default() };
    let s = TestServer::start_with(Options { overload, ..Options::default() }).await;
    let http = reqwest::Client::new();
    let url = s.url.clone();
    let shed = |reason| {
        let (http, url) = (http.clone(), url.clone());
        async move { metric(&http, &url, "tocsin_requests_shed_total", &[("reason", reason)]).await }
    };
    let (shed_before, timed_out_before) = (shed("concurrency").await, shed("body_timeout").await);

    let path = format!("/integrations/generic/{GENERIC_KEY}");
    let mut stalled = Vec::new();
    for _ in 0..SLOTS {
        let mut stream = TcpStream::connect(s.addr()).await.unwrap();
        let head =
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");
        stream.write_all(format!("{head}{{\"summary\": ").as_bytes()).await.unwrap();
        stalled.push((stream, Instant::now()));
    }
    let in_flight = Instant::now();
    while metric(&http, &s.url, "tocsin_requests_in_flight", &[]).await < SLOTS as f64 {
        assert!(in_flight.elapsed() < Duration::from_secs(5), "the stalled requests never got their slots");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let event = body(&json!({"summary": "one too many", "severity": "critical"}));
    let r = http.post(format!("{}{path}", s.url)).body(event.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "overloaded", "{v}");
    let r = http.get(format!("{}/api/v1/incidents", s.url)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503, "the API shares the limit");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path} is outside the limit");
    }
    assert!(shed("concurrency").await >= shed_before + 2.0);

    for (mut stream, since) in stalled {
        let (answer, closed) = read_until_closed(&mut stream, since, BODY_TIMEOUT * 3).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
        let closed = closed.expect("closed after the 408");
        assert!(closed >= BODY_TIMEOUT - Duration::from_millis(50), "answered after {closed:?}");
    }
    assert!(shed("body_timeout").await >= timed_out_before + SLOTS as f64);
    let r = http.post(format!("{}{path}", s.url)).body(event).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202, "slots are free again");
    s.stop().await;
}

/// The byte budget is charged only by bodies that are read: a request to an
/// unknown key is answered 404 whatever its body, before reading it, and a
/// PagerDuty body naming an unknown routing key is not parsed (an invalid
/// one gets 404, not 400). A known key's body that the budget cannot hold
/// gets 503, an oversized one still 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_cost_no_parse_and_no_budget() {
    const BUDGET: usize = 64 * 1024;
    let overload = OverloadLimits { body_budget: BUDGET, ..OverloadLimits::default() };
    let s = TestServer::start_with(Options { overload, ..Options::default() }).await;
    let big = vec![b'x'; BUDGET + 1];

    let (status, v) = s.post("/integrations/alertmanager/no-such-key-0123456789", big.clone()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (404, Some("unknown_integration")), "{v}");
    let (status, _) = s.post("/integrations/generic/no-such-key-0123456789", b"not even JSON".to_vec()).await;
    assert_eq!(status, 404);
    let (status, v) = s.post(&format!("/integrations/alertmanager/{AM_KEY}"), big.clone()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (503, Some("overloaded")), "{v}");
    let (status, v) = s.post(&format!("/integrations/generic/{GENERIC_KEY}"), vec![b' '; 256 * 1024 + 1]).await;
    assert_eq!((status, v["error"]["code"].as_str()), (413, Some("payload_too_large")), "{v}");

    // An event no parse would accept (no event_action), for an unknown key.
    let unparsable = body(&json!({"routing_key": "ffffffffffffffffffffffffffffffff", "payload": 7}));
    let (status, v) = s.post("/v2/enqueue", unparsable).await;
    assert_eq!(status, 404, "the key is checked before the parse: {v}");
    assert_eq!(v["message"], "Invalid routing key", "{v}");
    let (status, v) = s.post("/v2/enqueue", body(&json!({"routing_key": PD_KEY, "payload": 7}))).await;
    assert_eq!(status, 400, "a known key's event is still parsed and checked: {v}");
    let (status, _) = s.post("/v2/enqueue", vec![b' '; 512 * 1024 + 1]).await;
    assert_eq!(status, 413);

    // The unread body is read and dropped after the answer, so the
    // connection carries the next request.
    let mut stream = TcpStream::connect(s.addr()).await.unwrap();
    let unread = format!(
        "POST /integrations/generic/no-such-key-0123456789 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}",
        BUDGET * 2,
        "x".repeat(BUDGET * 2)
    );
    stream.write_all(unread.as_bytes()).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("\"status\":\"ok\"") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed after: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 404"), "{seen}");
    assert!(!seen.to_ascii_lowercase().contains("connection: close"), "{seen}");
    assert_eq!(seen.matches("HTTP/1.1 200").count(), 1, "{seen}");
    s.stop().await;
}

/// A kept-alive connection is closed after the idle timeout; a request that
/// starts on it and stalls gets the header timeout from its first byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_after_the_idle_timeout_and_stalled_heads_after_the_header_timeout() {
    const HEADER: Duration = Duration::from_secs(1);
    const IDLE: Duration = Duration::from_secs(2);
    let connections = ConnectionLimits { header_timeout: HEADER, idle_timeout: IDLE, ..ConnectionLimits::default() };
    let s = TestServer::start_with(Options { connections, ..Options::default() }).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    // One request answered, then nothing: closed after the idle timeout.
    let mut kept = TcpStream::connect(s.addr()).await.unwrap();
    kept.write_all(request).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (_, closed) = read_until_closed(&mut kept, Instant::now(), IDLE * 3).await;
    let closed = closed.expect("the idle connection is closed");
    assert!(closed >= IDLE - Duration::from_millis(50) && closed <= IDLE + Duration::from_millis(700), "{closed:?}");

    // Another request starts after a while and stalls: its head has the header timeout.
    let mut stalled = TcpStream::connect(s.addr()).await.unwrap();
    stalled.write_all(request).await.unwrap();
    let n = stalled.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    tokio::time::sleep(HEADER / 2).await; // idle, well within the idle timeout
    stalled.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let (_, closed) = read_until_closed(&mut stalled, Instant::now(), IDLE * 3).await;
    let closed = closed.expect("the stalled head is closed");
    assert!(
        closed >= HEADER - Duration::from_millis(50) && closed <= HEADER + Duration::from_millis(700),
        "{closed:?}"
    );
    s.stop().await;
}

/// Over TLS: connections that never finish their handshake are closed
/// after the header timeout, the cap holds, and HTTPS health checks and
/// ingestion get through while the cap is full of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tls_handshakes_are_shed_and_closed() {
    const CAP: usize = 16;
    const HEADER: Duration = Duration::from_secs(1);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_certificate(dir.path());
    let connections = ConnectionLimits { max_connections: CAP, header_timeout: HEADER, ..ConnectionLimits::default() };
    let s = TestServer::start_with(Options { connections, tls: Some((cert.clone(), key)), ..Options::default() }).await;
    assert!(s.url.starts_with("https://"));
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let https = reqwest::Client::builder().add_root_certificate(root).pool_max_idle_per_host(0).build().unwrap();
    let url = format!("https://localhost:{}", s.addr().port());

    // Three times the cap: nothing, or the first bytes of a ClientHello.
    let mut stalled = Vec::new();
    for i in 0..3 * CAP {
        let mut stream = TcpStream::connect(s.addr()).await.unwrap();
        if i % 2 == 0 {
            stream.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();
        }
        stalled.push((stream, Instant::now()));
    }
    for _ in 0..3 {
        for path in ["/healthz", "/readyz"] {
            let took = probe(&https, &url, path).await.unwrap();
            assert!(took < HEALTH_BOUND);
        }
    }
    let r = https.post(format!("{url}/v2/enqueue")).json(&pd_trigger(PD_KEY, "tls-cap", "over TLS")).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 202);
    for (mut stream, since) in stalled {
        let (_, closed) = read_until_closed(&mut stream, since, HEADER * 4).await;
        let closed = closed.expect("a stalled handshake is closed");
        assert!(closed <= HEADER + Duration::from_millis(700), "closed after {closed:?}");
    }
    s.stop().await;
}
