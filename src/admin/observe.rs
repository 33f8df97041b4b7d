//! The admin API's read-only views of the runtime: alerts, workers, leases, the audit log and the
//! per-minute history behind the console's charts. Like the rest of [`Admin`], each is one statement
//! in `sql/queries/admin/` over pgtide's tables and views.

use std::time::Duration;

use super::{check_limit, Admin};
use crate::{
    admin::types::{Alert, AuditEntry, LeaderInfo, QueueMinute, WorkerInfo},
    alerts::AlertEvent,
    sql, Result,
};

impl Admin {
    /// Alerts firing now, longest-firing first.
    ///
    /// # Errors
    /// The database's error.
    pub async fn alerts(&self) -> Result<Vec<Alert>> {
        self.rows(sql::ADMIN_ALERTS, &[]).await
    }

    /// The latest alert events, newest first.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a bad limit; the database's error.
    pub async fn alert_events(&self, limit: Option<i64>) -> Result<Vec<AlertEvent>> {
        let limit = check_limit(limit)?;
        self.rows(sql::ADMIN_ALERT_EVENTS, &[&limit]).await
    }

    /// Every registered worker, oldest first, with its running count and liveness.
    ///
    /// # Errors
    /// The database's error.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        self.rows(sql::ADMIN_WORKERS, &[]).await
    }

    /// The leader leases.
    ///
    /// # Errors
    /// The database's error.
    pub async fn leaders(&self) -> Result<Vec<LeaderInfo>> {
        self.rows(sql::ADMIN_LEADERS, &[]).await
    }

    /// The latest audit entries, newest first, of `surface` when given.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a bad limit; the database's error.
    pub async fn audit(
        &self,
        surface: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<AuditEntry>> {
        let limit = check_limit(limit)?;
        self.rows(sql::ADMIN_AUDIT, &[&surface, &limit]).await
    }

    /// Attempts finished per queue and minute over the last `span`, oldest minute first.
    ///
    /// # Errors
    /// The database's error.
    pub async fn queue_minutes(&self, span: Duration) -> Result<Vec<QueueMinute>> {
        self.rows(sql::ADMIN_QUEUE_MINUTES, &[&span.as_secs_f64()])
            .await
    }
}
