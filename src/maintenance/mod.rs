//! Maintenance: the background services that exactly one elected process runs.
//!
//! - [`Promoter`]: `scheduled` rows become `queued` when due, and their queues are notified.
//! - [`Rescuer`]: `running` rows whose lease expired become a failed attempt plus a retry, or dead.
//! - [`Pruner`]: finished rows older than the retention are deleted in small batches.
//! - [`HistoryPruner`]: the same for the audit log and the alert history.
//!
//! Each service has a `run_once` that does one pass and reports what it did, so tests drive a single
//! iteration directly; [`Maintenance::run`] is the loop around them, gated by the [`Leader`] lease.
//! Every pass is safe to run twice or concurrently (row locks, SKIP LOCKED and status guards). Under the
//! loop, each batch is also fenced by the lease ([`Leader::begin_pass`]), so a stalled ex-leader that
//! wakes up after a takeover writes nothing: `run_once_as` is that fenced form.

mod history;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

pub use self::history::{HistoryPruned, HistoryPruner};
pub use crate::leader::Leader;
use crate::{
    alerts::{AlertConfig, Alerter},
    sql, Database, Error, Result,
};

/// Opens one batch's transaction: fenced by `leader`'s lease when given, plain otherwise.
async fn begin<'c>(
    client: &'c mut deadpool_postgres::Client,
    leader: Option<&Leader>,
) -> Result<deadpool_postgres::Transaction<'c>> {
    match leader {
        Some(leader) => leader.begin_pass(client).await,
        None => Ok(client.transaction().await?),
    }
}

/// Settings of the maintenance services.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// Leader lease length; the leader renews every third of it and a successor takes over at most
    /// this long after the leader vanished.
    pub leader_ttl: Duration,
    /// Longest sleep of the promoter (it sleeps less when a scheduled row is due sooner).
    pub promote_interval: Duration,
    /// How often the rescuer looks for expired leases.
    pub rescue_interval: Duration,
    /// How often the pruner runs.
    pub prune_interval: Duration,
    /// Keep succeeded, failed and cancelled rows this long.
    pub retention: Duration,
    /// Keep dead rows this long.
    pub dead_retention: Duration,
    /// Keep audit-log rows this long (at least 1 day).
    pub audit_retention: Duration,
    /// Keep alert events this long (a subject's latest event stays while it fires).
    pub alert_retention: Duration,
    /// Keep finished webhook deliveries this long.
    pub alert_delivery_retention: Duration,
    /// Rows per statement for every service.
    pub batch_size: usize,
    /// Alert rules and webhooks; with no rules and no webhooks the leader evaluates nothing.
    pub alerts: AlertConfig,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            leader_ttl: Duration::from_secs(15),
            promote_interval: Duration::from_secs(1),
            rescue_interval: Duration::from_secs(5),
            prune_interval: Duration::from_secs(60),
            retention: Duration::from_secs(7 * 24 * 3600),
            dead_retention: Duration::from_secs(30 * 24 * 3600),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            alert_retention: Duration::from_secs(30 * 24 * 3600),
            alert_delivery_retention: Duration::from_secs(30 * 24 * 3600),
            batch_size: 1000,
            alerts: AlertConfig::default(),
        }
    }
}

/// Promotes due `scheduled` rows to `queued`.
#[derive(Debug, Clone)]
pub struct Promoter {
    db: Database,
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
            batch_size: batch_size.max(1) as i64,
        }
    }

    /// Promotes every due row (in batches) and notifies their queues.
    ///
    /// # Errors
    /// The database's error; rows promoted by earlier batches stay promoted.
    pub async fn run_once(&self) -> Result<Promoted> {
        self.pass(None).await
    }

    /// [`Promoter::run_once`], each batch fenced by `leader`'s lease.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `leader` no longer holds the lease; nothing more is promoted.
    pub async fn run_once_as(&self, leader: &Leader) -> Result<Promoted> {
        self.pass(Some(leader)).await
    }

    async fn pass(&self, leader: Option<&Leader>) -> Result<Promoted> {
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
}

/// Turns expired leases into failed attempts (with retries) or dead rows.
#[derive(Debug, Clone)]
pub struct Rescuer {
    db: Database,
    batch_size: i64,
}

/// One rescued attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescued {
    /// The attempt whose lease expired.
    pub id: i64,
    /// `failed` (a retry exists) or `dead`.
    pub status: String,
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
            batch_size: batch_size.max(1) as i64,
        }
    }

    /// Rescues every attempt whose lease has expired.
    ///
    /// # Errors
    /// The database's error; earlier batches stay rescued.
    ///
    /// # Transactions and locks
    /// Each batch is one statement. `pgtide.fail_attempts` re-checks status, attempt and expiry
    /// under the row lock, so a row completed or renewed after the batch was read is left alone.
    pub async fn run_once(&self) -> Result<Vec<Rescued>> {
        self.pass(None).await
    }

    /// [`Rescuer::run_once`], each batch fenced by `leader`'s lease.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `leader` no longer holds the lease; nothing more is rescued.
    pub async fn run_once_as(&self, leader: &Leader) -> Result<Vec<Rescued>> {
        self.pass(Some(leader)).await
    }

    async fn pass(&self, leader: Option<&Leader>) -> Result<Vec<Rescued>> {
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
                    status: row.get("status"),
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

/// Deletes finished rows past their retention.
#[derive(Debug, Clone)]
pub struct Pruner {
    db: Database,
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
            retention,
            dead_retention,
            batch_size: batch_size.clamp(1, i32::MAX as usize) as i32,
        }
    }

    /// Deletes everything past retention, one short batch per statement; returns the rows deleted.
    ///
    /// # Errors
    /// The database's error; earlier batches stay deleted.
    pub async fn run_once(&self) -> Result<i64> {
        self.pass(None).await
    }

    /// [`Pruner::run_once`], each batch fenced by `leader`'s lease.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `leader` no longer holds the lease; nothing more is deleted.
    pub async fn run_once_as(&self, leader: &Leader) -> Result<i64> {
        self.pass(Some(leader)).await
    }

    async fn pass(&self, leader: Option<&Leader>) -> Result<i64> {
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
}

/// The maintenance loop: elect a leader, and let the leader run the services.
#[derive(Debug, Clone)]
pub struct Maintenance {
    leader: Leader,
    promoter: Promoter,
    rescuer: Rescuer,
    pruner: Pruner,
    history: HistoryPruner,
    alerter: Option<Alerter>,
    config: MaintenanceConfig,
}

impl Maintenance {
    /// Maintenance on `db`; `holder` identifies this process in `pgtide.leader`.
    pub fn new(db: Database, holder: impl Into<String>, config: MaintenanceConfig) -> Self {
        let alerts = &config.alerts;
        let alerter = (!alerts.rules.is_empty() || !alerts.webhooks.is_empty())
            .then(|| Alerter::new(db.clone(), alerts.clone()));
        Self {
            leader: Leader::new(db.clone(), "maintenance", holder, config.leader_ttl),
            promoter: Promoter::new(db.clone(), config.batch_size),
            rescuer: Rescuer::new(db.clone(), config.batch_size),
            history: HistoryPruner::new(
                db.clone(),
                config.audit_retention,
                config.alert_retention,
                config.alert_delivery_retention,
                config.batch_size,
            ),
            pruner: Pruner::new(
                db,
                config.retention,
                config.dead_retention,
                config.batch_size,
            ),
            alerter,
            config,
        }
    }

    /// The leader lease this loop competes for.
    pub fn leader(&self) -> &Leader {
        &self.leader
    }

    /// Runs until `shutdown`, then gives the lease up so a successor need not wait for it to expire.
    pub async fn run(&self, shutdown: CancellationToken) {
        use tokio::time::{sleep_until, Instant};
        let renew_every = self.config.leader_ttl / 3;
        let mut leading = false;
        let mut next_renew = Instant::now();
        let mut next_promote = Instant::now();
        let mut next_rescue = Instant::now();
        let mut next_prune = Instant::now();
        let mut next_alerts = Instant::now();
        let mut election_backoff =
            crate::backoff::Backoff::new(Duration::from_millis(50), crate::backoff::RECONNECT_MAX);
        loop {
            let now = Instant::now();
            if now >= next_renew {
                let was = leading;
                next_renew = now + renew_every;
                leading = match self.leader.try_acquire().await {
                    Ok(held) => {
                        election_backoff.reset();
                        held
                    }
                    Err(e) => {
                        // The database is away (a restart, a failover): ask again soon rather than
                        // a renewal period later, so promotions and rescues resume with it.
                        let retry = election_backoff.next_delay().min(renew_every);
                        next_renew = now + retry;
                        tracing::warn!(error = %e, retry_in = ?retry,
                            "leader election failed; acting as follower");
                        false
                    }
                };
                crate::metrics::set_leader(leading);
                if leading != was {
                    tracing::info!(
                        holder = self.leader.holder(),
                        leading,
                        "maintenance leadership changed"
                    );
                }
            }
            if leading {
                if now >= next_promote {
                    next_promote = now + self.config.promote_interval;
                    match self.promoter.run_once_as(&self.leader).await {
                        Ok(p) => {
                            if p.total() > 0 {
                                tracing::debug!(promoted = ?p.per_queue, "promoted due rows");
                            }
                            if let (Some(due), Some(db_now)) = (p.next_due, p.db_now) {
                                let wait = (due - db_now).to_std().unwrap_or(Duration::ZERO);
                                next_promote = next_promote.min(Instant::now() + wait);
                            }
                        }
                        Err(e) => leading = self.pass_failed("promoter", &e),
                    }
                }
                if leading && now >= next_rescue {
                    next_rescue = now + self.config.rescue_interval;
                    if let Err(e) = self.rescuer.run_once_as(&self.leader).await {
                        leading = self.pass_failed("rescuer", &e);
                    }
                }
                if leading && now >= next_prune {
                    next_prune = now + self.config.prune_interval;
                    match self.pruner.run_once_as(&self.leader).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "pruned finished executions"),
                        Err(e) => leading = self.pass_failed("pruner", &e),
                    }
                    if leading {
                        match self.history.run_once_as(&self.leader).await {
                            Ok(HistoryPruned {
                                audit: 0,
                                alerts: 0,
                            }) => {}
                            Ok(p) => tracing::info!(
                                audit = p.audit,
                                alerts = p.alerts,
                                "pruned audit and alert history"
                            ),
                            Err(e) => leading = self.pass_failed("history pruner", &e),
                        }
                    }
                }
                if let Some(alerter) = self.alerter.as_ref().filter(|_| leading) {
                    if now >= next_alerts {
                        next_alerts = now + self.config.alerts.interval;
                        if let Err(e) = alerter.run_once_as(&self.leader).await {
                            leading = self.pass_failed("alerts", &e);
                        }
                    }
                }
            }
            let wake = if leading {
                next_renew
                    .min(next_promote)
                    .min(next_rescue)
                    .min(next_prune)
                    .min(if self.alerter.is_some() {
                        next_alerts
                    } else {
                        next_renew
                    })
            } else {
                next_renew
            };
            tokio::select! {
                () = sleep_until(wake) => {}
                // The database is back (after a restart or a failover): renew, or run for leader,
                // and promote at once instead of when the timers come round.
                () = self.promoter.db.reconnected() => {
                    next_renew = Instant::now();
                    next_promote = Instant::now();
                }
                () = shutdown.cancelled() => break,
            }
        }
        if leading {
            if let Err(e) = self.leader.release().await {
                tracing::debug!(error = %e, "could not release the leader lease; it will expire");
            }
        }
    }

    /// Logs a failed pass; returns whether this process still leads (a fenced-out pass means it does
    /// not: a successor took over while this one stalled).
    fn pass_failed(&self, service: &str, error: &Error) -> bool {
        if matches!(error, Error::LeaseLost { .. }) {
            tracing::warn!(holder = self.leader.holder(), service, %error,
                "lost the maintenance lease to a successor; standing down");
            crate::metrics::set_leader(false);
            return false;
        }
        tracing::warn!(service, %error, "maintenance pass failed");
        true
    }
}
