//! Webhook bodies and the HTTP call: a generic JSON object, or Slack-compatible `{"text": ...}`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Webhook, WebhookFormat};

/// Longest wait for a webhook's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client every delivery shares.
pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("pgtide/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building fails only when the TLS backend cannot start; the default client then fails the
        // same way, on first use, where the error is recorded on the delivery.
        .unwrap_or_default()
}

/// What a notification says: the generic JSON body, as is.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Notice {
    event_id: i64,
    rule: String,
    kind: String,
    subject: String,
    state: String,
    value: Option<f64>,
    message: String,
    at: DateTime<Utc>,
    /// For a resolve: when the alert started firing.
    fired_at: Option<DateTime<Utc>>,
}

impl Notice {
    /// From a row of `sql/queries/alerts/pending.sql`.
    pub(super) fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            event_id: row.get("event_id"),
            rule: row.get("rule"),
            kind: row.get("kind"),
            subject: row.get("subject"),
            state: row.get("state"),
            value: row.get("value"),
            message: row.get("message"),
            at: row.get("at"),
            fired_at: row.get("fired_at"),
        }
    }

    /// One line for chat: state, rule, subject, message, and how long a resolved alert fired.
    fn text(&self) -> String {
        match (self.state.as_str(), self.fired_at) {
            ("firing", _) => format!(
                ":rotating_light: FIRING {} ({}): {}",
                self.rule, self.subject, self.message
            ),
            (_, Some(fired)) => format!(
                ":white_check_mark: RESOLVED {} ({}) after {}",
                self.rule,
                self.subject,
                humantime::format_duration(
                    (self.at - fired)
                        .to_std()
                        .map(|d| Duration::from_secs(d.as_secs()))
                        .unwrap_or_default()
                )
            ),
            _ => format!(
                ":white_check_mark: RESOLVED {} ({})",
                self.rule, self.subject
            ),
        }
    }

    fn body(&self, format: WebhookFormat) -> serde_json::Value {
        match format {
            WebhookFormat::Json => serde_json::to_value(self).unwrap_or_default(),
            WebhookFormat::Slack => serde_json::json!({ "text": self.text() }),
        }
    }
}

/// POSTs `notice` to `hook`; a 2xx answer is success, anything else is an error to retry.
pub(super) async fn send(
    client: &reqwest::Client,
    hook: &Webhook,
    notice: &Notice,
) -> std::result::Result<(), String> {
    let mut request = client.post(&hook.url).json(&notice.body(hook.format));
    for (name, value) in &hook.headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("POST {}: {e}", hook.url))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let text: String = text.chars().take(200).collect();
    Err(format!("POST {} answered {status}: {text}", hook.url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(state: &str, fired_at: Option<DateTime<Utc>>) -> Notice {
        Notice {
            event_id: 7,
            rule: "mail failing".into(),
            kind: "failure_rate".into(),
            subject: "mail".into(),
            state: state.into(),
            value: Some(50.0),
            message: "50% of 10 attempts failed".into(),
            at: "2026-01-01T10:05:00Z".parse().unwrap(),
            fired_at,
        }
    }

    #[test]
    fn bodies_in_both_formats() {
        let firing = notice("firing", None);
        let json = firing.body(WebhookFormat::Json);
        assert_eq!(json["rule"], "mail failing");
        assert_eq!(json["state"], "firing");
        assert_eq!(json["value"], 50.0);
        let slack = firing.body(WebhookFormat::Slack);
        assert_eq!(
            slack["text"],
            ":rotating_light: FIRING mail failing (mail): 50% of 10 attempts failed"
        );
        let resolved = notice("resolved", Some("2026-01-01T10:00:00Z".parse().unwrap()));
        assert_eq!(
            resolved.body(WebhookFormat::Slack)["text"],
            ":white_check_mark: RESOLVED mail failing (mail) after 5m"
        );
    }
}
