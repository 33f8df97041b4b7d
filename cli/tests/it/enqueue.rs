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

    // The same from SQL, with pgtide.enqueue_many (on new queues: the heads of the queues above
    // have waited long enough that their workers would be busy, and are not woken again).
    let batch: Vec<serde_json::Value> = (0..50)
        .map(|i| json!({"handler": "noop", "queue": if i % 2 == 0 { "even2" } else { "odd2" }}))
        .chain([json!({"handler": "later", "queue": "future2", "run_at": "2099-01-01T00:00:00Z"})])
        .collect();
    t.client()
        .await
        .unwrap()
        .execute("select pgtide.enqueue_many($1)", &[&json!(batch)])
        .await
        .unwrap();
    let mut payloads = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), messages.recv()).await
    {
        if let tokio_postgres::AsyncMessage::Notification(n) = message {
            payloads.push(n.payload().to_string());
        }
    }
    payloads.sort();
    assert_eq!(payloads, ["even2", "odd2"]);
}

#[tokio::test]
async fn sql_enqueue_many_takes_a_json_batch_with_enqueues_defaults_and_keys() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    let batch = json!([
        {"handler": "plain"},
        {"handler": "full", "payload": {"to": "a@b.c"}, "queue": "mail", "priority": -3,
         "max_attempts": 2, "retry_strategy": "fixed", "retry_base": 7, "retry_max": "2m",
         "timeout": "90 seconds", "idempotency_key": "k-1", "concurrency_key": "tenant-1"},
        {"handler": "later", "run_at": "2099-01-01T00:00:00Z", "queue": null, "payload": null},
        {"handler": "same-key", "idempotency_key": "k-1"},
    ]);
    let ids: Vec<i64> = client
        .query_one("select pgtide.enqueue_many($1)", &[&batch])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ids.len(), 4);
    // Input order; the second element's key again gives its row.
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    assert_eq!(ids[3], ids[1]);
    let rows = client
        .query(
            "select id, handler, queue, status::text, payload, priority, max_attempts, retry_strategy,
                    extract(epoch from retry_base)::int, extract(epoch from retry_max)::int,
                    extract(epoch from timeout)::int, idempotency_key, concurrency_key,
                    visible_at = '2099-01-01T00:00:00Z'::timestamptz
               from pgtide.executions order by id",
            &[],
        )
        .await
        .unwrap();
    type Row = (
        i64,
        String,
        String,
        String,
        serde_json::Value,
        i16,
        i32,
        String,
        (i32, i32, i32),
        Option<String>,
        bool,
    );
    let got: Vec<Row> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                (r.get(8), r.get(9), r.get(10)),
                r.get(12),
                r.get(13),
            )
        })
        .collect();
    let defaults = |id: i64, handler: &str, status: &str, later: bool| -> Row {
        (
            id,
            handler.into(),
            "default".into(),
            status.into(),
            json!({}),
            0,
            5,
            "exponential".into(),
            (10, 3600, 300),
            None,
            later,
        )
    };
    assert_eq!(
        got,
        [
            defaults(ids[0], "plain", "queued", false),
            (
                ids[1],
                "full".into(),
                "mail".into(),
                "queued".into(),
                json!({"to": "a@b.c"}),
                -3,
                2,
                "fixed".into(),
                (7, 120, 90),
                Some("tenant-1".into()),
                false,
            ),
            defaults(ids[2], "later", "scheduled", true),
        ]
    );
    let key: String = rows[1].get(11);
    assert_eq!(key, "k-1");
    // Generated keys are time-ordered UUIDs, as pgtide.enqueue's.
    for row in [&rows[0], &rows[2]] {
        let key: String = row.get(11);
        assert_eq!(uuid::Uuid::parse_str(&key).unwrap().get_version_num(), 7);
    }
    // A later call with a known key inserts nothing and answers the existing id; an empty batch
    // is no jobs.
    let again: Vec<i64> = client
        .query_one(
            "select pgtide.enqueue_many('[{\"handler\": \"other\", \"idempotency_key\": \"k-1\"}]')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, [ids[1]]);
    let none: Vec<i64> = client
        .query_one("select pgtide.enqueue_many('[]')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(none.is_empty());
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        3
    );
}

#[tokio::test]
async fn sql_enqueue_many_refuses_a_bad_batch_naming_the_job_and_field() {
    let t = test_db().await;
    let cases = [
        (
            json!({"handler": "a"}),
            "invalid jobs",
            "a JSON array of job objects",
        ),
        (json!([1]), "jobs[0]: invalid job '1'", "a JSON object"),
        (
            json!([{"handler": "a", "max_attempt": 2}]),
            "jobs[0]: invalid field 'max_attempt'",
            "one of handler, payload",
        ),
        (
            json!([{"handler": "a"}, {"handler": "a"}, {"handler": "a", "max_attempts": 0}]),
            "jobs[2]: invalid max_attempts '0'",
            "an integer >= 1",
        ),
        (
            json!([{"handler": "a", "max_attempts": 1.5}]),
            "jobs[0]: invalid max_attempts '1.5'",
            "an integer >= 1",
        ),
        (
            json!([{"payload": {}}]),
            "jobs[0]: invalid handler NULL",
            "a non-empty handler name",
        ),
        (
            json!([{"handler": " "}]),
            "jobs[0]: invalid handler ' '",
            "a non-empty handler name",
        ),
        (
            json!([{"handler": "a", "priority": "high"}]),
            "jobs[0]: invalid priority 'high'",
            "an integer from -32768 to 32767",
        ),
        (
            json!([{"handler": "a", "priority": 40000}]),
            "jobs[0]: invalid priority '40000'",
            "an integer from -32768 to 32767",
        ),
        (
            json!([{"handler": "a", "queue": 5}]),
            "jobs[0]: invalid queue '5'",
            "a JSON string or null",
        ),
        (
            json!([{"handler": "a", "queue": ""}]),
            "jobs[0]: invalid queue ''",
            "a non-empty queue name",
        ),
        (
            json!([{"handler": "a", "run_at": "tomorrow"}]),
            "jobs[0]: invalid run_at 'tomorrow'",
            "an ISO 8601 timestamp",
        ),
        (
            json!([{"handler": "a", "timeout": "ten seconds"}]),
            "jobs[0]: invalid timeout 'ten seconds'",
            "a number of seconds",
        ),
        (
            json!([{"handler": "a", "timeout": 0}]),
            "jobs[0]: invalid timeout",
            "an interval > 0",
        ),
        (
            json!([{"handler": "a", "retry_base": -1}]),
            "jobs[0]: invalid retry_base '-1'",
            "a number of seconds",
        ),
        (
            json!([{"handler": "a", "retry_strategy": "linear"}]),
            "jobs[0]: invalid retry_strategy 'linear'",
            "'fixed' or 'exponential'",
        ),
        (
            json!([{"handler": "a", "idempotency_key": ""}]),
            "jobs[0]: invalid idempotency_key ''",
            "a non-empty key",
        ),
        (
            json!([{"handler": "a", "concurrency_key": ""}]),
            "jobs[0]: invalid concurrency_key ''",
            "a non-empty key",
        ),
        (
            json!([{"handler": "a", "payload": {"blob": "x".repeat(1_048_577)}}]),
            "jobs[0]: invalid payload of 1048589 bytes",
            "at most 1048576 bytes",
        ),
    ];
    for (batch, what, expected) in cases {
        let message = common::sql_error(&t, "select pgtide.enqueue_many($1)", &[&batch]).await;
        assert!(
            message.starts_with("pgtide.enqueue_many: ")
                && message.contains(what)
                && message.contains(expected),
            "{batch:.80}: got {message:?}, want {what:?} and {expected:?}"
        );
    }
    // The valid jobs before and after a bad one were refused with it.
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_enqueue_many_answers_a_key_another_transaction_inserts_meanwhile() {
    let t = test_db().await;
    // Another transaction holds the key, uncommitted: the batch's insert waits for it.
    let (other, _) = t.dedicated().await.unwrap();
    other.batch_execute("begin").await.unwrap();
    let theirs: i64 = other
        .query_one(
            "select pgtide.enqueue('theirs', idempotency_key => 'race')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let batch = tokio::spawn({
        let db = t.db.clone();
        async move {
            let client = db.client().await.unwrap();
            let ids: Vec<Option<i64>> = client
                .query_one(
                    "select pgtide.enqueue_many('[{\"handler\": \"ours\"},
                                                  {\"handler\": \"ours\", \"idempotency_key\": \"race\"}]')",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            ids
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !batch.is_finished(),
        "the batch waits for the other transaction's key"
    );
    other.batch_execute("commit").await.unwrap();
    let ids = batch.await.unwrap();
    // The row committed after the batch's snapshot was taken still answers for its key.
    assert_eq!(ids.len(), 2);
    assert!(ids[0].is_some());
    assert_eq!(ids[1], Some(theirs));
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where handler = 'ours'"
        )
        .await,
        1
    );
}

/// `pgtide.enqueue_many` tests a whole batch with one expression and names the problem of a bad
/// job with separate checks. Every field, each given many values: where the expression accepts a
/// job the checks must find nothing (only their last resort fires), and where it refuses one they
/// must name the field.
#[tokio::test]
async fn sql_enqueue_many_quick_test_and_named_checks_agree_on_every_field() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    let values = json!([
        null, true, {"a": 1}, [1], 0, 1, 2, -1, 5, 200, 32767, 32768, -32768, -32769, 2147483648_i64,
        1.5, 0.0000001, 0.000001, 9999999999_i64, 10000000000_i64, 1e300, "", " ", "x", "default",
        "fixed", "exponential", "linear", "10s", "5 m", "1.5 hours", "0s", "0.0000001s", "2 days",
        "999999999 days", "ten", "-1s", "1h30m", "1.1234567s", "2026-12-24T18:00:00Z",
        "2099-01-01 00:00:00.123456+05:30", "2028-02-29", "2026-02-29", "2026-02-30", "2026-13-01",
        "0000-01-01", "2026-12-24T24:00:00Z", "x".repeat(201),
    ]);
    // A DO block takes no parameters: the values reach it through a session setting.
    client
        .execute(
            "select set_config('pgtide_test.values', $1::jsonb::text, false)",
            &[&values],
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "create temp table agreement (field text, value jsonb, quick boolean, message text);
             do $$
             declare
                 f text;
                 v jsonb;
                 job jsonb;
                 quick boolean;
                 message text;
             begin
                 foreach f in array array['handler', 'payload', 'queue', 'run_at', 'idempotency_key',
                                          'priority', 'max_attempts', 'retry_strategy', 'retry_base',
                                          'retry_max', 'timeout', 'concurrency_key', 'max_attempt'] loop
                     for v in select jsonb_array_elements(current_setting('pgtide_test.values')::jsonb) loop
                         job := jsonb_build_object('handler', 'h') || jsonb_build_object(f, v);
                         quick := pgtide.job_spec_is_valid(job);
                         begin
                             perform pgtide.check_job_spec('t', job);
                             message := 'nothing raised';
                         exception when others then
                             message := sqlerrm;
                         end;
                         insert into agreement values (f, v, quick, message);
                     end loop;
                 end loop;
             end $$;",
        )
        .await
        .unwrap();
    let last_resort = "%expected a valid job object";
    let disagree: Vec<(String, serde_json::Value, bool, String)> = client
        .query(
            "select field, value, quick, message from agreement
              where quick <> (message like $1) order by field, value::text",
            &[&last_resort],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert!(disagree.is_empty(), "{disagree:#?}");
    // Both sides were exercised, and every refusal names its field.
    let row = client
        .query_one(
            "select count(*) filter (where quick),
                    count(*) filter (where not quick),
                    count(*) filter (where not quick and message like '%' || field || '%')
               from agreement",
            &[],
        )
        .await
        .unwrap();
    let (accepted, refused, named): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert!(
        accepted > 50 && refused > 200,
        "{accepted} accepted, {refused} refused"
    );
    assert_eq!(named, refused, "refusals that do not name their field");
}
