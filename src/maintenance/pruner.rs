//! The pruner: finished rows older than their retention are deleted in small batches, and workers
//! not seen for a long time are forgotten.

use std::time::Duration;

use super::begin;
use crate::{
    leader::{Leader, LeaderService},
    sql, Database, Result,
};

/// Deletes finished rows past their retention.
#[derive(Debug, Clone)]
pub struct Pruner {
    db: Database,
    every: Duration,
    retention: Duration,
    dead_retention: Duration,
    batch_size: i32,
}

impl Pruner {
    /// A pruner on `db` keeping finished rows for `retention` and dead rows for `dead_retention`.
    pub fn new(
        db: Database,
        retention: Duration,
        dead_retention: Duration,
        batch_size: usize,
    ) -> Self {
        Self {
            db,
            every: super::DEFAULT_PRUNE_INTERVAL,
            retention,
            dead_retention,
            batch_size: batch_size.clamp(1, i32::MAX as usize) as i32,
        }
    }

    /// Runs every `interval` under [`super::Maintenance`] (default 10 s).
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }
}

#[async_trait::async_trait]
impl LeaderService for Pruner {
    type Outcome = i64;

    fn name(&self) -> &'static str {
        "pruner"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    /// Deletes everything past retention, one short batch per statement; returns the rows deleted.
    ///
    /// # Errors
    /// The database's error; earlier batches stay deleted.
    async fn run(&self, leader: Option<&Leader>) -> Result<i64> {
        let mut client = self.db.client().await?;
        let mut total = 0;
        loop {
            let tx = begin(&mut client, leader).await?;
            let deleted: i64 = self
                .db
                .query_one(
                    &tx,
                    sql::PRUNE,
                    &[
                        &self.retention.as_secs_f64(),
                        &self.dead_retention.as_secs_f64(),
                        &self.batch_size,
                    ],
                )
                .await?
                .get(0);
            tx.commit().await?;
            total += deleted;
            if deleted < i64::from(self.batch_size) {
                break;
            }
        }
        let tx = begin(&mut client, leader).await?;
        self.db.execute(&tx, sql::PRUNE_WORKERS, &[]).await?;
        tx.commit().await?;
        Ok(total)
    }

    fn report(&self, deleted: &i64) -> Option<Duration> {
        if *deleted > 0 {
            tracing::info!(deleted, "pruned finished executions");
        }
        None
    }
}
