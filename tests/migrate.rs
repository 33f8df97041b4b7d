//! Migrations: concurrent starts are safe, and every name of DESIGN.md's SQL contract exists.

mod common;

use common::{scalar, test_db};
use pgtide::Database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_processes_migrating_at_once_are_safe() {
    let t = test_db().await;
    // A database with no pgtide schema at all: the harness template is migrated, so use a new one.
    let admin = t.db.client().await.unwrap();
    let fresh = format!("{}_fresh", t.name);
    admin
        .batch_execute(&format!("create database \"{fresh}\" template template0"))
        .await
        .unwrap();
    let url = common::with_database(&t.url, &fresh);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let db = Database::connect(&url, 1).unwrap();
            pgtide::migrate(&db).await.map(|r| r.applied.len())
        }));
    }
    let mut applied = Vec::new();
    for task in tasks {
        applied.push(
            task.await
                .unwrap()
                .expect("every concurrent migrate succeeds"),
        );
    }
    let db = Database::connect(&url, 1).unwrap();
    // Exactly one of the ten applied the migrations; the others found nothing to do.
    let migrations = scalar(&db, "select count(*) from pgtide.refinery_schema_history").await;
    assert_eq!(applied.iter().filter(|&&n| n > 0).count(), 1, "{applied:?}");
    assert_eq!(applied.iter().sum::<usize>() as i64, migrations);
    db.pool().close();
    drop(db);
    admin
        .batch_execute(&format!("drop database \"{fresh}\" with (force)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sql_contract_exists_as_spelled() {
    let t = test_db().await;
    let client = t.db.client().await.unwrap();
    let columns = |table: &'static str| {
        let client = &client;
        async move {
            client
                .query(
                    "select column_name::text from information_schema.columns
                      where table_schema = 'pgtide' and table_name = $1",
                    &[&table],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
        }
    };
    let tasks = columns("tasks").await;
    for name in [
        "id",
        "name",
        "handler",
        "payload",
        "cron",
        "every",
        "run_at",
        "timezone",
        "queue",
        "priority",
        "max_attempts",
        "retry_strategy",
        "retry_base",
        "retry_max",
        "timeout",
        "overlap",
        "misfire",
        "status",
        "next_run_at",
        "last_run_at",
        "last_error",
        "tags",
        "created_at",
        "updated_at",
    ] {
        assert!(
            tasks.contains(&name.to_string()),
            "pgtide.tasks.{name} is missing"
        );
    }
    let executions = columns("executions").await;
    for name in [
        "id",
        "task_id",
        "queue",
        "handler",
        "payload",
        "priority",
        "status",
        "attempt",
        "max_attempts",
        "retry_strategy",
        "retry_base",
        "retry_max",
        "timeout",
        "idempotency_key",
        "retry_of",
        "scheduled_for",
        "visible_at",
        "worker_id",
        "started_at",
        "lease_until",
        "finished_at",
        "error",
        "result",
        "created_at",
    ] {
        assert!(
            executions.contains(&name.to_string()),
            "pgtide.executions.{name} is missing"
        );
    }
    let labels: Vec<String> = client
        .query(
            "select enumlabel::text from pg_enum where enumtypid = 'pgtide.execution_status'::regtype
              order by enumsortorder",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        labels,
        [
            "scheduled",
            "queued",
            "running",
            "succeeded",
            "failed",
            "dead",
            "cancelled"
        ]
    );
    for function in [
        "enqueue",
        "create_task",
        "pause_task",
        "resume_task",
        "trigger_task",
        "delete_task",
        "retry_dead",
        "cancel",
        "prune",
    ] {
        let n: i64 = client
            .query_one(
                "select count(*) from pg_proc where pronamespace = 'pgtide'::regnamespace and proname = $1",
                &[&function],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "pgtide.{function} is missing");
    }
    for view in ["dead_letters", "queue_stats", "task_overview"] {
        let n: i64 = client
            .query_one(
                "select count(*) from information_schema.views where table_schema = 'pgtide' and table_name = $1",
                &[&view],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "pgtide.{view} is missing");
    }
    // The named-parameter call from DESIGN.md works as written.
    let id: i64 = client
        .query_one("select pgtide.enqueue('report', queue => 'nightly')", &[])
        .await
        .unwrap()
        .get(0);
    let row = client
        .query_one(
            "select queue, status::text from pgtide.executions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "nightly");
    assert_eq!(row.get::<_, String>(1), "queued");
}

#[tokio::test]
async fn a_failed_migration_says_why_and_leaves_nothing_half_applied() {
    let t = test_db().await;
    let admin = t.db.client().await.unwrap();
    let broken = format!("{}_broken", t.name);
    admin
        .batch_execute(&format!("create database \"{broken}\" template template0"))
        .await
        .unwrap();
    let url = common::with_database(&t.url, &broken);
    let db = Database::connect(&url, 1).unwrap();
    db.client()
        .await
        .unwrap()
        .batch_execute(
            "create schema pgtide; create type pgtide.execution_status as enum ('other')",
        )
        .await
        .unwrap();
    let err = pgtide::migrate(&db).await.unwrap_err().to_string();
    assert!(
        err.contains("V1__core_schema") && err.contains("type \"execution_status\" already exists"),
        "{err}"
    );
    // V1 ran in one transaction: none of its tables exist.
    assert_eq!(
        scalar(&db, "select count(*) from information_schema.tables where table_schema = 'pgtide' and table_name <> 'refinery_schema_history'").await,
        0
    );
    db.pool().close();
    drop(db);
    admin
        .batch_execute(&format!("drop database \"{broken}\" with (force)"))
        .await
        .unwrap();
}
