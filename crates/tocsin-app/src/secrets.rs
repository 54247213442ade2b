//! Server secrets: the key outgoing webhooks are signed with, which admins
//! read to set up receivers that verify `Tocsin-Signature`, and the key of
//! one-click acknowledge links, which admins rotate to refuse every link
//! sent so far.

use serde_json::json;
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::audit::AuditRecord;

use tocsin_store::{ACK_LINK, ServerSecrets};

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

    /// Signs and checks acknowledge links with the server's keys.
    pub fn with_secrets(mut self, secrets: ServerSecrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Admin only: replaces the acknowledge-link key, so every link sent so
    /// far is refused (pages sent from now on carry links under the new
    /// key), on every node at once. Audited as `secret.rotate` on
    /// `secret:ack_link`.
    pub async fn rotate_ack_key(&self, who: &Principal) -> Result<()> {
        self.allow(who, Action::RotateSecret, Resource::All)?;
        let secrets = self.secrets.as_ref().ok_or(AppError::NotFound("acknowledge link key"))?;
        secrets.rotate(ACK_LINK, &who.actor(), self.now()).await.map_err(|e| match e {
            tocsin_store::StoreError::NotFound => AppError::NotFound("acknowledge link key"),
            other => other.into(),
        })?;
        tracing::info!(by = %who.actor(), "acknowledge link key rotated: every earlier link is refused");
        Ok(())
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
