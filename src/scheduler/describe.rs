//! A task's schedule in words, for people: "every day at 02:30 Europe/Berlin".
//!
//! Common crontab shapes get a sentence; anything else is shown as the expression itself with its
//! zone, which is still exact. The words never decide anything: the scheduler reads the expression.

use chrono::{DateTime, Utc};

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A task's schedule in words: exactly one of `cron` (read in `timezone`), `every` (Postgres'
/// interval text, e.g. `00:15:00` or `1 day`) or `run_at`.
pub fn describe(
    cron: Option<&str>,
    every: Option<&str>,
    run_at: Option<DateTime<Utc>>,
    timezone: &str,
) -> String {
    if let Some(cron) = cron {
        return match cron_words(cron.trim()) {
            Some(words) => format!("{words} {timezone}"),
            None => format!("cron \"{}\" {timezone}", cron.trim()),
        };
    }
    if let Some(every) = every {
        return match interval_secs(every) {
            Some(secs) => format!("every {}", duration_words(secs)),
            None => format!("every {every}"),
        };
    }
    match run_at {
        Some(at) => format!("once at {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "no schedule".into(),
    }
}

fn number(field: &str, max: u32) -> Option<u32> {
    field.parse().ok().filter(|n| *n <= max)
}

/// `N` of `*/N`.
fn step(field: &str) -> Option<u32> {
    field.strip_prefix("*/")?.parse().ok().filter(|n| *n > 1)
}

fn plural(n: u32, unit: &str) -> String {
    if n == 1 {
        format!("{n} {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn cron_words(expr: &str) -> Option<String> {
    let alias = match expr {
        "@yearly" | "@annually" => Some("0 0 1 1 *"),
        "@monthly" => Some("0 0 1 * *"),
        "@weekly" => Some("0 0 * * 0"),
        "@daily" | "@midnight" => Some("0 0 * * *"),
        "@hourly" => Some("0 * * * *"),
        _ => None,
    };
    let fields: Vec<&str> = alias.unwrap_or(expr).split_whitespace().collect();
    let fields = match fields.len() {
        5 => fields,
        // Seconds first: only a zero second reads like a crontab line.
        6 if fields[0] == "0" => fields[1..].to_vec(),
        _ => return None,
    };
    let (minute, hour, dom, month, dow) = (fields[0], fields[1], fields[2], fields[3], fields[4]);
    let any = |f: &str| f == "*";
    if any(dom) && any(month) && any(dow) {
        if any(minute) && any(hour) {
            return Some("every minute".into());
        }
        if let (Some(n), true) = (step(minute), any(hour)) {
            return Some(format!("every {n} minutes"));
        }
        if let (Some(m), true) = (number(minute, 59), any(hour)) {
            return Some(format!("every hour at minute {m}"));
        }
        if let (Some(m), Some(n)) = (number(minute, 59), step(hour)) {
            return Some(format!("every {n} hours at minute {m}"));
        }
    }
    let times = times(minute, hour)?;
    let days = if any(dow) { None } else { Some(weekdays(dow)?) };
    match (any(dom), any(month), days) {
        (true, true, None) => Some(format!("every day at {times}")),
        (true, true, Some(days)) => Some(format!("every {days} at {times}")),
        (false, true, None) => Some(format!(
            "on day {} of every month at {times}",
            number(dom, 31).filter(|d| *d >= 1)?
        )),
        (false, false, None) => {
            let d = number(dom, 31).filter(|d| *d >= 1)?;
            let m = number(month, 12).filter(|m| *m >= 1)?;
            Some(format!(
                "every year on {d} {} at {times}",
                MONTHS[m as usize - 1]
            ))
        }
        _ => None,
    }
}

/// "02:30" or "02:30 and 14:30" for numeric minute and hour lists.
fn times(minute: &str, hour: &str) -> Option<String> {
    let m = number(minute, 59)?;
    let hours: Vec<u32> = hour
        .split(',')
        .map(|h| number(h, 23))
        .collect::<Option<_>>()?;
    let list: Vec<String> = hours.iter().map(|h| format!("{h:02}:{m:02}")).collect();
    Some(join(&list))
}

/// "Monday", "Monday and Friday", "weekday (Monday to Friday)", "Monday to Wednesday".
fn weekdays(field: &str) -> Option<String> {
    let day = |d: &str| -> Option<usize> {
        let n: usize = d.parse().ok()?;
        (n <= 7).then_some(n % 7)
    };
    if let Some((a, b)) = field.split_once('-') {
        let (a, b) = (day(a)?, day(b)?);
        if (a, b) == (1, 5) {
            return Some("weekday (Monday to Friday)".into());
        }
        return (a < b).then(|| format!("day from {} to {}", DAYS[a], DAYS[b]));
    }
    let names: Vec<String> = field
        .split(',')
        .map(|d| day(d).map(|n| DAYS[n].to_string()))
        .collect::<Option<_>>()?;
    Some(join(&names))
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Seconds of Postgres' interval text (`1 day 02:00:00`, `00:15:00`, `2 mons`); months count 30
/// days. `None` for text it does not know.
fn interval_secs(text: &str) -> Option<u64> {
    let mut secs = 0f64;
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word.contains(':') {
            let parts: Vec<f64> = word
                .trim_start_matches('-')
                .split(':')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let [h, m, s] = parts[..] else { return None };
            secs += h * 3600.0 + m * 60.0 + s;
            continue;
        }
        let n: f64 = word.parse().ok()?;
        let unit = words.next()?;
        secs += n * match unit.trim_end_matches('s') {
            "year" => 365.0 * 86400.0,
            "mon" => 30.0 * 86400.0,
            "day" => 86400.0,
            _ => return None,
        };
    }
    (secs >= 0.0).then_some(secs.round() as u64)
}

/// "15 minutes", "1 hour 30 minutes", "2 days".
fn duration_words(secs: u64) -> String {
    if secs == 0 {
        return "0 seconds".into();
    }
    let units = [
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let mut rest = secs;
    let mut parts = Vec::new();
    for (size, unit) in units {
        if rest >= size {
            parts.push(plural((rest / size) as u32, unit));
            rest %= size;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_cron_shapes_read_as_sentences() {
        let cases = [
            ("30 2 * * *", "every day at 02:30 Europe/Berlin"),
            (
                "0 9 * * 1-5",
                "every weekday (Monday to Friday) at 09:00 Europe/Berlin",
            ),
            (
                "0 9,17 * * 1,5",
                "every Monday and Friday at 09:00 and 17:00 Europe/Berlin",
            ),
            ("*/5 * * * *", "every 5 minutes Europe/Berlin"),
            ("* * * * *", "every minute Europe/Berlin"),
            ("15 * * * *", "every hour at minute 15 Europe/Berlin"),
            ("0 */6 * * *", "every 6 hours at minute 0 Europe/Berlin"),
            (
                "0 4 1 * *",
                "on day 1 of every month at 04:00 Europe/Berlin",
            ),
            (
                "0 0 25 12 *",
                "every year on 25 December at 00:00 Europe/Berlin",
            ),
            ("@daily", "every day at 00:00 Europe/Berlin"),
            ("@weekly", "every Sunday at 00:00 Europe/Berlin"),
            ("0 30 2 * * *", "every day at 02:30 Europe/Berlin"),
            ("0 0 * * 7", "every Sunday at 00:00 Europe/Berlin"),
            (
                "5 4 * * 2-4",
                "every day from Tuesday to Thursday at 04:05 Europe/Berlin",
            ),
            ("*/10 1-3 * * *", "cron \"*/10 1-3 * * *\" Europe/Berlin"),
            ("15 */20 * * * *", "cron \"15 */20 * * * *\" Europe/Berlin"),
        ];
        for (cron, words) in cases {
            assert_eq!(
                describe(Some(cron), None, None, "Europe/Berlin"),
                words,
                "{cron}"
            );
        }
    }

    #[test]
    fn intervals_and_one_shots() {
        assert_eq!(
            describe(None, Some("00:15:00"), None, "UTC"),
            "every 15 minutes"
        );
        assert_eq!(
            describe(None, Some("01:30:00"), None, "UTC"),
            "every 1 hour 30 minutes"
        );
        assert_eq!(describe(None, Some("1 day"), None, "UTC"), "every 1 day");
        assert_eq!(
            describe(None, Some("2 days 00:00:30"), None, "UTC"),
            "every 2 days 30 seconds"
        );
        assert_eq!(
            describe(None, Some("00:00:00.5"), None, "UTC"),
            "every 1 second"
        );
        let at = "2026-03-01T08:00:00Z".parse().unwrap();
        assert_eq!(
            describe(None, None, Some(at), "UTC"),
            "once at 2026-03-01 08:00:00 UTC"
        );
    }
}
