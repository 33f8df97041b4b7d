//! Alerts: rules evaluated by the maintenance leader, one firing and one resolved event per
//! episode, webhook deliveries (generic JSON and Slack-compatible) to a local server with retry,
//! every rule kind on hand-built state, and the lease fence.

use crate::common;
use pgtide::maintenance::LeaderService;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use common::{
    handlers::Permanent, quick_config, registry, scalar, test_db, wait_until, RunningWorker,
};
use pgtide::{
    alerts::{AlertConfig, Alerter, Rule, RuleKind, Webhook, WebhookFormat},
    maintenance::{Leader, Maintenance, MaintenanceConfig},
    Database, NewJob,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A local webhook receiver: records every body by path; the first `fail_first` calls answer 500.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<(String, Value)>>>,
    calls: Arc<AtomicUsize>,
    fail_first: usize,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Self, SocketAddr) {
        let receiver = Self {
            fail_first,
            ..Self::default()
        };
        async fn hook(
            State(r): State<Receiver>,
            uri: axum::http::Uri,
            Json(body): Json<Value>,
        ) -> StatusCode {
            if r.calls.fetch_add(1, Ordering::SeqCst) < r.fail_first {
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            r.bodies
                .lock()
                .unwrap()
                .push((uri.path().to_string(), body));
            StatusCode::NO_CONTENT
        }
        let app = Router::new()
            .route("/json", post(hook))
            .route("/slack", post(hook))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    fn bodies(&self, path: &str) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

fn webhooks(addr: SocketAddr) -> Vec<Webhook> {
    vec![
        Webhook {
            name: "ops".into(),
            url: format!("http://{addr}/json"),
            format: WebhookFormat::Json,
            headers: vec![],
        },
        Webhook {
            name: "chat".into(),
            url: format!("http://{addr}/slack"),
            format: WebhookFormat::Slack,
            headers: vec![],
        },
    ]
}

async fn events(db: &Database) -> Vec<(String, String, String, Option<i64>)> {
    db.client()
        .await
        .unwrap()
        .query(
            "select rule, subject, state, fired_id from pgtide.alert_events order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_queue_fires_once_notifies_and_resolves() {
    let t = test_db().await;
    let (receiver, addr) = Receiver::start(0).await;
    let alerts = AlertConfig {
        interval: Duration::from_millis(100),
        rules: vec![Rule {
            name: "mail failing".into(),
            kind: RuleKind::FailureRate {
                queue: Some("mail".into()),
                handler: None,
                above_pct: 50.0,
                window: Duration::from_secs(600),
                min_attempts: 3,
            },
        }],
        webhooks: webhooks(addr),
    };
    let stop = CancellationToken::new();
    let maintenance = Maintenance::new(
        t.db.clone(),
        "alerting-leader",
        MaintenanceConfig {
            alerts,
            ..Default::default()
        },
    );
    tokio::spawn({
        let stop = stop.clone();
        async move { maintenance.run(stop).await }
    });
    let mut config = quick_config(4);
    config.queues = vec!["mail".into()];
    let worker = RunningWorker::start(&t, registry(vec![("send", Arc::new(Permanent))]), config);

    // The queue fails on purpose: five permanent failures.
    for i in 0..5 {
        let job = NewJob::new("send")
            .queue("mail")
            .idempotency_key(format!("f{i}"));
        pgtide::enqueue(&t, &job).await.unwrap();
    }
    wait_until(Duration::from_secs(20), "one firing event", || async {
        scalar(&t, "select count(*) from pgtide.alert_events").await == 1
    })
    .await;
    wait_until(Duration::from_secs(20), "both deliveries", || async {
        scalar(
            &t,
            "select count(*) from pgtide.alert_deliveries where status = 'delivered'",
        )
        .await
            == 2
    })
    .await;
    // Many more evaluations pass; the firing is recorded and sent once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let recorded = events(&t).await;
    assert_eq!(
        recorded,
        vec![("mail failing".into(), "mail".into(), "firing".into(), None)]
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.alerts where subject = 'mail'"
        )
        .await,
        1
    );
    let json = receiver.bodies("/json");
    assert_eq!(json.len(), 1, "{json:?}");
    assert_eq!(json[0]["state"], "firing");
    assert_eq!(json[0]["rule"], "mail failing");
    assert_eq!(json[0]["kind"], "failure_rate");
    assert_eq!(json[0]["subject"], "mail");
    assert_eq!(json[0]["value"], 100.0);
    let slack = receiver.bodies("/slack");
    assert_eq!(slack.len(), 1);
    let text = slack[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with(":rotating_light: FIRING mail failing (mail)"),
        "{text}"
    );

    // The failures stop: five successes bring the rate to 50%, which is not above 50%.
    for i in 0..5 {
        let job = NewJob::new("noop")
            .queue("mail")
            .idempotency_key(format!("ok{i}"));
        pgtide::enqueue(&t, &job).await.unwrap();
    }
    wait_until(Duration::from_secs(20), "the resolve", || async {
        scalar(&t, "select count(*) from pgtide.alert_events").await == 2
    })
    .await;
    wait_until(
        Duration::from_secs(20),
        "the resolve's deliveries",
        || async { receiver.bodies("/json").len() == 2 && receiver.bodies("/slack").len() == 2 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    worker.stop().await;

    let recorded = events(&t).await;
    let fired_id = scalar(
        &t,
        "select id from pgtide.alert_events where state = 'firing'",
    )
    .await;
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(
        recorded[1],
        (
            "mail failing".into(),
            "mail".into(),
            "resolved".into(),
            Some(fired_id)
        )
    );
    assert_eq!(scalar(&t, "select count(*) from pgtide.alerts").await, 0);
    let json = receiver.bodies("/json");
    assert_eq!(json.len(), 2);
    assert_eq!(json[1]["state"], "resolved");
    assert!(json[1]["fired_at"].is_string(), "{}", json[1]);
    let slack = receiver.bodies("/slack");
    assert!(
        slack[1]["text"]
            .as_str()
            .unwrap()
            .starts_with(":white_check_mark: RESOLVED mail failing (mail) after "),
        "{}",
        slack[1]
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.alert_deliveries where status = 'delivered' and attempts = 1"
        )
        .await,
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_retried_with_backoff() {
    let t = test_db().await;
    let (receiver, addr) = Receiver::start(1).await;
    let alerter = Alerter::new(
        t.db.clone(),
        AlertConfig {
            rules: vec![Rule {
                name: "any dead".into(),
                kind: RuleKind::DeadLetters {
                    queue: None,
                    above: Some(0),
                    growing: None,
                },
            }],
            webhooks: webhooks(addr)[..1].to_vec(),
            ..AlertConfig::default()
        },
    );
    let id = pgtide::enqueue(&t, &NewJob::new("x")).await.unwrap();
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.executions set status = 'dead', finished_at = now(), error = 'boom' where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let fired = alerter.run_once().await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].subject, "default");
    // The webhook answered 500: one attempt, still pending, retried in 2 s.
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select status, attempts, last_error, next_attempt_at - now() > interval '1 s' \
             from pgtide.alert_deliveries",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "pending");
    assert_eq!(row.get::<_, i32>(1), 1);
    assert!(
        row.get::<_, String>(2).contains("500"),
        "{:?}",
        row.get::<_, String>(2)
    );
    assert!(row.get::<_, bool>(3));
    // Not due yet: a pass sends nothing.
    assert_eq!(alerter.deliver().await.unwrap().sent, 0);
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.alert_deliveries set next_attempt_at = now()",
            &[],
        )
        .await
        .unwrap();
    let delivered = alerter.deliver().await.unwrap();
    assert_eq!(delivered.sent, 1);
    let row = t
        .client()
        .await
        .unwrap()
        .query_one("select status, attempts from pgtide.alert_deliveries", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "delivered");
    assert_eq!(row.get::<_, i32>(1), 2);
    assert_eq!(receiver.bodies("/json").len(), 1);
    // A second evaluation finds the same state: no event, no delivery.
    assert!(alerter.run_once().await.unwrap().is_empty());
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.alert_deliveries").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_kind_fires_on_its_state_and_resolves_when_it_is_fixed() {
    let t = test_db().await;
    let rule = |name: &str, kind| Rule {
        name: name.into(),
        kind,
    };
    let alerter = Alerter::new(
        t.db.clone(),
        AlertConfig {
            rules: vec![
                rule(
                    "backlog",
                    RuleKind::OldestDue {
                        queue: Some("slow".into()),
                        older_than: Duration::from_secs(300),
                    },
                ),
                rule(
                    "nobody",
                    RuleKind::NoWorker {
                        queue: Some("slow".into()),
                    },
                ),
                rule(
                    "stuck",
                    RuleKind::OverdueRunning {
                        queue: None,
                        grace: Duration::from_secs(60),
                    },
                ),
                rule(
                    "dlq growing",
                    RuleKind::DeadLetters {
                        queue: None,
                        above: None,
                        growing: Some(Duration::from_secs(600)),
                    },
                ),
                rule("broken", RuleKind::TaskInvalid { task: None }),
                rule(
                    "send failing",
                    RuleKind::FailureRate {
                        queue: None,
                        handler: Some("send".into()),
                        above_pct: 10.0,
                        window: Duration::from_secs(600),
                        min_attempts: 2,
                    },
                ),
            ],
            ..AlertConfig::default()
        },
    );
    assert!(alerter.run_once().await.unwrap().is_empty());

    let client = t.client().await.unwrap();
    let slow = pgtide::enqueue(&t, &NewJob::new("report").queue("slow"))
        .await
        .unwrap();
    let stuck = pgtide::enqueue(&t, &NewJob::new("report").queue("busy"))
        .await
        .unwrap();
    let dead = pgtide::enqueue(&t, &NewJob::new("send").queue("mail"))
        .await
        .unwrap();
    let failed = pgtide::enqueue(&t, &NewJob::new("send").queue("mail"))
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "update pgtide.executions set visible_at = now() - interval '10 minutes' where id = {slow};
             update pgtide.executions set status = 'running', worker_id = 'gone',
                    started_at = now() - interval '10 minutes', lease_until = now() + interval '1 hour',
                    timeout = interval '1 minute' where id = {stuck};
             update pgtide.executions set status = 'dead', finished_at = now(), error = 'x' where id in ({dead}, {failed});
             select pgtide.create_task('nightly', 'report', cron => '0 3 * * *');
             update pgtide.tasks set status = 'invalid', last_error = 'bad zone' where name = 'nightly';"
        ))
        .await
        .unwrap();

    let mut fired: Vec<(String, String)> = alerter
        .run_once()
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            assert_eq!(e.state, "firing");
            (e.rule, e.subject)
        })
        .collect();
    fired.sort();
    let expected: Vec<(String, String)> = [
        ("backlog", "slow"),
        ("broken", "nightly"),
        ("dlq growing", "mail"),
        ("nobody", "slow"),
        ("send failing", "send"),
        ("stuck", "busy"),
    ]
    .iter()
    .map(|(r, s)| (r.to_string(), s.to_string()))
    .collect();
    assert_eq!(fired, expected);
    assert_eq!(scalar(&t, "select count(*) from pgtide.alerts").await, 6);
    let message: String = client
        .query_one(
            "select message from pgtide.alerts where rule = 'broken'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(message, "task nightly is invalid: bad zone");

    // A live worker for "slow" resolves "nobody" alone.
    client
        .execute(
            "insert into pgtide.workers (id, host, pid, queues, concurrency) values ('w1', 'h', 1, '{slow}', 1)",
            &[],
        )
        .await
        .unwrap();
    let resolved = alerter.run_once().await.unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        (resolved[0].rule.as_str(), resolved[0].state.as_str()),
        ("nobody", "resolved")
    );

    // Fix everything else.
    client
        .batch_execute(&format!(
            "delete from pgtide.executions where id in ({slow}, {stuck}, {dead}, {failed});
             update pgtide.tasks set status = 'active', last_error = null where name = 'nightly';"
        ))
        .await
        .unwrap();
    let resolved = alerter.run_once().await.unwrap();
    assert_eq!(resolved.len(), 5);
    assert!(resolved.iter().all(|e| e.state == "resolved"));
    assert_eq!(scalar(&t, "select count(*) from pgtide.alerts").await, 0);
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.alert_events r join pgtide.alert_events f on f.id = r.fired_id \
             where r.state = 'resolved' and f.state = 'firing' and f.rule = r.rule and f.subject = r.subject"
        )
        .await,
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_leader_records_nothing_and_a_removed_rule_resolves() {
    let t = test_db().await;
    let config = AlertConfig {
        rules: vec![Rule {
            name: "broken".into(),
            kind: RuleKind::TaskInvalid { task: None },
        }],
        ..AlertConfig::default()
    };
    t.client()
        .await
        .unwrap()
        .batch_execute(
            "select pgtide.create_task('nightly', 'report', cron => '0 3 * * *');
             update pgtide.tasks set status = 'invalid', last_error = 'bad' where name = 'nightly';",
        )
        .await
        .unwrap();
    let alerter = Alerter::new(t.db.clone(), config);
    let leader = Leader::new(t.db.clone(), "maintenance", "me", Duration::from_secs(10));
    let other = Leader::new(
        t.db.clone(),
        "maintenance",
        "other",
        Duration::from_secs(10),
    );
    assert!(other.try_acquire().await.unwrap());
    let err = alerter.run_once_as(&leader).await.unwrap_err();
    assert!(matches!(err, pgtide::Error::LeaseLost { .. }), "{err}");
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.alert_events").await,
        0
    );
    assert_eq!(alerter.run_once_as(&other).await.unwrap().len(), 1);

    // The rule leaves the configuration: its firing is resolved, not left to fire forever.
    let without = Alerter::new(t.db.clone(), AlertConfig::default());
    let resolved = without.run_once().await.unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].state, "resolved");
    assert!(
        resolved[0].message.contains("no longer configured"),
        "{}",
        resolved[0].message
    );
    assert_eq!(scalar(&t, "select count(*) from pgtide.alerts").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgtide_alerts_lists_what_fires_and_the_history() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute(
            "select pgtide.create_task('nightly', 'report', cron => '0 3 * * *');
             update pgtide.tasks set status = 'invalid', last_error = 'bad zone' where name = 'nightly';",
        )
        .await
        .unwrap();
    let alerter = Alerter::new(
        t.db.clone(),
        AlertConfig {
            rules: vec![Rule {
                name: "broken".into(),
                kind: RuleKind::TaskInvalid { task: None },
            }],
            ..AlertConfig::default()
        },
    );
    alerter.run_once().await.unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgtide"))
            .args(args)
            .env("DATABASE_URL", &t.url)
            .env_remove("PGTIDE_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["alerts", "--history", "5"]);
    assert!(
        text.contains("broken") && text.contains("task nightly is invalid: bad zone"),
        "{text}"
    );
    assert!(text.contains("firing"), "{text}");
    let json: Value = serde_json::from_str(&run(&["alerts", "--json"])).unwrap();
    assert_eq!(json["firing"][0]["rule"], "broken");
    assert_eq!(json["firing"][0]["subject"], "nightly");
    assert!(json["events"].is_null());
    // Fixed: nothing fires, and the history shows both events.
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.tasks set status = 'active' where name = 'nightly'",
            &[],
        )
        .await
        .unwrap();
    alerter.run_once().await.unwrap();
    let text = run(&["alerts", "--history", "5"]);
    assert!(text.starts_with("no alert is firing"), "{text}");
    assert!(text.contains("resolved"), "{text}");
}
