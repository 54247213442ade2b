//! Silences: matchers over a time range that keep matching alerts from
//! paging anyone (Alertmanager's model, `tocsin_core::silence`). Rows are
//! kept after they expire, as Alertmanager lists expired silences too.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_core::silence::Silence;

use crate::Result;

#[async_trait]
pub trait SilenceStore: Send + Sync {
    /// Stores a new silence (its id chosen by the caller), audited as
    /// `silence.create`; [`crate::StoreError::Conflict`] when the id is taken.
    async fn create_silence(&self, silence: &Silence, actor: &str, at: DateTime<Utc>) -> Result<()>;
    /// Replaces the stored silence with the same id (an update in place),
    /// audited as `silence.update`; `NotFound` when there is none.
    async fn update_silence(&self, silence: &Silence, actor: &str, at: DateTime<Utc>) -> Result<()>;
    /// Sets the silence's end (and start, for one that had not started) as
    /// `tocsin_core::silence::Silence::expire` decided, audited as
    /// `silence.expire`; `NotFound` when there is none.
    async fn expire_silence(&self, silence: &Silence, actor: &str, at: DateTime<Utc>) -> Result<()>;
    async fn get_silence(&self, id: &str) -> Result<Option<Silence>>;
    /// Every stored silence, newest start first, at most `limit`.
    async fn list_silences(&self, limit: i64) -> Result<Vec<Silence>>;
    /// The silences in force at `at` (started, not ended): what ingestion
    /// matches new alerts against.
    async fn active_silences(&self, at: DateTime<Utc>) -> Result<Vec<Silence>>;
}
