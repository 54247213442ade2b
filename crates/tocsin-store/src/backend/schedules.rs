//! Run-time schedule overrides, soft-deleted so ids keep ordering creation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;

use tocsin_core::CoreError;

use super::{StoreImpl, audit_record, begin_write};
use crate::codec::{from_us, to_us};
use crate::{NewOverride, Result, ScheduleOverride, ScheduleStore};

#[async_trait]
impl ScheduleStore for StoreImpl {
    async fn create_override(&self, new: &NewOverride, who: &str, at: DateTime<Utc>) -> Result<ScheduleOverride> {
        if new.end <= new.start {
            return Err(CoreError::invalid("end", "must be after `start`").into());
        }
        for (field, value) in [("schedule_id", &new.schedule_id), ("user_id", &new.user_id)] {
            if value.is_empty() || value.contains('\0') {
                return Err(CoreError::invalid(field, "must be a non-empty id without NUL characters").into());
            }
        }
        let mut w = begin_write(&self.write).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO schedule_overrides (schedule_id, user_id, start_at, end_at, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&new.schedule_id)
        .bind(&new.user_id)
        .bind(to_us(new.start))
        .bind(to_us(new.end))
        .bind(to_us(at))
        .bind(who)
        .fetch_one(&mut *w.tx)
        .await?;
        let details = json!({"id": id, "user": new.user_id, "start": new.start, "end": new.end});
        w.audit(audit_record(at, who, "schedule.override.create", format!("schedule:{}", new.schedule_id), details))
            .await?;
        w.commit(&self.signal).await?;
        Ok(ScheduleOverride {
            id,
            schedule_id: new.schedule_id.clone(),
            user_id: new.user_id.clone(),
            start: new.start,
            end: new.end,
            created_at: at,
            created_by: who.to_string(),
        })
    }

    async fn list_overrides(
        &self,
        schedule_id: Option<&str>,
        ending_after: DateTime<Utc>,
    ) -> Result<Vec<ScheduleOverride>> {
        let rows = sqlx::query(
            "SELECT id, schedule_id, user_id, start_at, end_at, created_at, created_by FROM schedule_overrides \
             WHERE deleted_at IS NULL AND ($1 IS NULL OR schedule_id = $1) AND end_at > $2 ORDER BY id",
        )
        .bind(schedule_id)
        .bind(to_us(ending_after))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScheduleOverride {
                    id: r.try_get("id")?,
                    schedule_id: r.try_get("schedule_id")?,
                    user_id: r.try_get("user_id")?,
                    start: from_us(r.try_get("start_at")?)?,
                    end: from_us(r.try_get("end_at")?)?,
                    created_at: from_us(r.try_get("created_at")?)?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn delete_override(&self, schedule_id: &str, id: i64, who: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut w = begin_write(&self.write).await?;
        let done = sqlx::query(
            "UPDATE schedule_overrides SET deleted_at = $1, deleted_by = $2 \
             WHERE id = $3 AND schedule_id = $4 AND deleted_at IS NULL",
        )
        .bind(to_us(at))
        .bind(who)
        .bind(id)
        .bind(schedule_id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            > 0;
        if done {
            w.audit(audit_record(
                at,
                who,
                "schedule.override.delete",
                format!("schedule:{schedule_id}"),
                json!({"id": id}),
            ))
            .await?;
            w.commit(&self.signal).await?;
        }
        Ok(done)
    }
}
