//! Reads of the applied catalog: services, policies and schedules (with the
//! overrides created at run time, as every on-call answer must see them).

use chrono::{DateTime, Utc};
use std::sync::Arc;
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::directory::Directory;
use tocsin_core::schedule::Schedule;
use tocsin_store::{ChangeRecord, ServiceView, merge_overrides};

use crate::App;
use crate::error::{AppError, Result};

/// Most change events one read returns.
const CHANGES_SHOWN: i64 = 100;

impl App {
    /// The directory in force, for reads that render it (policies, on-call
    /// answers).
    pub fn read_directory(&self, who: &Principal) -> Result<Arc<Directory>> {
        self.allow(who, Action::Read, Resource::All)?;
        Ok(self.directory())
    }

    pub async fn services(&self, who: &Principal) -> Result<Vec<ServiceView>> {
        self.allow(who, Action::Read, Resource::All)?;
        Ok(self.store.list_services().await?)
    }

    pub async fn service(&self, who: &Principal, id: &str) -> Result<ServiceView> {
        self.allow(who, Action::Read, Resource::All)?;
        self.store.get_service(id).await?.ok_or(AppError::NotFound("service"))
    }

    /// Change events (deploys) recorded for a service, newest first.
    pub async fn service_changes(&self, who: &Principal, id: &str) -> Result<Vec<ChangeRecord>> {
        self.service(who, id).await?;
        Ok(self.store.list_changes(id, CHANGES_SHOWN).await?)
    }

    /// Schedule `id` with the run-time overrides that end after `since`
    /// (earlier ones cannot affect any instant from `since` on).
    pub async fn schedule(&self, who: &Principal, id: &str, since: DateTime<Utc>) -> Result<Schedule> {
        self.allow(who, Action::Read, Resource::Schedule(id))?;
        let directory = self.directory();
        let schedule = directory.schedule(id).ok_or(AppError::NotFound("schedule"))?;
        let stored = self.store.list_overrides(Some(id), since).await?;
        Ok(merge_overrides(schedule, &stored))
    }

    /// Every schedule with its run-time overrides, in config order, from one
    /// read; also the directory they were taken from, so an answer built
    /// from both sees one config version.
    pub async fn schedules(&self, who: &Principal, since: DateTime<Utc>) -> Result<(Arc<Directory>, Vec<Schedule>)> {
        self.allow(who, Action::Read, Resource::All)?;
        let directory = self.directory();
        let stored = self.store.list_overrides(None, since).await?;
        let schedules = directory.schedules.iter().map(|s| merge_overrides(s, &stored)).collect();
        Ok((directory, schedules))
    }
}
