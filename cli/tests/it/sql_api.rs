//! The admin API as a psql user sees it: queue settings, the audit log written by triggers (raw SQL
//! included), and comments on every object so `\d+` and `\df+` explain themselves.

use crate::common;

use common::{one, scalar, sql_error, test_db};
use serde_json::{json, Value};

#[tokio::test]
async fn every_table_column_function_and_view_has_a_comment() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    let missing: Vec<String> = client
        .query(
            "select c.relname || coalesce('.' || a.attname, '') as object
               from pg_class c
               join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'pgtide'
               left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
              where c.relkind in ('r', 'v')
                and ((a.attname is null and obj_description(c.oid, 'pg_class') is null)
                  or (a.attname is not null and col_description(c.oid, a.attnum) is null)
                  or obj_description(c.oid, 'pg_class') is null)
             union all
             select p.oid::regprocedure::text
               from pg_proc p join pg_namespace n on n.oid = p.pronamespace and n.nspname = 'pgtide'
              where obj_description(p.oid, 'pg_proc') is null
             order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        missing.is_empty(),
        "objects without a comment: {missing:#?}"
    );
    // The count proves the query looked at something.
    assert!(
        scalar(
            &t,
            "select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = 'pgtide'"
        )
        .await
            > 25
    );
}

#[tokio::test]
async fn queue_pause_resume_and_limit_write_the_queues_row() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "select pgtide.enqueue('a', queue => 'mail');
             select pgtide.pause_queue('mail');
             select pgtide.pause_queue(queue => 'mail');
             select pgtide.set_queue_limit('reports', 3);",
        )
        .await
        .unwrap();
    let row = client
        .query_one(
            "select paused, paused_at is not null, concurrency_limit from pgtide.queues where name = 'mail'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Option<i32>>(2), None);
    let overview = client
        .query(
            "select queue, paused, concurrency_limit, queued from pgtide.queue_overview order by queue",
            &[],
        )
        .await
        .unwrap();
    let overview: Vec<(String, bool, Option<i32>, i64)> = overview
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        overview,
        vec![
            ("mail".into(), true, None, 1),
            ("reports".into(), false, Some(3), 0)
        ]
    );

    client
        .batch_execute(
            "select pgtide.resume_queue('mail'); select pgtide.set_queue_limit('reports', null);",
        )
        .await
        .unwrap();
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues where paused or concurrency_limit is not null"
        )
        .await,
        0
    );

    // Bad input: a clear error naming the field, and nothing written.
    let before = scalar(&t, "select count(*) from pgtide.audit_log").await;
    let e = sql_error(&t, "select pgtide.set_queue_limit('reports', 0)", &[]).await;
    assert_eq!(
        e,
        "pgtide.set_queue_limit: invalid concurrency_limit '0': expected NULL (no limit) or an integer >= 1"
    );
    let e = sql_error(&t, "select pgtide.pause_queue('')", &[]).await;
    assert!(e.contains("invalid queue ''"), "{e}");
    let e = sql_error(&t, "select pgtide.resume_queue(null)", &[]).await;
    assert!(e.contains("invalid queue NULL"), "{e}");
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.audit_log").await,
        before
    );
}

/// (action, surface, object_id, old, new) of the audit rows, oldest first.
async fn audit_rows(t: &common::TestDb) -> Vec<(String, String, String, Value, Value)> {
    t.client()
        .await
        .unwrap()
        .query(
            "select action, surface, object_id, coalesce(old, 'null'), coalesce(new, 'null')
               from pgtide.audit_log order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

#[tokio::test]
async fn admin_functions_and_raw_sql_are_audited_by_triggers() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    // Through the admin functions, as a psql user would.
    client
        .batch_execute(
            "set application_name = 'psql';
             select pgtide.create_task('report', 'noop', cron => '0 2 * * *');
             select pgtide.pause_task('report');
             select pgtide.resume_task('report');
             select pgtide.trigger_task('report', idempotency_key => 'manual-1');
             select pgtide.pause_queue('mail');
             select pgtide.set_queue_limit('mail', 2);
             select pgtide.resume_queue('mail');",
        )
        .await
        .unwrap();
    // Raw SQL, bypassing the functions: still audited.
    client
        .batch_execute(
            "update pgtide.tasks set cron = '*/5 * * * *', payload = '{\"v\": 2}' where name = 'report';
             insert into pgtide.queues (name, paused) values ('raw', true);",
        )
        .await
        .unwrap();
    // Scheduler bookkeeping is not an admin change.
    client
        .batch_execute(
            "update pgtide.tasks set next_run_at = now() + interval '1 hour', last_run_at = now()",
        )
        .await
        .unwrap();
    let actor: String = one(&t, "select current_user::text", &[]).await;
    let rows = audit_rows(&t).await;
    let summary: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(a, s, o, _, _)| (a.as_str(), s.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("task.create", "sql", "report"),
            ("task.pause", "sql", "report"),
            ("task.resume", "sql", "report"),
            ("task.trigger", "sql", "report"),
            ("queue.pause", "sql", "mail"),
            ("queue.limit", "sql", "mail"),
            ("queue.resume", "sql", "mail"),
            ("task.update", "sql", "report"),
            ("queue.pause", "sql", "raw"),
        ]
    );
    assert_eq!(rows[1].3, json!({"status": "active"}));
    assert_eq!(rows[1].4, json!({"status": "paused"}));
    assert_eq!(rows[3].4["idempotency_key"], json!("manual-1"));
    assert_eq!(
        rows[5].3,
        json!({"concurrency_limit": null}),
        "the old limit"
    );
    assert_eq!(rows[5].4, json!({"concurrency_limit": 2}));
    // The raw update records exactly the changed fields.
    assert_eq!(rows[7].3, json!({"cron": "0 2 * * *", "payload": {}}));
    assert_eq!(
        rows[7].4,
        json!({"cron": "*/5 * * * *", "payload": {"v": 2}})
    );
    assert_eq!(
        scalar(
            &t,
            &format!("select count(*) from pgtide.audit_log where actor <> '{actor}'")
        )
        .await,
        0
    );

    // Execution actions, and the surface taken from application_name.
    client
        .batch_execute(
            "set application_name = 'pgtide-cli';
             select pgtide.enqueue('x', idempotency_key => 'to-cancel');
             select pgtide.cancel((select id from pgtide.executions where idempotency_key = 'to-cancel'));
             insert into pgtide.executions (handler, status, idempotency_key, error, finished_at)
                  values ('x', 'dead', 'dead-1', 'boom', now());
             select pgtide.retry_dead((select id from pgtide.executions where idempotency_key = 'dead-1'));
             select pgtide.retry_dead((select id from pgtide.executions where idempotency_key = 'dead-1'));
             select pgtide.delete_task('report');",
        )
        .await
        .unwrap();
    let rows = audit_rows(&t).await;
    let tail: Vec<(&str, &str)> = rows[9..]
        .iter()
        .map(|(a, s, _, _, _)| (a.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        tail,
        vec![
            ("execution.cancel", "cli"),
            ("execution.retry_dead", "cli"),
            ("task.delete", "cli"),
        ],
        "requeuing twice inserts one row, so it is audited once"
    );
    assert_eq!(rows[9].3, json!({"status": "queued"}));
    assert_eq!(
        rows[11].3["name"],
        json!("report"),
        "a delete keeps the whole row"
    );
    let dead_id: i64 = one(
        &t,
        "select id from pgtide.executions where idempotency_key = 'dead-1'",
        &[],
    )
    .await;
    assert_eq!(rows[10].2, dead_id.to_string());
}

#[tokio::test]
async fn scheduled_fires_and_retries_are_not_audited_but_scheduler_status_changes_are() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "select pgtide.create_task('once', 'noop', run_at => now() - interval '1 second');",
        )
        .await
        .unwrap();
    let scheduler = pgtide::scheduler::Scheduler::new(
        t.db.clone(),
        pgtide::scheduler::SchedulerConfig::default(),
    );
    scheduler.run_once(None).await.unwrap();
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where task_name = 'once' and scheduled_for is not null"
        )
        .await,
        1
    );
    let rows = audit_rows(&t).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(actions, vec!["task.create", "task.finish"]);
    assert_eq!(rows[1].1, "runtime", "the scheduler's own pool is 'pgtide'");
}
