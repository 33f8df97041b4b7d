//! Schedule tests: crontab parsing, DST at the Europe/Berlin and America/New_York transitions of 2026
//! and 2027, and misfire plans. Expected instants are written out in UTC by hand, not computed.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::{America::New_York, Europe::Berlin, Tz};

use super::*;
use crate::scheduler::misfire::{plan, Misfire, Plan, CATCH_UP_LIMIT};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `n` consecutive slots of `cron` in `tz` after `from`.
fn slots(cron: &str, tz: Tz, from: &str, n: usize) -> Vec<String> {
    let cron: Cron = cron.parse().unwrap();
    let mut at = utc(from);
    let mut out = Vec::new();
    for _ in 0..n {
        at = cron.next_after(tz, at).unwrap();
        out.push(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    out
}

#[test]
fn five_six_fields_and_aliases() {
    assert_eq!(
        slots("30 2 * * *", Tz::UTC, "2026-01-01T00:00:00Z", 2),
        ["2026-01-01T02:30:00Z", "2026-01-02T02:30:00Z"]
    );
    assert_eq!(
        slots("*/20 * * * * *", Tz::UTC, "2026-01-01T00:00:00Z", 3),
        [
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:40Z",
            "2026-01-01T00:01:00Z"
        ]
    );
    assert_eq!(
        slots("@hourly", Tz::UTC, "2026-01-01T00:10:00Z", 1),
        ["2026-01-01T01:00:00Z"]
    );
    assert_eq!(
        slots("@daily", Tz::UTC, "2026-01-01T00:10:00Z", 1),
        ["2026-01-02T00:00:00Z"]
    );
    assert_eq!(
        slots("@weekly", Tz::UTC, "2026-01-01T00:00:00Z", 1),
        ["2026-01-04T00:00:00Z"],
        "Sunday"
    );
    assert_eq!(
        slots("@monthly", Tz::UTC, "2026-01-15T00:00:00Z", 1),
        ["2026-02-01T00:00:00Z"]
    );
    assert_eq!(
        slots("@yearly", Tz::UTC, "2026-01-15T00:00:00Z", 1),
        ["2027-01-01T00:00:00Z"]
    );
    assert_eq!(
        slots("@annually", Tz::UTC, "2026-01-15T00:00:00Z", 1),
        ["2027-01-01T00:00:00Z"]
    );
}

#[test]
fn weekdays_follow_crontab_numbering() {
    // 2026-01-05 is a Monday.
    assert_eq!(
        slots("0 9 * * 1-5", Tz::UTC, "2026-01-02T10:00:00Z", 3),
        [
            "2026-01-05T09:00:00Z",
            "2026-01-06T09:00:00Z",
            "2026-01-07T09:00:00Z"
        ],
        "Friday 2nd is past, the weekend is skipped"
    );
    for sunday in ["0", "7", "sun", "Sunday"] {
        assert_eq!(
            slots(
                &format!("0 9 * * {sunday}"),
                Tz::UTC,
                "2026-01-01T00:00:00Z",
                1
            ),
            ["2026-01-04T09:00:00Z"],
            "{sunday}"
        );
    }
    assert_eq!(
        slots("0 9 * * 5-7", Tz::UTC, "2026-01-01T10:00:00Z", 3),
        [
            "2026-01-02T09:00:00Z",
            "2026-01-03T09:00:00Z",
            "2026-01-04T09:00:00Z"
        ]
    );
    assert_eq!(
        slots("0 9 * * */2", Tz::UTC, "2026-01-03T10:00:00Z", 2),
        ["2026-01-04T09:00:00Z", "2026-01-06T09:00:00Z"],
        "Sun, Tue, ..."
    );
    // Both day fields restricted: either matches (Vixie cron). The 1st of February 2026 is a Sunday.
    assert_eq!(
        slots("0 0 1 * mon", Tz::UTC, "2026-01-27T00:00:00Z", 3),
        [
            "2026-02-01T00:00:00Z",
            "2026-02-02T00:00:00Z",
            "2026-02-09T00:00:00Z"
        ]
    );
}

#[test]
fn bad_expressions_name_the_problem() {
    for (cron, needle) in [
        ("30 2 * *", "got 4"),
        ("1 2 3 4 5 6 7", "got 7"),
        ("@fortnightly", "an alias of"),
        (
            "61 * * * *",
            "the minute field must be 0-59, but it is \"61\"",
        ),
        ("0 0 * * 8", "the day-of-week field must be 0-7"),
        ("0 0 L * *", "L, W or #"),
        ("0 0 * * 5#2", "L, W or #"),
        ("0 0 30 2 *", "matches some date"),
        (
            "x y z a b",
            "the minute field must be 0-59, but it is \"x\"",
        ),
        ("0 x z a *", "the hour field must be 0-23, but it is \"x\""),
        (
            "0 0 0 * *",
            "the day-of-month field must be 1-31, but it is \"0\"",
        ),
        (
            "0 0 * 13 *",
            "the month field must be 1-12 or a name jan-dec",
        ),
        ("60 0 0 * * *", "the second field must be 0-59"),
    ] {
        let err = cron.parse::<Cron>().unwrap_err();
        assert_eq!(err.field, "cron");
        assert_eq!(err.value, cron);
        assert!(err.to_string().contains(needle), "{cron}: {err}");
        assert_eq!(err.to_string().lines().count(), 1, "{cron}: {err}");
    }
    let err = Schedule::from_columns(Some("* * * * *"), None, None, "Mars/Olympus").unwrap_err();
    assert_eq!(
        (err.field, err.value.as_str()),
        ("timezone", "Mars/Olympus")
    );
}

// --- DST: fixed hours run by the wall clock, once per local day -----------------------------------

#[test]
fn berlin_spring_forward_runs_a_skipped_slot_at_the_end_of_the_gap() {
    for (day_before, gap_end, day_after) in [
        (
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
        ),
        (
            "2027-03-27T01:30:00Z",
            "2027-03-28T01:00:00Z",
            "2027-03-29T00:30:00Z",
        ),
    ] {
        let from = (utc(day_before) - TimeDelta::hours(1)).to_rfc3339();
        assert_eq!(
            slots("30 2 * * *", Berlin, &from, 3),
            [day_before, gap_end, day_after]
        );
    }
}

#[test]
fn berlin_fall_back_does_not_run_twice() {
    for (day_before, first_occurrence, day_after) in [
        (
            "2026-10-24T00:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z",
        ),
        (
            "2027-10-30T00:30:00Z",
            "2027-10-31T00:30:00Z",
            "2027-11-01T01:30:00Z",
        ),
    ] {
        let from = (utc(day_before) - TimeDelta::hours(1)).to_rfc3339();
        assert_eq!(
            slots("30 2 * * *", Berlin, &from, 3),
            [day_before, first_occurrence, day_after]
        );
    }
    // An hour range through the repeated hour: 01:00, 02:00 (once), 03:00 local.
    assert_eq!(
        slots("0 1-3 * * *", Berlin, "2026-10-24T22:00:00Z", 3),
        [
            "2026-10-24T23:00:00Z",
            "2026-10-25T00:00:00Z",
            "2026-10-25T02:00:00Z"
        ]
    );
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    // Spring: 02:00 EST -> 03:00 EDT at 07:00Z; 02:30 does not exist and runs at 03:00 EDT.
    assert_eq!(
        slots("30 2 * * *", New_York, "2026-03-07T07:00:00Z", 3),
        [
            "2026-03-07T07:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z"
        ]
    );
    assert_eq!(
        slots("30 2 * * *", New_York, "2027-03-13T07:00:00Z", 3),
        [
            "2027-03-13T07:30:00Z",
            "2027-03-14T07:00:00Z",
            "2027-03-15T06:30:00Z"
        ]
    );
    // Fall: 02:00 EDT -> 01:00 EST at 06:00Z; 01:30 happens twice and runs at the first (EDT).
    assert_eq!(
        slots("30 1 * * *", New_York, "2026-10-31T05:00:00Z", 3),
        [
            "2026-10-31T05:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z"
        ]
    );
    assert_eq!(
        slots("30 1 * * *", New_York, "2027-11-06T05:00:00Z", 3),
        [
            "2027-11-06T05:30:00Z",
            "2027-11-07T05:30:00Z",
            "2027-11-08T06:30:00Z"
        ]
    );
}

// --- DST: wildcard and step hours follow real elapsed time -----------------------------------------

/// Every consecutive pair of slots in a window around each transition is exactly `step` apart.
fn assert_elapsed(cron: &str, tz: Tz, transitions: &[&str], step: TimeDelta) {
    for transition in transitions {
        let from = utc(transition) - TimeDelta::hours(3);
        let all = slots(
            cron,
            tz,
            &from.to_rfc3339(),
            (6 * 3600 / step.num_seconds()) as usize,
        );
        let times: Vec<DateTime<Utc>> = all.iter().map(|s| utc(s)).collect();
        assert_eq!(times[0], from + step, "{cron} at {transition}");
        for pair in times.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                step,
                "{cron} in {tz} around {transition}: {pair:?}"
            );
        }
    }
}

#[test]
fn stepped_and_wildcard_hours_follow_elapsed_time_in_berlin_and_new_york() {
    let berlin = [
        "2026-03-29T01:00:00Z",
        "2026-10-25T01:00:00Z",
        "2027-03-28T01:00:00Z",
        "2027-10-31T01:00:00Z",
    ];
    let new_york = [
        "2026-03-08T07:00:00Z",
        "2026-11-01T06:00:00Z",
        "2027-03-14T07:00:00Z",
        "2027-11-07T06:00:00Z",
    ];
    assert_elapsed("*/15 * * * *", Berlin, &berlin, TimeDelta::minutes(15));
    assert_elapsed("*/15 * * * *", New_York, &new_york, TimeDelta::minutes(15));
    assert_elapsed("0 * * * *", Berlin, &berlin, TimeDelta::hours(1));
    assert_elapsed("0 * * * *", New_York, &new_york, TimeDelta::hours(1));
    assert_elapsed(
        "*/30 * * * * *",
        Berlin,
        &["2026-10-25T01:00:00Z"],
        TimeDelta::seconds(30),
    );
}

#[test]
fn hourly_runs_25_times_on_the_long_day_and_23_on_the_short_one() {
    let count = |from: &str, to: &str| {
        let cron: Cron = "0 * * * *".parse().unwrap();
        let (mut at, end) = (utc(from), utc(to));
        let mut n = 0;
        while let Some(next) = cron.next_after(Berlin, at).filter(|t| *t < end) {
            n += 1;
            at = next;
        }
        n
    };
    // Local midnight to midnight, minus one second so the first hour counts.
    assert_eq!(count("2026-10-24T21:59:59Z", "2026-10-25T23:00:00Z"), 25);
    assert_eq!(count("2026-03-28T22:59:59Z", "2026-03-29T22:00:00Z"), 23);
}

// --- Misfire plans --------------------------------------------------------------------------------

const T: Duration = Duration::from_secs(60);

fn every_minute() -> Schedule {
    Schedule::from_columns(Some("* * * * *"), None, None, "UTC").unwrap()
}

#[test]
fn an_on_time_slot_fires_and_a_lagging_scheduler_loses_nothing() {
    let s = every_minute();
    let p = plan(
        &s,
        utc("2026-01-01T10:00:00Z"),
        utc("2026-01-01T10:00:00.050Z"),
        Misfire::Skip,
        T,
    );
    assert_eq!(
        p,
        Plan {
            fire: vec![utc("2026-01-01T10:00:00Z")],
            next: Some(utc("2026-01-01T10:01:00Z")),
            skipped: 0
        }
    );
    // An every-second schedule 2.5 s late (within the threshold): all three due slots fire, even
    // under skip, because they are late, not missed.
    let secs = Schedule::from_columns(Some("* * * * * *"), None, None, "UTC").unwrap();
    let p = plan(
        &secs,
        utc("2026-01-01T10:00:00Z"),
        utc("2026-01-01T10:00:02.5Z"),
        Misfire::Skip,
        T,
    );
    assert_eq!(
        p.fire,
        [
            utc("2026-01-01T10:00:00Z"),
            utc("2026-01-01T10:00:01Z"),
            utc("2026-01-01T10:00:02Z")
        ]
    );
    assert_eq!(p.next, Some(utc("2026-01-01T10:00:03Z")));
    // 60.5 s late is past the threshold: a misfire, and skip fires nothing.
    let p = plan(
        &s,
        utc("2026-01-01T10:00:00Z"),
        utc("2026-01-01T10:01:00.5Z"),
        Misfire::Skip,
        T,
    );
    assert!(p.fire.is_empty());
    assert_eq!(p.next, Some(utc("2026-01-01T10:02:00Z")));
    // Not yet due.
    let p = plan(
        &s,
        utc("2026-01-01T10:00:00Z"),
        utc("2026-01-01T09:59:59Z"),
        Misfire::CatchUp,
        T,
    );
    assert!(p.fire.is_empty());
}

#[test]
fn misfire_policies_after_downtime() {
    let s = every_minute();
    let due = utc("2026-01-01T10:00:00Z");
    let now = utc("2026-01-01T10:10:30Z");
    let once = plan(&s, due, now, Misfire::FireOnce, T);
    assert_eq!(
        once.fire,
        [utc("2026-01-01T10:10:00Z")],
        "only the latest missed slot"
    );
    assert_eq!(once.next, Some(utc("2026-01-01T10:11:00Z")));
    let skip = plan(&s, due, now, Misfire::Skip, T);
    assert!(skip.fire.is_empty());
    assert_eq!(skip.next, Some(utc("2026-01-01T10:11:00Z")));
    let all = plan(&s, due, now, Misfire::CatchUp, T);
    assert_eq!(all.fire.len(), 11, "10:00 through 10:10");
    assert_eq!(all.fire[10], utc("2026-01-01T10:10:00Z"));
    assert_eq!(all.next, Some(utc("2026-01-01T10:11:00Z")));
    // Catch-up stops at 1,000 slots and resumes from now.
    let long = plan(&s, due, utc("2026-01-03T10:00:30Z"), Misfire::CatchUp, T);
    assert_eq!(long.fire.len(), CATCH_UP_LIMIT);
    assert_eq!(long.next, Some(utc("2026-01-03T10:01:00Z")));
    assert_eq!(long.skipped, 2 * 24 * 60 + 1 - CATCH_UP_LIMIT);
    // A week of downtime on an every-second schedule still plans quickly.
    let secs = Schedule::from_columns(Some("* * * * * *"), None, None, "UTC").unwrap();
    let p = plan(
        &secs,
        due,
        due + TimeDelta::days(7) + TimeDelta::milliseconds(1500),
        Misfire::FireOnce,
        T,
    );
    assert_eq!(p.fire, [due + TimeDelta::days(7) + TimeDelta::seconds(1)]);
}

#[test]
fn every_is_anchored_to_its_slots() {
    let s = Schedule::from_columns(None, Some(Duration::from_secs(900)), None, "UTC").unwrap();
    let due = utc("2026-01-01T10:00:00Z");
    // Fired 7 minutes late: the next slot is still 10:15, not 10:22.
    let p = plan(&s, due, utc("2026-01-01T10:00:59Z"), Misfire::FireOnce, T);
    assert_eq!(p.next, Some(utc("2026-01-01T10:15:00Z")));
    let p = plan(&s, due, utc("2026-01-01T11:07:00Z"), Misfire::FireOnce, T);
    assert_eq!(p.fire, [utc("2026-01-01T11:00:00Z")]);
    assert_eq!(p.next, Some(utc("2026-01-01T11:15:00Z")));
}

#[test]
fn a_one_shot_fires_once_or_not_at_all() {
    let at = utc("2026-12-01T08:00:00Z");
    let s = Schedule::from_columns(None, None, Some(at), "UTC").unwrap();
    assert_eq!(
        plan(&s, at, at + TimeDelta::seconds(1), Misfire::FireOnce, T),
        Plan {
            fire: vec![at],
            next: None,
            skipped: 0
        }
    );
    let late = at + TimeDelta::hours(2);
    assert_eq!(plan(&s, at, late, Misfire::FireOnce, T).fire, [at]);
    assert_eq!(plan(&s, at, late, Misfire::CatchUp, T).fire, [at]);
    let skipped = plan(&s, at, late, Misfire::Skip, T);
    assert!(skipped.fire.is_empty());
    assert_eq!(skipped.next, None);
}
