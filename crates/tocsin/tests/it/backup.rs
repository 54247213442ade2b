//! `tocsin backup` and `tocsin db stats` beside a real server under load:
//! the copy holds every event acknowledged before it started, and a server
//! started on it serves them.

use crate::crash::{Load, spawn_binary, start_load, stop_load, stored_keys, wait_for_acks};
use crate::harness::*;
use std::path::Path;
use std::process::Output;

/// Runs the real binary with `args` (no server URL or token involved).
async fn tocsin(args: &[&str], data_dir: &Path, pg: Option<&PgDb>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args).arg("--data-dir").arg(data_dir).env_remove("TOCSIN_DATABASE_URL");
    if let Some(pg) = pg {
        cmd.arg("--database-url").arg(&pg.url);
    }
    cmd.output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let data = dir.path().join("data");
    let mut server = spawn_binary(&data, pg.as_ref()).await;
    let Load { acked, progress, tasks } = start_load(&server.url, 8);
    wait_for_acks(&acked, &progress, 300).await;

    // `db stats` reads the live database beside the server.
    let acked_so_far = acked.lock().unwrap().len();
    let stats = tocsin(&["db", "stats"], &data, pg.as_ref()).await;
    assert!(stats.status.success(), "{}", text(&stats.stderr));
    let stats = text(&stats.stdout);
    let backend = if pg.is_some() { "postgres" } else { "sqlite" };
    assert!(stats.starts_with(&format!("backend: {backend}\nsize: ")), "{stats}");
    let alerts: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("alerts "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no alerts row in:\n{stats}"));
    assert!(alerts >= acked_so_far as u64, "{alerts} alerts listed, {acked_so_far} acknowledged before");

    let copy = dir.path().join("backups").join("tocsin-copy.db");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let copy_arg = copy.to_str().unwrap();
    if let Some(pg) = &pg {
        // PostgreSQL has its own tools; the command says which and fails.
        let out = tocsin(&["backup", copy_arg], &data, Some(pg)).await;
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("pg_dump"), "{}", text(&out.stderr));
        assert!(!copy.exists());
        server.child.start_kill().unwrap();
        stop_load(tasks).await;
        pg.drop_db().await;
        return;
    }

    // Everything answered 2xx so far must be in the copy.
    let before = acked.lock().unwrap().clone();
    let started = std::time::Instant::now();
    let out = tocsin(&["backup", copy_arg], &data, None).await;
    let took = started.elapsed();
    let during = acked.lock().unwrap().len() - before.len();
    assert!(out.status.success(), "backup failed: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("written to"), "{}", text(&out.stdout));
    println!("backup took {took:?}; {during} events were acknowledged while it ran");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the copy is readable by its owner only");
    }
    let leftovers: Vec<_> =
        std::fs::read_dir(copy.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind: {leftovers:?}");

    // An existing file is kept unless --force says otherwise.
    let first = std::fs::read(&copy).unwrap();
    let again = tocsin(&["backup", copy_arg], &data, None).await;
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("--force"), "{}", text(&again.stderr));
    assert_eq!(std::fs::read(&copy).unwrap(), first, "the refused backup left the file alone");

    // Load goes on after the copy; then the server goes away.
    let seen = acked.lock().unwrap().len();
    wait_for_acks(&acked, &progress, seen + 50).await;
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    stop_load(tasks).await;

    // Restore as the README says: the copy becomes tocsin.db of a data directory.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&restored, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::copy(&copy, restored.join("tocsin.db")).unwrap();
    let server = spawn_binary(&restored, None).await;
    let stored = stored_keys(&server.url).await;
    let missing: Vec<&String> = before.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events acknowledged before the backup are missing, e.g. {:?}",
        missing.len(),
        before.len(),
        &missing[..missing.len().min(5)]
    );
    println!("restored copy holds {} alerts; {} were acknowledged before the backup", stored.len(), before.len());

    // --force replaces the copy with a newer one, from the restored database.
    let forced = tocsin(&["backup", "--force", copy_arg], &restored, None).await;
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    drop(server);
}
