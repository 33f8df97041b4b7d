//! Enqueue from SQL and from Rust: idempotency, scheduled vs queued, bulk, transactions, bad input.

use crate::common;

use std::time::Duration;

use common::{scalar, test_db};
use pgtide::{NewJob, RetryStrategy};
use serde_json::json;

#[tokio::test]
async fn sql_enqueue_is_idempotent_on_the_key() {
    let t = test_db().await;
    let client = t.db.client().await.unwrap();
    let call = "select pgtide.enqueue('send_email', '{\"to\":\"a@b.c\"}', queue => 'mail', \
                run_at => now() + interval '1 hour', idempotency_key => 'order-42')";
    let first: i64 = client.query_one(call, &[]).await.unwrap().get(0);
    let second: i64 = client.query_one(call, &[]).await.unwrap().get(0);
    assert_eq!(first, second);
    let row = client
        .query_one(
            "select status::text, queue, handler, payload, attempt, idempotency_key,
                    visible_at > now() + interval '59 minutes' as later
               from pgtide.executions",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>("status"), "scheduled");
    assert_eq!(row.get::<_, String>("queue"), "mail");
    assert_eq!(row.get::<_, String>("handler"), "send_email");
    assert_eq!(
        row.get::<_, serde_json::Value>("payload"),
        json!({"to": "a@b.c"})
    );
    assert_eq!(row.get::<_, i32>("attempt"), 1);
    assert_eq!(row.get::<_, String>("idempotency_key"), "order-42");
    assert!(row.get::<_, bool>("later"));
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        1
    );
}

#[tokio::test]
async fn run_at_decides_scheduled_or_queued() {
    let t = test_db().await;
    let client = t.db.client().await.unwrap();
    client
        .batch_execute(
            "select pgtide.enqueue('a', idempotency_key => 'now');
             select pgtide.enqueue('a', idempotency_key => 'past', run_at => now() - interval '1 day');
             select pgtide.enqueue('a', idempotency_key => 'future', run_at => now() + interval '1 minute');",
        )
        .await
        .unwrap();
    let rows = client
        .query(
            "select idempotency_key, status::text, visible_at >= created_at as not_backdated
               from pgtide.executions order by id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        [
            ("now".into(), "queued".into(), true),
            ("past".into(), "queued".into(), true),
            ("future".into(), "scheduled".into(), true),
        ]
    );
    // Without a key, each call gets a fresh UUID key.
    let a: i64 = client
        .query_one("select pgtide.enqueue('a')", &[])
        .await
        .unwrap()
        .get(0);
    let b: i64 = client
        .query_one("select pgtide.enqueue('a')", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(a, b);
    let keys = scalar(
        &t,
        "select count(*) from pgtide.executions where idempotency_key ~ '^[0-9a-f-]{36}$'",
    )
    .await;
    assert_eq!(keys, 2);
}

#[tokio::test]
async fn rust_enqueue_single_and_bulk() {
    let t = test_db().await;
    let job = NewJob::new("report")
        .payload(json!({"fmt": "pdf"}))
        .queue("nightly")
        .priority(-3)
        .max_attempts(2)
        .retry(
            RetryStrategy::Fixed,
            Duration::from_secs(7),
            Duration::from_secs(60),
        )
        .timeout(Duration::from_secs(90))
        .idempotency_key("r-1");
    let id = pgtide::enqueue(&t, &job).await.unwrap();
    assert_eq!(pgtide::enqueue(&t, &job).await.unwrap(), id);
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select queue, priority, max_attempts, retry_strategy, extract(epoch from retry_base)::int,
                    extract(epoch from retry_max)::int, extract(epoch from timeout)::int
               from pgtide.executions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "nightly");
    assert_eq!(row.get::<_, i16>(1), -3);
    assert_eq!(row.get::<_, i32>(2), 2);
    assert_eq!(row.get::<_, String>(3), "fixed");
    assert_eq!(
        (
            row.get::<_, i32>(4),
            row.get::<_, i32>(5),
            row.get::<_, i32>(6)
        ),
        (7, 60, 90)
    );

    // Bulk: 1,000 jobs, one of them with the existing key, two sharing a new key.
    let mut jobs: Vec<NewJob> = (0..997)
        .map(|i| NewJob::new("noop").payload(json!({ "i": i })))
        .collect();
    jobs.push(NewJob::new("noop").idempotency_key("r-1"));
    jobs.push(NewJob::new("noop").idempotency_key("dup"));
    jobs.push(NewJob::new("noop").idempotency_key("dup"));
    let ids = pgtide::enqueue_many(&t, &jobs).await.unwrap();
    assert_eq!(ids.len(), 1000);
    assert_eq!(ids[997], id, "an existing key returns the existing row");
    assert_eq!(
        ids[998], ids[999],
        "a key repeated within the batch is inserted once"
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        1 + 997 + 1
    );
    let first_payload: serde_json::Value = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select payload from pgtide.executions where id = $1",
            &[&ids[0]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(first_payload, json!({"i": 0}));

    // Generated keys are version-7 UUIDs, distinct, and in input order (time-ordered), like those of
    // pgtide.enqueue.
    let keys = t
        .client()
        .await
        .unwrap()
        .query(
            "select idempotency_key from pgtide.executions e \
               join unnest($1::bigint[]) with ordinality as i(id, ord) using (id) \
              where ord <= 997 order by ord",
            &[&ids],
        )
        .await
        .unwrap();
    let keys: Vec<String> = keys.iter().map(|r| r.get(0)).collect();
    assert_eq!(keys.len(), 997);
    for key in &keys {
        let uuid = uuid::Uuid::parse_str(key).unwrap();
        assert_eq!(uuid.get_version_num(), 7, "{key}");
        assert_eq!(
            key,
            &uuid.hyphenated().to_string(),
            "the canonical text form"
        );
    }
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "generated keys are distinct and in input order"
    );
}

#[tokio::test]
async fn enqueue_in_the_callers_transaction() {
    let t = test_db().await;
    let mut client = t.client().await.unwrap();
    let tx = client.transaction().await.unwrap();
    pgtide::enqueue_with(&*tx, &NewJob::new("a").idempotency_key("rolled-back"))
        .await
        .unwrap();
    pgtide::enqueue_many_with(&*tx, &[NewJob::new("b"), NewJob::new("c")])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        0
    );

    let tx = client.transaction().await.unwrap();
    pgtide::enqueue_with(&*tx, &NewJob::new("a").idempotency_key("committed"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where idempotency_key = 'committed'"
        )
        .await,
        1
    );
}

/// Each bad input raises a clear error that names the field, and inserts nothing.
#[tokio::test]
async fn bad_input_is_refused_and_inserts_nothing() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    let cases = [
        ("select pgtide.enqueue('')", "invalid handler ''"),
        ("select pgtide.enqueue(null)", "invalid handler NULL"),
        (
            "select pgtide.enqueue('a', max_attempts => 0)",
            "invalid max_attempts '0': expected an integer >= 1",
        ),
        (
            "select pgtide.enqueue('a', retry_strategy => 'linear')",
            "invalid retry_strategy 'linear'",
        ),
        (
            "select pgtide.enqueue('a', retry_base => interval '-1 second')",
            "invalid retry_base",
        ),
        (
            "select pgtide.enqueue('a', jsonb_build_object('blob', repeat('x', 1048577)))",
            "invalid payload of 1048589 bytes: expected at most 1048576 bytes",
        ),
        (
            "select pgtide.enqueue('a', queue => '')",
            "invalid queue ''",
        ),
        (
            "select pgtide.enqueue('a', priority => 40000)",
            "invalid priority '40000'",
        ),
        (
            "select pgtide.enqueue('a', timeout => interval '0')",
            "invalid timeout",
        ),
        (
            "select pgtide.enqueue('a', idempotency_key => '')",
            "invalid idempotency_key ''",
        ),
    ];
    for (sql, expected) in cases {
        let message = common::sql_error(&t, sql, &[]).await;
        assert!(
            message.contains(expected),
            "{sql}: got {message:?}, want it to contain {expected:?}"
        );
        assert!(message.starts_with("pgtide.enqueue: "), "{message}");
    }

    let rust_cases = [
        (NewJob::new(""), "handler"),
        (NewJob::new("a").max_attempts(0), "max_attempts"),
        (
            NewJob::new("a").payload(json!({"blob": "x".repeat(1_048_577)})),
            "payload",
        ),
        (NewJob::new("a").queue(" "), "queue"),
        (NewJob::new("a").timeout(Duration::ZERO), "timeout"),
    ];
    for (job, field) in rust_cases {
        match pgtide::enqueue(&t, &job).await {
            Err(pgtide::Error::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: expected Invalid, got {other:?}"),
        }
    }
    // A bad job in a batch refuses the whole batch, naming its position.
    let batch = [
        NewJob::new("ok"),
        NewJob::new("ok"),
        NewJob::new("a").max_attempts(-1),
    ];
    let err = pgtide::enqueue_many(&t, &batch)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_attempts") && err.contains("job 2"),
        "{err}"
    );
    // The table's CHECK constraints stand behind raw INSERTs too.
    let err = client
        .execute(
            "insert into pgtide.executions (handler, retry_strategy) values ('a', 'linear')",
            &[],
        )
        .await
        .unwrap_err();
    let message = err
        .as_db_error()
        .map(|e| e.constraint().unwrap_or_default().to_string());
    assert_eq!(message.as_deref(), Some("executions_retry_strategy_known"));

    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        0
    );
}

#[tokio::test]
async fn enqueue_notifies_the_queue_once_per_statement() {
    let t = test_db().await;
    let (listener, mut messages) = t.dedicated().await.unwrap();
    listener.batch_execute("listen pgtide_jobs").await.unwrap();
    let jobs: Vec<NewJob> = (0..50)
        .map(|i| NewJob::new("noop").queue(if i % 2 == 0 { "even" } else { "odd" }))
        .chain([NewJob::new("later")
            .queue("future")
            .run_at(chrono::Utc::now() + chrono::Duration::hours(1))])
        .collect();
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let mut payloads = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), messages.recv()).await
    {
        if let tokio_postgres::AsyncMessage::Notification(n) = message {
            payloads.push(n.payload().to_string());
        }
    }
    payloads.sort();
    // One notification per queue with due rows; none for a queue with only scheduled rows.
    assert_eq!(payloads, ["even", "odd"]);
}
