//! What an error answers over HTTP: the one mapping from pgtide's errors to a status, a code, a
//! message and the field at fault. The API turns it into JSON and the console into a page, and
//! neither imports the other.
//!
//! Bad input is always a 4xx: pgtide's SQL functions raise `invalid_parameter_value` (22023) naming
//! the field in the error's COLUMN, and `no_data_found` (P0002) for a missing object. Only a failure
//! of pgtide itself is a 500, and a database that cannot be reached is a 503.

use axum::http::StatusCode;
use tokio_postgres::error::SqlState;

/// An error as an HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
}

impl Answer {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_field(field)
    }

    pub(crate) fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl From<crate::Error> for Answer {
    fn from(e: crate::Error) -> Self {
        use crate::Error;
        match &e {
            Error::Invalid { field, .. } => Self::invalid(field, e.to_string()),
            Error::NotFound { field, .. } => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()).with_field(*field)
            }
            Error::Pool(_) | Error::PoolSetup(_) | Error::Connect { .. } => {
                tracing::warn!(error = %e, "HTTP: database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e.to_string(),
                )
            }
            _ => match e.as_db_error() {
                Some(db) => from_db_error(db, &e),
                None if matches!(e, Error::Db(_)) => {
                    tracing::warn!(error = %e, "HTTP: database unavailable");
                    Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        e.to_string(),
                    )
                }
                None => {
                    tracing::error!(error = %e, "HTTP: internal error");
                    Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
                }
            },
        }
    }
}

fn from_db_error(db: &tokio_postgres::error::DbError, e: &crate::Error) -> Answer {
    let message = db.message().to_string();
    let code = db.code();
    let error = if *code == SqlState::NO_DATA_FOUND {
        Answer::new(StatusCode::NOT_FOUND, "not_found", message)
    } else if *code == SqlState::UNIQUE_VIOLATION {
        Answer::new(StatusCode::CONFLICT, "conflict", message)
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        Answer::new(StatusCode::FORBIDDEN, "forbidden", message)
    } else if *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
        Answer::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    } else if code.code().starts_with("22") || code.code().starts_with("23") {
        // Data exceptions (bad values) and integrity violations (CHECK constraints): the caller's input.
        Answer::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    } else if code.code().starts_with("08") || code.code().starts_with("57") {
        Answer::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    } else {
        tracing::error!(error = %e, "HTTP: database error");
        Answer::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    };
    match db.column() {
        Some(column) => error.with_field(column),
        None => error,
    }
}
