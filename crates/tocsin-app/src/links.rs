//! One-click acknowledge links: the page a link opens and the
//! acknowledgement it makes, as the paged person, without logging in.
//!
//! A link (see [`tocsin_core::notify::ack_link`]) is signed with the
//! server's `ack_link` key, read at every use so a rotation on any node
//! refuses every older link at once. It names one incident, one user and the
//! paging episode its page belonged to, and it acts only while all three
//! still hold: the user is still declared, and the incident has not been
//! paged again since (a re-triggered incident is a new episode with new
//! links). A link used once has acknowledged the incident, so using it again
//! finds it already acknowledged and does nothing.

use tocsin_core::access::{Action, Resource};
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::notify::ack_link;
use tocsin_store::{ACK_LINK, StoreError};

use crate::App;
use crate::error::{AppError, Result};

/// What a link can do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// The incident is triggered in the link's episode: it may acknowledge.
    Usable,
    /// Acknowledged just now through this link.
    Acknowledged,
    /// Already acknowledged (by anyone, through this link too) or resolved.
    Settled,
    /// Paged again since the link was sent: a newer page has a newer link.
    OutOfDate,
}

/// A valid link, whom it acts for, and its incident as it stands.
#[derive(Debug, Clone)]
pub struct AckLink {
    pub user_id: String,
    pub incident: Incident,
    pub state: LinkState,
}

/// What every refused link is answered with: invalid, expired, signed with
/// a key since rotated, for another incident, or for a user no longer
/// declared all look the same to whoever holds it.
const REFUSED: &str = "invalid or expired acknowledge link";

impl App {
    /// What `token` (from the path of incident `incident_id`) allows now,
    /// for the confirmation page. Acts on nothing.
    pub async fn ack_link(&self, token: &str, incident_id: i64) -> Result<AckLink> {
        let (claim, who) = self.check_link(token, incident_id).await?;
        self.allow(&who, Action::Read, Resource::Incident(incident_id))?;
        let incident = self.store.get_incident(incident_id).await?.ok_or(AppError::Unauthenticated(REFUSED))?;
        let state = match incident.status {
            IncidentStatus::Triggered => {
                let episode = self.store.get_escalation(incident_id).await?.map(|e| e.episode);
                if episode == Some(claim.episode) { LinkState::Usable } else { LinkState::OutOfDate }
            }
            IncidentStatus::Acknowledged | IncidentStatus::Resolved => LinkState::Settled,
        };
        Ok(AckLink { user_id: claim.user_id, incident, state })
    }

    /// Acknowledges through a link, as its user, if the incident is still
    /// paging in the link's episode (checked in the acknowledging
    /// transaction). Otherwise changes nothing and says why.
    pub async fn acknowledge_by_link(&self, token: &str, incident_id: i64) -> Result<AckLink> {
        let (claim, who) = self.check_link(token, incident_id).await?;
        self.allow(&who, Action::Acknowledge, Resource::Incident(incident_id))?;
        let acked =
            self.store.acknowledge_incident_in_episode(incident_id, claim.episode, &who.actor(), self.now()).await;
        let (state, incident) = match acked {
            Ok(incident) => (LinkState::Acknowledged, incident),
            Err(StoreError::Conflict(_)) => (LinkState::OutOfDate, self.link_incident(incident_id).await?),
            Err(StoreError::Domain(tocsin_core::CoreError::InvalidTransition { .. })) => {
                (LinkState::Settled, self.link_incident(incident_id).await?)
            }
            Err(StoreError::NotFound) => return Err(AppError::Unauthenticated(REFUSED)),
            Err(other) => return Err(other.into()),
        };
        if state == LinkState::Acknowledged {
            tracing::info!(incident = incident_id, user = %claim.user_id, "acknowledged through a link");
        }
        Ok(AckLink { user_id: claim.user_id, incident, state })
    }

    async fn link_incident(&self, id: i64) -> Result<Incident> {
        self.store.get_incident(id).await?.ok_or(AppError::Unauthenticated(REFUSED))
    }

    /// The link's claim and the principal it acts as, or [`REFUSED`].
    async fn check_link(
        &self,
        token: &str,
        incident_id: i64,
    ) -> Result<(ack_link::AckClaim, tocsin_core::access::Principal)> {
        let secrets = self.secrets.as_ref().ok_or(AppError::Unauthenticated(REFUSED))?;
        let key = secrets.get(ACK_LINK).await?;
        let claim = ack_link::verify(key.as_bytes(), token, incident_id, self.now()).map_err(|err| {
            tracing::info!(incident = incident_id, error = %err, "acknowledge link refused");
            AppError::Unauthenticated(REFUSED)
        })?;
        // The link acts as the paged person only while they have an account.
        let Some(who) = self.account(&claim.user_id) else {
            tracing::info!(incident = incident_id, user = %claim.user_id, "acknowledge link of a user no longer declared");
            return Err(AppError::Unauthenticated(REFUSED));
        };
        Ok((claim, who))
    }
}
