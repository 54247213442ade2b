//! Test pages: a person asks Tocsin to send one through a contact method to
//! see that it reaches them; the engine delivers it like a page and records
//! what became of it here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;

#[async_trait]
pub trait TestPageStore: Send + Sync {
    /// Records a queued test page and its `notify.test` work, audited as
    /// `test_page.sent`, unless the same contact method had one requested
    /// after `not_before`: then [`crate::StoreError::Conflict`] and nothing
    /// is written (checked under a lock per method, so two nodes cannot both
    /// pass).
    async fn request_test_page(
        &self,
        new: &NewTestPage,
        actor: &str,
        at: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<TestPage>;
    async fn get_test_page(&self, id: i64) -> Result<Option<TestPage>>;
    /// The newest test page of each of `user_id`'s contact methods, by
    /// method id.
    async fn latest_test_pages(&self, user_id: &str) -> Result<Vec<TestPage>>;
    /// Deletes at most `limit` finished (sent or failed) test pages
    /// requested before `before`, never the newest of a contact method (the
    /// one its owner's page shows); returns how many.
    async fn prune_test_pages(&self, before: DateTime<Utc>, limit: i64) -> Result<u64>;
    /// Records a delivery attempt and completes the outbox item
    /// `complete` (id, worker) in one transaction; with `retry_at`, queues
    /// the next attempt then. `Conflict` when the claim was lost.
    async fn record_test_page(
        &self,
        outcome: &TestPageUpdate,
        complete: Option<(i64, String)>,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()>;
}

/// A test page to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTestPage {
    pub user_id: String,
    pub contact_method: String,
    /// `webhook`, `slack` or `email`.
    pub channel: String,
}

/// Where a test page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestPageStatus {
    /// Waiting for the engine, or for a retry after a failed attempt.
    Queued,
    Sent,
    /// Given up: `last_error` says why.
    Failed,
}

impl TestPageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestPageStatus::Queued => "queued",
            TestPageStatus::Sent => "sent",
            TestPageStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [TestPageStatus::Queued, TestPageStatus::Sent, TestPageStatus::Failed].into_iter().find(|v| v.as_str() == s)
    }
}

/// A test page and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestPage {
    pub id: i64,
    pub user_id: String,
    pub contact_method: String,
    pub channel: String,
    pub status: TestPageStatus,
    /// Delivery attempts so far.
    pub attempts: i64,
    pub requested_at: DateTime<Utc>,
    /// Who asked (`user:carol`): the owner, or a manager helping them.
    pub requested_by: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPageUpdate {
    pub id: i64,
    pub status: TestPageStatus,
    pub attempts: i64,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}
