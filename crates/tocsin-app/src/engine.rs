//! The engine's dead letters: work that failed too often, which admins look
//! at and put back once its cause is fixed.

use tocsin_core::access::{Action, Principal, Resource};
use tocsin_store::{DeadLetter, Page};

use crate::App;
use crate::error::{Result, or_not_found};

impl App {
    /// Admin only: dead letters, newest first, with ids below `before_id`.
    pub async fn dead_letters(&self, who: &Principal, before_id: Option<i64>, limit: i64) -> Result<Page<DeadLetter>> {
        self.allow(who, Action::ManageEngine, Resource::All)?;
        Ok(self.store.dead_letters(before_id, limit).await?)
    }

    /// Admin only: puts dead letter `id` back, due now with its attempts
    /// reset; audited as `outbox.retry` on `outbox:<id>`.
    pub async fn retry_dead_letter(&self, who: &Principal, id: i64) -> Result<DeadLetter> {
        self.allow(who, Action::ManageEngine, Resource::All)?;
        let item =
            self.store.retry_dead_letter(id, &who.actor(), self.now()).await.map_err(or_not_found("dead letter"))?;
        tracing::info!(id, kind = %item.kind, by = %who.actor(), "dead letter put back");
        Ok(item)
    }
}
