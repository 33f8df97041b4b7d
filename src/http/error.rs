//! API errors: `{"error": {"code", "message", "field"}}` with the status that fits.
//!
//! Bad input is always a 4xx: pgtide's SQL functions raise `invalid_parameter_value` (22023) naming
//! the field in the error's COLUMN, `no_data_found` (P0002) for a missing object, and the body and
//! path extractors' rejections are translated here too. Only a failure of pgtide itself is a 500,
//! and a database that cannot be reached is a 503.

use axum::{
    extract::rejection::{JsonRejection, QueryRejection},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use tokio_postgres::error::SqlState;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    field: Option<&'a str>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// 400 `invalid_input` naming `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_field(field)
    }

    /// Names the field the error is about.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token: send Authorization: Bearer <PGTIDE_API_TOKEN>",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("a valid header"),
            );
        }
        response
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        use crate::Error;
        match &e {
            Error::Invalid { field, .. } => Self::invalid(field, e.to_string()),
            Error::NotFound { field, .. } => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()).with_field(*field)
            }
            Error::Pool(_) | Error::PoolSetup(_) | Error::Connect { .. } => {
                tracing::warn!(error = %e, "API: database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e.to_string(),
                )
            }
            _ => match e.as_db_error() {
                Some(db) => from_db_error(db, &e),
                None if matches!(e, Error::Db(_)) => {
                    tracing::warn!(error = %e, "API: database unavailable");
                    Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        e.to_string(),
                    )
                }
                None => {
                    tracing::error!(error = %e, "API: internal error");
                    Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
                }
            },
        }
    }
}

fn from_db_error(db: &tokio_postgres::error::DbError, e: &crate::Error) -> ApiError {
    let message = db.message().to_string();
    let code = db.code();
    let error = if *code == SqlState::NO_DATA_FOUND {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    } else if *code == SqlState::UNIQUE_VIOLATION {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    } else if *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    } else if code.code().starts_with("22") || code.code().starts_with("23") {
        // Data exceptions (bad values) and integrity violations (CHECK constraints): the caller's input.
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    } else if code.code().starts_with("08") || code.code().starts_with("57") {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    } else {
        tracing::error!(error = %e, "API: database error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    };
    match db.column() {
        Some(column) => error.with_field(column),
        None => error,
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let text = rejection.body_text();
        match rejection {
            JsonRejection::JsonDataError(_) => {
                let field = data_error_field(&text);
                let error = Self::new(StatusCode::BAD_REQUEST, "invalid_input", text);
                match field {
                    Some(field) => error.with_field(field),
                    None => error,
                }
            }
            JsonRejection::JsonSyntaxError(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_json", text)
            }
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a JSON body with Content-Type: application/json",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "request body over 1 MiB",
            ),
            other => Self::new(other.status(), "bad_request", text),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        let field = data_error_field(&text);
        let error = Self::new(StatusCode::BAD_REQUEST, "invalid_input", text);
        match field {
            Some(field) => error.with_field(field),
            None => error,
        }
    }
}

/// The field serde complained about: "...: every: invalid duration" or "unknown field `x`".
pub(super) fn data_error_field(text: &str) -> Option<String> {
    if let Some(rest) = text.split("unknown field `").nth(1) {
        return rest.split('`').next().map(str::to_string);
    }
    if let Some(rest) = text.split("missing field `").nth(1) {
        return rest.split('`').next().map(str::to_string);
    }
    let detail = text
        .rsplit("target type: ")
        .next()?
        .rsplit("query string: ")
        .next()?;
    let (path, _) = detail.split_once(": ")?;
    (!path.is_empty() && !path.contains(' ')).then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::data_error_field;

    #[test]
    fn names_the_field_serde_complained_about() {
        assert_eq!(
            data_error_field("Failed to deserialize the JSON body into the target type: every: invalid duration at line 1 column 20").as_deref(),
            Some("every")
        );
        assert_eq!(
            data_error_field("Failed to deserialize the JSON body into the target type: unknown field `evry`, expected one of ...").as_deref(),
            Some("evry")
        );
        assert_eq!(
            data_error_field("Failed to deserialize the JSON body into the target type: missing field `handler` at line 1").as_deref(),
            Some("handler")
        );
        assert_eq!(data_error_field("something else"), None);
    }
}
