//! Property tests: every SQL admin function and the enqueue API, fed hostile input (random unicode,
//! NUL bytes, SQL metacharacters, huge strings, extreme integers, NULLs).
//!
//! Each call must either succeed with exactly the values given, or fail with a clear error (a SQLSTATE
//! from a known set, or pgtide's `Invalid` naming the field), and a failed call must change nothing:
//! the row counts of every pgtide table, the audit log included, stay as they were.

use crate::common;

use std::sync::OnceLock;

use proptest::prelude::*;
use tokio_postgres::error::SqlState;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn db() -> &'static common::TestDb {
    static DB: OnceLock<common::TestDb> = OnceLock::new();
    DB.get_or_init(|| runtime().block_on(common::test_db()))
}

/// The properties share one database and compare row counts, so their cases run one at a time.
fn serial() -> &'static tokio::sync::Mutex<()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    &LOCK
}

/// Strings an attacker or a careless script might send.
fn hostile() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => any::<String>().prop_map(Some),
        2 => "[a-z_]{1,12}".prop_map(Some),
        1 => Just(None),
        1 => Just(Some(String::new())),
        1 => Just(Some("'; drop table pgtide.executions; --".to_string())),
        1 => Just(Some("\0nul".to_string())),
        1 => Just(Some("../../etc/passwd".to_string())),
        1 => Just(Some("%s%n$1\\'\"".to_string())),
        1 => "[\\u{1F600}-\\u{1F64F}]{1,5}".prop_map(Some),
        1 => Just(Some("x".repeat(10_000))),
    ]
}

fn int() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![
        3 => (-5..20i32).prop_map(Some),
        1 => any::<i32>().prop_map(Some),
        1 => Just(None),
    ]
}

/// An interval field of a JSON job: seconds, a duration text, or something else.
fn interval() -> impl Strategy<Value = Option<serde_json::Value>> {
    prop_oneof![
        2 => Just(None),
        2 => (-5.0..1e11f64).prop_map(|n| Some(serde_json::Value::from(n))),
        2 => prop::sample::select(vec!["10s", "5 m", "1.5 hours", "0s", "2 days", "ten", "-1s", "1h30m"])
            .prop_map(|s| Some(serde_json::Value::from(s))),
        1 => any::<String>().prop_map(|s| Some(serde_json::Value::from(s))),
        1 => Just(Some(serde_json::json!({"secs": 1}))),
    ]
}

/// A run_at text of a JSON job: valid or not.
fn timestamp() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some("2026-12-24T18:00:00Z".to_string())),
        1 => Just(Some("2099-01-01 00:00:00.123456+05:30".to_string())),
        1 => Just(Some("2026-02-30".to_string())),
        1 => Just(Some("2026-13-01".to_string())),
        1 => any::<String>().prop_map(Some),
    ]
}

/// Row counts of everything a call could touch.
const COUNTS: &str = "select (select count(*) from pgtide.executions), (select count(*) from pgtide.tasks),
                             (select count(*) from pgtide.queues), (select count(*) from pgtide.audit_log),
                             (select count(*) from pgtide.grants)";

async fn counts(client: &tokio_postgres::Client) -> Vec<i64> {
    let row = client.query_one(COUNTS, &[]).await.unwrap();
    (0..5).map(|i| row.get(i)).collect()
}

/// Clear errors: bad value, missing object, duplicate name, NUL in text, an index limit, bad JSON.
fn clear(e: &tokio_postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        return false;
    };
    [
        SqlState::INVALID_PARAMETER_VALUE,
        SqlState::NO_DATA_FOUND,
        SqlState::UNIQUE_VIOLATION,
        SqlState::CHARACTER_NOT_IN_REPERTOIRE,
        SqlState::UNTRANSLATABLE_CHARACTER,
        SqlState::PROGRAM_LIMIT_EXCEEDED,
        SqlState::INVALID_TEXT_REPRESENTATION,
    ]
    .contains(db.code())
        && !db.message().is_empty()
}

/// Runs `sql` with `params`; on error, checks the error is clear and nothing changed.
async fn call(
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<tokio_postgres::Row>, String> {
    let client = db().client().await.unwrap();
    let before = counts(&client).await;
    match client.query_opt(sql, params).await {
        Ok(row) => Ok(row),
        Err(e) => {
            assert!(clear(&e), "unclear error from {sql}: {e:?}");
            assert_eq!(
                counts(&client).await,
                before,
                "{sql} failed but changed rows"
            );
            Err(e.to_string())
        }
    }
}

/// The execution that already holds `key`, if any (enqueue is idempotent on it).
async fn existing_id(key: &Option<String>) -> Option<i64> {
    let key = key.as_ref()?;
    db().client()
        .await
        .unwrap()
        .query_opt(
            "select id from pgtide.executions where idempotency_key = $1",
            &[key],
        )
        .await
        .ok()
        .flatten()
        .map(|r| r.get(0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn enqueue_stores_exactly_what_it_accepts(
        handler in hostile(), queue in hostile(), key in hostile(), payload in hostile(),
        priority in int(), max_attempts in int(),
    ) {
        let _ = db(); // built outside the runtime's block_on
        runtime().block_on(async {
            let _one_case_at_a_time = serial().lock().await;
            let payload = payload.map(|p| serde_json::json!({ "p": p }));
            let existing = existing_id(&key).await;
            let result = call(
                "select pgtide.enqueue(handler => $1::text, payload => coalesce($2::jsonb, '{}'),
                                       queue => coalesce($3::text, 'default'), idempotency_key => $4::text,
                                       priority => coalesce($5::int, 0), max_attempts => coalesce($6::int, 5))",
                &[&handler, &payload, &queue, &key, &priority, &max_attempts],
            )
            .await;
            if let Ok(Some(row)) = result {
                let id: i64 = row.get(0);
                if let Some(existing) = existing {
                    assert_eq!(id, existing, "a known key returns its row");
                    return;
                }
                let stored = db().client().await.unwrap()
                    .query_one("select handler, queue, idempotency_key, priority::int, max_attempts, payload
                                  from pgtide.executions where id = $1", &[&id])
                    .await.unwrap();
                assert_eq!(stored.get::<_, String>(0), handler.clone().unwrap());
                assert_eq!(stored.get::<_, String>(1), queue.clone().unwrap_or_else(|| "default".into()));
                if let Some(key) = &key {
                    assert_eq!(&stored.get::<_, String>(2), key);
                }
                assert_eq!(stored.get::<_, i32>(3), priority.unwrap_or(0));
                assert_eq!(stored.get::<_, i32>(4), max_attempts.unwrap_or(5));
                if let Some(p) = &payload {
                    assert_eq!(&stored.get::<_, serde_json::Value>(5), p);
                }
            }
        });
    }

    #[test]
    fn enqueue_many_stores_exactly_what_it_accepts(
        handler in hostile(), queue in hostile(), key in hostile(), priority in int(),
        max_attempts in int(), timeout in interval(), run_at in timestamp(), stray in hostile(),
    ) {
        let _ = db(); // built outside the runtime's block_on
        runtime().block_on(async {
            let _one_case_at_a_time = serial().lock().await;
            let mut job = serde_json::Map::new();
            let fields = [
                ("handler", handler.clone().map(serde_json::Value::from)),
                ("queue", queue.clone().map(serde_json::Value::from)),
                ("idempotency_key", key.clone().map(serde_json::Value::from)),
                ("priority", priority.map(serde_json::Value::from)),
                ("max_attempts", max_attempts.map(serde_json::Value::from)),
                ("timeout", timeout.clone()),
                ("run_at", run_at.clone().map(serde_json::Value::from)),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    job.insert(name.into(), value);
                }
            }
            // Now and then a field no job has.
            if let Some(stray) = stray.filter(|s| s.len() % 5 == 0) {
                job.insert(stray, serde_json::Value::from(1));
            }
            let batch = serde_json::json!([job]);
            let existing = existing_id(&key).await;
            match call("select pgtide.enqueue_many($1)", &[&batch]).await {
                Ok(Some(row)) => {
                    let ids: Vec<i64> = row.get(0);
                    assert_eq!(ids.len(), 1);
                    if let Some(existing) = existing {
                        assert_eq!(ids[0], existing, "a known key returns its row");
                        return;
                    }
                    let stored = db().client().await.unwrap()
                        .query_one("select handler, queue, idempotency_key, priority::int, max_attempts
                                      from pgtide.executions where id = $1", &[&ids[0]])
                        .await.unwrap();
                    assert_eq!(stored.get::<_, String>(0), handler.unwrap());
                    assert_eq!(stored.get::<_, String>(1), queue.unwrap_or_else(|| "default".into()));
                    if let Some(key) = &key {
                        assert_eq!(&stored.get::<_, String>(2), key);
                    }
                    assert_eq!(stored.get::<_, i32>(3), priority.unwrap_or(0));
                    assert_eq!(stored.get::<_, i32>(4), max_attempts.unwrap_or(5));
                }
                Ok(None) => panic!("enqueue_many answered no row"),
                // The quick test of a batch and the checks that name the field must agree: the
                // catch-all error would mean a rule is in one and not the other.
                Err(message) => assert!(!message.contains("a valid job object"), "{message}"),
            }
        });
    }

    #[test]
    fn the_rust_enqueue_api_validates_before_writing(
        handler in hostile(), queue in hostile(), key in hostile(), max_attempts in int(),
    ) {
        let _ = db(); // built outside the runtime's block_on
        runtime().block_on(async {
            let _one_case_at_a_time = serial().lock().await;
            let mut job = pgtide::NewJob::new(handler.clone().unwrap_or_default())
                .queue(queue.clone().unwrap_or_default())
                .max_attempts(max_attempts.unwrap_or(5));
            if let Some(key) = &key {
                job = job.idempotency_key(key.clone());
            }
            let client = db().client().await.unwrap();
            let before = counts(&client).await;
            let existing = existing_id(&key).await;
            match pgtide::enqueue(db(), &job).await {
                Ok(id) if existing.is_some() => assert_eq!(Some(id), existing),
                Ok(id) => {
                    let h: String = common::one(db(), "select handler from pgtide.executions where id = $1", &[&id]).await;
                    assert_eq!(h, handler.unwrap_or_default());
                }
                Err(pgtide::Error::Invalid { field, expected, .. }) => {
                    assert!(!field.is_empty() && !expected.is_empty());
                    assert_eq!(counts(&client).await, before);
                }
                Err(pgtide::Error::Db(e)) => {
                    assert!(clear(&e), "unclear error: {e:?}");
                    assert_eq!(counts(&client).await, before);
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        });
    }

    #[test]
    fn task_functions_accept_good_input_and_refuse_the_rest_cleanly(
        name in hostile(), handler in hostile(), cron in hostile(), timezone in hostile(),
        key in hostile(),
    ) {
        let _ = db(); // built outside the runtime's block_on
        runtime().block_on(async {
            let _one_case_at_a_time = serial().lock().await;
            let created = call(
                "select pgtide.create_task(name => $1::text, handler => $2::text,
                                           cron => coalesce($3::text, '* * * * *'),
                                           timezone => coalesce($4::text, 'UTC'))",
                &[&name, &handler, &cron, &timezone],
            )
            .await;
            if let Ok(Some(row)) = &created {
                let id: i64 = row.get(0);
                let stored: String = common::one(db(), "select name from pgtide.tasks where id = $1", &[&id]).await;
                assert_eq!(Some(stored), name.clone());
            }
            let exists = created.is_ok();
            for sql in [
                "select pgtide.pause_task($1::text)::text",
                "select pgtide.resume_task($1::text)::text",
            ] {
                let r = call(sql, &[&name]).await;
                assert_eq!(r.is_ok(), exists, "{sql} on {name:?}: {r:?}");
            }
            let r = call("select pgtide.trigger_task($1::text, $2::text)", &[&name, &key]).await;
            if !exists {
                assert!(r.is_err());
            }
            let r = call("select pgtide.delete_task($1::text)::text", &[&name]).await;
            assert_eq!(r.is_ok(), exists, "delete_task on {name:?}: {r:?}");
        });
    }

    #[test]
    fn queue_execution_and_role_functions_refuse_bad_input_cleanly(
        queue in hostile(), limit in int(), id in any::<i64>(), kind in hostile(), role in hostile(),
    ) {
        let _ = db(); // built outside the runtime's block_on
        runtime().block_on(async {
            let _one_case_at_a_time = serial().lock().await;
            for sql in ["select pgtide.pause_queue($1)::text", "select pgtide.resume_queue($1)::text"] {
                if call(sql, &[&queue]).await.is_ok() {
                    let n: i64 = common::one(db(), "select count(*) from pgtide.queues where name = $1", &[&queue]).await;
                    assert_eq!(n, 1, "{sql} succeeded without a queues row");
                }
            }
            if call("select pgtide.set_queue_limit($1, $2)::text", &[&queue, &limit]).await.is_ok() {
                let stored: Option<i32> = common::one(db(), "select concurrency_limit from pgtide.queues where name = $1", &[&queue]).await;
                assert_eq!(stored, limit);
            }
            // Random ids name no execution.
            assert!(call("select pgtide.retry_dead($1)", &[&id]).await.is_err());
            assert!(call("select pgtide.cancel($1)::text", &[&id]).await.is_err());
            assert!(call("select pgtide.grant($1, $2)", &[&kind, &role]).await.is_err());
        });
    }
}
