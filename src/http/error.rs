//! API errors: `{"error": {"code", "message", "field"}}` with the status that fits.
//!
//! pgtide's own errors get their status from `crate::answer`, the one mapping the console shares;
//! the body and path extractors' rejections are translated here, and are always a 4xx.

use axum::{
    extract::rejection::{JsonRejection, QueryRejection},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use crate::answer::Answer;

/// An error answer: the status, code, message and field that every HTTP surface shares, sent as JSON.
#[derive(Debug)]
pub struct ApiError(Answer);

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
        Self(Answer::new(status, code, message))
    }

    /// 400 `invalid_input` naming `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self(Answer::invalid(field, message))
    }

    /// Names the field the error is about.
    pub fn with_field(self, field: impl Into<String>) -> Self {
        Self(self.0.with_field(field))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.0.message
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
        let Answer {
            status,
            code,
            message,
            field,
        } = self.0;
        let body = Body {
            error: Inner {
                code,
                message: &message,
                field: field.as_deref(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
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
        Self(Answer::from(e))
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
