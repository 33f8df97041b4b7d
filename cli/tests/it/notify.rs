//! LISTEN/NOTIFY pickup: with polling all but switched off, a job is still picked up because the
//! notification wakes the worker; the worker survives its LISTEN backend being killed; and a half-open
//! LISTEN connection is noticed by its ping and replaced while the worker polls.

use crate::common;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{registry, scalar, test_db, wait_until, RunningWorker};
use pgtide::{NewJob, WorkerConfig};

fn no_polling() -> WorkerConfig {
    WorkerConfig {
        concurrency: 2,
        poll_interval: Duration::from_secs(3600),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_wakes_an_idle_worker() {
    let t = test_db().await;
    let worker = RunningWorker::start(&t, registry(vec![]), no_polling());
    wait_until(Duration::from_secs(10), "the worker to listen", || async {
        worker.worker.is_listening()
    })
    .await;
    // Let the worker go idle (its first claim found nothing and it now waits for a notification).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = pgtide::enqueue(&t, &NewJob::new("noop")).await.unwrap();
    // Polling is hourly: only the notification can get this done.
    wait_until(
        Duration::from_secs(10),
        "the notified job to succeed",
        || async { common::status_of(&t, id).await == "succeeded" },
    )
    .await;
    // A notification for a queue the worker does not serve leaves it alone.
    let other = pgtide::enqueue(&t, &NewJob::new("noop").queue("elsewhere"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(common::status_of(&t, other).await, "queued");
    worker.stop().await;
}

/// `pgtide.enqueue` notifies for its own rows (once per queue and transaction) and keeps the insert
/// trigger out of its way; a plain INSERT is notified by the trigger. With polling off, each of
/// these jobs runs only if its wake-up arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_enqueues_and_plain_inserts_wake_an_idle_worker() {
    let t = test_db().await;
    let config = WorkerConfig {
        queues: vec!["a".into(), "b".into()],
        ..no_polling()
    };
    let worker = RunningWorker::start(&t, registry(vec![]), config);
    wait_until(Duration::from_secs(10), "the worker to listen", || async {
        worker.worker.is_listening()
    })
    .await;
    let client = t.client().await.unwrap();
    let idle = || tokio::time::sleep(Duration::from_millis(300));
    let all_done = |n: i64| {
        let t = &t;
        async move {
            wait_until(
                Duration::from_secs(10),
                "the woken jobs to succeed",
                || async {
                    scalar(
                        t,
                        "select count(*) from pgtide.executions where status = 'succeeded'",
                    )
                    .await
                        == n
                },
            )
            .await
        }
    };
    // One transaction, two queues, several jobs each: every queue is woken.
    idle().await;
    client
        .batch_execute(
            "begin;
             select pgtide.enqueue('noop', queue => q) from unnest('{a,b,a,b,a}'::text[]) q;
             commit;",
        )
        .await
        .unwrap();
    all_done(5).await;
    // A plain INSERT, in a transaction that also called pgtide.enqueue for a delayed job (which
    // notifies nothing): the trigger still wakes the worker.
    idle().await;
    client
        .batch_execute(
            "begin;
             select pgtide.enqueue('noop', queue => 'b', run_at => now() + interval '1 hour');
             insert into pgtide.executions (handler, queue) values ('noop', 'a');
             commit;",
        )
        .await
        .unwrap();
    all_done(6).await;
    // A batch of pgtide.enqueue_many: the trigger of its one INSERT wakes the worker.
    idle().await;
    client
        .batch_execute(
            "select pgtide.enqueue_many('[{\"handler\": \"noop\", \"queue\": \"b\"},
                                         {\"handler\": \"noop\", \"queue\": \"a\"}]')",
        )
        .await
        .unwrap();
    all_done(8).await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_after_its_backend_is_killed() {
    let t = test_db().await;
    let worker = RunningWorker::start(&t, registry(vec![]), no_polling());
    wait_until(Duration::from_secs(10), "the worker to listen", || async {
        worker.worker.is_listening()
    })
    .await;
    let killed = scalar(
        &t,
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
          where datname = current_database() and query ilike 'listen%'",
    )
    .await;
    assert_eq!(killed, 1, "exactly one LISTEN backend per worker");
    wait_until(
        Duration::from_secs(10),
        "the listener to notice",
        || async { !worker.worker.is_listening() },
    )
    .await;
    wait_until(
        Duration::from_secs(10),
        "the listener to come back",
        || async { worker.worker.is_listening() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = pgtide::enqueue(&t, &NewJob::new("noop")).await.unwrap();
    wait_until(
        Duration::from_secs(10),
        "a job after the reconnect to succeed",
        || async { common::status_of(&t, id).await == "succeeded" },
    )
    .await;
    worker.stop().await;
}

/// A TCP proxy in front of the test server that can make its LISTEN connections half-open: they stay
/// established, the client's bytes are accepted, and nothing is forwarded either way, as after a
/// silently dropped NAT entry or a partitioned network. Connections are recognized as LISTEN ones by
/// the `listen` statement in their traffic.
struct HalfOpenProxy {
    addr: std::net::SocketAddr,
    listeners: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl HalfOpenProxy {
    async fn start(target: String) -> Self {
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let listeners: Arc<Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let registry = listeners.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = socket.accept().await {
                let server = tokio::net::TcpStream::connect(&target).await.unwrap();
                let frozen = Arc::new(AtomicBool::new(false));
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let (up_frozen, down_frozen) = (frozen.clone(), frozen.clone());
                let registry = registry.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16384];
                    let mut registered = false;
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if !registered && contains(&buf[..n], b"listen pgtide_jobs") {
                            registered = true;
                            registry.lock().unwrap().push(up_frozen.clone());
                        }
                        if !up_frozen.load(Ordering::SeqCst)
                            && sw.write_all(&buf[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16384];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if !down_frozen.load(Ordering::SeqCst)
                            && cw.write_all(&buf[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        Self { addr, listeners }
    }

    /// Makes every LISTEN connection seen so far half-open; later ones pass normally.
    fn freeze_listeners(&self) -> usize {
        let listeners = self.listeners.lock().unwrap();
        for frozen in listeners.iter() {
            frozen.store(true, Ordering::SeqCst);
        }
        listeners.len()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

async fn pickup_secs(t: &common::TestDb, id: i64) -> f64 {
    common::one(
        t,
        "select extract(epoch from started_at - created_at)::float8 from pgtide.executions where id = $1",
        &[&id],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_listener_is_replaced_and_the_worker_polls_meanwhile() {
    let t = test_db().await;
    let target = common::server_addr(&t.tcp_url);
    let proxy = HalfOpenProxy::start(target.clone()).await;
    let proxied_url = t.tcp_url.replace(&target, &proxy.addr.to_string());
    let db = pgtide::Database::connect(&proxied_url, 8).unwrap();
    let poll = Duration::from_secs(2);
    let worker = RunningWorker::start(
        &db,
        registry(vec![]),
        WorkerConfig {
            concurrency: 2,
            poll_interval: poll,
            listen_ping: Duration::from_secs(1),
            ..Default::default()
        },
    );
    wait_until(Duration::from_secs(10), "the worker to listen", || async {
        worker.worker.is_listening()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proxy.freeze_listeners(), 1);
    let frozen_at = std::time::Instant::now();

    // While the LISTEN connection is a black hole, a new job is still picked up, by polling.
    let during = pgtide::enqueue(&t, &NewJob::new("noop")).await.unwrap();
    wait_until(
        Duration::from_secs(10),
        "the job enqueued during the outage",
        || async { common::status_of(&t, during).await == "succeeded" },
    )
    .await;
    let during_pickup = pickup_secs(&t, during).await;
    assert!(
        during_pickup <= poll.as_secs_f64() + 1.0,
        "pickup during the outage took {during_pickup:.3} s; the poll interval is {poll:?}"
    );

    // The ping finds the connection dead within ping + ping timeout, and a new one is opened.
    wait_until(
        Duration::from_secs(10),
        "a second LISTEN connection",
        || async { proxy.listeners.lock().unwrap().len() == 2 },
    )
    .await;
    let detected = frozen_at.elapsed();
    assert!(
        detected < Duration::from_secs(5),
        "took {detected:?} to replace it"
    );
    wait_until(
        Duration::from_secs(10),
        "the new connection to listen",
        || async { worker.worker.is_listening() },
    )
    .await;

    // Notifications flow again: three jobs in a row are picked up well inside the poll interval
    // (one might coincide with a poll; three in a row would not).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut after = Vec::new();
    for _ in 0..3 {
        let id = pgtide::enqueue(&t, &NewJob::new("noop")).await.unwrap();
        wait_until(
            Duration::from_secs(10),
            "a job after the reconnect",
            || async { common::status_of(&t, id).await == "succeeded" },
        )
        .await;
        after.push(pickup_secs(&t, id).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        after.iter().any(|s| *s < 0.5),
        "no pickup after the reconnect was notification-fast: {after:?}"
    );
    println!(
        "half-open listener: noticed after {detected:.1?}; pickup during the outage {during_pickup:.3} s \
         (poll {poll:?}); after the reconnect {after:.3?} s"
    );
    worker.stop().await;
}
