//! Handlers: the code that runs a job. A row names a handler; the worker host decides what the name
//! means (the database is the control plane; worker hosts hold the code), so nothing a row carries can make a worker run a program, URL or
//! statement that its operator did not configure.
//!
//! - [`Handler`] is the trait library users implement for their own async handlers.
//! - [`shell`], [`http`] and [`sql`] are the kinds an operator configures in `pgtide.toml`.
//! - `noop` is built in.

pub mod http;
pub mod shell;
pub mod sql;

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use serde_json::Value;

pub use self::{
    http::{HttpConfig, HttpHandler},
    shell::{ShellConfig, ShellHandler},
    sql::{SqlConfig, SqlHandler},
};

/// `[handlers.NAME]`, selected by `kind`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HandlerConfig {
    /// `kind = "shell"`.
    Shell(ShellConfig),
    /// `kind = "http"`.
    Http(HttpConfig),
    /// `kind = "sql"`.
    Sql(SqlConfig),
    /// `kind = "noop"`.
    Noop,
}

impl HandlerConfig {
    /// Resolves `${NAME}` with `env` where the kind allows it, and checks the settings.
    ///
    /// # Errors
    /// [`crate::config::ConfigError::Invalid`] naming the key within the handler's table.
    pub fn resolve(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), crate::config::ConfigError> {
        match self {
            HandlerConfig::Shell(shell) => shell.check(),
            HandlerConfig::Http(http) => http.resolve(env),
            HandlerConfig::Sql(sql) => sql.check(),
            HandlerConfig::Noop => Ok(()),
        }
    }
}

/// One claimed attempt, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Job {
    /// Execution id (one row per attempt).
    pub id: i64,
    /// Handler name.
    pub handler: String,
    /// Queue the row was claimed from.
    pub queue: String,
    /// The row's payload.
    pub payload: Value,
    /// This attempt's number, starting at 1.
    pub attempt: i32,
    /// Attempts allowed in total.
    pub max_attempts: i32,
    /// The row's idempotency key; handlers can pass it on to make their own side effects idempotent.
    pub idempotency_key: String,
    /// The task that fired this job, if any.
    pub task_id: Option<i64>,
    /// How long this attempt may run before it counts as failed.
    pub timeout: Duration,
    /// The worker running it.
    pub worker_id: Arc<str>,
}

/// What a handler returns on success: an optional JSON result stored in `executions.result`.
pub type HandlerResult = Result<Option<Value>, HandlerError>;

/// A failed attempt. A retryable failure schedules the next attempt (if any are left); a permanent
/// one sends the row straight to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// Stored in `executions.error`.
    pub message: String,
    /// Skip the remaining attempts.
    pub permanent: bool,
}

impl HandlerError {
    /// A failure worth retrying.
    pub fn retry(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: false,
        }
    }

    /// A failure that no retry can fix (bad input, a 4xx answer): the row goes dead at once.
    pub fn permanent(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: true,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {}

/// An async job handler. Register implementations on a [`crate::WorkerBuilder`] by name.
///
/// A handler that returns `Err`, panics, or runs past the job's timeout costs one attempt; the
/// worker itself is never affected.
///
/// ```
/// use pgtide::{async_trait, Handler, HandlerError, HandlerResult, Job};
///
/// struct Greet;
///
/// #[async_trait]
/// impl Handler for Greet {
///     async fn run(&self, job: &Job) -> HandlerResult {
///         let name = job.payload["name"]
///             .as_str()
///             .ok_or_else(|| HandlerError::permanent("payload.name must be a string"))?;
///         Ok(Some(serde_json::json!({ "greeting": format!("hello, {name}") })))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt.
    async fn run(&self, job: &Job) -> HandlerResult;
}

/// The built-in handler that does nothing and succeeds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Noop;

#[async_trait::async_trait]
impl Handler for Noop {
    async fn run(&self, _job: &Job) -> HandlerResult {
        Ok(None)
    }
}

/// How the worker runs a registered name.
#[derive(Clone)]
pub(crate) enum Registered {
    /// An async handler: the worker reports its outcome through the batched completer.
    Native {
        handler: Arc<dyn Handler>,
        timeout: Option<Duration>,
    },
    /// A SQL statement, run in the same transaction that marks the execution succeeded.
    Sql(Arc<SqlHandler>),
}

impl Registered {
    /// The configured timeout, which overrides the row's own.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        match self {
            Self::Native { timeout, .. } => *timeout,
            Self::Sql(sql) => sql.timeout,
        }
    }
}

/// The handlers a worker knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Registered>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.handlers.keys().collect();
        names.sort();
        f.debug_struct("Registry")
            .field("handlers", &names)
            .finish()
    }
}

impl Registry {
    /// A registry with only the built-in `noop`.
    pub fn new() -> Self {
        let mut registry = Self::default();
        registry.insert("noop", Arc::new(Noop), None);
        registry
    }

    /// Adds (or replaces) an async handler.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        handler: Arc<dyn Handler>,
        timeout: Option<Duration>,
    ) {
        self.handlers
            .insert(name.into(), Registered::Native { handler, timeout });
    }

    /// Adds (or replaces) a SQL handler.
    pub fn insert_sql(&mut self, name: impl Into<String>, handler: SqlHandler) {
        self.handlers
            .insert(name.into(), Registered::Sql(Arc::new(handler)));
    }

    /// Adds the handlers configured in `pgtide.toml`.
    ///
    /// # Errors
    /// [`crate::Error::Config`] when an http handler's client cannot be built.
    pub fn extend_from_config(
        &mut self,
        handlers: &std::collections::BTreeMap<String, HandlerConfig>,
    ) -> crate::Result<()> {
        for (name, config) in handlers {
            match config {
                HandlerConfig::Noop => self.insert(name.clone(), Arc::new(Noop), None),
                HandlerConfig::Shell(shell) => {
                    let timeout = shell.timeout;
                    self.insert(
                        name.clone(),
                        Arc::new(ShellHandler::new(shell.clone())),
                        timeout,
                    )
                }
                HandlerConfig::Http(http) => {
                    let timeout = http.timeout;
                    self.insert(
                        name.clone(),
                        Arc::new(HttpHandler::new(name, http.clone())?),
                        timeout,
                    )
                }
                HandlerConfig::Sql(sql) => self.insert_sql(
                    name.clone(),
                    SqlHandler {
                        statement: sql.statement.clone(),
                        timeout: sql.timeout,
                    },
                ),
            }
        }
        Ok(())
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Registered> {
        self.handlers.get(name)
    }

    /// The statements of the sql handlers.
    pub(crate) fn sql_statements(&self) -> impl Iterator<Item = &str> {
        self.handlers
            .values()
            .filter_map(|registered| match registered {
                Registered::Sql(handler) => Some(handler.statement.as_str()),
                Registered::Native { .. } => None,
            })
    }
}

/// Keeps the last `limit` bytes of a stream of output (a process's stdout or stderr, a response body),
/// so a chatty handler cannot fill memory or the row.
pub(crate) struct Tail {
    buf: std::collections::VecDeque<u8>,
    limit: usize,
    truncated: bool,
}

impl Tail {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            buf: std::collections::VecDeque::with_capacity(limit.min(8192)),
            limit,
            truncated: false,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        if self.buf.len() > self.limit {
            let excess = self.buf.len() - self.limit;
            self.buf.drain(..excess);
            self.truncated = true;
        }
    }

    /// The kept bytes as text, cut at a character boundary, with a marker when output was dropped.
    pub(crate) fn into_string(self) -> String {
        let bytes: Vec<u8> = self.buf.into();
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if self.truncated {
            // The cut may have split a UTF-8 sequence: drop the replacement character it produced.
            text = text.trim_start_matches('\u{FFFD}').to_string();
            text.insert_str(0, "[...] ");
        }
        text
    }
}

/// Output handlers keep: the last 4 KiB.
pub(crate) const OUTPUT_TAIL: usize = 4096;

#[cfg(test)]
mod tests {
    use super::Tail;

    #[test]
    fn tail_keeps_the_last_bytes() {
        let mut tail = Tail::new(4);
        tail.push(b"abc");
        tail.push(b"defg");
        assert_eq!(tail.into_string(), "[...] defg");
        let mut short = Tail::new(10);
        short.push(b"ok");
        assert_eq!(short.into_string(), "ok");
    }
}
