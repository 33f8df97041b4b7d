//! The dedicated LISTEN connection.
//!
//! A pooled connection cannot LISTEN: between statements the pool hands it to other users, and
//! notifications are delivered to whichever session happens to hold it. So each worker (and
//! scheduler) keeps one connection of its own for notifications and reconnects it with backoff
//! whenever it breaks. Notifications are only a shortcut: whoever consumes them also polls, so a
//! notification lost while reconnecting delays work by at most one poll interval and loses nothing.
//! A connection that stays quiet is pinged, so a half-open TCP connection is noticed and replaced.
//!
//! The channels are `pgtide_jobs` (payload: the queue that has due rows) and `pgtide_tasks` (payload:
//! the task id); the LISTEN statements are in `sql/queries/listen_*.sql`.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use crate::{
    backoff::{Backoff, LISTEN_RECONNECT_MAX},
    Database,
};

/// How a LISTEN connection checks that it is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keepalive {
    /// Ping the connection after it has been quiet this long.
    pub(crate) ping_after: Duration,
    /// A ping unanswered for this long means the connection is gone (half-open).
    pub(crate) ping_timeout: Duration,
}

impl Keepalive {
    /// Pings after `ping_after` of quiet; a ping may take that long or 5 s, whichever is shorter.
    pub(crate) fn every(ping_after: Duration) -> Self {
        Self {
            ping_after,
            ping_timeout: ping_after.min(Duration::from_secs(5)),
        }
    }
}

/// What a listener reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A notification on `channel` with `payload`.
    Notification { channel: String, payload: String },
    /// The connection was (re)established: anything may have happened meanwhile, so look now.
    Connected,
}

/// Keeps a LISTEN connection open until `shutdown`, calling `on_event` for each event. `listen` holds
/// the LISTEN statements to run on every (re)connect.
/// `healthy` tells observers whether notifications currently flow.
pub(crate) async fn listen(
    db: Database,
    listen: &'static [&'static str],
    keepalive: Keepalive,
    healthy: Arc<AtomicBool>,
    shutdown: CancellationToken,
    on_event: impl Fn(Event) + Send + 'static,
) {
    let mut backoff = Backoff::new(Duration::from_millis(50), LISTEN_RECONNECT_MAX);
    let mut lost = false;
    while !shutdown.is_cancelled() {
        match session(
            &db, listen, keepalive, &mut lost, &healthy, &shutdown, &on_event,
        )
        .await
        {
            Ok(()) => {
                // Stopped: nothing listens any more.
                healthy.store(false, Ordering::Relaxed);
                return;
            }
            Err(reason) => {
                healthy.store(false, Ordering::Relaxed);
                lost = true;
                let delay = backoff.next_delay();
                tracing::warn!(%reason, retry_in = ?delay, "LISTEN connection lost; polling until it is back");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
        if healthy.load(Ordering::Relaxed) {
            backoff.reset();
        }
    }
}

/// One connection's life. Returns `Ok` on shutdown and `Err` with the reason when the connection
/// breaks.
async fn session(
    db: &Database,
    listen: &[&str],
    keepalive: Keepalive,
    lost: &mut bool,
    healthy: &AtomicBool,
    shutdown: &CancellationToken,
    on_event: &(impl Fn(Event) + Send),
) -> Result<(), String> {
    let (client, mut messages) = db.dedicated().await.map_err(|e| e.to_string())?;
    for statement in listen {
        client
            .batch_execute(statement)
            .await
            .map_err(|e| crate::error::describe(&e))?;
    }
    healthy.store(true, Ordering::Relaxed);
    if *lost {
        tracing::info!(?listen, "LISTEN connection re-established");
    } else {
        tracing::debug!(?listen, "listening");
    }
    *lost = false;
    on_event(Event::Connected);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            message = messages.recv() => match message {
                Some(AsyncMessage::Notification(n)) => on_event(Event::Notification {
                    channel: n.channel().to_string(),
                    payload: n.payload().to_string(),
                }),
                Some(_) => {}
                None => return Err("the server closed the connection".into()),
            },
            () = tokio::time::sleep(keepalive.ping_after) => {
                match tokio::time::timeout(keepalive.ping_timeout, client.simple_query("")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(format!("ping failed: {}", crate::error::describe(&e))),
                    Err(_) => return Err(format!(
                        "ping got no answer within {:?} (half-open connection)", keepalive.ping_timeout)),
                }
            }
        }
    }
}
