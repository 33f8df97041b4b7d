//! The leader lease, its fence, and the shape of a service that only the leader runs
//! ([`LeaderService`]), shared by the maintenance services and the alert evaluation (both run only
//! in the leader, and neither imports the other).
//!
//! Exactly one process should run the maintenance services at a time. pgtide elects it with a row in
//! `pgtide.leader`, not with a session advisory lock: an advisory lock belongs to a server session, and
//! behind a transaction pooler (PgBouncer) sessions are shared and swapped, so the lock would be held
//! by whoever happens to get the connection. A row works through any pooler.
//!
//! The holder renews the lease every third of its TTL with a single upsert that succeeds only if it
//! still holds the lease or the lease has expired. Expiry is judged by the database clock, so clock
//! skew between hosts cannot produce two leaders. A holder that cannot renew (it stalled, or lost the
//! database) stops acting as leader at its next renewal attempt; a successor can only take over after
//! the TTL, by which time the old holder has tried to renew at least twice.
//!
//! Renewal timing alone cannot stop a holder that stalls (SIGSTOP, a long GC-like pause, a frozen VM)
//! between a successful renewal and its next pass. So every pass is also fenced: it runs in a
//! transaction that first re-reads the lease row `FOR SHARE` ([`Leader::begin_pass`]). A stale holder's
//! pass finds another holder and writes nothing, and a takeover waits for a pass in flight to commit.
//! The services are safe to overlap anyway (row locks and status guards); the fence makes "one leader
//! acts at a time" a fact rather than a likelihood.

use std::time::Duration;

use crate::{sql, Database, Error, Result};

/// A named lease in `pgtide.leader`.
#[derive(Debug, Clone)]
pub struct Leader {
    db: Database,
    name: String,
    holder: String,
    ttl: Duration,
}

impl Leader {
    /// A contender for the lease `name`, identified as `holder`.
    pub fn new(
        db: Database,
        name: impl Into<String>,
        holder: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            db,
            name: name.into(),
            holder: holder.into(),
            ttl,
        }
    }

    /// This contender's identity.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes the lease if it is free or expired, or renews it if held; returns whether it is held.
    ///
    /// # Errors
    /// The database's error (the caller should then assume it is not the leader).
    pub async fn try_acquire(&self) -> Result<bool> {
        let client = self.db.client().await?;
        let rows = self
            .db
            .query(
                &client,
                sql::LEADER_ACQUIRE,
                &[&self.name, &self.holder, &self.ttl.as_secs_f64()],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Opens the transaction of one leader pass on `client`: it holds the lease row `FOR SHARE` until
    /// it ends, so no successor can take over meanwhile. A pass left idle for the lease's TTL (its
    /// process stalled, and so stopped renewing) is ended by the server, so a stalled leader holds a
    /// takeover off no longer than its lease would have.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when this contender does not hold an unexpired lease (the transaction is
    /// rolled back); the database's error otherwise.
    pub async fn begin_pass<'c>(
        &self,
        client: &'c mut deadpool_postgres::Client,
    ) -> Result<deadpool_postgres::Transaction<'c>> {
        let tx = client.transaction().await?;
        let idle_limit = format!("{}ms", self.ttl.as_millis().max(1));
        let held = self
            .db
            .query_opt(
                &tx,
                sql::LEADER_FENCE,
                &[&self.name, &self.holder, &idle_limit],
            )
            .await?;
        if held.is_none() {
            tx.rollback().await?;
            return Err(Error::LeaseLost {
                name: self.name.clone(),
                holder: self.holder.clone(),
            });
        }
        Ok(tx)
    }

    /// Gives the lease up, if held.
    ///
    /// # Errors
    /// The database's error.
    pub async fn release(&self) -> Result<()> {
        let client = self.db.client().await?;
        self.db
            .execute(&client, sql::LEADER_RELEASE, &[&self.name, &self.holder])
            .await?;
        Ok(())
    }
}

/// A service that only the leader runs: a name for its logs, how often it runs, and one pass whose
/// transactions are fenced by the lease. A service implements [`LeaderService::run`] (and, to log
/// or to ask for an earlier next pass, [`LeaderService::report`]); `run_once` and `run_once_as`,
/// which tests and tools call, come with the trait. `Maintenance::run` is the one loop over all of
/// them.
#[async_trait::async_trait]
pub trait LeaderService: std::fmt::Debug + Send + Sync {
    /// What one pass did (rows moved, events recorded, ...).
    type Outcome: Send;

    /// The name in log lines ("promoter", "rescuer", ...).
    fn name(&self) -> &'static str;

    /// How long the loop waits between two passes.
    fn interval(&self) -> Duration;

    /// Runs one pass, each of its transactions fenced by `leader`'s lease when one is given.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `leader` no longer holds the lease (the loop then stands down);
    /// the database's error otherwise (the loop logs it and carries on).
    async fn run(&self, leader: Option<&Leader>) -> Result<Self::Outcome>;

    /// Logs what a pass of the loop did; returns how soon the service wants to run again, when
    /// that is sooner than its interval.
    fn report(&self, outcome: &Self::Outcome) -> Option<Duration> {
        let _ = outcome;
        None
    }

    /// Whether the loop runs it at once when the database comes back after an outage.
    fn urgent_after_reconnect(&self) -> bool {
        false
    }

    /// One pass, unfenced: for tests and tools, which hold no lease.
    ///
    /// # Errors
    /// The database's error.
    async fn run_once(&self) -> Result<Self::Outcome> {
        self.run(None).await
    }

    /// One pass fenced by `leader`'s lease.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `leader` no longer holds the lease; the pass then changes nothing
    /// more.
    async fn run_once_as(&self, leader: &Leader) -> Result<Self::Outcome> {
        self.run(Some(leader)).await
    }
}

/// What the loop holds of a service: its outcome type erased, so services of every kind share one
/// list.
#[async_trait::async_trait]
pub(crate) trait Scheduled: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;
    fn interval(&self) -> Duration;
    fn urgent_after_reconnect(&self) -> bool;
    /// One fenced pass; how soon to run again, when sooner than the interval.
    async fn pass(&self, leader: &Leader) -> Result<Option<Duration>>;
}

#[async_trait::async_trait]
impl<S: LeaderService> Scheduled for S {
    fn name(&self) -> &'static str {
        LeaderService::name(self)
    }

    fn interval(&self) -> Duration {
        LeaderService::interval(self)
    }

    fn urgent_after_reconnect(&self) -> bool {
        LeaderService::urgent_after_reconnect(self)
    }

    async fn pass(&self, leader: &Leader) -> Result<Option<Duration>> {
        let outcome = self.run(Some(leader)).await?;
        Ok(self.report(&outcome))
    }
}
