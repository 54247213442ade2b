//! Local commands on the database itself, run on the server's host beside
//! a running server: `db stats` reads it without writing, `backup` makes a
//! consistent copy of the embedded SQLite database while the server goes on
//! writing. Neither talks to the API: they open the database the way
//! `serve` does (`--data-dir` or `--database-url`).

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tocsin_store::{DbStats, Location};

use super::table::Table;
use tocsin::serve::SQLITE_FILE;

/// What `serve` would open: the URL, or the file in the data directory.
fn target(database_url: Option<&str>, data_dir: &Path) -> String {
    match database_url {
        Some(url) => url.to_string(),
        None => data_dir.join(SQLITE_FILE).to_string_lossy().into_owned(),
    }
}

pub async fn run_db_stats(database_url: Option<&str>, data_dir: &Path) -> Result<()> {
    let target = target(database_url, data_dir);
    let location = Location::parse(&target).context("--database-url")?;
    let stats = tocsin_store::stats(&target).await.with_context(|| format!("cannot read {location}"))?;
    print!("{}", render_stats(&stats));
    Ok(())
}

/// `1.5 MiB`: a size for people.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn render_stats(stats: &DbStats) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "backend: {}", stats.backend);
    let _ = match stats.free_bytes {
        Some(free) => writeln!(out, "size: {} in use, {} free inside the file", human(stats.used_bytes), human(free)),
        None => writeln!(out, "size: {}", human(stats.used_bytes)),
    };
    let mut table = Table::new(["TABLE", "ROWS", "SIZE"]);
    for t in &stats.tables {
        table.row([t.name.clone(), t.rows.to_string(), t.bytes.map_or_else(|| "-".to_string(), human)]);
    }
    out.push_str(&table.render());
    out
}

/// How restoring a PostgreSQL database works instead.
const PG_BACKUP: &str = "`tocsin backup` copies the embedded SQLite database; for PostgreSQL use its own tools: \
     `pg_dump --format=custom --file=tocsin.dump \"$TOCSIN_DATABASE_URL\"` while the servers run, and \
     `pg_restore --dbname=... tocsin.dump` into an empty database to restore (see README, Backups)";

pub async fn run_backup(database_url: Option<&str>, data_dir: &Path, file: &Path, force: bool) -> Result<()> {
    let target = target(database_url, data_dir);
    let db = match Location::parse(&target).context("--database-url")? {
        Location::Postgres(_) => bail!("{PG_BACKUP}"),
        Location::Sqlite(path) => path,
    };
    if !force && file.exists() {
        bail!("{} exists; pass --force to replace it", file.display());
    }
    let temp = temp_beside(file)?;
    let copied: Result<()> = async {
        tocsin_store::sqlite::backup(&db, &temp)
            .await
            .with_context(|| format!("cannot copy the SQLite database {}", db.display()))?;
        std::fs::File::open(&temp).and_then(|f| f.sync_all()).context("cannot flush the copy to disk")?;
        put_in_place(&temp, file, force)
    }
    .await;
    if copied.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    copied?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!("backup of {} written to {} ({})", db.display(), file.display(), human(size));
    Ok(())
}

/// An empty file beside `file` (so the final rename stays on one file
/// system), readable by its owner only, like the database itself.
fn temp_beside(file: &Path) -> Result<PathBuf> {
    let name = file.file_name().with_context(|| format!("{} names no file", file.display()))?;
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // A leftover of an earlier run of this very process id is ours to replace.
    let _ = std::fs::remove_file(&temp);
    options.open(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
    Ok(temp)
}

/// Moves the finished copy to `file` in one step: readers see the old file
/// or the whole copy, never part of it. Without `force`, a file that
/// appeared meanwhile is not replaced (a hard link never overwrites).
fn put_in_place(temp: &Path, file: &Path, force: bool) -> Result<()> {
    if force {
        std::fs::rename(temp, file).with_context(|| format!("cannot move the copy to {}", file.display()))?;
    } else {
        match std::fs::hard_link(temp, file) {
            Ok(()) => std::fs::remove_file(temp)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("{} exists; pass --force to replace it", file.display())
            }
            // File systems without hard links: rename, which the check above guards.
            Err(_) => {
                std::fs::rename(temp, file).with_context(|| format!("cannot move the copy to {}", file.display()))?
            }
        }
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the new name durable too.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_store::TableStats;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 20), "3.0 MiB");
    }

    #[test]
    fn stats_render_as_a_table_with_unknown_sizes_dashed() {
        let stats = DbStats {
            backend: "sqlite",
            used_bytes: 2 << 20,
            free_bytes: Some(4096),
            tables: vec![
                TableStats { name: "alerts".into(), rows: 1200, bytes: Some(1 << 20) },
                TableStats { name: "audit_head".into(), rows: 1, bytes: None },
            ],
        };
        assert_eq!(
            render_stats(&stats),
            "backend: sqlite\nsize: 2.0 MiB in use, 4.0 KiB free inside the file\n\
             TABLE       ROWS  SIZE\nalerts      1200  1.0 MiB\naudit_head  1     -\n"
        );
    }
}
