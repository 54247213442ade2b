//! The hash-chained audit log.

use tocsin_core::access::{Action, Principal, Resource};
use tocsin_store::{AuditEntry, AuditVerification};

use crate::App;
use crate::error::Result;

impl App {
    /// Entries after id `after`, oldest first.
    pub async fn audit_log(&self, who: &Principal, after: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        self.allow(who, Action::ReadAudit, Resource::All)?;
        Ok(self.store.audit_log(after, limit).await?)
    }

    /// Entries before id `before` (the newest when `None`), newest first.
    pub async fn recent_audit(&self, who: &Principal, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        self.allow(who, Action::ReadAudit, Resource::All)?;
        Ok(self.store.recent_audit(before, limit).await?)
    }

    /// Checks every audit chain: each link, and each head against its last
    /// entry.
    pub async fn verify_audit(&self, who: &Principal) -> Result<AuditVerification> {
        self.allow(who, Action::ReadAudit, Resource::All)?;
        Ok(self.store.verify_audit().await?)
    }
}
