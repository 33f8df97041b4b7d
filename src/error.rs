//! The crate-wide error type.
//!
//! Each variant names the stage that failed, so a log line says where to look: the database, the
//! pool, the migrations, the config file, the embedded cluster, or the caller's own input.

use crate::config::ConfigError;
#[cfg(feature = "embedded")]
use crate::embedded::EmbeddedError;

/// Errors returned by pgtide's library API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A statement failed in Postgres, or the connection broke.
    #[error("database: {}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    /// No connection could be opened: every host refused it, or TLS failed. The reason names each
    /// host tried and why (the server's message, the certificate chain, the host name, the network).
    #[error("connecting to the database: {reason}")]
    Connect {
        /// Host by host, why.
        reason: String,
        /// Whether trying again later may work (a host was down, starting, full or read-only), as
        /// opposed to refused credentials or certificates.
        retryable: bool,
        /// The last host's error.
        #[source]
        source: Option<tokio_postgres::Error>,
    },
    /// No pooled connection could be had.
    #[error("connection pool: {}", describe_pool(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The connection pool could not be built from the given settings.
    #[error("connection pool setup: {0}")]
    PoolSetup(#[from] deadpool_postgres::CreatePoolError),
    /// Applying the schema migrations failed.
    #[error("migrations: {}", describe_migration(.0))]
    Migration(#[from] refinery::Error),
    /// The caller passed a value pgtide cannot accept; nothing was written.
    #[error("invalid {field} {value}: expected {expected}")]
    Invalid {
        /// The field or argument that was wrong.
        field: &'static str,
        /// The offending value, as given (possibly shortened).
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The caller named an object (task, execution) that does not exist; nothing was written.
    #[error("invalid {field} {value}: expected {expected}")]
    NotFound {
        /// The field or argument that named it.
        field: &'static str,
        /// The name or id, as given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// A leader pass was refused: this process no longer holds the lease (it stalled or lost the
    /// database, and a successor took over). Nothing was written.
    #[error("lease {name:?} is no longer held by {holder:?}: a successor took over; pass skipped")]
    LeaseLost {
        /// The lease.
        name: String,
        /// This process.
        holder: String,
    },
    /// A row could not be read into its Rust type (the schema is newer than this binary).
    #[error("decoding a row: {0}")]
    Decode(String),
    /// The configuration file or flags are wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The embedded Postgres cluster could not be set up or started.
    #[error(transparent)]
    #[cfg(feature = "embedded")]
    Embedded(#[from] EmbeddedError),
}

impl Error {
    /// Builds an [`Error::Invalid`], quoting the value the way pgtide's SQL errors do (and shortening
    /// a long one).
    pub fn invalid(
        field: &'static str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            field,
            value: quoted(value),
            expected: expected.into(),
        }
    }

    /// Builds an [`Error::NotFound`], quoting the value like [`Error::invalid`].
    pub(crate) fn not_found(
        field: &'static str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::NotFound {
            field,
            value: quoted(value),
            expected: expected.into(),
        }
    }

    /// The Postgres error, if this error came from a statement the server rejected.
    pub fn as_db_error(&self) -> Option<&tokio_postgres::error::DbError> {
        match self {
            Error::Db(e) => e.as_db_error(),
            Error::Pool(deadpool_postgres::PoolError::Backend(e)) => e.as_db_error(),
            Error::Connect {
                source: Some(e), ..
            } => e.as_db_error(),
            _ => None,
        }
    }
}

/// A value as an error shows it: quoted, and cut to about 80 characters.
fn quoted(value: impl std::fmt::Display) -> String {
    let mut value = value.to_string();
    if value.len() > 80 {
        let cut = (0..=77)
            .rev()
            .find(|&i| value.is_char_boundary(i))
            .unwrap_or(0);
        value.truncate(cut);
        value.push_str("...");
    }
    format!("{value:?}")
}

/// tokio-postgres prints only "db error" for a server error; say what the server said.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} ({})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// refinery wraps the server's error and prints only "db error" for it; unwrap it.
fn describe_migration(e: &refinery::Error) -> String {
    match e.kind() {
        refinery::error::Kind::Connection(message, source) => {
            match source.downcast_ref::<tokio_postgres::Error>() {
                Some(db) => format!("{message}: {}", describe(db)),
                None => format!("{message}: {source}"),
            }
        }
        _ => e.to_string(),
    }
}

fn describe_pool(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    }
}

/// `Result` with pgtide's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
