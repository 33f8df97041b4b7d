//! The connection to pgtide's database: a pool for ordinary statements, plus the settings to open
//! dedicated connections (the workers' LISTEN connection must not be a pooled one, because a pooled
//! connection is handed to other users between statements and would drop or steal notifications).
//!
//! Every connection, pooled or dedicated, is opened by one `connect::Connector`: the string's
//! hosts in turn, with TLS as libpq's `sslmode` and friends say ([`tls`]). A pooled connection whose
//! server went away (a crash, a failover) is closed, and the pool never hands a closed one out again:
//! its next connection goes through the host list afresh, so it finds the promoted server.

mod connect;
mod conninfo;
mod session;
pub mod tls;

use std::{str::FromStr, sync::Arc, time::Duration};

use deadpool_postgres::{Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod, Runtime};

pub use self::tls::SslMode;
use crate::{Error, Result};

pub use conninfo::redact;

/// A handle to pgtide's database. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    connector: Arc<connect::Connector>,
    /// Set in pooler mode: statements go out unnamed, with parameter types cached here.
    pooler: Option<Arc<session::TypeCache>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("pool", &self.pool.status())
            .field("sslmode", &self.connector.tls.mode)
            .field("pooler", &self.pooler.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Database`] with settings beyond the connection string.
///
/// ```no_run
/// # fn example(tls: pgtide::rustls::ClientConfig) -> pgtide::Result<()> {
/// let db = pgtide::Database::builder("postgres://app@db.internal/app?sslmode=verify-full")
///     .pool_size(16)
///     .application_name("billing")
///     .tls_config(tls) // optional: your own rustls configuration instead of sslrootcert & co.
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DatabaseBuilder {
    url: String,
    pool_size: usize,
    application_name: Option<String>,
    tls_config: Option<rustls::ClientConfig>,
}

impl DatabaseBuilder {
    /// At most this many pooled connections (default 16).
    pub fn pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// Every connection reports this `application_name`, overriding the string's.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Uses this rustls configuration for every TLS connection: its verifier, roots and client
    /// certificate decide. The string's `sslmode` still says whether TLS is used (with `prefer`
    /// when the string gives none); `sslrootcert`, `sslcert` and `sslkey` must then be left out.
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// Reads the string and every file it names. No connection is opened until one is needed.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the parameter (and file) that is wrong: a string that does not
    /// parse, an unknown `sslmode`, a missing or unreadable certificate or key, a file that is not
    /// PEM, a key that does not match its certificate.
    pub fn build(self) -> Result<Database> {
        let info = conninfo::split(&self.url);
        let mut config = tokio_postgres::Config::from_str(&info.rest).map_err(|e| {
            Error::invalid(
                "database_url",
                redact(&self.url),
                format!("a postgres:// URL or key=value connection string ({e})"),
            )
        })?;
        let tls = match self.tls_config {
            None => tls::TlsSettings::from_params(&info.tls, &tls::Defaults::from_process())?,
            Some(client_config) => {
                if let Some((key, _)) = info
                    .tls
                    .iter()
                    .find(|(k, _)| matches!(k.as_str(), "sslrootcert" | "sslcert" | "sslkey"))
                {
                    return Err(Error::invalid(
                        "database_url",
                        redact(&self.url),
                        format!(
                            "no {key}: the rustls configuration given to the builder decides \
                             certificates"
                        ),
                    ));
                }
                let mode = match info.tls.iter().rev().find(|(k, _)| k == "sslmode") {
                    Some((_, mode)) => {
                        tls::TlsSettings::from_params(
                            &[("sslmode".to_string(), mode.clone())],
                            &tls::Defaults::none(),
                        )?
                        .mode
                    }
                    None => SslMode::Prefer,
                };
                tls::TlsSettings::with_config(mode, client_config)
            }
        };
        if let Some(name) = &self.application_name {
            config.application_name(name);
        } else if config.get_application_name().is_none() {
            config.application_name("pgtide");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // Detect half-open TCP connections (a vanished host, a dropped NAT entry, the old primary of
        // a failover whose machine is gone) at the OS level too: an idle connection after 30 s plus
        // three unanswered probes 10 s apart, a busy one once its data goes unacknowledged for 30 s
        // (the kernel would otherwise retransmit for about 15 minutes).
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(Duration::from_secs(10));
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(3);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(30));
        }
        let connector = Arc::new(
            connect::Connector::new(config.clone(), tls)
                .map_err(|expected| Error::invalid("database_url", redact(&self.url), expected))?,
        );
        let manager = Manager::from_connect(
            config,
            connect::PoolConnector(connector.clone()),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size.max(1))
            // The connection returned last is handed out first, so the work concentrates on the
            // fewest connections, whose statements are prepared and whose server backends have
            // pgtide's tables and functions cached. Handed out in turn, each connection in turn met a
            // statement for the first time; a drain ran about 10% slower, and the first jobs after
            // a start waited for it.
            .queue_mode(QueueMode::Lifo)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            // The connector bounds each host's attempt by connect_timeout itself; a pool-wide
            // limit would cut a string with several hosts short.
            .create_timeout(None)
            .build()
            .map_err(|e| match e {
                deadpool_postgres::BuildError::NoRuntimeSpecified => {
                    Error::invalid("pool", "no runtime", "a tokio runtime")
                }
            })?;
        Ok(Database {
            pool,
            connector,
            pooler: None,
        })
    }
}

impl Database {
    /// Connects lazily to `url` (a `postgres://` URL or a libpq key=value string, with libpq's TLS
    /// parameters: `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, ...) with a pool of at most
    /// `pool_size` connections. No connection is opened until one is needed.
    ///
    /// # Errors
    /// As [`DatabaseBuilder::build`].
    pub fn connect(url: &str, pool_size: usize) -> Result<Self> {
        Self::builder(url).pool_size(pool_size).build()
    }

    /// Like [`Database::connect`], but every connection reports `application_name`, overriding the
    /// URL's. The CLI (`pgtide-cli`) and the HTTP API (`pgtide-http`) use it, so the audit log records
    /// which surface a change came through.
    ///
    /// # Errors
    /// As [`DatabaseBuilder::build`].
    pub fn connect_as(url: &str, pool_size: usize, application_name: &str) -> Result<Self> {
        Self::builder(url)
            .pool_size(pool_size)
            .application_name(application_name)
            .build()
    }

    /// Starts building a [`Database`] on `url`: pool size, `application_name`, or a rustls
    /// configuration of the caller's.
    pub fn builder(url: impl Into<String>) -> DatabaseBuilder {
        DatabaseBuilder {
            url: url.into(),
            pool_size: 16,
            application_name: None,
            tls_config: None,
        }
    }

    /// Completes when a connection succeeds after connections failed: the database is back (after
    /// a restart or a failover). Every loop that waits out a backoff also waits on this, so the first
    /// component to reconnect ends everyone's wait.
    pub async fn reconnected(&self) {
        self.connector.online.notified().await;
    }

    /// The `sslmode` connections are opened with.
    pub fn ssl_mode(&self) -> SslMode {
        self.connector.tls.mode
    }

    /// Waits until a connection can be had, for a process that starts while its database is down
    /// or while a failover is under way (no host accepts writes yet). Each failed attempt logs a
    /// warning naming every host and why, and the next one follows with backoff (100 ms doubling to
    /// 5 s). Returns `false` when `shutdown` came first.
    ///
    /// # Errors
    /// [`Error::Connect`] at once when waiting cannot help: the server refused the credentials or
    /// the certificate, the database does not exist, or it does not speak TLS where TLS is required.
    pub async fn wait_until_reachable(
        &self,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Result<bool> {
        let mut backoff =
            crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match self.client().await {
                Ok(_) => return Ok(true),
                Err(
                    e @ Error::Connect {
                        retryable: true, ..
                    },
                )
                | Err(e @ Error::Pool(deadpool_postgres::PoolError::Timeout(_))) => {
                    let reason = match e {
                        Error::Connect { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    let delay = backoff.next_delay();
                    tracing::warn!(%reason, retry_in = ?delay,
                        "database not available yet; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => return Ok(false),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Switches to pooler mode, for a URL that points at PgBouncer (or another pooler) in transaction
    /// mode: no named prepared statements, no session state. Statements are sent unnamed, in one
    /// message group each. The caller must not LISTEN or take session advisory locks either; a worker
    /// started with `--no-listen` does neither.
    pub fn for_transaction_pooler(mut self) -> Self {
        self.pooler = Some(Arc::default());
        self
    }

    /// Whether this handle is in pooler mode.
    pub fn is_pooler(&self) -> bool {
        self.pooler.is_some()
    }

    /// The connection pool, for callers that run their own statements next to pgtide's.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Takes a connection from the pool.
    ///
    /// # Errors
    /// [`Error::Connect`] when a new connection cannot be opened (every host refused, or TLS
    /// failed); [`Error::Pool`] when no connection can be had within the pool's wait timeout.
    pub async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(source) => self.connector.error(source),
            other => Error::Pool(other),
        })
    }

    /// Opens a connection outside the pool and drives it on a background task. Used for LISTEN and for
    /// the migration lock, which need a session of their own. Notifications (and notices) arrive on the
    /// returned receiver; it closes when the connection ends.
    ///
    /// # Errors
    /// [`Error::Connect`] when the connection cannot be opened.
    pub async fn dedicated(
        &self,
    ) -> Result<(
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::AsyncMessage>,
    )> {
        let (client, mut connection) = self
            .connector
            .connect()
            .await
            .map_err(|source| self.connector.error(source))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            use futures_util::StreamExt;
            while let Some(message) = messages.next().await {
                match message {
                    Ok(message) => {
                        if tx.send(message).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "dedicated connection ended");
                        break;
                    }
                }
            }
        });
        Ok((client, rx))
    }
}
