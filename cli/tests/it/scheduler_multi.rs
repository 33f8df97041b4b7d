//! Multi-instance proof: three `pgtide scheduler` processes share one database for 20 s while one of
//! them is killed with SIGKILL halfway. No slot fires twice, none in the window is missing, and the
//! fire lag (execution inserted - slot) stays small. The lag figures are printed (they are a
//! measurement for the README); only gross bounds are asserted, because CI machines are noisy.

use crate::common;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use common::{one, scalar, test_db};

fn start_scheduler(url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pgtide"))
        .args(["scheduler", "--database-url", url])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_one_killed_no_slot_doubled_or_missing() {
    let _heavy = common::heavy().await;
    let t = test_db().await;
    let mut schedulers: Vec<Child> = (0..3).map(|_| start_scheduler(&t.url)).collect();
    // Let them connect and migrate (a no-op here) before the tasks exist.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let secondly: i64 = one(
        &t,
        "select pgtide.create_task('every-second', 'noop', cron => '* * * * * *')",
        &[],
    )
    .await;
    let two_s: i64 = one(
        &t,
        "select pgtide.create_task('every-2s', 'noop', every => interval '2 seconds')",
        &[],
    )
    .await;
    let start: DateTime<Utc> = one(&t, "select now()", &[]).await;

    tokio::time::sleep(Duration::from_secs(10)).await;
    schedulers[0].kill().unwrap(); // SIGKILL
    schedulers[0].wait().unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let end: DateTime<Utc> = one(&t, "select now()", &[]).await;
    for mut s in schedulers.drain(1..) {
        s.kill().unwrap();
        s.wait().unwrap();
    }

    // 1. No slot has two executions (the unique key guarantees it; check anyway).
    assert_eq!(
        scalar(&t, "select count(*) from (select task_id, scheduled_for from pgtide.executions group by 1, 2 having count(*) > 1) d").await,
        0
    );
    // 2. No slot in the window is missing: every second for the cron task, every 2 s (anchored to its
    //    first slot) for the interval task. The window leaves a second at each end for start-up and
    //    the final kill.
    let slots = |task: i64| {
        let t = &t;
        async move {
            t.client()
                .await
                .unwrap()
                .query(
                    "select scheduled_for from pgtide.executions where task_id = $1 order by 1",
                    &[&task],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, DateTime<Utc>>(0))
                .collect::<Vec<_>>()
        }
    };
    let window =
        |s: &DateTime<Utc>| *s > start + TimeDelta::seconds(2) && *s < end - TimeDelta::seconds(1);
    let every_second: Vec<DateTime<Utc>> =
        slots(secondly).await.into_iter().filter(window).collect();
    let every_two: Vec<DateTime<Utc>> = slots(two_s).await.into_iter().filter(window).collect();
    assert!(every_second.len() >= 15, "{} slots", every_second.len());
    assert!(every_two.len() >= 7, "{} slots", every_two.len());
    for pair in every_second.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            TimeDelta::seconds(1),
            "a missing second between {pair:?}"
        );
    }
    for pair in every_two.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            TimeDelta::seconds(2),
            "a missing interval slot between {pair:?}"
        );
    }
    // 3. Fire lag: when the execution was inserted (transaction start) minus its slot.
    let lags: Vec<f64> = t
        .client()
        .await
        .unwrap()
        .query(
            "select extract(epoch from created_at - scheduled_for)::float8 * 1000 from pgtide.executions
              where scheduled_for > $1 and scheduled_for < $2 order by 1",
            &[&(start + TimeDelta::seconds(2)), &(end - TimeDelta::seconds(1))],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let pct = |p: f64| lags[((lags.len() - 1) as f64 * p).round() as usize];
    println!(
        "fire lag over {} slots: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, min {:.1} ms",
        lags.len(),
        pct(0.5),
        pct(0.99),
        lags[lags.len() - 1],
        lags[0]
    );
    assert!(lags[0] >= 0.0, "a slot fired before its time");
    assert!(pct(0.5) < 250.0, "median fire lag {:.1} ms", pct(0.5));
    assert!(
        lags[lags.len() - 1] < 5000.0,
        "max fire lag {:.1} ms",
        lags[lags.len() - 1]
    );
}
