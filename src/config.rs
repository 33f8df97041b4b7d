//! Configuration errors, the handlers' settings, and `${NAME}` interpolation: what the library shares
//! with the command line's `pgtide.toml` loader (which lives in the binary crate, `cli/src/settings.rs`).
//!
//! Every error names the key and the reason, and the file when there is one, and is raised at
//! startup, before anything runs.

use std::path::PathBuf;

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
