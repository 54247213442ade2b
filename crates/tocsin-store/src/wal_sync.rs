//! Durability for SQLite commits made without waiting for the disk.
//!
//! The group-commit writer commits with `synchronous = NORMAL` (in WAL mode:
//! the log is written, not synced) and answers its requests only after
//! [`WalFile::sync`] has synced the log. A sync that starts after a commit
//! returned covers that commit's frames, and every earlier one, so a 2xx
//! still means on disk; meanwhile the writer is already folding the next
//! requests into the next transaction instead of waiting for the fsync.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{Result, StoreError};

/// The write-ahead log of one database file.
pub(crate) struct WalFile {
    path: PathBuf,
    /// The open log and its inode: SQLite deletes the log when its last
    /// connection closes and creates a new one with the next, so a changed
    /// inode means open again.
    open: Mutex<Option<(File, u64)>>,
}

impl WalFile {
    /// The log of the database at `db` (`<db>-wal`).
    pub(crate) fn of(db: &Path) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        Self { path: PathBuf::from(path), open: Mutex::new(None) }
    }

    /// Syncs the log's data to disk: every commit that returned before this
    /// call is durable when it returns `Ok`.
    pub(crate) async fn sync(self: &Arc<Self>) -> Result<()> {
        let this = self.clone();
        let started = std::time::Instant::now();
        let synced = tokio::task::spawn_blocking(move || this.sync_now())
            .await
            .map_err(|e| StoreError::Unavailable(format!("the log sync did not finish: {e}")))?;
        metrics::histogram!("tocsin_store_wal_sync_seconds").record(started.elapsed().as_secs_f64());
        synced.map_err(|e| {
            StoreError::Unavailable(format!("cannot sync the write-ahead log {}: {e}", self.path.display()))
        })
    }

    #[cfg(unix)]
    fn sync_now(&self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(&self.path)?.ino();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.as_ref().is_none_or(|(_, known)| *known != inode) {
            let file = File::open(&self.path)?;
            let inode = file.metadata()?.ino();
            *open = Some((file, inode));
        }
        match open.as_ref() {
            Some((file, _)) => file.sync_data(),
            None => Ok(()),
        }
    }

    #[cfg(not(unix))]
    fn sync_now(&self) -> std::io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let file = File::open(&self.path)?;
        file.sync_data()?;
        *open = Some((file, 0));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn syncs_the_log_and_follows_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let wal = Arc::new(WalFile::of(&db));
        assert!(wal.sync().await.is_err(), "no log yet: the sync says so rather than pretending");
        std::fs::write(dir.path().join("t.db-wal"), b"frames").unwrap();
        wal.sync().await.unwrap();
        let first = wal.open.lock().unwrap().as_ref().map(|(_, inode)| *inode).unwrap();
        // The old inode stays allocated while the sync holds it open, so the
        // new log cannot reuse its number.
        std::fs::remove_file(dir.path().join("t.db-wal")).unwrap();
        std::fs::write(dir.path().join("t.db-wal"), b"new frames").unwrap();
        wal.sync().await.unwrap();
        let second = wal.open.lock().unwrap().as_ref().map(|(_, inode)| *inode).unwrap();
        assert_ne!(first, second, "a log created anew is opened anew");
    }
}
