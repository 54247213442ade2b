//! Delivering test pages ("send me a test page"): through the same channels
//! as real pages, with fewer attempts (someone is watching and will simply
//! try again), and outside the method's rate limit (the application allows
//! one a minute per method anyway). Each attempt's outcome is recorded on
//! the test page in the same transaction that completes its outbox item.

use chrono::{DateTime, Duration, Utc};
use tocsin_core::notify::backoff::RetryPolicy;
use tocsin_core::notify::render::test_page::{self, TestMessage};
use tocsin_core::notify::rules::ContactKind;
use tocsin_store::{StoreError, TestPage, TestPageStatus, TestPageUpdate};

use crate::Handled;
use crate::channels::Outcome;
use crate::paging::{Paging, random_u64};

/// Attempts at one test page, the first included.
pub const TEST_PAGE_ATTEMPTS: u32 = 3;

impl Paging {
    /// Sends test page `id` once and records the outcome: sent, queued again
    /// after a temporary failure while attempts remain, or failed with the
    /// reason. A test page already settled is left alone.
    pub(crate) async fn test_page(
        &self,
        id: i64,
        done: Option<(i64, String)>,
        now: DateTime<Utc>,
    ) -> Result<Handled, StoreError> {
        let Some(page) = self.store.get_test_page(id).await? else { return Ok(Handled::NothingToDo) };
        if page.status != TestPageStatus::Queued {
            return Ok(Handled::NothingToDo);
        }
        let attempts = page.attempts.saturating_add(1);
        let directory = self.directory.current();
        let user = directory.user(&page.user_id);
        let method = user.and_then(|u| u.contact_methods.iter().find(|m| m.id == page.contact_method));
        let (Some(user), Some(method)) = (user, method) else {
            let reason = "the contact method is no longer configured".to_string();
            return self.record_test(&page, failed(&page, attempts, reason), done, None, now).await;
        };
        let message = TestMessage {
            id: page.id,
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            contact_method: method.id.clone(),
            requested_at: page.requested_at,
            requested_by: page.requested_by.clone(),
        };
        let key = format!("tct_{}", page.id);
        let outcome = match &method.kind {
            ContactKind::Webhook { url } => {
                let body = test_page::webhook(&message, &key);
                self.channels.webhook(url, &body, &key, &self.settings.webhook_secret, now.timestamp()).await
            }
            ContactKind::Slack { url } => self.channels.slack(url, &test_page::slack(&message), &key).await,
            ContactKind::Email { address } => self.channels.email(address, &test_page::email(&message), &key).await,
        };
        match outcome {
            Outcome::Delivered => {
                let sent = TestPageUpdate {
                    id: page.id,
                    status: TestPageStatus::Sent,
                    attempts,
                    sent_at: Some(now),
                    last_error: None,
                };
                self.record_test(&page, sent, done, None, now).await
            }
            Outcome::Permanent { reason } => {
                self.record_test(&page, failed(&page, attempts, reason), done, None, now).await
            }
            Outcome::Retry { reason, retry_after } => {
                let policy = RetryPolicy { max_attempts: TEST_PAGE_ATTEMPTS, ..self.settings.retry };
                let failed_attempt = u32::try_from(page.attempts).unwrap_or(u32::MAX);
                let asked = retry_after.and_then(|d| d.to_std().ok());
                match policy.next_delay_with_retry_after(failed_attempt, random_u64(), asked) {
                    Some(delay) => {
                        let due = now + Duration::from_std(delay).unwrap_or(Duration::seconds(1));
                        let again = TestPageUpdate {
                            id: page.id,
                            status: TestPageStatus::Queued,
                            attempts,
                            sent_at: None,
                            last_error: Some(reason),
                        };
                        self.record_test(&page, again, done, Some(due), now).await
                    }
                    None => {
                        let tries = if attempts == 1 { "attempt" } else { "attempts" };
                        let reason = format!("gave up after {attempts} {tries}: {reason}");
                        self.record_test(&page, failed(&page, attempts, reason), done, None, now).await
                    }
                }
            }
        }
    }

    async fn record_test(
        &self,
        page: &TestPage,
        update: TestPageUpdate,
        done: Option<(i64, String)>,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Handled, StoreError> {
        let outcome = update.status.as_str();
        metrics::counter!("tocsin_test_pages_total", "channel" => page.channel.clone(), "outcome" => outcome)
            .increment(1);
        self.store.record_test_page(&update, done, retry_at, now).await.map(|()| Handled::Completed)
    }
}

fn failed(page: &TestPage, attempts: i64, reason: String) -> TestPageUpdate {
    TestPageUpdate { id: page.id, status: TestPageStatus::Failed, attempts, sent_at: None, last_error: Some(reason) }
}
