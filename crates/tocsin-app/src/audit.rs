//! The hash-chained audit log.

use tocsin_core::access::{Action, Principal, Resource};
use tocsin_store::AuditEntry;

use crate::App;
use crate::error::Result;

impl App {
    /// Entries after id `after`, oldest first.
    pub async fn audit_log(&self, who: &Principal, after: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        self.allow(who, Action::ReadAudit, Resource::All)?;
        Ok(self.store.audit_log(after, limit).await?)
    }
}
