//! Server secrets that people need to see: the key outgoing webhooks are
//! signed with, so receivers can verify `Tocsin-Signature`.

use serde_json::json;
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::audit::AuditRecord;

use crate::App;
use crate::error::{AppError, Result};

/// The webhook signing key and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    pub value: String,
    /// `config` (`notifications.webhook_secret`) or `generated` (by the
    /// server on its first start, kept in the database).
    pub source: &'static str,
}

impl App {
    /// Lets admins read the webhook signing key (the engine signs with it).
    pub fn with_webhook_secret(mut self, secret: WebhookSecret) -> Self {
        self.webhook_secret = Some(std::sync::Arc::new(secret));
        self
    }

    /// Admin only. Every read is written to the audit log (never the secret
    /// itself) before the secret is returned.
    pub async fn webhook_secret(&self, who: &Principal) -> Result<WebhookSecret> {
        self.allow(who, Action::ReadSecret, Resource::All)?;
        let secret = self.webhook_secret.as_deref().cloned().ok_or(AppError::NotFound("webhook signing secret"))?;
        let record = AuditRecord {
            at: self.now(),
            actor: who.actor(),
            action: "secret.read".into(),
            target: "secret:webhook_signing".into(),
            details: json!({"source": secret.source}),
        };
        self.store.record_audit(record).await?;
        Ok(secret)
    }
}
