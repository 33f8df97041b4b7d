//! Server-rendered SVG charts: attempts finished per minute over the last hour, succeeded and failed
//! stacked, one bar a minute. Made to be glanced at: a scale line, "60 min ago" and "now".

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use maud::{html, Markup};

use crate::admin::QueueMinute;

/// Minutes a chart spans.
pub(super) const MINUTES: usize = 60;

/// Per-minute (succeeded, failed) of `queue` over the last [`MINUTES`], oldest first.
pub(super) fn buckets(rows: &[QueueMinute], queue: &str, now: DateTime<Utc>) -> Vec<(i64, i64)> {
    let this_minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let first = this_minute - TimeDelta::minutes(MINUTES as i64 - 1);
    let mut out = vec![(0, 0); MINUTES];
    for row in rows.iter().filter(|r| r.queue == queue) {
        let index = (row.minute - first).num_minutes();
        if (0..MINUTES as i64).contains(&index) {
            let slot = &mut out[index as usize];
            slot.0 += row.succeeded;
            slot.1 += row.failed;
        }
    }
    out
}

/// A stacked bar chart of `buckets`.
pub(super) fn bars(buckets: &[(i64, i64)], label: &str) -> Markup {
    let (width, height, top, bottom) = (600.0, 140.0, 14.0, 16.0);
    let max = buckets.iter().map(|(s, f)| s + f).max().unwrap_or(0).max(1) as f64;
    let plot = height - top - bottom;
    let step = width / buckets.len().max(1) as f64;
    html! {
        svg.chart viewBox={ "0 0 " (width) " " (height) } role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            line x1="0" y1=(top) x2=(width) y2=(top) class="grid" {}
            line x1="0" y1=(top + plot) x2=(width) y2=(top + plot) class="axis" {}
            text x="2" y=(top - 3.0) class="scale" { (max as i64) " / min" }
            @for (i, (ok, failed)) in buckets.iter().enumerate() {
                @let x = i as f64 * step + 1.0;
                @let ok_h = *ok as f64 / max * plot;
                @let failed_h = *failed as f64 / max * plot;
                @if *ok > 0 {
                    rect x=(x) y=(top + plot - ok_h) width=(step - 2.0) height=(ok_h) class="ok" {
                        title { (ok) " succeeded" }
                    }
                }
                @if *failed > 0 {
                    rect x=(x) y=(top + plot - ok_h - failed_h) width=(step - 2.0) height=(failed_h) class="failed" {
                        title { (failed) " failed" }
                    }
                }
            }
            text x="2" y=(height - 3.0) class="scale" { "60 min ago" }
            text x=(width - 2.0) y=(height - 3.0) class="scale end" { "now" }
        }
    }
}

/// A small line of the per-minute totals, for the overview's rows.
pub(super) fn sparkline(buckets: &[(i64, i64)]) -> Markup {
    let (width, height) = (120.0, 24.0);
    let max = buckets.iter().map(|(s, f)| s + f).max().unwrap_or(0).max(1) as f64;
    let step = width / (buckets.len().max(2) - 1) as f64;
    let points = |pick: fn(&(i64, i64)) -> i64| -> String {
        buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                format!(
                    "{:.1},{:.1}",
                    i as f64 * step,
                    height - 1.0 - pick(b) as f64 / max * (height - 2.0)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        svg.spark viewBox={ "0 0 " (width) " " (height) } xmlns="http://www.w3.org/2000/svg"
            role="img" aria-label="attempts per minute, last hour" {
            polyline points=(points(|b| b.0 + b.1)) class="total" {}
            polyline points=(points(|b| b.1)) class="failed" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_land_in_their_buckets() {
        let now: DateTime<Utc> = "2026-11-21T10:30:20Z".parse().unwrap();
        let row = |minute: &str, succeeded, failed| QueueMinute {
            queue: "q".into(),
            minute: minute.parse().unwrap(),
            succeeded,
            failed,
        };
        let rows = vec![
            row("2026-11-21T10:30:00Z", 5, 1),
            row("2026-11-21T09:31:00Z", 2, 0),
            row("2026-11-21T09:30:00Z", 9, 9),
        ];
        let b = buckets(&rows, "q", now);
        assert_eq!(b.len(), 60);
        assert_eq!(b[59], (5, 1));
        assert_eq!(b[0], (2, 0));
        assert_eq!(b.iter().map(|(s, f)| s + f).sum::<i64>(), 8);
        let svg = bars(&b, "q").into_string();
        assert_eq!(svg.matches("class=\"ok\"").count(), 2);
        assert_eq!(svg.matches("class=\"failed\"").count(), 1);
    }
}
