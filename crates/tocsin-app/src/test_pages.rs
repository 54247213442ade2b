//! "Send me a test page": a person checks that one of their contact methods
//! reaches them, and sees whether it did. The engine delivers it through the
//! same channels as real pages.

use chrono::TimeDelta;
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::paging::channel_of;
use tocsin_store::{NewTestPage, TestPage};

use crate::App;
use crate::error::{AppError, Result, or_not_found};

/// At most one test page per contact method in this long: enough to retry
/// a fix, too little to flood someone's phone.
pub const TEST_PAGE_INTERVAL: TimeDelta = TimeDelta::minutes(1);
/// Longest id accepted for a user or contact method.
const MAX_ID_CHARS: usize = 200;

impl App {
    /// Queues a test page to `user_id` through their `contact_method_id`.
    /// People test their own methods; managers and admins anyone's.
    /// `Conflict` when that method had one less than a minute ago.
    pub async fn send_test_page(&self, who: &Principal, user_id: &str, contact_method_id: &str) -> Result<TestPage> {
        if contact_method_id.chars().count() > MAX_ID_CHARS {
            return Err(AppError::invalid("contact_method", format!("longer than {MAX_ID_CHARS} characters")));
        }
        self.allow(who, Action::SendTestPage, Resource::User(user_id))?;
        let directory = self.directory();
        let user = directory.user(user_id).ok_or(AppError::NotFound("user"))?;
        let method = user.contact_methods.iter().find(|m| m.id == contact_method_id).ok_or_else(|| {
            AppError::invalid("contact_method", format!("user `{user_id}` has no contact method `{contact_method_id}`"))
        })?;
        let new = NewTestPage {
            user_id: user.id.clone(),
            contact_method: method.id.clone(),
            channel: channel_of(&method.kind).to_string(),
        };
        let now = self.now();
        Ok(self.store.request_test_page(&new, &who.actor(), now, now - TEST_PAGE_INTERVAL).await?)
    }

    /// One test page, for whoever may see its owner's contact details.
    pub async fn test_page(&self, who: &Principal, id: i64) -> Result<TestPage> {
        let page = self.store.get_test_page(id).await.map_err(or_not_found("test page"))?;
        let page = page.ok_or(AppError::NotFound("test page"))?;
        self.allow(who, Action::ReadContactDetails, Resource::User(&page.user_id))?;
        Ok(page)
    }

    /// The newest test page of each of `user_id`'s contact methods.
    pub async fn test_pages(&self, who: &Principal, user_id: &str) -> Result<Vec<TestPage>> {
        self.allow(who, Action::ReadContactDetails, Resource::User(user_id))?;
        Ok(self.store.latest_test_pages(user_id).await?)
    }
}
