//! Silences: created, changed and expired by people (the Alertmanager API
//! v2 and `amtool`, later the CLI and pages), with Alertmanager's rules
//! from `tocsin_core::silence`.

use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::silence::{self, Silence, SilenceDraft, UpdatePlan};

use crate::error::{AppError, Result, or_not_found};
use crate::{App, random_bytes};

/// Most silences one listing returns.
pub const MAX_LISTED_SILENCES: i64 = 5_000;

/// A new silence id in Alertmanager's shape (a random UUID), so tools that
/// parse ids as UUIDs accept ours.
fn new_id() -> String {
    let b = random_bytes();
    let mut u = [0u8; 16];
    u.copy_from_slice(&b[..16]);
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl App {
    /// Creates a silence, or with `id` changes that one: in place when
    /// Alertmanager would, else the old one is expired and the change stored
    /// under a new id. Returns the id that now holds the silence.
    pub async fn put_silence(&self, who: &Principal, id: Option<&str>, draft: SilenceDraft) -> Result<String> {
        self.allow(who, Action::ManageSilences, Resource::All)?;
        let now = self.now();
        silence::validate(&draft, now).map_err(tocsin_store::StoreError::Domain)?;
        let actor = who.actor();
        let fresh = |id: String| Silence {
            id,
            matchers: draft.matchers.clone(),
            starts_at: draft.starts_at.max(now),
            ends_at: draft.ends_at,
            created_by: draft.created_by.clone(),
            comment: draft.comment.clone(),
            updated_at: now,
        };
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            let created = fresh(new_id());
            self.store.create_silence(&created, &actor, now).await?;
            return Ok(created.id);
        };
        let existing = self.store.get_silence(id).await?.ok_or(AppError::NotFound("silence"))?;
        match silence::update_plan(&existing, &draft, now) {
            UpdatePlan::InPlace => {
                let mut changed = fresh(existing.id.clone());
                changed.starts_at = draft.starts_at;
                self.store.update_silence(&changed, &actor, now).await.map_err(or_not_found("silence"))?;
                Ok(changed.id)
            }
            UpdatePlan::Replace => {
                let mut old = existing;
                if old.expire(now).is_ok() {
                    old.updated_at = now;
                    self.store.expire_silence(&old, &actor, now).await.map_err(or_not_found("silence"))?;
                }
                let created = fresh(new_id());
                self.store.create_silence(&created, &actor, now).await?;
                Ok(created.id)
            }
        }
    }

    /// Ends a silence now (one not started yet never starts).
    pub async fn expire_silence(&self, who: &Principal, id: &str) -> Result<Silence> {
        self.allow(who, Action::ManageSilences, Resource::All)?;
        let now = self.now();
        let mut s = self.store.get_silence(id).await?.ok_or(AppError::NotFound("silence"))?;
        s.expire(now).map_err(|e| AppError::InvalidTransition(e.to_string()))?;
        s.updated_at = now;
        self.store.expire_silence(&s, &who.actor(), now).await.map_err(or_not_found("silence"))?;
        Ok(s)
    }

    pub async fn silence(&self, who: &Principal, id: &str) -> Result<Silence> {
        self.allow(who, Action::Read, Resource::All)?;
        self.store.get_silence(id).await?.ok_or(AppError::NotFound("silence"))
    }

    /// Every silence, newest start first (expired ones too, as Alertmanager
    /// lists them).
    pub async fn silences(&self, who: &Principal) -> Result<Vec<Silence>> {
        self.allow(who, Action::Read, Resource::All)?;
        Ok(self.store.list_silences(MAX_LISTED_SILENCES).await?)
    }
}
