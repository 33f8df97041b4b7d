//! The leader-elected services: promoter, rescuer, pruner, vacuumer, and the leader lease itself. Each is
//! driven one pass at a time (`run_once`) on state built by hand, so nothing depends on timing.

use crate::common;
use pgtide::maintenance::LeaderService;

use std::time::Duration;

use common::{scalar, test_db};
use pgtide::{
    maintenance::{Leader, Promoter, Pruner, Rescuer, Vacuumer},
    ExecutionStatus,
};

#[tokio::test]
async fn the_promoter_queues_due_rows_and_notifies_their_queues() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "insert into pgtide.executions (handler, queue, status, visible_at, idempotency_key) values
               ('a', 'q1', 'scheduled', now() - interval '1 s', 'due-1'),
               ('a', 'q1', 'scheduled', now() - interval '2 s', 'due-2'),
               ('a', 'q2', 'scheduled', now() - interval '1 s', 'due-3'),
               ('a', 'q3', 'scheduled', now() + interval '1 h', 'later')",
        )
        .await
        .unwrap();
    let (listener, mut messages) = t.dedicated().await.unwrap();
    listener.batch_execute("listen pgtide_jobs").await.unwrap();

    // A batch size of 1 forces several statements in one pass.
    let promoted = Promoter::new(t.db.clone(), 1).run_once().await.unwrap();
    assert_eq!(promoted.total(), 3);
    let mut per_queue = promoted.per_queue.clone();
    per_queue.sort();
    assert_eq!(per_queue, [("q1".to_string(), 2), ("q2".to_string(), 1)]);
    let until_next = promoted.next_due.unwrap() - promoted.db_now.unwrap();
    assert!(
        until_next > chrono::Duration::minutes(59),
        "the next due row is the one an hour out"
    );

    let statuses: Vec<(String, String)> = client
        .query(
            "select idempotency_key, status::text from pgtide.executions order by idempotency_key",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        statuses,
        [
            ("due-1".into(), "queued".into()),
            ("due-2".into(), "queued".into()),
            ("due-3".into(), "queued".into()),
            ("later".into(), "scheduled".into()),
        ]
    );
    let mut notified = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), messages.recv()).await
    {
        if let tokio_postgres::AsyncMessage::Notification(n) = m {
            notified.push(n.payload().to_string());
        }
    }
    notified.sort();
    // At most one notification per queue per statement: batch size 1 took three statements, two of
    // which promoted a q1 row.
    assert_eq!(notified, ["q1", "q1", "q2"]);
}

#[tokio::test]
async fn the_rescuer_retries_or_buries_expired_leases_and_nothing_else() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "insert into pgtide.executions
               (handler, status, attempt, max_attempts, worker_id, lease_until, started_at, idempotency_key, finished_at) values
               ('a', 'running', 1, 3, 'w-gone', now() - interval '1 s', now() - interval '1 min', 'expired', null),
               ('a', 'running', 3, 3, 'w-gone', now() - interval '1 s', now() - interval '1 min', 'last#3', null),
               ('a', 'running', 1, 3, 'w-alive', now() + interval '30 s', now(), 'alive', null),
               ('a', 'succeeded', 1, 3, 'w-done', now() - interval '1 h', now(), 'done', now())",
        )
        .await
        .unwrap();
    let mut rescued = Rescuer::new(t.db.clone(), 1).run_once().await.unwrap();
    rescued.sort_by_key(|r| r.id);
    assert_eq!(rescued.len(), 2);
    assert_eq!(rescued[0].status, ExecutionStatus::Failed);
    assert!(rescued[0].retry_id.is_some());
    assert_eq!(rescued[0].worker_id.as_deref(), Some("w-gone"));
    assert_eq!(
        rescued[1].status,
        ExecutionStatus::Dead,
        "the last attempt's expiry is final"
    );
    assert_eq!(rescued[1].retry_id, None);

    let rows: Vec<(String, String, Option<String>)> = client
        .query(
            "select idempotency_key, status::text, error from pgtide.executions order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows[0].1, "failed");
    assert!(rows[0]
        .2
        .as_deref()
        .unwrap()
        .contains("worker w-gone stopped heartbeating"));
    assert_eq!(rows[1].1, "dead");
    assert_eq!(
        (rows[2].0.as_str(), rows[2].1.as_str()),
        ("alive", "running"),
        "a live lease is untouched"
    );
    assert_eq!(
        (rows[3].0.as_str(), rows[3].1.as_str()),
        ("done", "succeeded"),
        "finished rows are untouched"
    );
    assert_eq!(
        (rows[4].0.as_str(), rows[4].1.as_str()),
        ("expired#2", "scheduled")
    );
    assert_eq!(rows.len(), 5);
    // A second pass finds nothing.
    assert!(Rescuer::new(t.db.clone(), 10)
        .run_once()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_failure_transition_is_guarded_on_status_and_attempt() {
    // River bug #1302: a rescuer that read a row before it completed must not overwrite it.
    let t = test_db().await;
    let client = t.client().await.unwrap();
    let id: i64 = client
        .query_one(
            "insert into pgtide.executions (handler, status, attempt, worker_id, lease_until, idempotency_key)
             values ('a', 'running', 2, 'w', now() - interval '1 s', 'k#2') returning id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // What the rescuer read: (id, attempt 2). Meanwhile the worker completed it.
    client
        .execute(
            "update pgtide.executions set status = 'succeeded', lease_until = null where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let changed = client
        .query(
            "select * from pgtide.fail_attempts(array[$1::bigint], '{2}', '{late}', '{f}', null, true)",
            &[&id],
        )
        .await
        .unwrap();
    assert!(changed.is_empty());
    // And a stale attempt number changes nothing either.
    client
        .execute("update pgtide.executions set status = 'running', lease_until = now() - interval '1 s' where id = $1", &[&id])
        .await
        .unwrap();
    let changed = client
        .query(
            "select * from pgtide.fail_attempts(array[$1::bigint], '{1}', '{stale}', '{f}', 'w', false)",
            &[&id],
        )
        .await
        .unwrap();
    assert!(changed.is_empty());
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        1
    );
}

#[tokio::test]
async fn one_leader_at_a_time_and_a_stale_one_cannot_renew() {
    let t = test_db().await;
    let ttl = Duration::from_secs(30);
    let a = Leader::new(t.db.clone(), "maintenance", "a", ttl);
    let b = Leader::new(t.db.clone(), "maintenance", "b", ttl);
    assert!(a.try_acquire().await.unwrap());
    assert!(
        !b.try_acquire().await.unwrap(),
        "b must wait while a's lease is live"
    );
    assert!(a.try_acquire().await.unwrap(), "a renews");

    // a stalls past its lease: b takes over.
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.leader set expires_at = now() - interval '1 s'",
            &[],
        )
        .await
        .unwrap();
    assert!(b.try_acquire().await.unwrap());
    assert!(
        !a.try_acquire().await.unwrap(),
        "the stale leader's renewal after the takeover fails"
    );
    let holder: String = common::one(
        &t,
        "select holder from pgtide.leader where name = 'maintenance'",
        &[],
    )
    .await;
    assert_eq!(holder, "b");

    // Releasing hands over at once; releasing a lease one does not hold changes nothing.
    a.release().await.unwrap();
    assert_eq!(scalar(&t, "select count(*) from pgtide.leader").await, 1);
    b.release().await.unwrap();
    assert!(a.try_acquire().await.unwrap());
}

#[tokio::test]
async fn the_pruner_keeps_rows_until_their_retention() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "insert into pgtide.executions (handler, status, finished_at, idempotency_key) values
               ('a', 'succeeded', now() - interval '8 days', 'old-ok'),
               ('a', 'cancelled', now() - interval '8 days', 'old-cancelled'),
               ('a', 'succeeded', now() - interval '1 day', 'new-ok'),
               ('a', 'dead', now() - interval '8 days', 'old-dead'),
               ('a', 'dead', now() - interval '31 days', 'ancient-dead');
             insert into pgtide.executions (handler, status, visible_at, idempotency_key) values
               ('a', 'scheduled', now() + interval '1 day', 'pending');",
        )
        .await
        .unwrap();
    let day = Duration::from_secs(24 * 3600);
    let deleted = Pruner::new(t.db.clone(), 7 * day, 30 * day, 1)
        .run_once()
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    let left: Vec<String> = client
        .query(
            "select idempotency_key from pgtide.executions order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["new-ok", "old-dead", "pending"]);
    // The SQL function refuses to prune live statuses.
    let message = common::sql_error(&t, "select pgtide.prune(interval '0', '{queued}')", &[]).await;
    assert!(message.contains("invalid statuses"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_leaders_pass_is_fenced_and_a_pass_in_flight_holds_off_the_takeover() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "insert into pgtide.executions (handler, status, visible_at)
             values ('noop', 'scheduled', now() - interval '1 s')",
        )
        .await
        .unwrap();
    let a = Leader::new(t.db.clone(), "maintenance", "a", Duration::from_secs(30));
    let b = Leader::new(t.db.clone(), "maintenance", "b", Duration::from_secs(1));
    assert!(a.try_acquire().await.unwrap());

    // a stalls past its lease and b takes over; a wakes up and runs a pass: the fence refuses it.
    client
        .execute(
            "update pgtide.leader set expires_at = now() - interval '1 s'",
            &[],
        )
        .await
        .unwrap();
    assert!(b.try_acquire().await.unwrap());
    let promoter = Promoter::new(t.db.clone(), 100);
    let refused = promoter.run_once_as(&a).await.unwrap_err();
    assert!(
        matches!(refused, pgtide::Error::LeaseLost { .. }),
        "{refused}"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'scheduled'"
        )
        .await,
        1,
        "the stale leader promoted nothing"
    );
    assert!(matches!(
        Rescuer::new(t.db.clone(), 100).run_once_as(&a).await,
        Err(pgtide::Error::LeaseLost { .. })
    ));
    assert!(matches!(
        Pruner::new(t.db.clone(), Duration::ZERO, Duration::ZERO, 100)
            .run_once_as(&a)
            .await,
        Err(pgtide::Error::LeaseLost { .. })
    ));
    assert_eq!(promoter.run_once_as(&b).await.unwrap().total(), 1);

    // b holds a pass open while its 1 s lease runs out: a's takeover waits until the pass commits,
    // so the two never act at once.
    let mut held = t.client().await.unwrap();
    assert!(b.try_acquire().await.unwrap());
    let pass = b.begin_pass(&mut held).await.unwrap();
    // The pass works for 2 s (busy, not idle), past its lease.
    // The takeover tries after 1.2 s, with the lease expired and the pass still working.
    let takeover = tokio::spawn({
        let a = a.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            a.try_acquire().await.unwrap()
        }
    });
    let (worked, ()) = tokio::join!(pass.batch_execute("select pg_sleep(2)"), async {
        tokio::time::sleep(Duration::from_millis(1700)).await;
        assert!(
            !takeover.is_finished(),
            "the takeover must wait for the pass in flight"
        );
    });
    worked.unwrap();
    pass.commit().await.unwrap();
    assert!(
        takeover.await.unwrap(),
        "a takes over once b's pass is done"
    );
    let holder: String = common::one(&t, "select holder from pgtide.leader", &[]).await;
    assert_eq!(holder, "a");
    // And b, stale now, can neither renew nor pass.
    assert!(!b.try_acquire().await.unwrap());
    assert!(matches!(
        b.begin_pass(&mut held).await,
        Err(pgtide::Error::LeaseLost { .. })
    ));

    // A leader that stalls in the middle of a pass (never commits) holds the takeover off no longer
    // than its lease: the server ends the pass once it has been idle for the TTL.
    let c = Leader::new(t.db.clone(), "maintenance", "c", Duration::from_secs(1));
    client
        .execute(
            "update pgtide.leader set expires_at = now() - interval '1 s'",
            &[],
        )
        .await
        .unwrap();
    assert!(c.try_acquire().await.unwrap());
    let mut stalled = t.client().await.unwrap();
    let frozen = c.begin_pass(&mut stalled).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = std::time::Instant::now();
    assert!(
        a.try_acquire().await.unwrap(),
        "a takes over from the stalled pass"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the takeover waited {:?} for a stalled pass",
        started.elapsed()
    );
    assert!(
        frozen.commit().await.is_err(),
        "the server ended the stalled pass"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_dies_another_instance_takes_over_within_the_ttl() {
    use pgtide::maintenance::{Maintenance, MaintenanceConfig};
    let t = test_db().await;
    let ttl = Duration::from_secs(2);
    let config = MaintenanceConfig {
        leader_ttl: ttl,
        ..Default::default()
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let mut loops = std::collections::HashMap::new();
    for holder in ["one", "two", "three"] {
        let m = Maintenance::new(t.db.clone(), holder, config.clone());
        let stop = stop.clone();
        loops.insert(holder, tokio::spawn(async move { m.run(stop).await }));
    }
    let holder = || async {
        common::one::<Option<String>>(
            &t,
            "select (select holder from pgtide.leader where name = 'maintenance' and expires_at > now())",
            &[],
        )
        .await
    };
    common::wait_until(Duration::from_secs(10), "a leader", || async {
        holder().await.is_some()
    })
    .await;
    let first = holder().await.unwrap();
    // The leader dies without releasing its lease (its task is dropped mid-flight, like a SIGKILL).
    loops.remove(first.as_str()).unwrap().abort();
    let died = std::time::Instant::now();
    common::wait_until(Duration::from_secs(10), "a successor", || async {
        holder().await.is_some_and(|h| h != first)
    })
    .await;
    let gap = died.elapsed();
    // The lease runs out within the TTL and a contender retries every third of it.
    assert!(
        gap <= ttl + ttl / 3 + Duration::from_millis(700),
        "takeover took {gap:?} with a {ttl:?} lease"
    );
    println!("leader takeover after {gap:?} (ttl {ttl:?})");
    stop.cancel();
    for (_, l) in loops {
        l.await.unwrap();
    }
}

/// Retention for the audit log and the alert history, pruned in small batches by the leader under
/// a worker role (which may not DELETE from the audit log, only call `pgtide.prune_audit`). What
/// must stay, stays: recent rows, pending deliveries and their events, and the latest event of an
/// alert that still fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_and_alert_history_are_pruned_past_their_retention() {
    use pgtide::maintenance::{HistoryPruned, HistoryPruner, Maintenance, MaintenanceConfig};
    let t = test_db().await;
    let day = Duration::from_secs(24 * 3600);
    t.client()
        .await
        .unwrap()
        .batch_execute(
            "insert into pgtide.audit_log (at, surface, action, object_type, object_id)
             select now() - n * interval '1 day' + interval '1 hour', 'sql', 'test', 'task', n::text
               from generate_series(0, 119) n;
             -- s1: fired long ago and still firing; s2: an episode long over; s3: resolved lately.
             insert into pgtide.alert_events (rule, kind, subject, state, message, at) values
               ('r', 'k', 's1', 'firing',   'old, still firing', now() - interval '40 days'),
               ('r', 'k', 's2', 'firing',   'old episode',       now() - interval '40 days'),
               ('r', 'k', 's2', 'resolved', 'old episode ends',  now() - interval '39 days'),
               ('r', 'k', 's3', 'firing',   'old start',         now() - interval '40 days'),
               ('r', 'k', 's3', 'resolved', 'recent end',        now() - interval '1 day'),
               ('r', 'k', 's4', 'resolved', 'old, pending hook', now() - interval '40 days');
             insert into pgtide.alert_deliveries (event_id, webhook, status, created_at)
             select id, 'ops', case message when 'old, pending hook' then 'pending' else 'delivered' end,
                    at
               from pgtide.alert_events;
             -- Rate-limit logs: key a's last start left its one-minute window, key b started now,
             -- and the queue 'gone' has no rate limit any more.
             select pgtide.set_rate_limit('rated', 5, interval '1 minute', per_key => true);
             insert into pgtide.rate_windows (queue, concurrency_key, starts) values
               ('rated', 'a', array[now() - interval '3 minutes', now() - interval '2 minutes']),
               ('rated', 'b', array[now() - interval '2 minutes', now()]),
               ('gone', '', array[now()]);",
        )
        .await
        .unwrap();
    let role = common::TestRole::create(&format!("{}_w", t.name)).await;
    one::<String>(&t, "select pgtide.grant('worker', $1)", &[&role.name]).await;
    let as_worker = pgtide::Database::connect(&role.url(&t), 2).unwrap();
    // The worker role cannot delete audit rows itself.
    let refused = as_worker
        .client()
        .await
        .unwrap()
        .execute("delete from pgtide.audit_log", &[])
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("permission denied") || refused.as_db_error().is_some());
    let e = as_worker
        .client()
        .await
        .unwrap()
        .query_one("select pgtide.prune_audit(interval '1 hour', 10)", &[])
        .await
        .unwrap_err();
    assert!(
        e.as_db_error()
            .unwrap()
            .message()
            .contains("invalid older_than '01:00:00': expected an interval of at least 1 day"),
        "{e:?}"
    );

    // One pass with batches of 7: the 29 audit rows older than 90 days (91..119 days, less an hour)
    // go; the
    // alert history keeps s1's firing event, s3's resolution and s4 with its pending delivery.
    let pruned = HistoryPruner::new(as_worker.clone(), 90 * day, 30 * day, 30 * day, 7)
        .run_once()
        .await
        .unwrap();
    assert_eq!(
        pruned,
        HistoryPruned {
            audit: 29,
            alerts: 4 + 3,
            rate_windows: 2
        }
    );
    assert_eq!(
        common::column::<String>(
            &t,
            "select queue || ' ' || concurrency_key from pgtide.rate_windows"
        )
        .await,
        ["rated b"],
        "only the log that still counts a start is kept"
    );
    // 90 days of test rows, and the rate limit's own audit row from today.
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.audit_log").await,
        91 + 1
    );
    assert_eq!(
        scalar(
            &t,
            "select max(extract(day from now() - at))::int8 from pgtide.audit_log"
        )
        .await,
        89
    );
    let events: Vec<String> = common::column(
        &t,
        "select subject || ':' || state from pgtide.alert_events order by subject, id",
    )
    .await;
    assert_eq!(events, ["s1:firing", "s3:resolved", "s4:resolved"]);
    let deliveries: Vec<String> = common::column(
        &t,
        "select e.subject || ':' || d.status from pgtide.alert_deliveries d
           join pgtide.alert_events e on e.id = d.event_id order by e.subject",
    )
    .await;
    assert_eq!(deliveries, ["s3:delivered", "s4:pending"]);
    // s1 still fires: its state is intact.
    assert_eq!(
        common::column::<String>(&t, "select subject from pgtide.alerts").await,
        ["s1"]
    );

    // The leader's loop does the same on its own, with the configured retention.
    t.client()
        .await
        .unwrap()
        .batch_execute(
            "insert into pgtide.audit_log (at, surface, action, object_type, object_id)
             values (now() - interval '3 days', 'sql', 'test', 'task', 'late')",
        )
        .await
        .unwrap();
    let config = MaintenanceConfig {
        audit_retention: 2 * day,
        prune_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let maintenance = Maintenance::new(as_worker.clone(), "history-test", config);
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn({
        let stop = stop.clone();
        async move { maintenance.run(stop).await }
    });
    common::wait_until(
        Duration::from_secs(10),
        "the leader pruning the audit log",
        || async {
            scalar(
                &t,
                "select count(*) from pgtide.audit_log where at < now() - interval '2 days'",
            )
            .await
                == 0
        },
    )
    .await;
    stop.cancel();
    running.await.unwrap();
    // Left: the rows younger than 2 days (0, 1 and 2 days less an hour), and the rate limit's.
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.audit_log").await,
        3 + 1
    );
    as_worker.pool().close();
}

async fn one<T>(
    t: &common::TestDb,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    common::one(t, sql, params).await
}

/// The statistics system's view of `pgtide.executions`: dead row versions and manual vacuums.
async fn table_stats(t: &common::TestDb) -> (i64, i64) {
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select n_dead_tup, vacuum_count from pg_stat_user_tables \
              where relid = 'pgtide.executions'::regclass",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vacuumer_vacuums_the_queue_table_once_dead_rows_pile_up_and_not_before() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    // Autovacuum stays out of this database's queue table, so every vacuum seen is the vacuumer's.
    client
        .batch_execute(
            "alter table pgtide.executions set (autovacuum_enabled = false);
             insert into pgtide.executions (handler, queue, status)
             select 'noop', 'vac', 'queued' from generate_series(1, 60000)",
        )
        .await
        .unwrap();
    let vacuumer = Vacuumer::new(t.db.clone());
    assert_eq!(
        vacuumer.run_once().await.unwrap(),
        None,
        "no dead rows: nothing to do"
    );
    // Every row claimed and completed: two dead versions each, as a drain leaves them.
    client
        .batch_execute(
            "update pgtide.executions set status = 'running', worker_id = 'w', attempt = 1, \
                    started_at = now(), lease_until = now() + interval '1 min';
             update pgtide.executions set status = 'succeeded', finished_at = now(), lease_until = null",
        )
        .await
        .unwrap();
    common::wait_until(
        Duration::from_secs(10),
        "the statistics to see the dead rows",
        || async { table_stats(&t).await.0 >= 100_000 },
    )
    .await;
    assert_eq!(table_stats(&t).await.1, 0, "no vacuum so far");
    let started = vacuumer.run_once().await.unwrap();
    assert!(started.is_some_and(|dead| dead >= 100_000), "{started:?}");
    common::wait_until(Duration::from_secs(30), "the vacuum to end", || async {
        !vacuumer.is_vacuuming()
    })
    .await;
    common::wait_until(
        Duration::from_secs(10),
        "the statistics to see the vacuum",
        || async { table_stats(&t).await.1 == 1 },
    )
    .await;
    let (dead, _) = table_stats(&t).await;
    assert!(
        dead < 1_000,
        "the vacuum removed the dead versions ({dead} left)"
    );
    assert_eq!(
        vacuumer.run_once().await.unwrap(),
        None,
        "vacuumed: nothing to do until they pile up again"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'"
        )
        .await,
        60_000
    );
}
