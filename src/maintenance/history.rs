//! Retention for the history besides the queue: the audit log and the alert history. Without it
//! they grow for ever.
//!
//! The leader deletes, in small batches like the [`super::Pruner`]:
//! - audit-log rows older than `audit_retention` (default 90 days; at least 1 day), through
//!   `pgtide.prune_audit`, since a worker role may not delete from the audit log itself;
//! - finished webhook deliveries older than `alert_delivery_retention` (default 30 days);
//! - alert events older than `alert_retention` (default 30 days), except the latest event of a
//!   subject that still fires (the alert's state: without it the same alert would be recorded and
//!   notified again) and events with a delivery still pending;
//! - rate-limit logs (`pgtide.rate_windows`) whose latest start has left the window: they count
//!   nothing, and a per-key rate limit keeps one for every key that ever started.

use std::time::Duration;

use super::begin;
use crate::{
    leader::{Leader, LeaderService},
    sql, Database, Result,
};

/// Deletes audit and alert history past its retention.
#[derive(Debug, Clone)]
pub struct HistoryPruner {
    db: Database,
    every: Duration,
    audit_retention: Duration,
    alert_retention: Duration,
    alert_delivery_retention: Duration,
    batch_size: i32,
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryPruned {
    /// Audit-log rows.
    pub audit: i64,
    /// Alert events and webhook deliveries.
    pub alerts: i64,
    /// Stale rate-limit logs.
    pub rate_windows: i64,
}

impl HistoryPruner {
    /// A pruner on `db` with these retentions, deleting at most `batch_size` rows per statement.
    pub fn new(
        db: Database,
        audit_retention: Duration,
        alert_retention: Duration,
        alert_delivery_retention: Duration,
        batch_size: usize,
    ) -> Self {
        Self {
            db,
            every: super::DEFAULT_PRUNE_INTERVAL,
            audit_retention,
            alert_retention,
            alert_delivery_retention,
            batch_size: batch_size.clamp(1, i32::MAX as usize) as i32,
        }
    }

    /// Runs every `interval` under [`super::Maintenance`] (default 10 s, the pruner's).
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }

    /// Runs `statement` (which returns the rows it deleted) until a batch comes back short.
    async fn batches(
        &self,
        leader: Option<&Leader>,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<i64> {
        let mut client = self.db.client().await?;
        let mut total = 0;
        loop {
            let tx = begin(&mut client, leader).await?;
            let deleted: i64 = self.db.query_one(&tx, statement, params).await?.get(0);
            tx.commit().await?;
            total += deleted;
            if deleted < i64::from(self.batch_size) {
                return Ok(total);
            }
        }
    }
}

#[async_trait::async_trait]
impl LeaderService for HistoryPruner {
    type Outcome = HistoryPruned;

    fn name(&self) -> &'static str {
        "history pruner"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    /// Deletes everything past retention, one short batch per statement.
    ///
    /// # Errors
    /// The database's error (`pgtide.prune_audit` refuses a retention under 1 day); earlier batches
    /// stay deleted.
    async fn run(&self, leader: Option<&Leader>) -> Result<HistoryPruned> {
        let audit_secs = self.audit_retention.as_secs_f64();
        let events_secs = self.alert_retention.as_secs_f64();
        let deliveries_secs = self.alert_delivery_retention.as_secs_f64();
        let audit = self
            .batches(leader, sql::PRUNE_AUDIT, &[&audit_secs, &self.batch_size])
            .await?;
        let alerts = self
            .batches(
                leader,
                sql::PRUNE_ALERTS,
                &[&events_secs, &deliveries_secs, &self.batch_size],
            )
            .await?;
        let rate_windows = self
            .batches(leader, sql::PRUNE_RATE_WINDOWS, &[&self.batch_size])
            .await?;
        Ok(HistoryPruned {
            audit,
            alerts,
            rate_windows,
        })
    }

    fn report(&self, pruned: &HistoryPruned) -> Option<Duration> {
        if *pruned != HistoryPruned::default() {
            tracing::info!(
                audit = pruned.audit,
                alerts = pruned.alerts,
                rate_windows = pruned.rate_windows,
                "pruned audit and alert history, and stale rate-limit logs"
            );
        }
        None
    }
}
