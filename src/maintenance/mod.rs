//! Maintenance: the background services that exactly one elected process runs.
//!
//! - [`Promoter`]: `scheduled` rows become `queued` when due, and their queues are notified.
//! - [`Rescuer`]: `running` rows whose lease expired become a failed attempt plus a retry, or dead.
//! - [`Pruner`]: finished rows older than the retention are deleted in small batches.
//! - [`HistoryPruner`]: the same for the audit log and the alert history.
//! - [`Vacuumer`]: the queue table is vacuumed as soon as its dead row versions pile up.
//!
//! Each service implements [`LeaderService`]: a name, an interval, and `run`, one pass that reports
//! what it did. `run_once` (unfenced, what tests drive) and `run_once_as` come with the trait.
//! [`Maintenance::run`] is the one loop over all of them (the alert evaluation included), gated by
//! the [`Leader`] lease.
//! Every pass is safe to run twice or concurrently (row locks, SKIP LOCKED and status guards). Under the
//! loop, each batch is also fenced by the lease ([`Leader::begin_pass`]), so a stalled ex-leader that
//! wakes up after a takeover writes nothing: `run_once_as` is that fenced form.

mod history;
mod promoter;
mod pruner;
mod rescuer;
mod vacuumer;

use std::{sync::Arc, time::Duration};

use crate::config::{duration_text, positive, ConfigError};

use tokio_util::sync::CancellationToken;

pub use self::{
    history::{HistoryPruned, HistoryPruner},
    promoter::{Promoted, Promoter},
    pruner::Pruner,
    rescuer::{Rescued, Rescuer},
    vacuumer::Vacuumer,
};
use crate::leader::Scheduled;
pub use crate::leader::{Leader, LeaderService};
use crate::{
    alerts::{AlertConfig, Alerter},
    Database, Error, Result,
};

/// Opens one batch's transaction: fenced by `leader`'s lease when given, plain otherwise.
pub(super) async fn begin<'c>(
    client: &'c mut deadpool_postgres::Client,
    leader: Option<&Leader>,
) -> Result<deadpool_postgres::Transaction<'c>> {
    match leader {
        Some(leader) => leader.begin_pass(client).await,
        None => Ok(client.transaction().await?),
    }
}

/// Leader lease length, unless configured.
pub const DEFAULT_LEADER_TTL: Duration = Duration::from_secs(15);
/// Longest sleep of the promoter, unless configured.
pub const DEFAULT_PROMOTE_INTERVAL: Duration = Duration::from_secs(1);
/// How often expired leases are rescued, unless configured.
pub const DEFAULT_RESCUE_INTERVAL: Duration = Duration::from_secs(5);
/// How often rows past retention are pruned, unless configured. Short, so that a busy queue's
/// deletes come in small slices: a minute of a busy queue's rows deleted at once slows its drain.
pub const DEFAULT_PRUNE_INTERVAL: Duration = Duration::from_secs(10);
/// How often the queue table's dead row versions are checked, unless configured.
pub const DEFAULT_VACUUM_INTERVAL: Duration = Duration::from_secs(5);
/// Retention of succeeded, failed and cancelled rows, unless configured.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Retention of dead rows, unless configured.
pub const DEFAULT_DEAD_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Retention of the audit log, unless configured.
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
/// Retention of alert events and finished webhook deliveries, unless configured.
pub const DEFAULT_ALERT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Rows per statement of every service, unless configured.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

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
    /// How often the queue table's dead row versions are checked (and a vacuum started when they
    /// pile up).
    pub vacuum_interval: Duration,
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
            leader_ttl: DEFAULT_LEADER_TTL,
            promote_interval: DEFAULT_PROMOTE_INTERVAL,
            rescue_interval: DEFAULT_RESCUE_INTERVAL,
            prune_interval: DEFAULT_PRUNE_INTERVAL,
            vacuum_interval: DEFAULT_VACUUM_INTERVAL,
            retention: DEFAULT_RETENTION,
            dead_retention: DEFAULT_DEAD_RETENTION,
            audit_retention: DEFAULT_AUDIT_RETENTION,
            alert_retention: DEFAULT_ALERT_RETENTION,
            alert_delivery_retention: DEFAULT_ALERT_RETENTION,
            batch_size: DEFAULT_BATCH_SIZE,
            alerts: AlertConfig::default(),
        }
    }
}

impl MaintenanceConfig {
    /// Checks the intervals and retentions: the one definition of their ranges (alerts are checked
    /// when their settings are validated).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the field (`leader_ttl`), its value and what was expected.
    pub fn check(&self) -> std::result::Result<(), ConfigError> {
        for (key, value) in [
            ("leader_ttl", self.leader_ttl),
            ("promote_interval", self.promote_interval),
            ("rescue_interval", self.rescue_interval),
            ("prune_interval", self.prune_interval),
            ("vacuum_interval", self.vacuum_interval),
            ("alert_retention", self.alert_retention),
            ("alert_delivery_retention", self.alert_delivery_retention),
        ] {
            positive(key, value)?;
        }
        if self.audit_retention < Duration::from_secs(24 * 3600) {
            return Err(ConfigError::invalid(
                "audit_retention",
                duration_text(self.audit_retention),
                "at least 1day (the latest day of the audit log is never pruned)",
            ));
        }
        Ok(())
    }
}

/// The maintenance loop: elect a leader, and let the leader run the services.
#[derive(Debug, Clone)]
pub struct Maintenance {
    db: Database,
    leader: Leader,
    /// In the order they run when due together.
    services: Vec<Arc<dyn Scheduled>>,
    config: MaintenanceConfig,
}

impl Maintenance {
    /// Maintenance on `db`; `holder` identifies this process in `pgtide.leader`.
    pub fn new(db: Database, holder: impl Into<String>, config: MaintenanceConfig) -> Self {
        let c = &config;
        let mut services: Vec<Arc<dyn Scheduled>> = vec![
            Arc::new(Promoter::new(db.clone(), c.batch_size).every(c.promote_interval)),
            Arc::new(Rescuer::new(db.clone(), c.batch_size).every(c.rescue_interval)),
            Arc::new(
                Pruner::new(db.clone(), c.retention, c.dead_retention, c.batch_size)
                    .every(c.prune_interval),
            ),
            Arc::new(
                HistoryPruner::new(
                    db.clone(),
                    c.audit_retention,
                    c.alert_retention,
                    c.alert_delivery_retention,
                    c.batch_size,
                )
                .every(c.prune_interval),
            ),
            Arc::new(Vacuumer::new(db.clone()).every(c.vacuum_interval)),
        ];
        if !c.alerts.rules.is_empty() || !c.alerts.webhooks.is_empty() {
            services.push(Arc::new(Alerter::new(db.clone(), c.alerts.clone())));
        }
        Self {
            leader: Leader::new(db.clone(), "maintenance", holder, c.leader_ttl),
            db,
            services,
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
        let mut next_pass = vec![Instant::now(); self.services.len()];
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
            for (service, next) in self.services.iter().zip(next_pass.iter_mut()) {
                if !leading || now < *next {
                    continue;
                }
                *next = now + service.interval();
                match service.pass(&self.leader).await {
                    Ok(Some(sooner)) => *next = (*next).min(Instant::now() + sooner),
                    Ok(None) => {}
                    Err(e) => leading = self.pass_failed(service.name(), &e),
                }
            }
            let wake = if leading {
                next_pass.iter().copied().fold(next_renew, Instant::min)
            } else {
                next_renew
            };
            tokio::select! {
                () = sleep_until(wake) => {}
                // The database is back (after a restart or a failover): renew, or run for leader,
                // and run the urgent services (the promoter) at once instead of when their timers
                // come round.
                () = self.db.reconnected() => {
                    let now = Instant::now();
                    next_renew = now;
                    for (service, next) in self.services.iter().zip(next_pass.iter_mut()) {
                        if service.urgent_after_reconnect() {
                            *next = now;
                        }
                    }
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
