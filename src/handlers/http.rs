//! The `http` handler: POSTs the payload as JSON to a configured URL.
//!
//! 2xx succeeds (the response body is the result). 408, 429, 5xx and network errors are retried; any
//! other 4xx means the request itself is wrong, so the row goes to the dead-letter queue at once
//! instead of burning its remaining attempts. Each request carries `Idempotency-Key` (the row's key)
//! so the receiver can deduplicate at-least-once deliveries.

use reqwest::{header::HeaderMap, StatusCode};
use serde_json::Value;

use super::{Handler, HandlerError, HandlerResult, Job, Tail, OUTPUT_TAIL};
use crate::config::ConfigError;

/// `kind = "http"`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where to POST the payload; `${ENV}` is interpolated.
    pub url: String,
    /// Extra headers; `${ENV}` is interpolated.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Overrides the row's timeout.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<std::time::Duration>,
}

impl HttpConfig {
    /// Resolves `${NAME}` in the URL and the headers with `env`, then checks the settings of one
    /// `[handlers.NAME]` table of kind `http`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key within the table; an unset variable is named, and
    /// no resolved value appears in the error.
    pub fn resolve(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let unresolved = |key: String| {
            move |reason: String| ConfigError::Invalid {
                path: None,
                key,
                reason,
            }
        };
        self.url =
            crate::interpolate::interpolate(&self.url, env).map_err(unresolved("url".into()))?;
        for (header, value) in &mut self.headers {
            *value = crate::interpolate::interpolate(value, env)
                .map_err(unresolved(format!("headers.{header}")))?;
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "url",
                format!("{:?}", self.url),
                "an http:// or https:// URL",
            ));
        }
        if let Some(timeout) = self.timeout {
            crate::config::positive("timeout", timeout)?;
        }
        Ok(())
    }
}

/// POSTs each job's payload to a configured URL.
#[derive(Debug, Clone)]
pub struct HttpHandler {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl HttpHandler {
    /// Builds the client for handler `name` (headers were interpolated when the config was loaded).
    ///
    /// # Errors
    /// [`crate::Error::Config`] when the URL or a header is not valid.
    pub fn new(name: &str, config: HttpConfig) -> crate::Result<Self> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: None,
            key: format!("handlers.{name}.{key}"),
            reason,
        };
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| invalid("url", format!("{:?} is not a URL: {e}", config.url)))?;
        let mut headers = HeaderMap::new();
        for (key, value) in &config.headers {
            let header_name = reqwest::header::HeaderName::from_bytes(key.as_bytes())
                .map_err(|e| invalid("headers", format!("bad header name {key:?}: {e}")))?;
            let header_value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| invalid("headers", format!("bad value for header {key:?}: {e}")))?;
            headers.insert(header_name, header_value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("pgtide/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid("url", format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { url, client })
    }
}

#[async_trait::async_trait]
impl Handler for HttpHandler {
    async fn run(&self, job: &Job) -> HandlerResult {
        let mut response = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", &job.idempotency_key)
            .header("X-Pgtide-Execution-Id", job.id.to_string())
            .header("X-Pgtide-Attempt", job.attempt.to_string())
            .json(&job.payload)
            .send()
            .await
            .map_err(|e| HandlerError::retry(format!("POST {}: {e}", self.url)))?;
        let status = response.status();
        let mut body = Tail::new(OUTPUT_TAIL);
        while let Ok(Some(chunk)) = response.chunk().await {
            body.push(&chunk);
        }
        let body = body.into_string();
        if status.is_success() {
            let body = body.trim();
            if body.is_empty() {
                return Ok(None);
            }
            return Ok(Some(
                serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())),
            ));
        }
        let message = format!("POST {} answered {status}: {}", self.url, body.trim());
        if is_permanent(status) {
            Err(HandlerError::permanent(message))
        } else {
            Err(HandlerError::retry(message))
        }
    }
}

/// A 4xx other than 408 (timeout) and 429 (rate limited) will fail the same way on every retry.
fn is_permanent(status: StatusCode) -> bool {
    status.is_client_error()
        && status != StatusCode::REQUEST_TIMEOUT
        && status != StatusCode::TOO_MANY_REQUESTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        assert!(is_permanent(StatusCode::BAD_REQUEST));
        assert!(is_permanent(StatusCode::NOT_FOUND));
        assert!(!is_permanent(StatusCode::REQUEST_TIMEOUT));
        assert!(!is_permanent(StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_permanent(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!is_permanent(StatusCode::SERVICE_UNAVAILABLE));
    }
}
