//! SCAFFOLD, replaced by the real sessions module before landing.

use chrono::{DateTime, Utc};
use std::net::IpAddr;
use tocsin_core::access::Principal;

use crate::App;
use crate::error::{AppError, Result};

pub struct Credentials<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub address: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: i64,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

pub struct LoggedIn {
    pub secret: String,
    pub session: SessionInfo,
}

#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub principal: Principal,
    pub session_id: i64,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

pub struct InvitationInfo {
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
}

impl App {
    pub async fn login(&self, c: Credentials<'_>) -> Result<LoggedIn> {
        let principal = self.authenticate(c.password).await?;
        let now = self.now();
        Ok(LoggedIn {
            secret: c.password.to_string(),
            session: SessionInfo {
                id: 1,
                user_id: principal.user_id().unwrap_or_default().to_string(),
                created_at: now,
                last_seen_at: now,
                idle_expires_at: now,
                expires_at: now + chrono::Duration::days(1),
                address: None,
                user_agent: None,
                current: true,
            },
        })
    }

    pub async fn session(&self, secret: &str) -> Result<ActiveSession> {
        let principal = self.authenticate(secret).await?;
        Ok(ActiveSession {
            principal,
            session_id: 1,
            csrf_token: tocsin_core::auth::hash_secret(secret),
            expires_at: self.now(),
        })
    }

    pub async fn logout(&self, _secret: &str) -> Result<()> {
        Ok(())
    }

    pub async fn my_sessions(&self, _who: &Principal, _current: Option<i64>) -> Result<Vec<SessionInfo>> {
        Ok(Vec::new())
    }

    pub async fn end_session(&self, _who: &Principal, _id: i64) -> Result<()> {
        Ok(())
    }

    pub async fn invitation(&self, _token: &str) -> Result<InvitationInfo> {
        Err(AppError::Unauthenticated("invitation is invalid, used or expired"))
    }

    pub async fn accept_invitation(
        &self,
        _token: &str,
        _password: &str,
        _address: Option<IpAddr>,
        _user_agent: Option<&str>,
    ) -> Result<LoggedIn> {
        Err(AppError::Unauthenticated("invitation is invalid, used or expired"))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncidentActions {
    pub acknowledge: bool,
    pub resolve: bool,
    pub escalate: bool,
    pub reassign: bool,
    pub add_note: bool,
}

impl App {
    pub fn can(
        &self,
        who: &Principal,
        action: tocsin_core::access::Action,
        resource: tocsin_core::access::Resource<'_>,
    ) -> bool {
        tocsin_core::access::authorize(who, action, resource).is_ok()
    }

    pub fn incident_actions(&self, who: &Principal, incident: &tocsin_core::incident::Incident) -> IncidentActions {
        use tocsin_core::access::{Action, Resource};
        use tocsin_core::incident::IncidentStatus;
        let r = Resource::Incident(incident.id);
        let open = incident.status.is_open();
        IncidentActions {
            acknowledge: incident.status == IncidentStatus::Triggered && self.can(who, Action::Acknowledge, r),
            resolve: open && self.can(who, Action::Resolve, r),
            escalate: open && self.can(who, Action::Escalate, r),
            reassign: open && self.can(who, Action::Reassign, r),
            add_note: self.can(who, Action::AddNote, r),
        }
    }
}

impl App {
    pub fn public_url(&self) -> String {
        "http://127.0.0.1:8080".into()
    }
}

impl App {
    pub async fn acknowledge_many(
        &self,
        who: &Principal,
        ids: &[i64],
    ) -> Result<Vec<(i64, Result<tocsin_core::incident::Incident, AppError>)>> {
        let mut out = Vec::new();
        for id in ids {
            out.push((*id, self.acknowledge(who, *id).await));
        }
        Ok(out)
    }
}
