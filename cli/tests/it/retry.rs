//! Retries as future rows: the chain's rows, attempts, keys, links and delays; the dead-letter
//! queue; and failures of every kind (error, panic, timeout, unknown handler) costing one attempt.

use crate::common;

use std::{sync::Arc, time::Duration};

use common::{
    handlers::{AlwaysFails, Panics, Permanent, Sleeps},
    quick_config, registry, scalar, test_db, wait_until, RunningWorker,
};
use pgtide::{
    maintenance::{Maintenance, MaintenanceConfig},
    NewJob, RetryStrategy,
};
use tokio_util::sync::CancellationToken;

/// Runs the maintenance loop with a fast promoter until the returned token is cancelled.
fn fast_maintenance(db: &pgtide::Database) -> CancellationToken {
    let stop = CancellationToken::new();
    let maintenance = Maintenance::new(
        db.clone(),
        "test-maintenance",
        MaintenanceConfig {
            promote_interval: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let token = stop.clone();
    tokio::spawn(async move { maintenance.run(token).await });
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_chain_follows_the_policy_then_dies() {
    let t = test_db().await;
    let job = NewJob::new("fails")
        .idempotency_key("chain")
        .max_attempts(4)
        .retry(
            RetryStrategy::Exponential,
            Duration::from_millis(200),
            Duration::from_secs(10),
        );
    let first = pgtide::enqueue(&t, &job).await.unwrap();
    let maintenance = fast_maintenance(&t);
    let worker = RunningWorker::start(
        &t,
        registry(vec![("fails", Arc::new(AlwaysFails))]),
        quick_config(2),
    );
    wait_until(Duration::from_secs(30), "the chain to end dead", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'dead'",
        )
        .await
            == 1
    })
    .await;
    worker.stop().await;
    maintenance.cancel();

    let client = t.client().await.unwrap();
    let rows = client
        .query(
            "select id, attempt, status::text, idempotency_key, retry_of, error
               from pgtide.executions order by attempt",
            &[],
        )
        .await
        .unwrap();
    let chain: Vec<(i32, String, String)> = rows
        .iter()
        .map(|r| (r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        chain,
        [
            (1, "failed".into(), "chain".into()),
            (2, "failed".into(), "chain#2".into()),
            (3, "failed".into(), "chain#3".into()),
            (4, "dead".into(), "chain#4".into()),
        ]
    );
    assert_eq!(rows[0].get::<_, i64>("id"), first);
    assert_eq!(rows[0].get::<_, Option<i64>>("retry_of"), None);
    for pair in rows.windows(2) {
        assert_eq!(
            pair[1].get::<_, Option<i64>>("retry_of"),
            Some(pair[0].get::<_, i64>("id"))
        );
    }
    for row in &rows {
        let attempt: i32 = row.get("attempt");
        assert_eq!(
            row.get::<_, String>("error"),
            format!("failure on attempt {attempt}")
        );
    }
    // Each retry became visible after the policy's delay plus at most 10% jitter, measured from the
    // failure (both timestamps are the database's, taken in one transaction).
    let spacing = client
        .query(
            "select p.attempt,
                    extract(epoch from r.visible_at - p.finished_at)::float8 as waited,
                    extract(epoch from pgtide.retry_delay(p.retry_strategy, p.retry_base, p.retry_max, p.attempt))::float8 as delay
               from pgtide.executions p join pgtide.executions r on r.retry_of = p.id
              order by p.attempt",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(spacing.len(), 3);
    for (row, expected) in spacing.iter().zip([0.2, 0.4, 0.8]) {
        let (waited, delay): (f64, f64) = (row.get("waited"), row.get("delay"));
        assert!(
            (delay - expected).abs() < 1e-9,
            "delay {delay} for attempt {}",
            row.get::<_, i32>(0)
        );
        assert!(
            waited >= delay && waited <= delay * 1.1 + 1e-6,
            "waited {waited}s for a {delay}s delay"
        );
    }
    // And no retry ran before it was visible.
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where started_at < visible_at"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn fixed_and_capped_delays_in_sql() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    let delays: Vec<f64> = client
        .query(
            "select extract(epoch from pgtide.retry_delay(s, b, m, n))::float8
               from (values ('fixed', interval '10 s', interval '1 h', 1),
                            ('fixed', interval '10 s', interval '1 h', 9),
                            ('exponential', interval '10 s', interval '1 h', 1),
                            ('exponential', interval '10 s', interval '1 h', 2),
                            ('exponential', interval '10 s', interval '1 h', 5),
                            ('exponential', interval '10 s', interval '1 h', 100000)) v(s, b, m, n)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(delays, [10.0, 10.0, 10.0, 20.0, 160.0, 3600.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_requeued_once() {
    let t = test_db().await;
    let job = NewJob::new("permanent").idempotency_key("dlq");
    let id = pgtide::enqueue(&t, &job).await.unwrap();
    let worker = RunningWorker::start(
        &t,
        registry(vec![("permanent", Arc::new(Permanent))]),
        quick_config(1),
    );
    wait_until(
        Duration::from_secs(10),
        "the permanent failure to die",
        || async { scalar(&t, "select count(*) from pgtide.dead_letters").await == 1 },
    )
    .await;
    worker.stop().await;
    let client = t.client().await.unwrap();
    let dead = client
        .query_one(
            "select id, attempt, status::text, error from pgtide.dead_letters",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(dead.get::<_, i64>("id"), id);
    assert_eq!(
        dead.get::<_, i32>("attempt"),
        1,
        "a permanent error skips the remaining attempts"
    );
    assert_eq!(
        dead.get::<_, String>("error"),
        "bad request: no such customer"
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        1,
        "no retry row"
    );

    let requeued: i64 = client
        .query_one("select pgtide.retry_dead($1)", &[&id])
        .await
        .unwrap()
        .get(0);
    let again: i64 = client
        .query_one("select pgtide.retry_dead($1)", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(requeued, again, "requeuing twice gives the same row");
    let row = client
        .query_one(
            "select status::text, attempt, idempotency_key, retry_of, handler from pgtide.executions where id = $1",
            &[&requeued],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "queued");
    assert_eq!(row.get::<_, i32>(1), 1);
    assert_eq!(row.get::<_, String>(2), "dlq:requeued");
    assert_eq!(row.get::<_, Option<i64>>(3), Some(id));
    assert_eq!(row.get::<_, String>(4), "permanent");
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.dead_letters").await,
        0
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        2
    );

    // Only dead rows can be requeued; unknown ids are named.
    let message = common::sql_error(&t, "select pgtide.retry_dead($1)", &[&requeued]).await;
    assert!(
        message.contains("expected a dead execution (execution"),
        "{message}"
    );
    let message = common::sql_error(&t, "select pgtide.retry_dead(987654)", &[]).await;
    assert!(
        message.contains("invalid execution_id '987654'"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_and_timeouts_cost_one_attempt_each_and_never_the_worker() {
    let t = test_db().await;
    let panicking = pgtide::enqueue(&t, &NewJob::new("panics").idempotency_key("p"))
        .await
        .unwrap();
    let slow = pgtide::enqueue(
        &t,
        &NewJob::new("slow")
            .idempotency_key("s")
            .timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let worker = RunningWorker::start(
        &t,
        registry(vec![
            ("panics", Arc::new(Panics)),
            ("slow", Arc::new(Sleeps(Duration::from_secs(60)))),
        ]),
        quick_config(2),
    );
    wait_until(Duration::from_secs(10), "both attempts to fail", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'failed'",
        )
        .await
            == 2
    })
    .await;
    // The same worker still runs jobs.
    let after = pgtide::enqueue(&t, &NewJob::new("noop")).await.unwrap();
    wait_until(
        Duration::from_secs(10),
        "a later job to succeed",
        || async { common::status_of(&t, after).await == "succeeded" },
    )
    .await;
    worker.stop().await;

    let client = t.client().await.unwrap();
    for (id, expected) in [
        (panicking, "handler panicked: boom"),
        (slow, "timed out after 300ms"),
    ] {
        let row = client
            .query_one(
                "select f.status::text, f.error, r.attempt, r.status::text, r.idempotency_key
                   from pgtide.executions f join pgtide.executions r on r.retry_of = f.id
                  where f.id = $1",
                &[&id],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "failed");
        assert_eq!(row.get::<_, String>(1), expected);
        assert_eq!(row.get::<_, i32>(2), 2, "the retry is attempt 2");
        assert_eq!(row.get::<_, String>(3), "scheduled");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_handler_is_a_failed_attempt_that_a_capable_worker_retries() {
    let t = test_db().await;
    let id = pgtide::enqueue(
        &t,
        &NewJob::new("mystery").idempotency_key("m").retry(
            RetryStrategy::Fixed,
            Duration::ZERO,
            Duration::ZERO,
        ),
    )
    .await
    .unwrap();
    let unaware = RunningWorker::start(&t, registry(vec![]), quick_config(1));
    let unaware_id = unaware.worker.id().to_string();
    wait_until(
        Duration::from_secs(10),
        "the unaware worker to fail the attempt",
        || async {
            scalar(
                &t,
                &format!(
                    "select count(*) from pgtide.executions where id = {id} and status = 'failed'"
                ),
            )
            .await
                == 1
        },
    )
    .await;
    unaware.stop().await;
    let error: String = common::one(
        &t,
        "select error from pgtide.executions where id = $1",
        &[&id],
    )
    .await;
    assert_eq!(
        error,
        format!("unknown handler \"mystery\" on worker {unaware_id}")
    );

    common::promote(&t).await;
    let capable = RunningWorker::start(
        &t,
        registry(vec![("mystery", Arc::new(Sleeps(Duration::ZERO)))]),
        quick_config(1),
    );
    let capable_id = capable.worker.id().to_string();
    wait_until(
        Duration::from_secs(10),
        "the capable worker to run the retry",
        || async {
            scalar(
                &t,
                "select count(*) from pgtide.executions where status = 'succeeded' and attempt = 2",
            )
            .await
                == 1
        },
    )
    .await;
    capable.stop().await;
    let worker: String = common::one(
        &t,
        "select worker_id from pgtide.executions where retry_of = $1",
        &[&id],
    )
    .await;
    assert_eq!(worker, capable_id);
}
