//! The rescuer: `running` rows whose lease expired become a failed attempt plus a retry, or dead.
//! This is what brings back the jobs of a worker that was killed, stalled or cut off.

use std::time::Duration;

use super::begin;
use crate::{
    leader::{Leader, LeaderService},
    sql, Database, Error, ExecutionStatus, Result,
};

/// Turns expired leases into failed attempts (with retries) or dead rows.
#[derive(Debug, Clone)]
pub struct Rescuer {
    db: Database,
    every: Duration,
    batch_size: i64,
}

/// One rescued attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescued {
    /// The attempt whose lease expired.
    pub id: i64,
    /// `failed` (a retry exists) or `dead`.
    pub status: ExecutionStatus,
    /// The retry's id, when one was inserted.
    pub retry_id: Option<i64>,
    /// The worker that had stopped heartbeating.
    pub worker_id: Option<String>,
}

impl Rescuer {
    /// A rescuer on `db` handling at most `batch_size` rows per statement.
    pub fn new(db: Database, batch_size: usize) -> Self {
        Self {
            db,
            every: super::DEFAULT_RESCUE_INTERVAL,
            batch_size: batch_size.max(1) as i64,
        }
    }

    /// Runs every `interval` under [`super::Maintenance`] (default 5 s).
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }
}

#[async_trait::async_trait]
impl LeaderService for Rescuer {
    type Outcome = Vec<Rescued>;

    fn name(&self) -> &'static str {
        "rescuer"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    /// Rescues every attempt whose lease has expired.
    ///
    /// # Errors
    /// The database's error; earlier batches stay rescued.
    ///
    /// # Transactions and locks
    /// Each batch is one statement. `pgtide.fail_attempts` re-checks status, attempt and expiry
    /// under the row lock, so a row completed or renewed after the batch was read is left alone.
    async fn run(&self, leader: Option<&Leader>) -> Result<Vec<Rescued>> {
        let mut client = self.db.client().await?;
        let mut out = Vec::new();
        loop {
            let tx = begin(&mut client, leader).await?;
            let rows = self.db.query(&tx, sql::RESCUE, &[&self.batch_size]).await?;
            tx.commit().await?;
            let n = rows.len();
            for row in rows {
                let rescued = Rescued {
                    id: row.get("id"),
                    status: row
                        .get::<_, String>("status")
                        .parse()
                        .map_err(|e| Error::Decode(format!("rescue.sql's status: {e}")))?,
                    retry_id: row.get("retry_id"),
                    worker_id: row.get("worker_id"),
                };
                tracing::warn!(execution = rescued.id, worker = ?rescued.worker_id, status = %rescued.status,
                    retry = ?rescued.retry_id, "rescued an attempt whose lease expired");
                out.push(rescued);
            }
            if (n as i64) < self.batch_size {
                return Ok(out);
            }
        }
    }
}
