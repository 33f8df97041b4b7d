//! The vacuumer: the queue table is vacuumed as soon as its dead row versions pile up, not when
//! autovacuum next looks.
//!
//! Every job leaves two dead row versions in `pgtide.executions` (its claim and its completion change
//! `status`, which the partial indexes depend on, so neither update can be HOT), and a busy queue
//! makes tens of thousands a second. Autovacuum visits each database once per `autovacuum_naptime`,
//! a minute by default, a server setting that pgtide cannot change for its own table. Until it
//! comes, the head of the claim index fills up with entries of rows that are no longer queued, every
//! claim steps over all of them, and the drain slows down in proportion. So the leader checks every
//! `vacuum_interval` (5 s) and starts a `VACUUM` of its own when the dead versions outnumber both
//! [`MIN_DEAD`] and [`DEAD_SHARE`] of the live rows, and no vacuum is at work on the table already.
//!
//! The `VACUUM` runs on a connection of its own, in the background, so the promoter and the rescuer
//! are never held up behind it; at most one runs at a time. It skips the table when it cannot lock it
//! at once (`SKIP_LOCKED`), and never truncates it, which would lock out claims for a moment. A role
//! that does not own the table gets a warning from the server instead, and the passes carry on.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use super::begin;
use crate::{
    leader::{Leader, LeaderService},
    sql, Database, Error, Result,
};

/// Fewer dead row versions than this are left to autovacuum.
pub const MIN_DEAD: i64 = 50_000;
/// Nor is a share of dead versions smaller than this, relative to the live rows.
pub const DEAD_SHARE: f64 = 0.1;

/// Starts a vacuum of the queue table when its dead row versions pile up.
#[derive(Debug, Clone)]
pub struct Vacuumer {
    db: Database,
    every: Duration,
    /// Whether one of this vacuumer's vacuums is running.
    running: Arc<AtomicBool>,
}

impl Vacuumer {
    /// A vacuumer on `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            every: super::DEFAULT_VACUUM_INTERVAL,
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Checks every `interval` under [`super::Maintenance`] (default 5 s).
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }

    /// Whether a vacuum this vacuumer started is still running.
    pub fn is_vacuuming(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl LeaderService for Vacuumer {
    /// The dead row versions when a vacuum was started, `None` when none was.
    type Outcome = Option<i64>;

    fn name(&self) -> &'static str {
        "vacuumer"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    /// Checks the table's dead row versions and, when they are due, starts a vacuum in the
    /// background.
    ///
    /// # Errors
    /// The database's error from the check; the vacuum's own errors are logged.
    async fn run(&self, leader: Option<&Leader>) -> Result<Option<i64>> {
        if self.is_vacuuming() {
            return Ok(None);
        }
        let mut client = self.db.client().await?;
        let tx = begin(&mut client, leader).await?;
        let row = self
            .db
            .query_opt(&tx, sql::VACUUM_DUE, &[&MIN_DEAD, &DEAD_SHARE])
            .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        if !row.get::<_, bool>("due") {
            return Ok(None);
        }
        let dead: i64 = row.get("dead");
        self.running.store(true, Ordering::Relaxed);
        let running = self.running.clone();
        tokio::spawn(async move {
            // VACUUM cannot run inside a transaction block: a plain pooled connection.
            if let Err(e) = client.batch_execute(sql::VACUUM).await {
                tracing::warn!(error = %Error::from(e), "vacuum of pgtide.executions failed");
            }
            running.store(false, Ordering::Relaxed);
        });
        Ok(Some(dead))
    }

    fn report(&self, started: &Option<i64>) -> Option<Duration> {
        if let Some(dead) = started {
            tracing::debug!(dead, "vacuuming pgtide.executions");
        }
        None
    }
}
