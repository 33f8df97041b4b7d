//! The scheduler against a real database: planning, firing, keys, copied policy, anchoring,
//! one-shots, misfire policies, overlap, pause/resume, invalid tasks, notifications, DST, and the
//! task admin functions. Passes are driven one at a time with an explicit "now" where timing matters.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{one, scalar, test_db, wait_until, TestDb};
use pgtide::scheduler::{Scheduler, SchedulerConfig};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn scheduler(t: &TestDb) -> Scheduler {
    Scheduler::new(t.db.clone(), SchedulerConfig::default())
}

async fn exec(t: &TestDb, sql: &str) {
    t.client().await.unwrap().batch_execute(sql).await.unwrap();
}

async fn create(t: &TestDb, sql: &str) -> i64 {
    one(t, sql, &[]).await
}

/// (key, scheduled_for) of a task's scheduled fires (manual triggers have no slot), oldest first.
async fn fired(t: &TestDb, task: i64) -> Vec<(String, DateTime<Utc>)> {
    t.client()
        .await
        .unwrap()
        .query(
            "select idempotency_key, scheduled_for from pgtide.executions where task_id = $1 and scheduled_for is not null order by scheduled_for",
            &[&task],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn next_run_at(t: &TestDb, task: i64) -> Option<DateTime<Utc>> {
    one(
        t,
        "select next_run_at from pgtide.tasks where id = $1",
        &[&task],
    )
    .await
}

async fn set_next(t: &TestDb, task: i64, at: &str) {
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.tasks set next_run_at = $2 where id = $1",
            &[&task, &utc(at)],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn create_task_refuses_what_sql_can_check() {
    let t = test_db().await;
    create(&t, "select pgtide.create_task('nightly-report', 'report', '{\"fmt\":\"pdf\"}', cron => '30 2 * * *', timezone => 'Europe/Berlin')").await;
    let client = t.client().await.unwrap();
    for (sql, expected) in [
        ("select pgtide.create_task('nightly-report', 'report', cron => '* * * * *')", "a task named 'nightly-report' already exists"),
        ("select pgtide.create_task('x', 'report')", "expected exactly one of cron, every or run_at"),
        ("select pgtide.create_task('x', 'report', cron => '* * * * *', every => '1 hour')", "expected exactly one of cron, every or run_at"),
        ("select pgtide.create_task('x', 'report', cron => '30 2 * *')", "invalid cron '30 2 * *': expected 5 fields"),
        ("select pgtide.create_task('x', 'report', cron => '30 2 * * * * *')", "got 7 field(s)"),
        ("select pgtide.create_task('x', 'report', cron => '30 2 * * ; drop')", "invalid cron"),
        ("select pgtide.create_task('x', 'report', cron => '61 * * * *')", "pgtide.create_task: invalid cron '61 * * * *': expected the minute field to be valid: it must be 0-59, but it is \"61\" (a field is a number, *, a list 1,15, a range 1-5 or a step */15)"),
        ("select pgtide.create_task('x', 'report', cron => '0 24 * * *')", "the hour field to be valid: it must be 0-23, but it is \"24\""),
        ("select pgtide.create_task('x', 'report', cron => '0 0 32 * *')", "the day-of-month field to be valid: it must be 1-31, but it is \"32\""),
        ("select pgtide.create_task('x', 'report', cron => '0 0 * 13 *')", "the month field to be valid: it must be 1-12 or a name jan-dec, but it is \"13\""),
        ("select pgtide.create_task('x', 'report', cron => '0 0 * * 8')", "the day-of-week field to be valid: it must be 0-7 (0 and 7 are Sunday) or a name sun-sat, but it is \"8\""),
        ("select pgtide.create_task('x', 'report', cron => '60 0 0 * * *')", "the second field to be valid: it must be 0-59, but it is \"60\""),
        ("select pgtide.create_task('x', 'report', cron => '*/0 * * * *')", "the minute field to be valid: it must have a step of 1 or more after /"),
        ("select pgtide.create_task('x', 'report', cron => '0 5-1 * * *')", "it must have ranges that run upwards (5-1 runs down)"),
        ("select pgtide.create_task('x', 'report', cron => '0 0 L * *')", "no L, W or #"),
        ("select pgtide.create_task('x', 'report', cron => '* * * * *', timezone => 'Mars/Olympus')", "invalid timezone 'Mars/Olympus'"),
        ("select pgtide.create_task('x', 'report', every => interval '0')", "invalid every '00:00:00': expected a positive interval"),
        ("select pgtide.create_task('x', 'report', every => interval '-5 minutes')", "invalid every"),
        ("select pgtide.create_task('', 'report', every => interval '5 minutes')", "invalid name ''"),
        ("select pgtide.create_task('x', 'report', every => '5 minutes', misfire => 'later')", "invalid misfire 'later'"),
        ("select pgtide.create_task('x', 'report', every => '5 minutes', overlap => 'queue')", "invalid overlap 'queue'"),
    ] {
        let message = common::sql_error(&t, sql, &[]).await;
        assert!(message.contains(expected), "{sql}: {message:?} lacks {expected:?}");
    }
    assert_eq!(scalar(&t, "select count(*) from pgtide.tasks").await, 1);
    // Every accepted form.
    for sql in [
        "select pgtide.create_task('every', 'report', every => interval '15 minutes')",
        "select pgtide.create_task('once', 'report', run_at => '2026-12-01 09:00+01')",
        "select pgtide.create_task('secs', 'report', cron => '*/10 * * * * *')",
        "select pgtide.create_task('alias', 'report', cron => '@daily')",
    ] {
        client.query_one(sql, &[]).await.expect(sql);
    }
}

#[tokio::test]
async fn a_fired_slot_copies_the_task_and_advances_it() {
    let t = test_db().await;
    let task = create(
        &t,
        "select pgtide.create_task('minutely', 'report', '{\"fmt\":\"pdf\"}', cron => '* * * * *', queue => 'reports',
                                   priority => 3, max_attempts => 2, retry_strategy => 'fixed',
                                   retry_base => '7 seconds', timeout => '90 seconds')",
    )
    .await;
    set_next(&t, task, "2026-01-01T10:00:00Z").await;
    let pass = scheduler(&t)
        .run_once(Some(utc("2026-01-01T10:00:00.200Z")))
        .await
        .unwrap();
    assert_eq!(pass.fired.len(), 1);
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select task_name, handler, payload, queue, priority, max_attempts, retry_strategy,
                    extract(epoch from retry_base)::int, extract(epoch from timeout)::int, status::text,
                    attempt, idempotency_key, scheduled_for
               from pgtide.executions where task_id = $1",
            &[&task],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "minutely");
    assert_eq!(row.get::<_, String>(1), "report");
    assert_eq!(
        row.get::<_, serde_json::Value>(2),
        serde_json::json!({"fmt": "pdf"})
    );
    assert_eq!(row.get::<_, String>(3), "reports");
    assert_eq!(row.get::<_, i16>(4), 3);
    assert_eq!(row.get::<_, i32>(5), 2);
    assert_eq!(row.get::<_, String>(6), "fixed");
    assert_eq!((row.get::<_, i32>(7), row.get::<_, i32>(8)), (7, 90));
    assert_eq!(
        (row.get::<_, String>(9).as_str(), row.get::<_, i32>(10)),
        ("queued", 1)
    );
    assert_eq!(
        row.get::<_, String>(11),
        format!("task:{task}:2026-01-01T10:00:00Z")
    );
    assert_eq!(row.get::<_, DateTime<Utc>>(12), utc("2026-01-01T10:00:00Z"));
    assert_eq!(
        next_run_at(&t, task).await,
        Some(utc("2026-01-01T10:01:00Z"))
    );
    let last: Option<DateTime<Utc>> = one(
        &t,
        "select last_run_at from pgtide.tasks where id = $1",
        &[&task],
    )
    .await;
    assert_eq!(last, Some(utc("2026-01-01T10:00:00Z")));

    // The same pass again fires nothing; even re-planning the same slot cannot duplicate it.
    scheduler(&t)
        .run_once(Some(utc("2026-01-01T10:00:00.300Z")))
        .await
        .unwrap();
    set_next(&t, task, "2026-01-01T10:00:00Z").await;
    scheduler(&t)
        .run_once(Some(utc("2026-01-01T10:00:00.400Z")))
        .await
        .unwrap();
    assert_eq!(fired(&t, task).await.len(), 1);
}

#[tokio::test]
async fn intervals_are_anchored_and_one_shots_finish() {
    let t = test_db().await;
    let every = create(
        &t,
        "select pgtide.create_task('every', 'noop', every => interval '15 minutes')",
    )
    .await;
    set_next(&t, every, "2026-01-01T10:00:00Z").await;
    // Fired 20 s late: the next slot is still 10:15, not 10:15:20.
    scheduler(&t)
        .run_once(Some(utc("2026-01-01T10:00:20Z")))
        .await
        .unwrap();
    assert_eq!(
        next_run_at(&t, every).await,
        Some(utc("2026-01-01T10:15:00Z"))
    );
    scheduler(&t)
        .run_once(Some(utc("2026-01-01T10:15:01Z")))
        .await
        .unwrap();
    assert_eq!(
        next_run_at(&t, every).await,
        Some(utc("2026-01-01T10:30:00Z"))
    );
    let slots: Vec<DateTime<Utc>> = fired(&t, every).await.into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        slots,
        [utc("2026-01-01T10:00:00Z"), utc("2026-01-01T10:15:00Z")]
    );

    let once = create(
        &t,
        "select pgtide.create_task('once', 'noop', run_at => '2026-12-01 09:00+01')",
    )
    .await;
    assert_eq!(
        next_run_at(&t, once).await,
        Some(utc("2026-12-01T08:00:00Z")),
        "planned at creation"
    );
    scheduler(&t)
        .run_once(Some(utc("2026-12-01T07:59:59Z")))
        .await
        .unwrap();
    assert!(fired(&t, once).await.is_empty(), "not before its time");
    scheduler(&t)
        .run_once(Some(utc("2026-12-01T08:00:00.1Z")))
        .await
        .unwrap();
    assert_eq!(
        fired(&t, once).await,
        [(
            format!("task:{once}:2026-12-01T08:00:00Z"),
            utc("2026-12-01T08:00:00Z")
        )]
    );
    let status: String = one(
        &t,
        "select status from pgtide.tasks where id = $1",
        &[&once],
    )
    .await;
    assert_eq!(status, "finished");
    assert_eq!(next_run_at(&t, once).await, None);
    scheduler(&t)
        .run_once(Some(utc("2026-12-02T08:00:00Z")))
        .await
        .unwrap();
    assert_eq!(fired(&t, once).await.len(), 1);
}

#[tokio::test]
async fn missed_slots_follow_the_misfire_policy() {
    let t = test_db().await;
    let mut tasks = Vec::new();
    for policy in ["fire_once", "skip", "catch_up"] {
        let id = create(&t, &format!("select pgtide.create_task('{policy}', 'noop', cron => '* * * * *', misfire => '{policy}')")).await;
        set_next(&t, id, "2026-01-01T10:00:00Z").await;
        tasks.push(id);
    }
    // Ten and a half minutes of downtime.
    let pass = scheduler(&t)
        .run_once(Some(utc("2026-01-01T10:10:30Z")))
        .await
        .unwrap();
    assert_eq!(pass.fired.len(), 1 + 11);
    let once = fired(&t, tasks[0]).await;
    assert_eq!(
        once,
        [(
            format!("task:{}:2026-01-01T10:10:00Z", tasks[0]),
            utc("2026-01-01T10:10:00Z")
        )],
        "the latest missed slot"
    );
    assert!(fired(&t, tasks[1]).await.is_empty());
    let all = fired(&t, tasks[2]).await;
    assert_eq!(all.len(), 11);
    assert_eq!(all[0].0, format!("task:{}:2026-01-01T10:00:00Z", tasks[2]));
    assert_eq!(all[10].0, format!("task:{}:2026-01-01T10:10:00Z", tasks[2]));
    for task in tasks {
        assert_eq!(
            next_run_at(&t, task).await,
            Some(utc("2026-01-01T10:11:00Z")),
            "each continues from now"
        );
    }
}

#[tokio::test]
async fn overlap_skip_waits_for_the_previous_run() {
    let t = test_db().await;
    let task = create(
        &t,
        "select pgtide.create_task('exclusive', 'noop', cron => '* * * * *', overlap => 'skip')",
    )
    .await;
    let previous: i64 = one(&t, "select pgtide.trigger_task('exclusive')", &[]).await;
    exec(&t, &format!("update pgtide.executions set status = 'running', worker_id = 'w', lease_until = now() + interval '1 h' where id = {previous}")).await;
    set_next(&t, task, "2026-01-01T10:00:00Z").await;
    let pass = scheduler(&t)
        .run_once(Some(utc("2026-01-01T10:00:01Z")))
        .await
        .unwrap();
    assert_eq!((pass.fired.len(), pass.skipped_overlap), (0, 1));
    assert_eq!(
        next_run_at(&t, task).await,
        Some(utc("2026-01-01T10:01:00Z")),
        "the skipped slot is passed"
    );
    exec(&t, &format!("update pgtide.executions set status = 'succeeded', lease_until = null where id = {previous}")).await;
    scheduler(&t)
        .run_once(Some(utc("2026-01-01T10:01:01Z")))
        .await
        .unwrap();
    let slots = fired(&t, task).await;
    assert_eq!(slots.last().unwrap().1, utc("2026-01-01T10:01:00Z"));
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        2
    );
}

#[tokio::test]
async fn pause_stops_firing_and_resume_does_not_burst() {
    let t = test_db().await;
    let task = create(
        &t,
        "select pgtide.create_task('paused', 'noop', cron => '* * * * * *')",
    )
    .await;
    scheduler(&t).run_once(None).await.unwrap();
    exec(&t, "select pgtide.pause_task('paused')").await;
    exec(
        &t,
        "update pgtide.tasks set next_run_at = now() - interval '10 minutes'",
    )
    .await;
    let pass = scheduler(&t).run_once(None).await.unwrap();
    assert!(pass.fired.is_empty());
    exec(&t, "select pgtide.resume_task('paused')").await;
    let pass = scheduler(&t).run_once(None).await.unwrap();
    assert_eq!(pass.planned, 1);
    assert!(
        pass.fired.is_empty(),
        "a resumed task waits for its next slot"
    );
    let ahead: bool = one(
        &t,
        "select next_run_at > now() from pgtide.tasks where id = $1",
        &[&task],
    )
    .await;
    assert!(ahead);
    // Pausing twice is fine; unknown names are refused by name.
    exec(
        &t,
        "select pgtide.pause_task('paused'); select pgtide.pause_task('paused')",
    )
    .await;
    let message = common::sql_error(&t, "select pgtide.resume_task('nope')", &[]).await;
    assert!(
        message.contains("pgtide.resume_task: invalid name 'nope'"),
        "{message}"
    );
}

#[tokio::test]
async fn unparsable_tasks_become_invalid_and_never_block_the_others() {
    let t = test_db().await;
    exec(
        &t,
        "insert into pgtide.tasks (name, handler, cron) values ('bad-cron', 'noop', '*/5 * *');
         insert into pgtide.tasks (name, handler, cron, timezone) values ('bad-zone', 'noop', '* * * * *', 'Mars/Olympus');
         insert into pgtide.tasks (name, handler, cron) values ('bad-weekday', 'noop', '0 0 * * 9');",
    )
    .await;
    let good = create(
        &t,
        "select pgtide.create_task('good', 'noop', cron => '* * * * *')",
    )
    .await;
    let pass = scheduler(&t).run_once(None).await.unwrap();
    assert_eq!(pass.invalid.len(), 3);
    let rows: Vec<(String, String, Option<String>)> = t
        .client()
        .await
        .unwrap()
        .query(
            "select name, status, last_error from pgtide.tasks order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows[0].1, "invalid");
    assert_eq!(
        rows[0].2.as_deref(),
        Some("invalid cron \"*/5 * *\" for task \"bad-cron\": 5 fields (minute hour day month weekday) or 6 with leading seconds; got 3")
    );
    assert!(rows[1]
        .2
        .as_deref()
        .unwrap()
        .starts_with("invalid timezone \"Mars/Olympus\" for task \"bad-zone\""));
    assert_eq!(
        rows[2].2.as_deref(),
        Some(
            "invalid cron \"0 0 * * 9\" for task \"bad-weekday\": the day-of-week field must be 0-7 \
             (0 and 7 are Sunday) or a name sun-sat, but it is \"9\" (a field is a number, *, a list \
             1,15, a range 1-5 or a step */15)"
        )
    );
    assert_eq!(
        (rows[3].0.as_str(), rows[3].1.as_str(), rows[3].2.as_deref()),
        ("good", "active", None)
    );
    assert!(next_run_at(&t, good).await.is_some());

    // A malformed update to a task with history makes it invalid and leaves the history alone.
    exec(
        &t,
        "select pgtide.trigger_task('good'); select pgtide.trigger_task('good');",
    )
    .await;
    exec(
        &t,
        "update pgtide.tasks set cron = 'every tuesday' where name = 'good'",
    )
    .await;
    scheduler(&t).run_once(None).await.unwrap();
    let status: String = one(
        &t,
        "select status from pgtide.tasks where id = $1",
        &[&good],
    )
    .await;
    assert_eq!(status, "invalid");
    assert_eq!(
        scalar(&t, &format!("select count(*) from pgtide.executions where task_id = {good} and task_name = 'good'")).await,
        2
    );
    // A raw update that breaks the one-schedule rule is refused by the table itself.
    let err = t
        .client()
        .await
        .unwrap()
        .execute(
            "update pgtide.tasks set every = interval '1 hour' where id = $1",
            &[&good],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.as_db_error().and_then(|e| e.constraint()),
        Some("tasks_one_schedule")
    );

    // Fixing the schedule re-activates the task; the next pass validates and plans it.
    exec(
        &t,
        "update pgtide.tasks set cron = '*/5 * * * *' where name = 'bad-cron'",
    )
    .await;
    scheduler(&t).run_once(None).await.unwrap();
    let (status, error, planned): (String, Option<String>, bool) = {
        let r = t.client().await.unwrap().query_one("select status, last_error, next_run_at is not null from pgtide.tasks where name = 'bad-cron'", &[]).await.unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!((status.as_str(), error, planned), ("active", None, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_plans_a_new_task_at_once() {
    let t = test_db().await;
    let scheduler = Scheduler::new(
        t.db.clone(),
        SchedulerConfig {
            max_sleep: Duration::from_secs(3600),
            ..Default::default()
        },
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn({
        let (s, stop) = (scheduler.clone(), stop.clone());
        async move { s.run(stop).await }
    });
    wait_until(
        Duration::from_secs(10),
        "the scheduler to listen",
        || async { scheduler.is_listening() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let task = create(
        &t,
        "select pgtide.create_task('fresh', 'noop', cron => '0 0 1 1 *')",
    )
    .await;
    // The scheduler sleeps for an hour between passes: only the notification can plan this.
    wait_until(
        Duration::from_secs(5),
        "the new task to be planned",
        || async { next_run_at(&t, task).await.is_some() },
    )
    .await;
    let planned = next_run_at(&t, task).await.unwrap();
    assert_eq!(planned.format("%m-%d %H:%M").to_string(), "01-01 00:00");
    // A task that becomes due soon fires on time without another notification.
    let soon = create(
        &t,
        "select pgtide.create_task('soon', 'noop', run_at => now() + interval '1 second')",
    )
    .await;
    wait_until(Duration::from_secs(10), "the one-shot to fire", || async {
        fired(&t, soon).await.len() == 1
    })
    .await;
    stop.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn dst_transitions_fire_through_the_database() {
    let t = test_db().await;
    let task = create(&t, "select pgtide.create_task('berlin', 'noop', cron => '30 2 * * *', timezone => 'Europe/Berlin', misfire => 'skip')").await;
    let s = scheduler(&t);
    // Plan from the day before spring-forward: 02:30 does not exist on 2026-03-29, so 03:00 CEST.
    s.run_once(Some(utc("2026-03-28T12:00:00Z"))).await.unwrap();
    assert_eq!(
        next_run_at(&t, task).await,
        Some(utc("2026-03-29T01:00:00Z"))
    );
    s.run_once(Some(utc("2026-03-29T01:00:00.1Z")))
        .await
        .unwrap();
    assert_eq!(
        next_run_at(&t, task).await,
        Some(utc("2026-03-30T00:30:00Z"))
    );
    // Fall-back: 02:30 happens twice on 2026-10-25; it fires at the first (00:30Z) only.
    set_next(&t, task, "2026-10-25T00:30:00Z").await;
    s.run_once(Some(utc("2026-10-25T00:30:00.1Z")))
        .await
        .unwrap();
    assert_eq!(
        next_run_at(&t, task).await,
        Some(utc("2026-10-26T01:30:00Z"))
    );
    s.run_once(Some(utc("2026-10-25T01:30:00.1Z")))
        .await
        .unwrap();
    let keys: Vec<String> = fired(&t, task).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            format!("task:{task}:2026-03-29T01:00:00Z"),
            format!("task:{task}:2026-10-25T00:30:00Z")
        ]
    );
}

#[tokio::test]
async fn trigger_delete_and_overview() {
    let t = test_db().await;
    let task = create(&t, "select pgtide.create_task('report', 'report', every => interval '1 hour', tags => '{finance}')").await;
    let manual: i64 = one(&t, "select pgtide.trigger_task('report')", &[]).await;
    let key: String = one(
        &t,
        "select idempotency_key from pgtide.executions where id = $1",
        &[&manual],
    )
    .await;
    assert!(
        key.starts_with(&format!("task:{task}:manual:")) && key.len() > 30,
        "{key}"
    );
    let given: i64 = one(
        &t,
        "select pgtide.trigger_task('report', idempotency_key => 'close-2026-11')",
        &[],
    )
    .await;
    let again: i64 = one(
        &t,
        "select pgtide.trigger_task('report', idempotency_key => 'close-2026-11')",
        &[],
    )
    .await;
    assert_eq!(given, again);
    exec(&t, &format!("update pgtide.executions set status = 'succeeded', finished_at = now() where id = {manual};
                       update pgtide.executions set status = 'dead', finished_at = now(), error = 'boom' where id = {given};")).await;
    let overview = t
        .client()
        .await
        .unwrap()
        .query_one("select schedule, status, last_outcome::text, success_rate::float8, recent_finished, tags from pgtide.task_overview where name = 'report'", &[])
        .await
        .unwrap();
    assert_eq!(overview.get::<_, String>(0), "every 01:00:00");
    assert_eq!(overview.get::<_, String>(1), "active");
    assert_eq!(overview.get::<_, String>(2), "dead");
    assert_eq!(overview.get::<_, f64>(3), 0.5);
    assert_eq!(overview.get::<_, i64>(4), 2);
    assert_eq!(overview.get::<_, Vec<String>>(5), ["finance"]);

    exec(&t, "select pgtide.delete_task('report')").await;
    assert_eq!(scalar(&t, "select count(*) from pgtide.tasks").await, 0);
    let kept = scalar(
        &t,
        "select count(*) from pgtide.executions where task_id is null and task_name = 'report'",
    )
    .await;
    assert_eq!(kept, 2, "the history stays, with the task's name");
}

#[tokio::test]
async fn task_next_previews_slots_in_local_time_and_utc() {
    let t = test_db().await;
    create(&t, "select pgtide.create_task('nightly-report', 'report', cron => '30 2 * * *', timezone => 'Europe/Berlin')").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgtide"))
        .args([
            "task",
            "next",
            "nightly-report",
            "-n",
            "3",
            "--database-url",
            &t.url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for line in lines {
        // e.g. "2026-11-22 02:30:00 CET (+01:00)  2026-11-22T01:30:00Z"
        assert!(line.contains(" 02:30:00 CE"), "{line}");
        assert!(line.ends_with(":30:00Z"), "{line}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgtide"))
        .args(["task", "next", "missing", "--database-url", &t.url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid name \"missing\""));
}
