//! One current definition of every SQL object. A database that `pgtide migrate` builds has the
//! catalog of one built straight from `sql/schema/`; a database the squashed pre-release migrations
//! built upgrades to that catalog and keeps its rows; a changed schema file is applied again, and
//! never by an older pgtide.

use crate::common;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use common::{empty_db, registry, status_of, test_db, wait_until, RunningWorker, TestRole};
use pgtide::Database;

/// Every object of the schema, one line each (`fixtures/catalog.sql`).
async fn catalog(db: &Database) -> Vec<String> {
    let rows = db
        .client()
        .await
        .unwrap()
        .query(include_str!("fixtures/catalog.sql"), &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// Panics, listing the lines only one side has, unless the two catalogs are the same.
fn assert_same_catalog(left: &[String], right: &[String], what: &str) {
    let (l, r): (BTreeSet<_>, BTreeSet<_>) = (left.iter().collect(), right.iter().collect());
    let only_left: Vec<_> = l.difference(&r).collect();
    let only_right: Vec<_> = r.difference(&l).collect();
    assert!(
        only_left.is_empty() && only_right.is_empty() && left.len() == right.len(),
        "{what}\n--- only in the first:\n{only_left:#?}\n--- only in the second:\n{only_right:#?}"
    );
}

/// The tables' current definitions, in an order that satisfies their foreign keys.
const TABLES: [&str; 6] = [
    include_str!("../../../sql/schema/tables/tasks.sql"),
    include_str!("../../../sql/schema/tables/executions.sql"),
    include_str!("../../../sql/schema/tables/queues.sql"),
    include_str!("../../../sql/schema/tables/runtime.sql"),
    include_str!("../../../sql/schema/tables/audit.sql"),
    include_str!("../../../sql/schema/tables/alerts.sql"),
];

/// Builds the schema straight from `sql/schema/`, without the migrations: the pure functions (a
/// column default calls one), the tables, then every file `pgtide migrate` applies.
async fn build_from_schema_folder(db: &Database) {
    let client = db.client().await.unwrap();
    let files = pgtide::migrate::schema_files();
    let keys = files
        .iter()
        .find(|f| f.name == "functions/keys.sql")
        .unwrap();
    client.batch_execute("create schema pgtide").await.unwrap();
    client.batch_execute(keys.sql).await.unwrap();
    for table in TABLES {
        client.batch_execute(table).await.unwrap();
    }
    for file in files {
        client
            .batch_execute(file.sql)
            .await
            .unwrap_or_else(|e| panic!("sql/schema/{}: {e:?}", file.name));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_built_by_migrate_has_the_catalog_of_the_schema_folder() {
    let migrated = empty_db().await;
    let report = pgtide::migrate(&migrated.db).await.unwrap();
    assert_eq!(report.applied[0], "V8__baseline");
    assert_eq!(report.applied.len(), common::migration_count());
    assert_eq!(
        report.schema_files.len(),
        pgtide::migrate::schema_files().len()
    );
    let built = empty_db().await;
    build_from_schema_folder(&built.db).await;

    let (from_migrations, from_folder) = (catalog(&migrated.db).await, catalog(&built.db).await);
    assert!(
        from_migrations.len() > 300
            && from_migrations
                .iter()
                .any(|l| l.starts_with("function pgtide.claim(")),
        "the catalog query sees the schema: {from_migrations:#?}"
    );
    assert_same_catalog(&from_migrations, &from_folder, "migrations vs sql/schema/");

    // The comparison sees a difference as small as one column's comment.
    built
        .client()
        .await
        .unwrap()
        .batch_execute("comment on column pgtide.tasks.tags is 'Labels.'")
        .await
        .unwrap();
    assert_ne!(from_migrations, catalog(&built.db).await);
}

/// The squashed migrations, as a database built before the squash recorded them.
const SQUASHED: [(i32, &str, &str); 7] = [
    (
        1,
        "core_schema",
        include_str!("fixtures/schema_v7/V1__core_schema.sql"),
    ),
    (
        2,
        "admin_functions",
        include_str!("fixtures/schema_v7/V2__admin_functions.sql"),
    ),
    (
        3,
        "scheduler",
        include_str!("fixtures/schema_v7/V3__scheduler.sql"),
    ),
    (
        4,
        "queues_audit_roles",
        include_str!("fixtures/schema_v7/V4__queues_audit_roles.sql"),
    ),
    (
        5,
        "fast_path",
        include_str!("fixtures/schema_v7/V5__fast_path.sql"),
    ),
    (
        6,
        "alerts",
        include_str!("fixtures/schema_v7/V6__alerts.sql"),
    ),
    (
        7,
        "operations",
        include_str!("fixtures/schema_v7/V7__operations.sql"),
    ),
];

/// Builds what the pre-release pgtide built: migrations 1 to 7, each in its transaction with its
/// row in refinery's history, then rows of every kind, made through that schema's own functions.
async fn build_pre_squash(db: &Database, worker_role: &str) {
    let client = db.client().await.unwrap();
    client
        .batch_execute(
            "create schema pgtide;
             create table pgtide.refinery_schema_history (version int4 primary key,
                 name varchar(255), applied_on varchar(255), checksum varchar(255))",
        )
        .await
        .unwrap();
    for (version, name, sql) in SQUASHED {
        client
            .batch_execute(&format!(
                "begin;\n{sql}\ninsert into pgtide.refinery_schema_history values \
                 ({version}, '{name}', '2026-11-01T00:00:00Z', '{version}');\ncommit;"
            ))
            .await
            .unwrap_or_else(|e| panic!("V{version}__{name}: {e:?}"));
    }
    client
        .batch_execute(&format!(
            r#"select pgtide.create_task('nightly', 'noop', cron => '0 3 * * *',
                                         timezone => 'Europe/Berlin', tags => '{{legacy}}');
               select pgtide.create_task('hourly', 'noop', every => interval '1 hour');
               select pgtide.enqueue('noop', '{{"n": 1}}', idempotency_key => 'legacy-1');
               select pgtide.enqueue('noop', '{{"n": 2}}', queue => 'mail',
                                     run_at => now() + interval '1 day', idempotency_key => 'later');
               insert into pgtide.executions (handler, status, attempt, max_attempts,
                                              idempotency_key, error, finished_at)
               values ('noop', 'dead', 5, 5, 'legacy-dead', 'boom', now());
               select pgtide.retry_dead(id) from pgtide.executions where idempotency_key = 'legacy-dead';
               select pgtide.set_queue_limit('mail', 3);
               select pgtide.pause_queue('reports');
               select pgtide.pause_task('hourly');
               insert into pgtide.alert_events (rule, kind, subject, state, value, message)
               values ('slow', 'oldest_due', 'mail', 'firing', 42, 'mail: oldest due 42 s');
               insert into pgtide.alert_deliveries (event_id, webhook)
               select id, 'ops' from pgtide.alert_events;
               select pgtide.grant('worker', '{worker_role}');"#
        ))
        .await
        .unwrap();
}

/// Every row of every table, as text: what an upgrade must keep. The columns that migrations after
/// the baseline added (NULL or their default on an old row) are left out.
async fn rows(db: &Database) -> String {
    common::one(
        db,
        "select string_agg(x, E'\\n' order by x) from (
             select 'task ' || (to_jsonb(t) - 'concurrency_key')::text from pgtide.tasks t
             union all select 'execution ' || (to_jsonb(e) - 'concurrency_key')::text
                         from pgtide.executions e
             union all select 'queue ' || (to_jsonb(q) - array['key_concurrency_limit',
                         'rate_max_starts', 'rate_per', 'rate_per_key'])::text from pgtide.queues q
             union all select 'audit ' || a::text from pgtide.audit_log a
             union all select 'alert ' || e::text from pgtide.alert_events e
             union all select 'delivery ' || d::text from pgtide.alert_deliveries d
             union all select 'grant ' || g.role_name || ' ' || g.role_kind from pgtide.grants g
         ) r(x)",
        &[],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_squashed_migrations_upgrades_to_the_same_catalog_keeping_its_rows() {
    let role = TestRole::unique("squash").await;
    let old = empty_db().await;
    build_pre_squash(&old.db, &role.name).await;
    let before = rows(&old.db).await;
    for kind in [
        "task",
        "execution",
        "queue",
        "audit",
        "alert",
        "delivery",
        "grant",
    ] {
        assert!(
            before.contains(&format!("\n{kind} ")) || before.starts_with(&format!("{kind} ")),
            "{kind}: {before}"
        );
    }

    // A worker under --no-migrate refuses it until it is migrated.
    let err = pgtide::migrate::check_current(&old.db).await.unwrap_err();
    assert!(
        err.to_string().contains("invalid schema version \"7\""),
        "{err}"
    );

    let report = pgtide::migrate(&old.db).await.unwrap();
    assert!(
        report.applied.iter().all(|m| m != "V8__baseline"),
        "the baseline is not run, only the migrations after it: {report:?}"
    );
    assert_eq!(
        report.schema_files.len(),
        pgtide::migrate::schema_files().len()
    );
    let history: Vec<String> = common::column(
        &old.db,
        "select version || ' ' || name from pgtide.refinery_schema_history order by version",
    )
    .await;
    assert_eq!(
        history[0], "8 baseline",
        "the squashed history became the baseline"
    );
    assert_eq!(
        history.len(),
        common::migration_count(),
        "then every migration after it: {history:?}"
    );
    assert_eq!(rows(&old.db).await, before, "the upgrade changed rows");
    assert!(pgtide::migrate(&old.db).await.unwrap().is_empty());
    pgtide::migrate::check_current(&old.db).await.unwrap();

    // The same catalog as a database migrated from nothing, the role's recipe included.
    let fresh = empty_db().await;
    pgtide::migrate(&fresh.db).await.unwrap();
    fresh
        .client()
        .await
        .unwrap()
        .batch_execute(&format!("select pgtide.grant('worker', '{}')", role.name))
        .await
        .unwrap();
    assert_same_catalog(
        &catalog(&old.db).await,
        &catalog(&fresh.db).await,
        "upgraded vs fresh",
    );

    // The old rows run: the worker role (which needs no DDL on a current schema) drains them.
    let as_worker = Database::connect(&role.url(&old), 4).unwrap();
    assert!(pgtide::migrate(&as_worker).await.unwrap().is_empty());
    let running = RunningWorker::start(
        &as_worker,
        registry(vec![("noop", Arc::new(pgtide::handlers::Noop))]),
        common::quick_config(2),
    );
    let ids: Vec<i64> = common::column(
        &old.db,
        "select id from pgtide.executions where status = 'queued' order by id",
    )
    .await;
    assert_eq!(ids.len(), 2, "legacy-1 and the requeued dead job");
    for id in ids {
        let db = old.db.clone();
        wait_until(Duration::from_secs(10), "an old job succeeds", move || {
            let db = db.clone();
            async move { status_of(&db, id).await == "succeeded" }
        })
        .await;
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_upgrade_of_a_squashed_database_leaves_it_current() {
    let role = TestRole::unique("print").await;
    let old = empty_db().await;
    build_pre_squash(&old.db, &role.name).await;
    let before = rows(&old.db).await;
    let sql = pgtide::migrate::pending_sql(&old.db).await.unwrap();
    assert!(
        !sql.contains("create table pgtide.tasks"),
        "the baseline is not run: {sql}"
    );
    old.client()
        .await
        .unwrap()
        .batch_execute(&sql)
        .await
        .unwrap();
    pgtide::migrate::check_current(&old.db).await.unwrap();
    assert_eq!(rows(&old.db).await, before);
    assert!(pgtide::migrate::pending_sql(&old.db)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_changed_schema_file_is_applied_again_but_never_by_an_older_pgtide() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    let retry_key =
        || async { common::one::<String>(&t.db, "select pgtide.retry_key('k', 1)", &[]).await };
    // What a database holds after an older pgtide applied an older functions/keys.sql.
    let stale = "create or replace function pgtide.retry_key(idempotency_key text, attempt int)
                 returns text language sql immutable as $$ select 'stale' $$;
                 update pgtide.schema_files set checksum = 'old' where name = 'functions/keys.sql'";
    client.batch_execute(stale).await.unwrap();
    assert_eq!(retry_key().await, "stale");

    let err = pgtide::migrate::check_current(&t.db).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid schema files \"functions/keys.sql\": expected the definitions this pgtide \
         carries: run `pgtide migrate` first (this process does not migrate: --no-migrate)"
    );
    let report = pgtide::migrate(&t.db).await.unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.schema_files, ["functions/keys.sql", "grants.sql"]);
    assert_eq!(retry_key().await, "k#2");
    pgtide::migrate::check_current(&t.db).await.unwrap();

    // Files a newer pgtide applied stay as they are: an old worker restarting in a rolling deploy
    // does not put its definitions back.
    client.batch_execute(stale).await.unwrap();
    client
        .batch_execute(
            "update pgtide.schema_files set pgtide_version = '999.0.0' where name = 'views.sql'",
        )
        .await
        .unwrap();
    let err = pgtide::migrate(&t.db).await.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "invalid schema files \"applied by pgtide 999.0.0\": expected files of pgtide"
        ),
        "{err}"
    );
    assert_eq!(
        retry_key().await,
        "stale",
        "an older pgtide changed the schema"
    );
}
