//! Escalation policies as a page shows them: each level's targets with whom
//! the schedules have on call now, its delay, the repeats, and which
//! services page through the policy.

use chrono::{DateTime, Duration, Utc};
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::directory::Directory;
use tocsin_core::escalation::{Policy, Target};
use tocsin_core::schedule::Schedule;

use crate::App;
use crate::error::{AppError, Result};
use crate::oncall::{OnCallNow, on_call_now};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    pub id: String,
    /// Extra passes over all levels after the first.
    pub repeat: u32,
    pub levels: Vec<LevelView>,
    /// Services whose incidents this policy pages for, in config order.
    pub services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelView {
    pub targets: Vec<TargetView>,
    /// How long this level has to acknowledge before the next is paged.
    pub escalate_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetView {
    pub target: Target,
    /// For a schedule: who it has on call now, and until when.
    pub on_call: Option<OnCallNow>,
}

fn policy_view(directory: &Directory, schedules: &[Schedule], policy: &Policy, now: DateTime<Utc>) -> PolicyView {
    let target_view = |target: &Target| TargetView {
        on_call: match target {
            Target::Schedule(id) => schedules.iter().find(|s| &s.id == id).map(|s| on_call_now(s, now)),
            Target::User(_) => None,
        },
        target: target.clone(),
    };
    PolicyView {
        id: policy.id.clone(),
        repeat: policy.repeat,
        levels: policy
            .levels
            .iter()
            .map(|l| LevelView {
                targets: l.targets.iter().map(target_view).collect(),
                escalate_after: l.escalate_after,
            })
            .collect(),
        services: directory
            .services
            .iter()
            .filter(|s| s.escalation_policy.as_deref() == Some(policy.id.as_str()))
            .map(|s| s.id.clone())
            .collect(),
    }
}

impl App {
    /// Every policy in config order.
    pub async fn policies(&self, who: &Principal) -> Result<Vec<PolicyView>> {
        self.allow(who, Action::Read, Resource::All)?;
        let now = self.now();
        let (directory, schedules) = self.schedules_at(now).await?;
        Ok(directory.policies.iter().map(|p| policy_view(&directory, &schedules, p, now)).collect())
    }

    pub async fn policy(&self, who: &Principal, id: &str) -> Result<PolicyView> {
        self.allow(who, Action::Read, Resource::All)?;
        let now = self.now();
        let (directory, schedules) = self.schedules_at(now).await?;
        let policy = directory.policy(id).ok_or(AppError::NotFound("policy"))?;
        Ok(policy_view(&directory, &schedules, policy, now))
    }
}
