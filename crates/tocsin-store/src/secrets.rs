//! Server secrets: the keys that sign acknowledge links and webhooks,
//! generated once and shared by every node through the database.
//!
//! With a secret key configured (`TOCSIN_SECRET_KEY` or a key file, kept
//! outside the database), every secret is stored sealed
//! ([`tocsin_core::secret_box`]): a copy of the database alone, or a reader
//! of the raw table, learns no signing key. Without one they are stored as
//! plain text, as before, and whoever can read the database can forge
//! acknowledge links and webhook signatures. Once sealed, a secret needs the
//! same key at every start; a missing or wrong key fails the start.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tocsin_core::secret_box::{self, SecretBoxError, SecretKey};

use crate::{Result, Store, StoreError};

/// The key that signs one-click acknowledge links.
pub const ACK_LINK: &str = "ack_link";
/// The key that signs webhooks when config sets none.
pub const WEBHOOK_SIGNING: &str = "webhook_signing";

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The value stored under `name`, exactly as stored (sealed or not).
    async fn read_secret(&self, name: &str) -> Result<Option<String>>;
    /// Replaces the value under `name` with `value`, if it is still
    /// `expected` (any value with `None`), and audits `action` on
    /// `secret:<name>` by `actor` in the same commit. `false` when there is
    /// no such secret or it no longer holds `expected`.
    async fn replace_secret(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
        actor: &str,
        action: &str,
        at: DateTime<Utc>,
    ) -> Result<bool>;
}

/// The server's secrets as the rest of Tocsin uses them: plain values in,
/// plain values out, sealed in the database when a key is configured.
#[derive(Clone)]
pub struct ServerSecrets {
    store: Arc<dyn Store>,
    key: Option<Arc<SecretKey>>,
}

impl ServerSecrets {
    pub fn new(store: Arc<dyn Store>, key: Option<SecretKey>) -> Self {
        Self { store, key: key.map(Arc::new) }
    }

    /// Whether secrets are stored sealed.
    pub fn sealed(&self) -> bool {
        self.key.is_some()
    }

    /// At start: the secret under `name`, generated (32 random bytes, hex)
    /// and stored first when there is none. With a key, a value stored plain
    /// by an earlier start is sealed in place (audited as `secret.seal`).
    ///
    /// # Errors
    /// [`StoreError::Secret`] when the stored value is sealed and no key, or
    /// another key, is configured.
    pub async fn ensure(&self, name: &str, at: DateTime<Utc>) -> Result<String> {
        let fresh = hex_secret()?;
        let stored = self.store.server_secret(name, &self.to_stored(name, &fresh)?, at).await?;
        let plain = self.open(name, &stored)?;
        if self.key.is_some() && !secret_box::is_sealed(&stored) {
            let sealed = self.to_stored(name, &plain)?;
            if self.store.replace_secret(name, Some(&stored), &sealed, "system", "secret.seal", at).await? {
                tracing::info!(secret = name, "sealed the stored secret with the configured secret key");
            } else {
                // Another node replaced it meanwhile: use what it stored.
                return self.get(name).await;
            }
        }
        Ok(plain)
    }

    /// The secret's current value. Read at every use, so a rotation on one
    /// node takes effect on all of them at once.
    pub async fn get(&self, name: &str) -> Result<String> {
        let stored = self.store.read_secret(name).await?.ok_or(StoreError::NotFound)?;
        self.open(name, &stored)
    }

    /// Replaces the secret with a fresh random value, audited as
    /// `secret.rotate` by `actor`. Whatever was signed with the old value no
    /// longer verifies.
    pub async fn rotate(&self, name: &str, actor: &str, at: DateTime<Utc>) -> Result<()> {
        let stored = self.to_stored(name, &hex_secret()?)?;
        if self.store.replace_secret(name, None, &stored, actor, "secret.rotate", at).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    fn to_stored(&self, name: &str, plain: &str) -> Result<String> {
        match &self.key {
            Some(key) => secret_box::seal(key, name, random_bytes()?, plain)
                .map_err(|e| StoreError::Secret(format!("cannot seal the `{name}` secret: {e}"))),
            None => Ok(plain.to_string()),
        }
    }

    fn open(&self, name: &str, stored: &str) -> Result<String> {
        if !secret_box::is_sealed(stored) {
            return Ok(stored.to_string());
        }
        let Some(key) = &self.key else {
            return Err(StoreError::Secret(format!(
                "the stored `{name}` secret is encrypted, but no secret key is configured: set TOCSIN_SECRET_KEY \
                 or --secret-key-file to the key it was encrypted with"
            )));
        };
        secret_box::open(key, name, stored).map_err(|e| match e {
            SecretBoxError::WrongKey => StoreError::Secret(format!(
                "cannot decrypt the stored `{name}` secret: the configured secret key (TOCSIN_SECRET_KEY or \
                 --secret-key-file) is not the one it was encrypted with"
            )),
            other => StoreError::Secret(format!("the stored `{name}` secret is unreadable: {other}")),
        })
    }
}

fn hex_secret() -> Result<String> {
    Ok(hex::encode(random_bytes::<32>()?))
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Secret(format!("no OS randomness: {e}")))?;
    Ok(bytes)
}
