//! Heartbeat monitors as people see them: each with its deadline and how
//! it stands now (waiting for a first ping, up, overdue).

use chrono::{DateTime, Utc};
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::heartbeat::{self, HeartbeatStatus};
use tocsin_store::HeartbeatRow;

use crate::App;
use crate::error::Result;

/// A stored monitor read at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatView {
    pub row: HeartbeatRow,
    /// When it is overdue without another ping.
    pub deadline: Option<DateTime<Utc>>,
    pub status: HeartbeatStatus,
}

impl App {
    /// Every heartbeat monitor config declares, by id. Anyone who may read
    /// incidents may read these.
    pub async fn heartbeats(&self, who: &Principal) -> Result<Vec<HeartbeatView>> {
        self.allow(who, Action::Read, Resource::All)?;
        let now = self.now();
        let rows = self.store.list_heartbeats().await?;
        Ok(rows
            .into_iter()
            .map(|row| HeartbeatView {
                deadline: heartbeat::deadline(&row.heartbeat, &row.state),
                status: heartbeat::status(&row.heartbeat, &row.state, now),
                row,
            })
            .collect())
    }
}
