//! The `sql` handler: a statement with `$1` = the payload (jsonb).
//!
//! The worker runs it in the same transaction that marks the execution succeeded (fenced like every
//! completion), so its effect commits exactly once: a failed statement rolls back and costs an attempt,
//! and a worker that lost its lease rolls back instead of committing a second effect.

use std::time::Duration;

/// `kind = "sql"`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// The statement; `$1` is the payload as jsonb.
    pub statement: String,
    /// Overrides the row's timeout (as `statement_timeout`).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<std::time::Duration>,
}

impl SqlConfig {
    /// Checks the settings of one `[handlers.NAME]` table of kind `sql`.
    ///
    /// # Errors
    /// [`crate::config::ConfigError::Invalid`] naming the key within the table.
    pub fn check(&self) -> Result<(), crate::config::ConfigError> {
        if self.statement.trim().is_empty() {
            return Err(crate::config::ConfigError::invalid(
                "statement",
                "empty",
                "a SQL statement using $1 for the payload",
            ));
        }
        if let Some(timeout) = self.timeout {
            crate::config::positive("timeout", timeout)?;
        }
        Ok(())
    }
}

/// A configured SQL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlHandler {
    /// The statement; `$1` is the payload as `jsonb`.
    pub statement: String,
    /// Overrides the row's timeout (enforced as `statement_timeout`).
    pub timeout: Option<Duration>,
}

impl SqlHandler {
    /// A handler for `statement`.
    pub fn new(statement: impl Into<String>) -> Self {
        Self {
            statement: statement.into(),
            timeout: None,
        }
    }
}
