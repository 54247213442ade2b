//! Database faults and supervised work: while the database cannot be used,
//! ingestion answers 503 with `Retry-After` (never a 4xx), `/readyz` answers
//! 503 naming the failing part and `/metrics` counts it; once the database
//! is back, ingestion works again within 5 s without a restart, and every
//! event answered 2xx before is still there. Each test prints its recovery
//! time.
//!
//! SQLite faults need root, as in CI: a small tmpfs for the full disk, and
//! an ext4 loop mount for a file made unwritable (`chattr +i`, which binds
//! root too, and back) and for a file system the kernel turned read-only
//! (which only an unmount undoes, so that case checks the 503s and that
//! nothing acknowledged was lost, not recovery). PostgreSQL faults run when
//! `TOCSIN_TEST_PG_URL` is set, the restart on a private cluster that the
//! test starts and stops itself.

use crate::harness::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tocsin::serve::{Running, ServeConfig, start};

/// The fault tests share mounts, process-wide metrics and, for the restart,
/// the machine's cores with a whole PostgreSQL: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How soon ingestion must work again once the database is usable.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

fn serve_config(data_dir: PathBuf, database_url: Option<String>, run_engine: bool) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".into(),
        health_listen: None,
        data_dir,
        config: Some(example_config()),
        database_url,
        tls: None,
        admin_token: Some(ADMIN.into()),
        admin_password: None,
        sessions: Default::default(),
        secret_key: None,
        limits: Default::default(),
        connections: Default::default(),
        overload: Default::default(),
        clock: Arc::new(tocsin_core::clock::SystemClock),
        run_engine,
        engine_lease: tocsin::serve::DEFAULT_ENGINE_LEASE,
    }
}

/// A server under test and the database it writes, for direct checks.
struct Server {
    running: Running,
    url: String,
    database: String,
    http: reqwest::Client,
    acked: BTreeSet<String>,
}

impl Server {
    async fn start(cfg: ServeConfig) -> Server {
        let database = match &cfg.database_url {
            Some(url) => url.clone(),
            None => cfg.data_dir.join(tocsin::serve::SQLITE_FILE).display().to_string(),
        };
        let running = start(cfg).await.unwrap();
        let url = format!("http://{}", running.addr);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Server { running, url, database, http, acked: BTreeSet::new() }
    }

    /// Sends one PagerDuty trigger with `key`; its status and `Retry-After`.
    /// A 202 is remembered: that event must survive whatever comes next.
    /// A server on SQLite in `dir` that has acknowledged 20 events, and
    /// its count of write errors so far.
    async fn on_sqlite_with_events(dir: &Path) -> (Server, f64) {
        let mut s = Server::start(serve_config(dir.join("data"), None, false)).await;
        for i in 0..20 {
            assert_eq!(s.send(PD_KEY, &format!("before-{i}")).await.0, 202);
        }
        let errors = s.metric("tocsin_database_errors_total{op=\"write\"}").await;
        (s, errors)
    }

    async fn send(&mut self, routing_key: &str, dedup: &str) -> (u16, Option<String>) {
        let body = json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": format!("fault test {dedup}"),
                "source": "db-1",
                "severity": "critical",
                // Room enough that a few commits need new pages of the WAL.
                "custom_details": {"padding": "x".repeat(16 * 1024)},
            }
        });
        let r = self.http.post(format!("{}/v2/enqueue", self.url)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        if status == 202 {
            self.acked.insert(dedup.to_string());
        }
        (status, retry)
    }

    /// Sends until one is refused with 503 (at most `max`); every answer
    /// before it must be a 202.
    async fn send_until_refused(&mut self, prefix: &str, max: usize) {
        for i in 0..max {
            let (status, retry) = self.send(PD_KEY, &format!("{prefix}-{i}")).await;
            match status {
                202 => continue,
                503 => {
                    assert_eq!(retry.as_deref(), Some("1"), "a 503 says when to retry");
                    return;
                }
                other => panic!("ingestion answered {other} during the fault; only 202 or 503 are acceptable"),
            }
        }
        panic!("{max} events were all accepted: the fault never reached ingestion");
    }

    /// Sends until one is accepted, each refusal a 503 with `Retry-After`;
    /// returns how long that took. Fails after [`RECOVERY_BOUND`].
    async fn until_accepted(&mut self, prefix: &str) -> Duration {
        let started = Instant::now();
        for i in 0.. {
            let (status, retry) = self.send(PD_KEY, &format!("{prefix}-{i}")).await;
            match status {
                202 => return started.elapsed(),
                503 => assert_eq!(retry.as_deref(), Some("1"), "a 503 says when to retry"),
                other => panic!("ingestion answered {other} while recovering; only 202 or 503 are acceptable"),
            }
            assert!(
                started.elapsed() < RECOVERY_BOUND,
                "ingestion still refused {:?} after the database came back",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        unreachable!()
    }

    async fn readyz(&self) -> (u16, Value) {
        let r = self.http.get(format!("{}/readyz", self.url)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Polls `/readyz` until it answers `status` (within 10 s).
    async fn readyz_until(&self, status: u16) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (got, body) = self.readyz().await;
            if got == status {
                return body;
            }
            assert!(Instant::now() < deadline, "/readyz still answers {got}: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of one sample on `/metrics` (0 when absent).
    async fn metric(&self, sample: &str) -> f64 {
        let text = self.http.get(format!("{}/metrics", self.url)).send().await.unwrap().text().await.unwrap();
        text.lines().find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
    }

    /// Every event answered 202 is stored, read straight from the database.
    async fn assert_nothing_acked_was_lost(&self) {
        let stored = stored_keys(&self.database).await;
        let missing: Vec<&String> = self.acked.difference(&stored).collect();
        assert!(missing.is_empty(), "{} acknowledged events are missing: {missing:?}", missing.len());
    }

    async fn stop(self) {
        self.running.shutdown().await.unwrap();
    }
}

async fn stored_keys(database: &str) -> BTreeSet<String> {
    use sqlx::Connection;
    let query = "SELECT dedup_key FROM alerts";
    let keys: Vec<String> = if database.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
        sqlx::query_scalar(query).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{database}?mode=ro")).await.unwrap();
        sqlx::query_scalar(query).fetch_all(&mut conn).await.unwrap()
    };
    keys.into_iter().collect()
}

fn assert_names_failing(body: &Value, part: &str) {
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"][part]["ok"], false, "{part} must be named failing: {body}");
    assert!(body["checks"][part]["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
}

// ---------------------------------------------------------------------------
// SQLite: a full disk

/// A small tmpfs mounted for one test, unmounted when dropped (also when the
/// test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount(8) is needed to make a small file system to fill");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs to fill ({}); the disk-full test needs root (CAP_SYS_ADMIN), as in CI",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the server under test may still hold files open.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Writes a file until the file system is full; returns it.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_with_the_disk_full_answers_503_and_recovers_when_space_returns() {
    let _serial = SERIAL.lock().await;
    let disk = Tmpfs::mount("16m");
    let (mut s, errors_before) = Server::on_sqlite_with_events(disk.path()).await;

    let filler = fill(disk.path());
    s.send_until_refused("full", 500).await;
    let body = s.readyz_until(503).await;
    assert_names_failing(&body, "database_write");
    assert!(body["checks"]["database_write"]["error"].as_str().unwrap().contains("full"), "{body}");
    assert_eq!(body["checks"]["database_read"]["ok"], true, "reads still work: {body}");
    assert!(s.metric("tocsin_database_errors_total{op=\"write\"}").await > errors_before);
    // An API write fails the same way: 503, not 4xx.
    let r = s
        .http
        .post(format!("{}/api/v1/tokens", s.url))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "during-fault", "role": "viewer", "user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503, "{}", r.text().await.unwrap());

    std::fs::remove_file(filler).unwrap();
    let recovered = s.until_accepted("after").await;
    println!("recovery: SQLite disk full: ingestion accepted again {} ms after space returned", recovered.as_millis());
    let body = s.readyz_until(200).await;
    assert_eq!(body["checks"]["database_write"]["ok"], true, "{body}");
    s.assert_nothing_acked_was_lost().await;
    s.stop().await;
}

/// A small ext4 file system on a loop device, mounted with
/// `errors=remount-ro`: an error makes the kernel turn it read-only under
/// the files already open for writing, which is how a Linux file system
/// becomes unwritable beneath a running process (`mount -o remount,ro` is
/// refused while files are open for writing, and chmod does not bind root).
/// Unmounted when dropped.
struct Ext4 {
    dir: tempfile::TempDir,
}

impl Ext4 {
    fn mount(size: &str) -> Ext4 {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image");
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let run = |program: &str, args: &[&std::ffi::OsStr]| {
            let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
            assert!(
                out.status.success(),
                "{program} failed ({}); the read-only test needs root and loop devices, as in CI",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        };
        run("truncate", &["-s".as_ref(), size.as_ref(), image.as_os_str()]);
        run("mkfs.ext4", &["-q".as_ref(), "-O".as_ref(), "^has_journal".as_ref(), "-F".as_ref(), image.as_os_str()]);
        let mnt = dir.path().join("mnt");
        run("mount", &["-o".as_ref(), "loop,errors=remount-ro".as_ref(), image.as_os_str(), mnt.as_os_str()]);
        Ext4 { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// Reports an error to ext4 (its `trigger_fs_error` knob), which turns
    /// the file system read-only at once.
    fn fail_read_only(&self) {
        let out = Command::new("findmnt").args(["-n", "-o", "SOURCE"]).arg(self.path()).output().unwrap();
        let device = String::from_utf8(out.stdout).unwrap();
        let device = device.trim().rsplit('/').next().unwrap().to_string();
        std::fs::write(format!("/sys/fs/ext4/{device}/trigger_fs_error"), "tocsin fault test").unwrap();
        assert!(std::fs::write(self.path().join("probe"), "x").is_err(), "the file system is still writable");
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_file_system_turned_read_only_answers_503() {
    let _serial = SERIAL.lock().await;
    let disk = Ext4::mount("32M");
    let (mut s, errors_before) = Server::on_sqlite_with_events(&disk.path()).await;

    disk.fail_read_only();
    s.send_until_refused("read-only", 50).await;
    let body = s.readyz_until(503).await;
    assert_names_failing(&body, "database_write");
    assert!(s.metric("tocsin_database_errors_total{op=\"write\"}").await > errors_before);
    let (status, _) = s.send(SEARCH_PD_KEY, "search-during").await;
    assert_eq!(status, 503);

    // The kernel keeps an ext4 that failed read-only until it is unmounted
    // and checked, which needs Tocsin stopped: recovery here is a restart.
    // What was acknowledged is in the files, read from a copy.
    let database = PathBuf::from(&s.database);
    s.running.shutdown().await.unwrap();
    let copy = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", database.display()));
        if from.exists() {
            std::fs::copy(&from, copy.path().join(format!("tocsin.db{suffix}"))).unwrap();
        }
    }
    let stored = stored_keys(&copy.path().join("tocsin.db").display().to_string()).await;
    let missing: Vec<&String> = s.acked.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged events are missing: {missing:?}");
}

/// Sets or clears the immutable attribute of the database and its `-wal`
/// and `-shm` files: writes through handles already open fail with EPERM,
/// root's included (unlike a mode change), and clearing it makes them
/// writable again without reopening anything.
fn set_immutable(database: &Path, on: bool) {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", database.display()));
        if !file.exists() {
            continue;
        }
        let out = Command::new("chattr").arg(if on { "+i" } else { "-i" }).arg(&file).output().expect("chattr");
        assert!(
            out.status.success(),
            "chattr failed ({}); the unwritable-file test needs root and an ext4 loop mount, as in CI",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_with_its_file_unwritable_answers_503_and_recovers_when_writable_again() {
    let _serial = SERIAL.lock().await;
    let disk = Ext4::mount("32M");
    let (mut s, errors_before) = Server::on_sqlite_with_events(&disk.path()).await;
    let database = PathBuf::from(&s.database);

    set_immutable(&database, true);
    // Cleared again whatever the outcome, or the mount could not be removed.
    struct Writable(PathBuf);
    impl Drop for Writable {
        fn drop(&mut self) {
            set_immutable(&self.0, false);
        }
    }
    let guard = Writable(database.clone());
    s.send_until_refused("unwritable", 50).await;
    let body = s.readyz_until(503).await;
    assert_names_failing(&body, "database_write");
    assert_eq!(body["checks"]["database_read"]["ok"], true, "reads still work: {body}");
    assert!(s.metric("tocsin_database_errors_total{op=\"write\"}").await > errors_before);

    drop(guard);
    let recovered = s.until_accepted("writable").await;
    println!(
        "recovery: SQLite file unwritable: ingestion accepted again {} ms after it was writable",
        recovered.as_millis()
    );
    let body = s.readyz_until(200).await;
    assert_eq!(body["checks"]["database_write"]["ok"], true, "{body}");
    s.assert_nothing_acked_was_lost().await;
    s.stop().await;
}

/// Each read-write handle this process has open on `file` (read-only
/// handles are reads, not writers).
fn write_handles(file: &Path) -> usize {
    let file = std::fs::canonicalize(file).unwrap();
    let mut writers = 0;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else { continue };
        if target != file {
            continue;
        }
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy()))
            .unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .unwrap_or(0);
        if flags & 0o3 != 0 {
            writers += 1;
        }
    }
    writers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_has_exactly_one_write_connection_under_mixed_writes() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(serve_config(dir.path().join("data"), None, true)).await;
    let file = PathBuf::from(&s.database);
    // The write connection and the checkpointer's, which copies the log into
    // the file but never writes a transaction.
    let idle = write_handles(&file);
    assert_eq!(idle, 2, "the write connection and the checkpointer's are open: {idle} read-write handles");
    let (url, http) = (s.url.clone(), s.http.clone());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (file, stop) = (file.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let mut most = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(write_handles(&file));
                std::thread::sleep(Duration::from_millis(1));
            }
            most
        })
    };
    let mut load = Vec::new();
    for w in 0..6 {
        let (url, http) = (url.clone(), http.clone());
        load.push(tokio::spawn(async move {
            for i in 0..40 {
                let r = http
                    .post(format!("{url}/v2/enqueue"))
                    .json(&pd_trigger(PD_KEY, &format!("mixed-{w}-{i}"), "mixed"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 202);
            }
        }));
    }
    for w in 0..2 {
        let (url, http) = (url.clone(), http.clone());
        load.push(tokio::spawn(async move {
            for i in 0..15 {
                let r = http
                    .post(format!("{url}/api/v1/tokens"))
                    .bearer_auth(ADMIN)
                    .json(&json!({"name": format!("mixed-{w}-{i}"), "role": "viewer", "user": "alice"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
            }
        }));
    }
    for task in load {
        task.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.await.unwrap();
    assert_eq!(
        most, 2,
        "SQLite must have exactly one write connection (and the checkpointer's); saw {most} read-write handles at once"
    );
    s.stop().await;
}

// ---------------------------------------------------------------------------
// PostgreSQL

fn pg_admin_url() -> Option<String> {
    std::env::var("TOCSIN_TEST_PG_URL").ok().filter(|u| !u.is_empty())
}

async fn pg_admin(sql: String) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg_admin_url().unwrap()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
}

async fn terminate_backends(db: &str) {
    pg_admin(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_terminated_are_replaced() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = PgDb::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(serve_config(dir.path().join("data"), Some(pg.url.clone()), true)).await;
    for i in 0..20 {
        assert_eq!(s.send(PD_KEY, &format!("before-{i}")).await.0, 202);
    }
    terminate_backends(&pg.name).await;
    let recovered = s.until_accepted("after").await;
    println!("recovery: PostgreSQL backends terminated: ingestion accepted {} ms after", recovered.as_millis());
    // The search service's key was never looked up: its lookup reads too.
    terminate_backends(&pg.name).await;
    assert_eq!(s.send(SEARCH_PD_KEY, "search-after").await.0, 202);
    s.readyz_until(200).await;
    s.assert_nothing_acked_was_lost().await;
    s.stop().await;
    pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_connections_answers_503_and_recovers() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = PgDb::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(serve_config(dir.path().join("data"), Some(pg.url.clone()), true)).await;
    for i in 0..20 {
        assert_eq!(s.send(PD_KEY, &format!("before-{i}")).await.0, 202);
    }
    let errors_before = s.metric("tocsin_database_errors_total{op=\"request\"}").await;

    pg_admin(format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", pg.name)).await;
    terminate_backends(&pg.name).await;
    let refused_at = Instant::now();
    s.send_until_refused("refused", 50).await;
    println!("PostgreSQL refusing connections: first 503 after {} ms", refused_at.elapsed().as_millis());
    // A key never seen before needs a lookup: 503 too, never 404.
    let (status, retry) = s.send(SEARCH_PD_KEY, "search-during").await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")), "the key lookup must not answer 4xx");
    let answered = Instant::now();
    let body = s.readyz_until(503).await;
    assert!(answered.elapsed() < Duration::from_secs(5), "/readyz took {:?}", answered.elapsed());
    assert_names_failing(&body, "database_read");
    assert_names_failing(&body, "database_write");
    assert!(s.metric("tocsin_database_errors_total{op=\"request\"}").await > errors_before);

    pg_admin(format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", pg.name)).await;
    let recovered = s.until_accepted("after").await;
    println!(
        "recovery: PostgreSQL refusing connections: ingestion accepted {} ms after it allowed them",
        recovered.as_millis()
    );
    assert_eq!(s.send(SEARCH_PD_KEY, "search-after").await.0, 202);
    s.readyz_until(200).await;
    s.assert_nothing_acked_was_lost().await;
    s.stop().await;
    pg.drop_db().await;
}

/// A PostgreSQL cluster of the test's own (initdb in a temp dir, a free
/// port), so that restarting it disturbs nobody. Stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

/// The newest installed PostgreSQL's programs (Debian's layout).
fn pg_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's programs (initdb, pg_ctl) are needed in /usr/lib/postgresql/<version>/bin")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("no /usr/lib/postgresql/<version>/bin/initdb").1
}

fn as_postgres(program: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(pg_bin().join(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} as the postgres user: {e}"))
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        assert!(Command::new("chown").args(["postgres:"]).arg(dir.path()).status().unwrap().success());
        let data = dir.path().join("data").display().to_string();
        let init = as_postgres("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Cluster { dir, port };
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    fn pg_ctl_start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        let out = as_postgres("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "start"]);
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn pg_ctl_stop(&self, mode: &str) {
        let out = as_postgres("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_answers_503_meanwhile_and_recovers() {
    let _serial = SERIAL.lock().await;
    if pg_admin_url().is_none() {
        return;
    }
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(serve_config(dir.path().join("data"), Some(cluster.url()), true)).await;
    for i in 0..20 {
        assert_eq!(s.send(PD_KEY, &format!("before-{i}")).await.0, 202);
    }

    cluster.pg_ctl_stop("fast");
    let asked = Instant::now();
    let (status, retry) = s.send(PD_KEY, "while-down").await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    assert!(asked.elapsed() < Duration::from_secs(5), "a 503 must come quickly, took {:?}", asked.elapsed());
    let body = s.readyz_until(503).await;
    assert_names_failing(&body, "database_read");
    assert_names_failing(&body, "database_write");

    cluster.pg_ctl_start();
    let recovered = s.until_accepted("after").await;
    println!(
        "recovery: PostgreSQL restarted: ingestion accepted {} ms after it accepted connections",
        recovered.as_millis()
    );
    s.readyz_until(200).await;
    s.assert_nothing_acked_was_lost().await;
    s.stop().await;
}

// ---------------------------------------------------------------------------
// Supervision

/// Whether the engine has started escalating the incident of the alert
/// with `dedup_key`.
async fn escalated(database: &str, dedup_key: &str) -> bool {
    use sqlx::Connection;
    let query =
        "SELECT COUNT(*) FROM escalations e JOIN alerts a ON a.incident_id = e.incident_id WHERE a.dedup_key = $1";
    let n: i64 = if database.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
        sqlx::query_scalar(query).bind(dedup_key).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{database}?mode=ro")).await.unwrap();
        sqlx::query_scalar(query).bind(dedup_key).fetch_one(&mut conn).await.unwrap()
    };
    n > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_ingest_writer_and_engine_are_restarted() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let mut s = Server::start(serve_config(dir.path().join("data"), pg.as_ref().map(|p| p.url.clone()), true)).await;
    assert_eq!(s.send(PD_KEY, "before").await.0, 202);

    // The group-commit writer panics in the middle of a commit.
    let writer_restarts = s.metric("tocsin_task_restarts_total{task=\"ingest_writer\"}").await;
    s.running.store.faults().panic_next_ingest_commit();
    let (status, retry) = s.send(PD_KEY, "interrupted").await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")), "the commit under way is answered 503");
    let recovered = s.until_accepted("after-writer-panic").await;
    println!("recovery: ingest writer panic: ingestion accepted {} ms after the 503", recovered.as_millis());
    assert_eq!(s.metric("tocsin_task_restarts_total{task=\"ingest_writer\"}").await, writer_restarts + 1.0);
    let body = s.readyz_until(200).await;
    assert_eq!(body["checks"]["ingest_writer"]["ok"], true, "{body}");

    // The engine panics at its next claim; the restarted engine pages.
    let engine_restarts = s.metric("tocsin_task_restarts_total{task=\"engine\"}").await;
    s.running.store.faults().panic_next_outbox_claim();
    let sent = Instant::now();
    assert_eq!(s.send(PD_KEY, "paged-after-engine-panic").await.0, 202);
    while !escalated(&s.database, "paged-after-engine-panic").await {
        assert!(sent.elapsed() < Duration::from_secs(10), "the engine never escalated after its panic");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("recovery: engine panic: incident escalated {} ms after the alert", sent.elapsed().as_millis());
    assert_eq!(s.metric("tocsin_task_restarts_total{task=\"engine\"}").await, engine_restarts + 1.0);
    let body = s.readyz_until(200).await;
    assert_eq!(body["checks"]["engine"]["ok"], true, "{body}");

    s.assert_nothing_acked_was_lost().await;
    s.stop().await;
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}
