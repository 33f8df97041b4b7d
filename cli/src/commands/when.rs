//! Times on the command line: RFC 3339 (`2026-11-21T09:00:00Z`) or relative to the database's clock
//! (`now`, `now+5m`, `now+1h30m`). The database's clock, not this host's, because every time decision
//! in pgtide uses `now()` of the database, so clock skew between hosts changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A time given on the command line, not yet resolved against the database clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum When {
    /// An absolute time.
    At(DateTime<Utc>),
    /// `now` plus this much.
    FromNow(Duration),
}

impl When {
    /// The time, with `db_now` as "now".
    pub(crate) fn resolve(&self, db_now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            When::At(at) => *at,
            When::FromNow(delay) => {
                db_now + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::MAX)
            }
        }
    }
}

/// Parses `now`, `now+DURATION` or an RFC 3339 time (clap value parser).
pub(crate) fn parse(text: &str) -> Result<When, String> {
    let trimmed = text.trim();
    if trimmed == "now" {
        return Ok(When::FromNow(Duration::ZERO));
    }
    if let Some(delay) = trimmed.strip_prefix("now+") {
        return humantime::parse_duration(delay.trim())
            .map(When::FromNow)
            .map_err(|e| {
                format!("invalid duration {delay:?} in {text:?}: {e} (expected e.g. now+5m)")
            });
    }
    DateTime::parse_from_rfc3339(trimmed)
        .map(|t| When::At(t.with_timezone(&Utc)))
        .map_err(|e| {
            format!("invalid time {text:?}: {e} (expected RFC 3339 such as 2026-11-21T09:00:00Z, or now+5m)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_relative_times() {
        assert_eq!(
            parse("2026-11-21T10:00:00+01:00").unwrap(),
            When::At("2026-11-21T09:00:00Z".parse().unwrap())
        );
        assert_eq!(
            parse("now+1h30m").unwrap(),
            When::FromNow(Duration::from_secs(5400))
        );
        assert_eq!(parse("now").unwrap(), When::FromNow(Duration::ZERO));
        let e = parse("tomorrow").unwrap_err();
        assert!(e.contains("\"tomorrow\"") && e.contains("RFC 3339"), "{e}");
        assert!(parse("now+soon").unwrap_err().contains("now+5m"));
    }
}
