//! Schedules: parsing, and the next slot after an instant, correct across DST changes.
//!
//! **Cron syntax** is crontab's: 5 fields (minute hour day month weekday), or 6 with a leading seconds
//! field, or an alias (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`,
//! `@hourly`). Weekdays are 0-7 with 0 and 7 both Sunday, or names. As in Vixie cron and cronie, when
//! both day-of-month and day-of-week are restricted, a day matching either runs.
//! The `cron` crate matches the fields; pgtide normalizes crontab syntax into its dialect first,
//! because it numbers weekdays from Sunday = 1 and combines the two day fields with AND.
//!
//! **DST** follows cronie. A schedule whose hour field is fixed (`30 2 * * *`, `0 9,17 * * 1-5`)
//! runs at its wall-clock times once per local day. When a slot falls in the hour skipped in spring,
//! it runs at the first instant after the gap. When a slot's wall time happens twice in autumn, it
//! runs at the first occurrence only. A schedule whose hour field is a wildcard or a step
//! (`*/15 * * * *`, `0 */2 * * *`) follows real elapsed time: skipped wall times don't exist, and
//! repeated ones run at both instants.
//!
//! The crate only sees naive local times, treated as UTC, which has no DST. Each naive match is then
//! mapped to real instants by the rules above.

use std::{fmt, str::FromStr, time::Duration};

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The largest offset change around a transition that the search accounts for (real zones: <= 2 h).
const TRANSITION_SPAN: TimeDelta = TimeDelta::hours(3);

/// Why a schedule was refused: the field, the value, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// `cron`, `timezone` or `every`.
    pub field: &'static str,
    /// The offending value.
    pub value: String,
    /// What would have been accepted, or what is wrong.
    pub expected: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} {:?}: {}",
            self.field, self.value, self.expected
        )
    }
}

impl std::error::Error for ScheduleError {}

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct Cron {
    source: String,
    /// One schedule, or two when both day fields are restricted (day-of-month OR day-of-week).
    matchers: Vec<cron::Schedule>,
    /// The hour field names specific hours: DST handling by wall clock (see the module docs).
    fixed_hours: bool,
}

impl FromStr for Cron {
    type Err = ScheduleError;

    fn from_str(source: &str) -> Result<Self, ScheduleError> {
        let error = |expected: String| ScheduleError {
            field: "cron",
            value: source.to_string(),
            expected,
        };
        let expanded = match source.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => return Err(error(
                "an alias of @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
                    .into(),
            )),
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(error(format!(
                    "5 fields (minute hour day month weekday) or 6 with leading seconds; got {n}"
                )))
            }
        };
        let [minute, hour, dom, month, dow] = [rest[0], rest[1], rest[2], rest[3], rest[4]];
        if fields.len() == 6 {
            fields::SECOND.check(seconds).map_err(error)?;
        }
        for (field, text) in [
            (&fields::MINUTE, minute),
            (&fields::HOUR, hour),
            (&fields::DAY, dom),
            (&fields::MONTH, month),
        ] {
            // Quartz's L, W and # get their own message below.
            if !text.contains(['L', 'W', '#']) {
                field.check(text).map_err(error)?;
            }
        }
        // Quartz extensions (L, W, #) have no crontab meaning; refuse them clearly.
        let quartz = |token: &str| {
            token.contains('#')
                || token == "L"
                || (token.len() > 1
                    && token.ends_with(['L', 'W'])
                    && token[..token.len() - 1].chars().all(|c| c.is_ascii_digit()))
        };
        if let Some(token) = fields
            .iter()
            .flat_map(|f| f.split([',', '/', '-']))
            .find(|t| quartz(t))
        {
            return Err(error(format!(
                "{token:?} uses L, W or #, which crontab syntax does not have"
            )));
        }
        let weekdays = normalize_weekdays(dow).map_err(|reason| {
            error(format!(
                "the day-of-week field {reason}, but it is {dow:?} (a field is a number, *, a list \
                 1,15, a range 1-5 or a step */15)"
            ))
        })?;
        let restricted = |field: &str| !(field.starts_with('*') || field.starts_with('?'));
        let variants: Vec<(&str, String)> = if restricted(dom) && restricted(dow) {
            vec![(dom, "*".to_string()), ("*", weekdays)]
        } else {
            vec![(dom, weekdays)]
        };
        let mut matchers = Vec::with_capacity(2);
        for (dom, dow) in variants {
            let expression = format!("{seconds} {minute} {hour} {dom} {month} {dow}");
            let schedule = cron::Schedule::from_str(&expression)
                .map_err(|e| error(format!("a valid cron expression ({e})")))?;
            matchers.push(schedule);
        }
        // A schedule that never matches (e.g. February 30th) would make every search spin.
        let probe = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
        if matchers.iter().all(|m| m.after(&probe).next().is_none()) {
            return Err(error("a schedule that matches some date".into()));
        }
        Ok(Self {
            source: source.to_string(),
            matchers,
            fixed_hours: !(hour.starts_with('*') || hour.contains('/')),
        })
    }
}

/// Converts a crontab weekday field (0-7, Sunday = 0 or 7, names) into the `cron` crate's ordinals
/// (Sunday = 1), as an explicit list so ranges ending in 7 and steps keep crontab's meaning.
fn normalize_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok("*".into());
    }
    const SHORT: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    const LONG: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    // 0-7 as written (7 is Sunday again, which matters at the end of a range), names as 0-6.
    let day = |token: &str| -> Result<u32, String> {
        let lower = token.to_ascii_lowercase();
        if let Some(i) = SHORT.iter().chain(LONG.iter()).position(|n| *n == lower) {
            return Ok((i % 7) as u32);
        }
        match token.parse::<u32>() {
            Ok(n) if n <= 7 => Ok(n),
            _ => Err("must be 0-7 (0 and 7 are Sunday) or a name sun-sat".to_string()),
        }
    };
    let mut days = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => match step.parse::<u32>() {
                Ok(step) if step > 0 => (range, step),
                _ => return Err("must have a step of 1 or more after /".to_string()),
            },
            None => (part, 1),
        };
        let (first, last) = match range.split_once('-') {
            _ if range == "*" || range == "?" => (0, 6),
            Some((a, b)) => (day(a)?, day(b)?),
            // "5/2" means from 5 to the end, in steps of 2.
            None if step > 1 => (day(range)?, 6),
            None => (day(range)?, day(range)?),
        };
        if first > last {
            return Err(format!(
                "must have ranges that run upwards ({range} runs down)"
            ));
        }
        for d in (first..=last).step_by(step as usize) {
            days[(d % 7) as usize] = true;
        }
    }
    // The cron crate numbers weekdays from Sunday = 1.
    Ok(days
        .iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .map(|(i, _)| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join(","))
}

impl Cron {
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether DST is handled by wall clock (fixed hours) rather than by elapsed time.
    pub fn has_fixed_hours(&self) -> bool {
        self.fixed_hours
    }

    /// The first naive local time strictly after `after` that the fields match.
    fn next_naive(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let after = Utc.from_utc_datetime(&after);
        self.matchers
            .iter()
            .filter_map(|m| m.after(&after).next())
            .min()
            .map(|t| t.naive_utc())
    }

    /// The real instants at which naive local time `naive` fires in `tz`.
    fn instants(&self, tz: Tz, naive: NaiveDateTime) -> Vec<DateTime<Utc>> {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
            LocalResult::Ambiguous(first, second) => {
                if self.fixed_hours {
                    vec![first.with_timezone(&Utc)]
                } else {
                    vec![first.with_timezone(&Utc), second.with_timezone(&Utc)]
                }
            }
            LocalResult::None if self.fixed_hours => {
                first_instant_after_gap(tz, naive).into_iter().collect()
            }
            LocalResult::None => Vec::new(),
        }
    }

    /// The first slot strictly after `after` in time zone `tz`, or `None` if there is none.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&tz).naive_local();
        let offset = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc());
        let near_transition = offset(after - TRANSITION_SPAN) != offset(after)
            || offset(after + TRANSITION_SPAN) != offset(after);
        if !near_transition {
            // Away from transitions, naive order is instant order: the first match is the answer.
            let mut cursor = local;
            for _ in 0..100_000 {
                let naive = self.next_naive(cursor)?;
                if let Some(t) = self.instants(tz, naive).into_iter().find(|t| *t > after) {
                    return Some(t);
                }
                cursor = naive;
            }
            return None;
        }
        // Near a transition, a wall time earlier than `after`'s can happen again later (autumn), so
        // look back over the transition span and keep the earliest instant after `after`.
        let mut cursor = local - TRANSITION_SPAN;
        let mut best: Option<(DateTime<Utc>, NaiveDateTime)> = None;
        for _ in 0..1_000_000 {
            let Some(naive) = self.next_naive(cursor) else {
                break;
            };
            if let Some((_, best_naive)) = best {
                if naive > best_naive + TRANSITION_SPAN {
                    break;
                }
            }
            for t in self.instants(tz, naive) {
                if t > after && best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, naive));
                }
            }
            cursor = naive;
        }
        best.map(|(t, _)| t)
    }
}

/// The first real instant at or after a nonexistent wall time: the end of the spring-forward gap.
fn first_instant_after_gap(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::Timelike;
    let mut probe = naive.with_second(0)?.with_nanosecond(0)?;
    for _ in 0..(24 * 60) {
        probe += TimeDelta::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

/// What a task's schedule columns say.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// `cron` in `timezone`.
    Cron {
        /// The expression.
        cron: Cron,
        /// The zone it is read in.
        tz: Tz,
    },
    /// `every`: fixed elapsed time between slots, anchored to the previous slot so it never drifts.
    Every(Duration),
    /// `run_at`: one slot.
    Once(DateTime<Utc>),
}

impl Schedule {
    /// Builds a schedule from a task's columns (exactly one of cron, every, run_at).
    ///
    /// # Errors
    /// A [`ScheduleError`] naming the field and value.
    pub fn from_columns(
        cron: Option<&str>,
        every: Option<Duration>,
        run_at: Option<DateTime<Utc>>,
        timezone: &str,
    ) -> Result<Self, ScheduleError> {
        match (cron, every, run_at) {
            (Some(cron), None, None) => {
                let tz = timezone.parse::<Tz>().map_err(|_| ScheduleError {
                    field: "timezone",
                    value: timezone.to_string(),
                    expected: "an IANA time zone name such as Europe/Berlin".into(),
                })?;
                Ok(Self::Cron {
                    cron: cron.parse()?,
                    tz,
                })
            }
            (None, Some(every), None) if every >= Duration::from_millis(1) => {
                Ok(Self::Every(every))
            }
            (None, Some(every), None) => Err(ScheduleError {
                field: "every",
                value: format!("{every:?}"),
                expected: "a positive interval".into(),
            }),
            (None, None, Some(at)) => Ok(Self::Once(at)),
            _ => Err(ScheduleError {
                field: "schedule",
                value: format!("cron={cron:?} every={every:?} run_at={run_at:?}"),
                expected: "exactly one of cron, every or run_at".into(),
            }),
        }
    }

    /// The first slot strictly after `after`; for `every`, slots are `anchor + k * every`.
    pub fn next_after(&self, anchor: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Cron { cron, tz } => cron.next_after(*tz, after),
            Self::Every(every) => {
                let step = TimeDelta::from_std(*every).ok()?;
                if after < anchor {
                    return Some(anchor);
                }
                let step_us = step.num_microseconds()?.max(1);
                let elapsed_us = (after - anchor).num_microseconds()?;
                let k = elapsed_us / step_us + 1;
                Some(anchor + TimeDelta::microseconds(k.checked_mul(step_us)?))
            }
            Self::Once(at) => (*at > after).then_some(*at),
        }
    }

    /// The slot a newly created or resumed task should wait for, seen at `now`.
    pub fn first_slot(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            // A one-shot waits for its time even if that has passed (the misfire policy decides).
            Self::Once(at) => Some(*at),
            // The first interval counts from now, which anchors the schedule.
            _ => self.next_after(now, now),
        }
    }
}

mod fields;
#[cfg(test)]
mod tests;
