//! Alerting: rules from pgtide.toml, evaluated by the maintenance leader, recorded in Postgres, and
//! sent to webhooks.
//!
//! Each rule is one SQL query (`sql/queries/alerts/`) that returns the subjects it holds for now: a
//! queue, a handler or a task, with a value and a line for people. [`Alerter::evaluate`] compares
//! those findings with what fires already (`pgtide.alerts`, the latest event per rule and subject)
//! and records only the changes: a `firing` event for a new finding, a `resolved` event for a firing
//! that no longer holds. So a rule that holds for an hour makes one event and one notification,
//! not one per evaluation.
//!
//! Notifications are rows of `pgtide.alert_deliveries`, inserted by the same statement as their
//! event. [`Alerter::deliver`] sends the due ones and records each outcome; a failure is retried
//! with backoff up to [`MAX_DELIVERY_ATTEMPTS`]. Nothing lives only in memory: a leader that dies
//! between the event and the HTTP call leaves a pending row, and its successor sends it.
//!
//! Under [`crate::maintenance::Maintenance`], each evaluation runs in a transaction fenced by the
//! leader lease, like the other services, so two processes never record the same change.

mod config;
mod webhook;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::config::{
    AlertConfig, AlertSettings, Rule, RuleKind, RuleSettings, Webhook, WebhookFormat,
    WebhookSettings, DEFAULT_INTERVAL,
};
use crate::{
    leader::{Leader, LeaderService},
    sql, Database, Result,
};

/// Attempts per delivery before it is marked `failed`.
pub const MAX_DELIVERY_ATTEMPTS: i32 = 10;

/// Deliveries sent per pass at most.
const DELIVERY_BATCH: i64 = 100;

/// What a rule holds for now.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The queue, handler or task.
    pub subject: String,
    /// Measured value (percent, seconds, count).
    pub value: f64,
    /// One line for people.
    pub message: String,
}

/// A recorded alert event (a row of `pgtide.alert_events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Its id in `pgtide.alert_events`.
    pub id: i64,
    /// The rule's name.
    pub rule: String,
    /// The rule's kind.
    pub kind: String,
    /// The subject.
    pub subject: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// The value measured (absent for a resolve).
    pub value: Option<f64>,
    /// One line for people.
    pub message: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// For a resolve, the firing event it ends.
    #[serde(default)]
    pub fired_id: Option<i64>,
    /// Its webhook deliveries (webhook, status, attempts, last_error, delivered_at), when read back
    /// by [`crate::admin::Admin::alert_events`]; empty for an event just recorded.
    #[serde(default)]
    pub deliveries: Vec<serde_json::Value>,
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Deliveries answered with 2xx.
    pub sent: usize,
    /// Attempts that failed (each is retried later or marked failed).
    pub failed: usize,
}

/// Evaluates the rules and delivers their notifications.
#[derive(Debug, Clone)]
pub struct Alerter {
    db: Database,
    config: AlertConfig,
    http: reqwest::Client,
}

#[async_trait::async_trait]
impl LeaderService for Alerter {
    fn name(&self) -> &'static str {
        "alerts"
    }

    fn interval(&self) -> std::time::Duration {
        self.config.interval
    }

    type Outcome = Vec<AlertEvent>;

    /// One evaluation, fenced by `leader`'s lease when given, and one delivery pass; returns the
    /// events recorded.
    async fn run(&self, leader: Option<&Leader>) -> Result<Vec<AlertEvent>> {
        let events = self.evaluate(leader).await?;
        self.deliver().await?;
        Ok(events)
    }
}

impl Alerter {
    /// An alerter on `db` for the validated `config`.
    pub fn new(db: Database, config: AlertConfig) -> Self {
        Self {
            db,
            config,
            http: webhook::client(),
        }
    }

    /// The configuration it evaluates.
    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// Evaluates every rule and records what changed; returns the events recorded.
    ///
    /// A firing whose rule is no longer configured is resolved, so removing a rule does not leave
    /// an alert firing forever.
    ///
    /// # Errors
    /// The database's error; nothing is recorded then.
    ///
    /// # Transactions and locks
    /// One transaction (fenced by `leader` when given) reads the findings and the firing set and
    /// writes the events with their deliveries.
    pub async fn evaluate(&self, leader: Option<&Leader>) -> Result<Vec<AlertEvent>> {
        let mut client = self.db.client().await?;
        let tx = match leader {
            Some(leader) => leader.begin_pass(&mut client).await?,
            None => client.transaction().await?,
        };
        let firing: Vec<(i64, String, String)> = self
            .db
            .query(&tx, sql::ALERT_FIRING, &[])
            .await?
            .iter()
            .map(|r| (r.get("id"), r.get("rule"), r.get("subject")))
            .collect();
        let webhooks: Vec<&str> = self
            .config
            .webhooks
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        let mut events = Vec::new();
        let mut holding: HashSet<(&str, String)> = HashSet::new();
        for rule in &self.config.rules {
            for finding in findings(&self.db, &tx, &rule.kind).await? {
                holding.insert((rule.name.as_str(), finding.subject.clone()));
                let fires = firing
                    .iter()
                    .any(|(_, r, s)| *r == rule.name && *s == finding.subject);
                if fires {
                    continue;
                }
                let row = self
                    .db
                    .query_one(
                        &tx,
                        sql::ALERT_RECORD,
                        &[
                            &rule.name,
                            &rule.kind.name(),
                            &finding.subject,
                            &"firing",
                            &Some(finding.value),
                            &finding.message,
                            &None::<i64>,
                            &webhooks,
                        ],
                    )
                    .await?;
                events.push(AlertEvent {
                    id: row.get("id"),
                    rule: rule.name.clone(),
                    kind: rule.kind.name().into(),
                    subject: finding.subject,
                    state: "firing".into(),
                    value: Some(finding.value),
                    message: finding.message,
                    at: row.get("at"),
                    fired_id: None,
                    deliveries: Vec::new(),
                });
            }
        }
        for (fired_id, rule_name, subject) in &firing {
            if holding.contains(&(rule_name.as_str(), subject.clone())) {
                continue;
            }
            let rule = self.config.rules.iter().find(|r| r.name == *rule_name);
            let kind = rule.map_or("removed", |r| r.kind.name());
            let message = match rule {
                Some(_) => format!("{rule_name} no longer holds for {subject}"),
                None => format!("{rule_name} is no longer configured; resolved for {subject}"),
            };
            let row = self
                .db
                .query_one(
                    &tx,
                    sql::ALERT_RECORD,
                    &[
                        rule_name,
                        &kind,
                        subject,
                        &"resolved",
                        &None::<f64>,
                        &message,
                        &Some(*fired_id),
                        &webhooks,
                    ],
                )
                .await?;
            events.push(AlertEvent {
                id: row.get("id"),
                rule: rule_name.clone(),
                kind: kind.into(),
                subject: subject.clone(),
                state: "resolved".into(),
                value: None,
                message,
                at: row.get("at"),
                fired_id: Some(*fired_id),
                deliveries: Vec::new(),
            });
        }
        tx.commit().await?;
        for event in &events {
            crate::metrics::alert_event(&event.rule, &event.state);
            if event.state == "firing" {
                tracing::warn!(rule = %event.rule, subject = %event.subject, message = %event.message, "alert firing");
            } else {
                tracing::info!(rule = %event.rule, subject = %event.subject, "alert resolved");
            }
        }
        Ok(events)
    }

    /// Sends the deliveries that are due and records each outcome.
    ///
    /// # Errors
    /// The database's error; outcomes recorded before it stay recorded.
    pub async fn deliver(&self) -> Result<Delivered> {
        let client = self.db.client().await?;
        let pending = self
            .db
            .query(&client, sql::ALERT_PENDING, &[&DELIVERY_BATCH])
            .await?;
        let mut out = Delivered::default();
        for row in pending {
            let id: i64 = row.get("id");
            let name: String = row.get("webhook");
            let outcome = match self.config.webhooks.iter().find(|w| w.name == name) {
                None => Err(format!(
                    "webhook {name:?} is not in this leader's [alerts] configuration"
                )),
                Some(hook) => {
                    webhook::send(&self.http, hook, &webhook::Notice::from_row(&row)).await
                }
            };
            match outcome {
                Ok(()) => {
                    self.db
                        .execute(&client, sql::ALERT_DELIVERED, &[&id])
                        .await?;
                    out.sent += 1;
                }
                Err(error) => {
                    tracing::warn!(delivery = id, webhook = %name, %error, "alert delivery failed");
                    self.db
                        .execute(
                            &client,
                            sql::ALERT_DELIVERY_FAILED,
                            &[&id, &error, &MAX_DELIVERY_ATTEMPTS],
                        )
                        .await?;
                    out.failed += 1;
                }
            }
        }
        Ok(out)
    }
}

/// The subjects `kind` holds for now.
async fn findings(
    db: &Database,
    tx: &deadpool_postgres::Transaction<'_>,
    kind: &RuleKind,
) -> Result<Vec<Finding>> {
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let rows = match kind {
        RuleKind::FailureRate {
            queue,
            handler,
            above_pct,
            window,
            min_attempts,
        } => {
            let by_handler = handler.is_some();
            db.query(
                tx,
                sql::ALERT_FAILURE_RATE,
                &[
                    &secs(*window),
                    queue,
                    handler,
                    min_attempts,
                    above_pct,
                    &by_handler,
                ],
            )
            .await?
        }
        RuleKind::OldestDue { queue, older_than } => {
            db.query(tx, sql::ALERT_OLDEST_DUE, &[&secs(*older_than), queue])
                .await?
        }
        RuleKind::DeadLetters {
            queue,
            above,
            growing,
        } => {
            db.query(
                tx,
                sql::ALERT_DEAD_LETTERS,
                &[queue, above, &growing.map(secs)],
            )
            .await?
        }
        RuleKind::OverdueRunning { queue, grace } => {
            db.query(tx, sql::ALERT_OVERDUE_RUNNING, &[&secs(*grace), queue])
                .await?
        }
        RuleKind::NoWorker { queue } => db.query(tx, sql::ALERT_NO_WORKER, &[queue]).await?,
        RuleKind::TaskInvalid { task } => db.query(tx, sql::ALERT_TASK_INVALID, &[task]).await?,
    };
    Ok(rows
        .iter()
        .map(|r| Finding {
            subject: r.get("subject"),
            value: r.get("value"),
            message: r.get("message"),
        })
        .collect())
}
