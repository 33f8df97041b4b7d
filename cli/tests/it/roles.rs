//! The role recipes of `pgtide.grant`, proven by logging in as each role: what is granted works, and
//! what is not fails with a permission error.

use crate::common;
use pgtide::maintenance::LeaderService;

use std::{sync::Arc, time::Duration};

use common::{registry, scalar, test_db, wait_until, RunningWorker, TestRole};
use pgtide::{Database, NewJob};
use tokio_postgres::error::SqlState;

/// Runs `sql` as the client and returns the error's SQLSTATE and message, or None if it worked.
async fn attempt(client: &tokio_postgres::Client, sql: &str) -> Option<(SqlState, String)> {
    match client.batch_execute(sql).await {
        Ok(()) => None,
        Err(e) => {
            let db = e.as_db_error().expect("a server error");
            Some((db.code().clone(), db.message().to_string()))
        }
    }
}

use common::connect;

fn denied(result: Option<(SqlState, String)>, what: &str) {
    match result {
        Some((code, message)) => assert_eq!(
            code,
            SqlState::INSUFFICIENT_PRIVILEGE,
            "{what}: expected a permission error, got {message}"
        ),
        None => panic!("{what}: expected a permission error, but it worked"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_can_do_its_job_and_nothing_more() {
    // Roles first: they are dropped after the database that holds their grants.
    let enqueuer = TestRole::unique("enq").await;
    let operator = TestRole::unique("op").await;
    let worker_role = TestRole::unique("wrk").await;
    let outsider = TestRole::unique("out").await;
    let t = test_db().await;
    let owner = t.client().await.unwrap();
    for (kind, role) in [
        ("enqueuer", &enqueuer),
        ("pgtide_operator", &operator),
        ("worker", &worker_role),
    ] {
        owner
            .query_one("select pgtide.grant($1, $2)", &[&kind, &role.name])
            .await
            .unwrap();
    }
    owner
        .batch_execute(
            "select pgtide.create_task('report', 'noop', cron => '0 2 * * *');
             select pgtide.enqueue('secret', '{\"card\": \"4111\"}', queue => 'billing');",
        )
        .await
        .unwrap();
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.grants").await,
        3,
        "the recipes are recorded for re-application after upgrades"
    );

    // Bad input to grant: a clear error, nothing granted.
    let e = owner
        .query_one("select pgtide.grant('admin', $1)", &[&outsider.name])
        .await
        .unwrap_err();
    assert!(
        e.as_db_error().unwrap().message().contains(
            "pgtide.grant: invalid role_kind 'admin': expected 'enqueuer', 'operator' or 'worker'"
        ),
        "{e:?}"
    );
    let e = owner
        .query_one("select pgtide.grant('worker', 'no_such_role_xyz')", &[])
        .await
        .unwrap_err();
    assert!(e
        .as_db_error()
        .unwrap()
        .message()
        .contains("an existing role"));

    // A role without a recipe can do nothing.
    let c = connect(&outsider.url(&t)).await;
    denied(
        attempt(&c, "select pgtide.enqueue('x')").await,
        "outsider enqueue",
    );
    denied(
        attempt(&c, "select pgtide.enqueue_many('[{\"handler\": \"x\"}]')").await,
        "outsider bulk enqueue",
    );

    // The enqueuer: enqueue by function and by INSERT, read statuses, nothing else.
    let c = connect(&enqueuer.url(&t)).await;
    assert_eq!(
        attempt(
            &c,
            "select pgtide.enqueue('mail', '{\"to\": \"a@b.c\"}', queue => 'mail', idempotency_key => 'e-1');
             select pgtide.enqueue('mail', idempotency_key => 'e-1');
             insert into pgtide.executions (handler, queue, idempotency_key) values ('mail', 'mail', 'e-2');
             select pgtide.enqueue_many('[{\"handler\": \"mail\", \"idempotency_key\": \"e-1\"},
                                          {\"handler\": \"mail\", \"queue\": \"mail\", \"retry_base\": \"5s\"}]');
             select id, status, attempt from pgtide.executions where idempotency_key = 'e-1';"
        )
        .await,
        None
    );
    denied(
        attempt(&c, "select payload from pgtide.executions").await,
        "enqueuer reads payloads",
    );
    denied(
        attempt(&c, "select pgtide.pause_task('report')").await,
        "enqueuer pauses a task",
    );
    denied(
        attempt(&c, "update pgtide.executions set status = 'dead'").await,
        "enqueuer updates executions",
    );
    denied(
        attempt(&c, "select * from pgtide.tasks").await,
        "enqueuer reads tasks",
    );
    denied(
        attempt(&c, "select pgtide.pause_queue('mail')").await,
        "enqueuer pauses a queue",
    );
    denied(
        attempt(&c, "insert into pgtide.executions (handler, status, worker_id, lease_until) values ('x', 'running', 'me', now())").await,
        "enqueuer inserts a claimed row",
    );

    // The operator: the whole admin API and every view, but not the audit log's history or grants.
    let c = connect(&operator.url(&t)).await;
    assert_eq!(
        attempt(
            &c,
            "select pgtide.pause_task('report');
             select pgtide.trigger_task('report');
             select pgtide.pause_queue('billing');
             select pgtide.set_queue_limit('mail', 2);
             select * from pgtide.queue_overview;
             select * from pgtide.task_overview;
             select * from pgtide.dead_letters;
             select payload from pgtide.executions;
             select * from pgtide.audit_log;
             select pgtide.create_task('nightly', 'noop', every => interval '1 day');
             select pgtide.delete_task('nightly');"
        )
        .await,
        None
    );
    denied(
        attempt(&c, "delete from pgtide.audit_log").await,
        "operator erases the audit log",
    );
    denied(
        attempt(&c, "update pgtide.audit_log set actor = 'someone else'").await,
        "operator rewrites the audit log",
    );
    denied(
        attempt(
            &c,
            &format!("select pgtide.grant('operator', '{}')", outsider.name),
        )
        .await,
        "operator grants",
    );
    denied(
        attempt(&c, "drop table pgtide.tasks").await,
        "operator drops a table",
    );
    assert_eq!(
        scalar(
            &t,
            &format!(
                "select count(*) from pgtide.audit_log where actor = '{}'",
                operator.name
            )
        )
        .await,
        6,
        "the operator's actions are audited under its own name"
    );

    // The worker: a real worker process runs jobs, but cannot administer.
    let c = connect(&worker_role.url(&t)).await;
    denied(
        attempt(
            &c,
            "select pgtide.create_task('x', 'noop', every => interval '1 hour')",
        )
        .await,
        "worker creates a task",
    );
    denied(
        attempt(&c, "delete from pgtide.tasks").await,
        "worker deletes tasks",
    );
    denied(
        attempt(&c, "select pgtide.pause_queue('mail')").await,
        "worker pauses a queue",
    );
    denied(
        attempt(&c, "select * from pgtide.audit_log").await,
        "worker reads the audit log",
    );
    let db = Database::connect(&worker_role.url(&t), 6).unwrap();
    let report = pgtide::migrate(&db)
        .await
        .expect("a current schema needs no DDL");
    assert!(report.applied.is_empty());
    pgtide::enqueue(&db, &NewJob::new("job").idempotency_key("w-1"))
        .await
        .unwrap();
    let running = RunningWorker::start(
        &db,
        registry(vec![("job", Arc::new(pgtide::handlers::Noop))]),
        common::quick_config(2),
    );
    wait_until(
        Duration::from_secs(10),
        "the worker role to run the job",
        || async {
            scalar(
                &t,
                "select count(*) from pgtide.executions where idempotency_key = 'w-1' and status = 'succeeded'",
            )
            .await
                == 1
        },
    )
    .await;
    running.stop().await;
    // Its maintenance and scheduler work too.
    pgtide::maintenance::Promoter::new(db.clone(), 100)
        .run_once()
        .await
        .unwrap();
    pgtide::scheduler::Scheduler::new(db.clone(), Default::default())
        .run_once(None)
        .await
        .unwrap();
    db.pool().close();
}
