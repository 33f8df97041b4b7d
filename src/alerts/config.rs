//! `[alerts]` of pgtide.toml: the rules, the webhooks, and how often the leader evaluates them.
//!
//! A rule is one table (`[[alerts.rules]]`) whose `kind` selects the keys it takes, read like
//! `[handlers.NAME]`: a serde-tagged enum, so a key that the kind does not use is an error and a typo
//! never silently widens a rule. Validation checks the values and turns the tables into typed
//! [`Rule`]s once, at startup.

use std::time::Duration;

use serde::Deserialize;

/// `[alerts]` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// How often the leader evaluates the rules and sends pending notifications (default 15 s).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// `[[alerts.rules]]`.
    #[serde(default)]
    pub rules: Vec<RuleSettings>,
    /// `[[alerts.webhooks]]`.
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
}

/// One `[[alerts.rules]]` table as written, selected by `kind`; [`AlertSettings::validate`] checks
/// the values and types it.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleSettings {
    /// `kind = "failure_rate"`: the failed share of the attempts finished within `window`.
    FailureRate {
        /// Unique name; events and notifications carry it.
        name: String,
        /// Only this queue.
        queue: Option<String>,
        /// Only this handler (the rate is then per handler, not per queue).
        handler: Option<String>,
        /// Percent of finished attempts that failed.
        above: Option<f64>,
        /// The window (default 5 m).
        #[serde(default, with = "humantime_serde")]
        window: Option<Duration>,
        /// Fewer finished attempts in the window never fire (default 5).
        min_attempts: Option<i64>,
    },
    /// `kind = "oldest_due"`: the oldest due job of a queue has waited too long.
    OldestDue {
        /// Unique name.
        name: String,
        /// Only this queue.
        queue: Option<String>,
        /// The age of the oldest due job that fires.
        #[serde(default, with = "humantime_serde")]
        older_than: Option<Duration>,
    },
    /// `kind = "dead_letters"`: too many dead letters, or new ones within `window`.
    DeadLetters {
        /// Unique name.
        name: String,
        /// Only this queue.
        queue: Option<String>,
        /// A count.
        above: Option<f64>,
        /// Fire while dead letters were added within it ("growing").
        #[serde(default, with = "humantime_serde")]
        window: Option<Duration>,
    },
    /// `kind = "overdue_running"`: running executions past their timeout.
    OverdueRunning {
        /// Unique name.
        name: String,
        /// Only this queue.
        queue: Option<String>,
        /// Time past the execution's timeout before it counts (default 1 m).
        #[serde(default, with = "humantime_serde")]
        grace: Option<Duration>,
    },
    /// `kind = "no_worker"`: due jobs and no live worker for their queue.
    NoWorker {
        /// Unique name.
        name: String,
        /// Only this queue.
        queue: Option<String>,
    },
    /// `kind = "task_invalid"`: a task whose schedule stopped.
    TaskInvalid {
        /// Unique name.
        name: String,
        /// Only this task.
        task: Option<String>,
    },
}

/// One `[[alerts.webhooks]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Unique name; deliveries carry it.
    pub name: String,
    /// Where to POST; `${ENV}` is interpolated.
    pub url: String,
    /// `json` (default): the event as a JSON object; `slack`: `{"text": ...}` for Slack-compatible
    /// incoming webhooks (Slack, Mattermost, Rocket.Chat, Discord's /slack endpoint).
    pub format: Option<String>,
    /// Extra headers; `${ENV}` is interpolated.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// What a rule watches, with its thresholds.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// Failed share of the attempts finished within `window`, per queue (or per handler when
    /// `handler` is given), above `above_pct`, once at least `min_attempts` finished.
    FailureRate {
        /// Only this queue.
        queue: Option<String>,
        /// Only this handler; the subject is then the handler.
        handler: Option<String>,
        /// Threshold in percent.
        above_pct: f64,
        /// The window.
        window: Duration,
        /// Least attempts in the window for the rate to count.
        min_attempts: i64,
    },
    /// The oldest due job of a queue has waited longer than `older_than`.
    OldestDue {
        /// Only this queue.
        queue: Option<String>,
        /// The age that fires.
        older_than: Duration,
    },
    /// A queue's dead letters number more than `above`, or grew within `growing`.
    DeadLetters {
        /// Only this queue.
        queue: Option<String>,
        /// Count that fires.
        above: Option<i64>,
        /// Fire while dead letters were added within this window.
        growing: Option<Duration>,
    },
    /// Running executions past their timeout plus `grace` (their worker is stuck or gone).
    OverdueRunning {
        /// Only this queue.
        queue: Option<String>,
        /// Time past the timeout.
        grace: Duration,
    },
    /// A queue with due jobs, not paused, and no live worker that claims from it.
    NoWorker {
        /// Only this queue.
        queue: Option<String>,
    },
    /// A task is `invalid` (its schedule stopped).
    TaskInvalid {
        /// Only this task.
        task: Option<String>,
    },
}

impl RuleKind {
    /// The kind's name, as in the file and in `pgtide.alert_events.kind`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FailureRate { .. } => "failure_rate",
            Self::OldestDue { .. } => "oldest_due",
            Self::DeadLetters { .. } => "dead_letters",
            Self::OverdueRunning { .. } => "overdue_running",
            Self::NoWorker { .. } => "no_worker",
            Self::TaskInvalid { .. } => "task_invalid",
        }
    }
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// What it watches.
    pub kind: RuleKind,
}

/// How a webhook's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The event as a JSON object.
    Json,
    /// `{"text": "..."}`.
    Slack,
}

/// A validated webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Unique name.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// Body shape.
    pub format: WebhookFormat,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

/// The validated `[alerts]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    /// Evaluation interval.
    pub interval: Duration,
    /// The rules.
    pub rules: Vec<Rule>,
    /// The webhooks.
    pub webhooks: Vec<Webhook>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            rules: Vec::new(),
            webhooks: Vec::new(),
        }
    }
}

/// Default evaluation interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

type Invalid = (String, String);

impl AlertSettings {
    /// Checks every rule and webhook and types them; `env` resolves `${NAME}` in webhooks.
    ///
    /// # Errors
    /// The dotted key (`alerts.rules[2].above`) and what was expected.
    pub fn validate(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<AlertConfig, Invalid> {
        let interval = self.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval.is_zero() {
            return Err((
                "alerts.interval".into(),
                "0s: expected a duration > 0".into(),
            ));
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, settings) in self.rules.iter().enumerate() {
            let rule = settings.validate(&format!("alerts.rules[{i}]"))?;
            if rules.iter().any(|r: &Rule| r.name == rule.name) {
                return Err((
                    format!("alerts.rules[{i}].name"),
                    format!("{:?}: expected a name no other rule has", rule.name),
                ));
            }
            rules.push(rule);
        }
        let mut webhooks = Vec::with_capacity(self.webhooks.len());
        for (i, settings) in self.webhooks.iter().enumerate() {
            let hook = settings.validate(&format!("alerts.webhooks[{i}]"), env)?;
            if webhooks.iter().any(|w: &Webhook| w.name == hook.name) {
                return Err((
                    format!("alerts.webhooks[{i}].name"),
                    format!("{:?}: expected a name no other webhook has", hook.name),
                ));
            }
            webhooks.push(hook);
        }
        Ok(AlertConfig {
            interval,
            rules,
            webhooks,
        })
    }
}

impl RuleSettings {
    /// The rule's name.
    fn name(&self) -> &str {
        match self {
            Self::FailureRate { name, .. }
            | Self::OldestDue { name, .. }
            | Self::DeadLetters { name, .. }
            | Self::OverdueRunning { name, .. }
            | Self::NoWorker { name, .. }
            | Self::TaskInvalid { name, .. } => name,
        }
    }

    fn validate(&self, at: &str) -> Result<Rule, Invalid> {
        let key = |field: &str| format!("{at}.{field}");
        let name = self.name();
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err((key("name"), format!("{name:?}: expected a non-empty name")));
        }
        let not_blank = |field: &str, value: &Option<String>| match value {
            Some(v) if v.trim().is_empty() => {
                Err((key(field), "\"\": expected a non-empty name".to_string()))
            }
            _ => Ok(value.clone()),
        };
        let positive = |field: &str, value: Option<Duration>| match value {
            Some(d) if d.is_zero() => Err((key(field), "0s: expected a duration > 0".to_string())),
            _ => Ok(value),
        };
        let kind = match self {
            Self::FailureRate {
                queue,
                handler,
                above,
                window,
                min_attempts,
                ..
            } => {
                let above_pct = above.ok_or_else(|| {
                    (
                        key("above"),
                        "missing: expected a failure rate in percent (0 to 100)".to_string(),
                    )
                })?;
                if !(0.0..100.0).contains(&above_pct) {
                    return Err((
                        key("above"),
                        format!("{above_pct}: expected a percent from 0 up to (not including) 100"),
                    ));
                }
                let min_attempts = min_attempts.unwrap_or(5);
                if min_attempts < 1 {
                    return Err((
                        key("min_attempts"),
                        format!("{min_attempts}: expected an integer >= 1"),
                    ));
                }
                RuleKind::FailureRate {
                    queue: not_blank("queue", queue)?,
                    handler: not_blank("handler", handler)?,
                    above_pct,
                    window: positive("window", *window)?.unwrap_or(Duration::from_secs(300)),
                    min_attempts,
                }
            }
            Self::OldestDue {
                queue, older_than, ..
            } => RuleKind::OldestDue {
                queue: not_blank("queue", queue)?,
                older_than: positive("older_than", *older_than)?.ok_or_else(|| {
                    (
                        key("older_than"),
                        "missing: expected a duration such as \"10m\"".to_string(),
                    )
                })?,
            },
            Self::DeadLetters {
                queue,
                above,
                window,
                ..
            } => {
                let above = match *above {
                    None => None,
                    Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= i64::MAX as f64 => {
                        Some(n as i64)
                    }
                    Some(n) => {
                        return Err((key("above"), format!("{n}: expected an integer >= 0")));
                    }
                };
                let growing = positive("window", *window)?;
                if above.is_none() && growing.is_none() {
                    return Err((
                        key("above"),
                        "missing: expected above (a count), window (fire while growing), or both"
                            .into(),
                    ));
                }
                RuleKind::DeadLetters {
                    queue: not_blank("queue", queue)?,
                    above,
                    growing,
                }
            }
            Self::OverdueRunning { queue, grace, .. } => RuleKind::OverdueRunning {
                queue: not_blank("queue", queue)?,
                grace: grace.unwrap_or(Duration::from_secs(60)),
            },
            Self::NoWorker { queue, .. } => RuleKind::NoWorker {
                queue: not_blank("queue", queue)?,
            },
            Self::TaskInvalid { task, .. } => RuleKind::TaskInvalid {
                task: not_blank("task", task)?,
            },
        };
        Ok(Rule {
            name: name.to_string(),
            kind,
        })
    }
}

impl WebhookSettings {
    fn validate(&self, at: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Webhook, Invalid> {
        let key = |field: &str| format!("{at}.{field}");
        if self.name.trim().is_empty() {
            return Err((key("name"), "\"\": expected a non-empty name".into()));
        }
        let url = crate::interpolate::interpolate(&self.url, env).map_err(|r| (key("url"), r))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err((
                key("url"),
                format!("{url:?}: expected an http:// or https:// URL"),
            ));
        }
        let format = match self.format.as_deref() {
            None | Some("json") => WebhookFormat::Json,
            Some("slack") => WebhookFormat::Slack,
            Some(other) => {
                return Err((
                    key("format"),
                    format!("{other:?}: expected \"json\" or \"slack\""),
                ));
            }
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let value = crate::interpolate::interpolate(value, env)
                .map_err(|r| (key(&format!("headers.{name}")), r))?;
            headers.push((name.clone(), value));
        }
        Ok(Webhook {
            name: self.name.clone(),
            url,
            format,
            headers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertConfig, Invalid> {
        #[derive(Deserialize)]
        struct File {
            alerts: AlertSettings,
        }
        let file: File = toml::from_str(text).map_err(|e| ("toml".into(), e.to_string()))?;
        file.alerts
            .validate(&|name| (name == "HOOK").then(|| "secret".to_string()))
    }

    #[test]
    fn parses_every_kind() {
        let config = parse(
            r#"
            [alerts]
            interval = "5s"
            [[alerts.rules]]
            name = "mail failing"
            kind = "failure_rate"
            queue = "mail"
            above = 20
            window = "10m"
            [[alerts.rules]]
            name = "backlog"
            kind = "oldest_due"
            older_than = "5m"
            [[alerts.rules]]
            name = "dlq"
            kind = "dead_letters"
            window = "1h"
            [[alerts.rules]]
            name = "stuck"
            kind = "overdue_running"
            [[alerts.rules]]
            name = "nobody"
            kind = "no_worker"
            [[alerts.rules]]
            name = "broken task"
            kind = "task_invalid"
            [[alerts.webhooks]]
            name = "ops"
            url = "https://hooks.example/${HOOK}"
            format = "slack"
            "#,
        )
        .unwrap();
        assert_eq!(config.interval, Duration::from_secs(5));
        assert_eq!(config.rules.len(), 6);
        assert_eq!(
            config.rules[0].kind,
            RuleKind::FailureRate {
                queue: Some("mail".into()),
                handler: None,
                above_pct: 20.0,
                window: Duration::from_secs(600),
                min_attempts: 5,
            }
        );
        assert_eq!(
            config.rules[3].kind,
            RuleKind::OverdueRunning {
                queue: None,
                grace: Duration::from_secs(60)
            }
        );
        assert_eq!(config.webhooks[0].url, "https://hooks.example/secret");
        assert_eq!(config.webhooks[0].format, WebhookFormat::Slack);
    }

    #[test]
    fn names_the_key_that_is_wrong() {
        let cases = [
            ("kind = \"failure_rate\"", "alerts.rules[0].above"),
            (
                "kind = \"failure_rate\"\nabove = 120",
                "alerts.rules[0].above",
            ),
            ("kind = \"oldest_due\"", "alerts.rules[0].older_than"),
            ("kind = \"dead_letters\"", "alerts.rules[0].above"),
            (
                "kind = \"dead_letters\"\nabove = 1.5",
                "alerts.rules[0].above",
            ),
        ];
        for (body, expected) in cases {
            let text = format!("[alerts]\n[[alerts.rules]]\nname = \"r\"\n{body}\n");
            let (key, reason) = parse(&text).unwrap_err();
            assert_eq!(key, expected, "{body}: {reason}");
        }
        // A kind that does not exist, and a key the kind does not take, are refused by the parser,
        // which names them and what it expected (as for `[handlers.NAME]`).
        for (body, named) in [
            ("kind = \"latency\"", ["`latency`", "`failure_rate`"]),
            (
                "kind = \"oldest_due\"\nolder_than = \"1m\"\ngrace = \"1m\"",
                ["`grace`", "`older_than`"],
            ),
        ] {
            let text = format!("[alerts]\n[[alerts.rules]]\nname = \"r\"\n{body}\n");
            let (key, reason) = parse(&text).unwrap_err();
            assert_eq!(key, "toml", "{body}: {reason}");
            for word in named {
                assert!(reason.contains(word), "{body}: {reason}");
            }
        }
        let (key, _) =
            parse("[alerts]\n[[alerts.webhooks]]\nname = \"w\"\nurl = \"ftp://x\"\n").unwrap_err();
        assert_eq!(key, "alerts.webhooks[0].url");
        let (key, reason) =
            parse("[alerts]\n[[alerts.webhooks]]\nname = \"w\"\nurl = \"https://x/${NOPE}\"\n")
                .unwrap_err();
        assert_eq!(key, "alerts.webhooks[0].url");
        assert!(reason.contains("NOPE"), "{reason}");
        let (key, _) = parse(
            "[alerts]\n[[alerts.rules]]\nname = \"a\"\nkind = \"no_worker\"\n[[alerts.rules]]\nname = \"a\"\nkind = \"no_worker\"\n",
        )
        .unwrap_err();
        assert_eq!(key, "alerts.rules[1].name");
    }
}
