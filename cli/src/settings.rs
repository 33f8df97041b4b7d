//! `pgtide.toml`: every key optional, unknown keys rejected, and each error names the file, the key
//! and the reason. Command-line flags override the file (the commands apply them after loading).
//!
//! `database_url` and handler strings (`url`, `headers`) may reference environment variables as
//! `${NAME}`, so secrets stay out of the file. A reference to an unset variable is an error at
//! startup, not an empty header at 3 a.m.
//!
//! The file layer only reads, checks and overlays: each setting's default belongs to the module that
//! uses it (`pgtide::worker::DEFAULT_*`, `pgtide::maintenance::DEFAULT_*`).

use std::{collections::BTreeMap, path::Path, time::Duration};

use pgtide::{
    alerts::{AlertConfig, AlertSettings},
    config::{interpolate, ConfigError, HandlerConfig},
};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Connection string; `--database-url` and `DATABASE_URL` override it. `${VAR}` is
    /// interpolated, so a password can stay in the environment.
    pub database_url: Option<String>,
    /// `[worker]`.
    #[serde(default)]
    pub worker: WorkerSettings,
    /// `[maintenance]`.
    #[serde(default)]
    pub maintenance: MaintenanceSettings,
    /// `[handlers.NAME]`.
    #[serde(default)]
    pub handlers: BTreeMap<String, HandlerConfig>,
    /// `[alerts]`, as written.
    #[serde(default)]
    pub alerts: AlertSettings,
    /// `[alerts]`, validated (with `${ENV}` resolved) when the file is loaded.
    #[serde(skip)]
    pub alert_config: AlertConfig,
}

/// `[worker]`: how a worker claims and runs jobs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Queues to claim from (default `["default"]`).
    pub queues: Option<Vec<String>>,
    /// Jobs run at once (default 16).
    pub concurrency: Option<usize>,
    /// Lease per claim, extended by heartbeats every third of it (default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub lease: Option<Duration>,
    /// How long a stopping worker waits for held jobs (default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub shutdown_grace: Option<Duration>,
    /// Fallback poll when no notification arrives (default 1 s).
    #[serde(default, with = "humantime_serde")]
    pub poll_interval: Option<Duration>,
    /// `false` is poll-only mode, exactly like `--no-listen`: no LISTEN connection for the worker or
    /// the scheduler, and statements fit for a transaction pooler (default true).
    pub listen: Option<bool>,
    /// Ping a quiet LISTEN connection after this long (default 15 s).
    #[serde(default, with = "humantime_serde")]
    pub listen_ping: Option<Duration>,
    /// Most outcomes recorded by one flush statement (default 500).
    pub completion_batch: Option<usize>,
    /// Most outcomes finished but not yet recorded: what a crash can make run again, besides the
    /// running jobs (default 1000).
    pub completion_window: Option<usize>,
    /// How long outcomes gather before a flush (default 1 ms, at most 1 s).
    #[serde(default, with = "humantime_serde")]
    pub completion_tick: Option<Duration>,
    /// Most sql-handler jobs whose statements share one transaction (default 32, at most 64; 1 gives
    /// every job its own).
    pub sql_batch: Option<usize>,
    /// Most jobs claimed ahead of free slots while jobs are short (default 256; 0 = none).
    pub prefetch: Option<usize>,
    /// How long a job claimed ahead waits for a slot before it goes back to the queue (default
    /// 100 ms, shorter than the lease).
    #[serde(default, with = "humantime_serde")]
    pub prefetch_wait: Option<Duration>,
}

impl WorkerSettings {
    /// `base` with every key this section sets (flags go on top of the result).
    pub fn overlay(&self, base: pgtide::WorkerConfig) -> pgtide::WorkerConfig {
        pgtide::WorkerConfig {
            queues: self.queues.clone().unwrap_or(base.queues),
            concurrency: self.concurrency.unwrap_or(base.concurrency),
            lease: self.lease.unwrap_or(base.lease),
            shutdown_grace: self.shutdown_grace.unwrap_or(base.shutdown_grace),
            poll_interval: self.poll_interval.unwrap_or(base.poll_interval),
            listen: self.listen.unwrap_or(base.listen),
            listen_ping: self.listen_ping.unwrap_or(base.listen_ping),
            completion_batch: self.completion_batch.unwrap_or(base.completion_batch),
            completion_window: self.completion_window.unwrap_or(base.completion_window),
            completion_tick: self.completion_tick.unwrap_or(base.completion_tick),
            sql_batch: self.sql_batch.unwrap_or(base.sql_batch),
            prefetch: self.prefetch.unwrap_or(base.prefetch),
            prefetch_wait: self.prefetch_wait.unwrap_or(base.prefetch_wait),
            id: base.id,
        }
    }
}

/// `[maintenance]`: the leader's background services.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSettings {
    /// Keep succeeded, failed and cancelled rows this long (default 7 days).
    #[serde(default, with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// Keep dead rows this long (default 30 days).
    #[serde(default, with = "humantime_serde")]
    pub dead_retention: Option<Duration>,
    /// Keep audit-log rows this long (default 90 days; at least 1 day).
    #[serde(default, with = "humantime_serde")]
    pub audit_retention: Option<Duration>,
    /// Keep alert events this long (default 30 days); a subject's latest event stays while it fires.
    #[serde(default, with = "humantime_serde")]
    pub alert_retention: Option<Duration>,
    /// Keep finished webhook deliveries this long (default 30 days).
    #[serde(default, with = "humantime_serde")]
    pub alert_delivery_retention: Option<Duration>,
    /// Leader lease length (default 15 s).
    #[serde(default, with = "humantime_serde")]
    pub leader_ttl: Option<Duration>,
    /// How often the leader rescues expired leases (default 5 s).
    #[serde(default, with = "humantime_serde")]
    pub rescue_interval: Option<Duration>,
    /// How often the leader prunes past retention (default 10 s).
    #[serde(default, with = "humantime_serde")]
    pub prune_interval: Option<Duration>,
    /// How often the leader checks the queue table's dead row versions, and vacuums it when they
    /// pile up (default 5 s).
    #[serde(default, with = "humantime_serde")]
    pub vacuum_interval: Option<Duration>,
}

impl MaintenanceSettings {
    /// `base` with every key this section sets.
    pub fn overlay(
        &self,
        base: pgtide::maintenance::MaintenanceConfig,
    ) -> pgtide::maintenance::MaintenanceConfig {
        pgtide::maintenance::MaintenanceConfig {
            retention: self.retention.unwrap_or(base.retention),
            dead_retention: self.dead_retention.unwrap_or(base.dead_retention),
            audit_retention: self.audit_retention.unwrap_or(base.audit_retention),
            alert_retention: self.alert_retention.unwrap_or(base.alert_retention),
            alert_delivery_retention: self
                .alert_delivery_retention
                .unwrap_or(base.alert_delivery_retention),
            leader_ttl: self.leader_ttl.unwrap_or(base.leader_ttl),
            rescue_interval: self.rescue_interval.unwrap_or(base.rescue_interval),
            prune_interval: self.prune_interval.unwrap_or(base.prune_interval),
            vacuum_interval: self.vacuum_interval.unwrap_or(base.vacuum_interval),
            ..base
        }
    }
}

/// A module's error as the (dotted key, reason) pair the loader reports with the file's path.
fn keyed(error: ConfigError) -> (String, String) {
    match error {
        ConfigError::Invalid { key, reason, .. } => (key, reason),
        other => (String::new(), other.to_string()),
    }
}

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the key and the reason.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    /// Parses and validates config text; `path` is only used in messages.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key and the reason.
    pub fn parse(text: &str, path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path
                .map(Path::to_path_buf)
                .unwrap_or_else(|| "<inline>".into()),
            location: e.span().map_or_else(
                || "somewhere".to_string(),
                |span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count();
                    let source = text.lines().nth(line).unwrap_or_default().trim();
                    format!("line {} ({source})", line + 1)
                },
            ),
            message: e.message().trim().replace('\n', " "),
        })?;
        config
            .validate_and_interpolate(&|name| std::env::var(name).ok())
            .map_err(|(key, reason)| ConfigError::Invalid {
                path: path.map(Path::to_path_buf),
                key,
                reason,
            })?;
        Ok(config)
    }

    fn validate_and_interpolate(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), (String, String)> {
        if let Some(url) = &self.database_url {
            // An error must not show the password the string may hold.
            let interpolated = interpolate(url, env).map_err(|r| {
                (
                    "database_url".to_string(),
                    r.replace(url.as_str(), &pgtide::db::redact(url)),
                )
            })?;
            self.database_url = Some(interpolated);
        }
        // Each section's values, on the defaults of the module that owns them, are checked by
        // that module; the file only adds the section to the key.
        self.worker
            .overlay(pgtide::WorkerConfig::default())
            .check()
            .map_err(|e| keyed(e.within("worker")))?;
        self.maintenance
            .overlay(pgtide::maintenance::MaintenanceConfig::default())
            .check()
            .map_err(|e| keyed(e.within("maintenance")))?;
        self.alert_config = self.alerts.validate(env)?;
        for (name, handler) in &mut self.handlers {
            if name.trim().is_empty() {
                return Err(("handlers".into(), "a handler has an empty name".into()));
            }
            handler
                .resolve(env)
                .map_err(|e| keyed(e.within(&format!("handlers.{name}"))))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        database_url = "postgres://app@db/app"
        [worker]
        queues = ["default", "mail"]
        concurrency = 16
        lease = "30s"
        shutdown_grace = "30s"
        [handlers.report]
        kind = "shell"
        command = ["/usr/local/bin/report", "--fast"]
        timeout = "10m"
        [handlers.welcome_email]
        kind = "http"
        url = "https://mail.internal/send"
        headers = { Authorization = "Bearer ${MAIL_TOKEN}" }
        [handlers.refresh_stats]
        kind = "sql"
        statement = "select refresh_stats($1)"
        [handlers.nothing]
        kind = "noop"
    "#;

    fn parse_with(text: &str, env: &[(&str, &str)]) -> Result<Config, (String, String)> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| ("toml".into(), e.to_string()))?;
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        config.validate_and_interpolate(&lookup)?;
        Ok(config)
    }

    #[test]
    fn parses_the_design_example() {
        let config = parse_with(EXAMPLE, &[("MAIL_TOKEN", "t0k")]).unwrap();
        assert_eq!(config.worker.concurrency, Some(16));
        assert_eq!(config.worker.lease, Some(Duration::from_secs(30)));
        let HandlerConfig::Http(http) = &config.handlers["welcome_email"] else {
            panic!("http")
        };
        assert_eq!(http.headers["Authorization"], "Bearer t0k");
        let HandlerConfig::Shell(shell) = &config.handlers["report"] else {
            panic!("shell")
        };
        assert_eq!(shell.timeout, Some(Duration::from_secs(600)));
        assert!(matches!(config.handlers["nothing"], HandlerConfig::Noop));
    }

    #[test]
    fn names_the_unset_variable() {
        let (key, reason) = parse_with(EXAMPLE, &[]).unwrap_err();
        assert_eq!(key, "handlers.welcome_email.headers.Authorization");
        assert!(reason.contains("MAIL_TOKEN is not set"), "{reason}");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_durations() {
        let err = Config::parse("[worker]\nconcurency = 3\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("concurency"), "{err}");
        let err = Config::parse("[worker]\nlease = \"soon\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lease"), "{err}");
        let err = Config::parse("[handlers.x]\nkind = \"shell\"\ncommand = []\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("handlers.x.command"), "{err}");
        let err = Config::parse(
            "[handlers.x]\nkind = \"shell\"\ncommand = [\"a\"]\nbogus = 1\n",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bogus"), "{err}");
        let err = Config::parse("[handlers.x]\nkind = \"ftp\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ftp"), "{err}");
        let err = Config::parse(
            "[handlers.x]\nkind = \"shell\"\ncommand = [\"a\"]\npass_env = [\"A=B\"]\n",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("handlers.x.pass_env") && err.contains("\"A=B\""),
            "{err}"
        );
        let err = Config::parse("[maintenance]\naudit_retention = \"1h\"\n", None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "maintenance.audit_retention: 1h: expected at least 1day (the latest day of the audit \
             log is never pruned)"
        );
    }
}
