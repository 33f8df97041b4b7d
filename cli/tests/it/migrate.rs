//! Migrations: concurrent starts are safe, and every name of the public SQL contract exists.

use crate::common;

use common::{scalar, test_db};
use pgtide::Database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_processes_migrating_at_once_are_safe() {
    // A database with no pgtide schema at all: the harness template is migrated, so use a new one.
    let fresh = common::empty_db().await;
    let url = fresh.url.clone();
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
    // The named-parameter call the README shows works as written.
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
    let broken = common::empty_db().await;
    let db = &broken.db;
    db.client()
        .await
        .unwrap()
        .batch_execute(
            "create schema pgtide; create type pgtide.execution_status as enum ('other')",
        )
        .await
        .unwrap();
    let err = pgtide::migrate(db).await.unwrap_err().to_string();
    assert!(
        err.contains("V8__baseline") && err.contains("type \"execution_status\" already exists"),
        "{err}"
    );
    // The baseline ran in one transaction: none of its tables exist.
    assert_eq!(
        scalar(db, "select count(*) from information_schema.tables where table_schema = 'pgtide' and table_name <> 'refinery_schema_history'").await,
        0
    );
}

/// `pgtide` with `args` against `url`: its exit status and stderr.
fn pgtide(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgtide"))
        .args(args)
        .args(["--database-url", url])
        .env_remove("PGTIDE_NO_MIGRATE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fleet upgrades: `pgtide migrate --print` writes SQL that, applied by another tool, leaves a
/// schema pgtide calls current; a worker with `--no-migrate` refuses a schema that is not current
/// and changes nothing; a binary older than the schema stops with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_migrate_first_and_workers_never_migrate_under_no_migrate() {
    let fresh = common::empty_db().await;
    let url = fresh.url.clone();
    let latest = pgtide::migrate::latest_version();

    // A worker under --no-migrate on an empty database stops at once and creates nothing.
    let (ok, _, stderr) = pgtide(&url, &["worker", "--no-migrate"]);
    assert!(!ok);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: invalid schema version \"none\": expected version {latest}, which this pgtide \
             needs: run `pgtide migrate` first (this process does not migrate: --no-migrate)"
        )
    );
    let db = Database::connect(&url, 1).unwrap();
    assert_eq!(
        scalar(
            &db,
            "select count(*) from pg_namespace where nspname = 'pgtide'"
        )
        .await,
        0,
        "--no-migrate changed the schema"
    );

    // The printed SQL, applied by psql or another tool, is a complete migration.
    let (ok, sql, stderr) = pgtide(&url, &["migrate", "--print"]);
    assert!(ok, "{stderr}");
    // One transaction per migration (the baseline, then each delta), one for the files of
    // sql/schema/.
    assert_eq!(
        sql.matches("\ncommit;").count(),
        common::migration_count() + 1,
        "{sql}"
    );
    db.client()
        .await
        .unwrap()
        .batch_execute(&sql)
        .await
        .unwrap();
    assert_eq!(
        pgtide::migrate::applied_version(&db).await.unwrap(),
        Some(latest)
    );
    let (ok, out, stderr) = pgtide(&url, &["migrate"]);
    assert!(ok, "{stderr}");
    assert_eq!(out.trim(), "schema is up to date");
    let (ok, printed, _) = pgtide(&url, &["migrate", "--print"]);
    assert!(ok);
    assert!(printed.is_empty(), "nothing is pending: {printed}");

    // A schema newer than this binary: every command that starts stops with a clear error.
    let future = common::record_newer_migration(&db).await;
    let newer = format!(
        "error: invalid schema version \"{}\": expected at most version {latest}, the newest this \
         pgtide knows: a newer pgtide migrated this database, so upgrade this binary (migrate first, \
         then roll the workers)",
        future
    );
    for args in [
        &["migrate"][..],
        &["worker"][..],
        &["worker", "--no-migrate"][..],
    ] {
        let (ok, _, stderr) = pgtide(&url, args);
        assert!(!ok, "{args:?} accepted a newer schema");
        assert_eq!(stderr.trim_end(), newer, "{args:?}");
    }
    db.pool().close();
}

/// The uninstall steps of docs/operations.md leave nothing of pgtide's behind: no schema, no
/// function, no privilege of a recipe role, no default privilege.
#[tokio::test]
async fn uninstalling_leaves_nothing_behind() {
    let t = test_db().await;
    let role = common::TestRole::create(&format!("{}_w", t.name)).await;
    let client = t.client().await.unwrap();
    client
        .query_one("select pgtide.grant('worker', $1)", &[&role.name])
        .await
        .unwrap();
    let recipe_roles: i64 = client
        .query_one("select count(*) from pgtide.grants", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recipe_roles, 1);
    client
        .batch_execute("drop schema pgtide cascade")
        .await
        .unwrap();
    let left: i64 = client
        .query_one(
            "select (select count(*) from pg_namespace where nspname = 'pgtide')
                  + (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                      where n.nspname = 'pgtide')
                  + (select count(*) from pg_default_acl d
                      where d.defaclnamespace <> 0
                        and not exists (select 1 from pg_namespace n where n.oid = d.defaclnamespace))
                  + (select count(*) from information_schema.role_table_grants
                      where grantee = $1)
                  + (select count(*) from information_schema.role_routine_grants
                      where grantee = $1)",
            &[&role.name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "pgtide left objects or privileges behind");
    drop(client);
    drop(role);
}
