//! The promoter: `scheduled` rows become `queued` when due, and their queues are notified.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::begin;
use crate::{
    leader::{Leader, LeaderService},
    sql, Database, Result,
};

/// Promotes due `scheduled` rows to `queued`.
#[derive(Debug, Clone)]
pub struct Promoter {
    db: Database,
    every: Duration,
    batch_size: i64,
}

/// What one promoter pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Promoted {
    /// Rows promoted, per queue.
    pub per_queue: Vec<(String, i64)>,
    /// When the next scheduled row becomes due, by the database clock.
    pub next_due: Option<DateTime<Utc>>,
    /// The database clock at the end of the pass.
    pub db_now: Option<DateTime<Utc>>,
}

impl Promoted {
    /// Rows promoted in total.
    pub fn total(&self) -> i64 {
        self.per_queue.iter().map(|(_, n)| n).sum()
    }
}

impl Promoter {
    /// A promoter on `db` moving at most `batch_size` rows per statement.
    pub fn new(db: Database, batch_size: usize) -> Self {
        Self {
            db,
            every: super::DEFAULT_PROMOTE_INTERVAL,
            batch_size: batch_size.max(1) as i64,
        }
    }

    /// Runs every `interval` under [`super::Maintenance`] (default 1 s; sooner when a scheduled row is due sooner).
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }
}

#[async_trait::async_trait]
impl LeaderService for Promoter {
    type Outcome = Promoted;

    fn name(&self) -> &'static str {
        "promoter"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    /// Rows that came due while the database was away are promoted at once.
    fn urgent_after_reconnect(&self) -> bool {
        true
    }

    /// Promotes every due row (in batches) and notifies their queues.
    ///
    /// # Errors
    /// The database's error; rows promoted by earlier batches stay promoted.
    async fn run(&self, leader: Option<&Leader>) -> Result<Promoted> {
        let mut client = self.db.client().await?;
        let mut out = Promoted::default();
        loop {
            let tx = begin(&mut client, leader).await?;
            let rows = self
                .db
                .query(&tx, sql::PROMOTE, &[&self.batch_size])
                .await?;
            tx.commit().await?;
            let mut moved = 0;
            for row in rows {
                let queue: String = row.get("queue");
                let n: i64 = row.get("promoted");
                moved += n;
                match out.per_queue.iter_mut().find(|(q, _)| *q == queue) {
                    Some((_, total)) => *total += n,
                    None => out.per_queue.push((queue, n)),
                }
            }
            if moved < self.batch_size {
                break;
            }
        }
        let next = self.db.query_one(&client, sql::NEXT_SCHEDULED, &[]).await?;
        out.next_due = next.get("next_at");
        out.db_now = next.get("db_now");
        Ok(out)
    }

    /// Logs what moved, and asks to run again when the next scheduled row is due, if that is sooner.
    fn report(&self, promoted: &Promoted) -> Option<Duration> {
        if promoted.total() > 0 {
            tracing::debug!(promoted = ?promoted.per_queue, "promoted due rows");
        }
        match (promoted.next_due, promoted.db_now) {
            (Some(due), Some(db_now)) => Some((due - db_now).to_std().unwrap_or(Duration::ZERO)),
            _ => None,
        }
    }
}
