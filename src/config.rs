//! Configuration errors, the handlers' settings, and `${NAME}` interpolation: what the library shares
//! with the command line's `pgtide.toml` loader (which lives in the binary crate, `cli/src/settings.rs`).
//!
//! Every error names the key and the reason, and the file when there is one, and is raised at
//! startup, before anything runs.

use std::{fmt::Display, path::PathBuf};

pub use crate::{
    handlers::{http::HttpConfig, shell::ShellConfig, sql::SqlConfig, HandlerConfig},
    interpolate::interpolate,
};

/// Errors in configuration, raised at startup before anything runs.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key or a value of the wrong type.
    #[error("config file {}, {location}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where: the line number and its text.
        location: String,
        /// The parser's message.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{}{key}: {reason}", path.as_ref().map(|p| format!("config file {}: ", p.display())).unwrap_or_default())]
    Invalid {
        /// The file, when the value came from one.
        path: Option<PathBuf>,
        /// Dotted key, e.g. `handlers.report.command`.
        key: String,
        /// What is wrong and what was expected.
        reason: String,
    },
}

impl ConfigError {
    /// A setting out of its range: `key` within its section, its `value`, and what was `expected`.
    /// The owning module's check returns it; the file loader adds the section with
    /// [`ConfigError::within`] and the file's path.
    pub fn invalid(key: impl Into<String>, value: impl Display, expected: impl Display) -> Self {
        ConfigError::Invalid {
            path: None,
            key: key.into(),
            reason: format!("{value}: expected {expected}"),
        }
    }

    /// The same error with its key inside `section` (`concurrency` in `worker` is
    /// `worker.concurrency`); other errors are returned as they are.
    pub fn within(self, section: &str) -> Self {
        match self {
            ConfigError::Invalid { path, key, reason } => ConfigError::Invalid {
                path,
                key: format!("{section}.{key}"),
                reason,
            },
            other => other,
        }
    }
}

/// "0s" for a zero duration, "1h 30m" otherwise: durations in errors read as they are written in
/// the file.
pub(crate) fn duration_text(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// An error when a duration that must be positive is zero.
pub(crate) fn positive(key: &'static str, d: std::time::Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "0s", "a duration > 0"));
    }
    Ok(())
}
