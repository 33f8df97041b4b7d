//! The connection to pgtide's database: a pool for ordinary statements, plus the settings to open
//! dedicated connections (the workers' LISTEN connection must not be a pooled one, because a pooled
//! connection is handed to other users between statements and would drop or steal notifications).

mod session;

use std::{str::FromStr, sync::Arc, time::Duration};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::{Error, Result};

/// A handle to pgtide's database. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    config: tokio_postgres::Config,
    /// Set in pooler mode: statements go out unnamed, with parameter types cached here.
    pooler: Option<Arc<session::TypeCache>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("pool", &self.pool.status())
            .field("pooler", &self.pooler.is_some())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects lazily to `url` (a `postgres://` URL or a libpq key=value string) with a pool of at
    /// most `pool_size` connections. No connection is opened until one is needed.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the URL does not parse; [`Error::PoolSetup`] when the pool cannot be
    /// built.
    pub fn connect(url: &str, pool_size: usize) -> Result<Self> {
        Self::connect_with(url, pool_size, None)
    }

    /// Like [`Database::connect`], but every connection reports `application_name`, overriding the
    /// URL's. The CLI (`pgtide-cli`) and the HTTP API (`pgtide-http`) use it, so the audit log records
    /// which surface a change came through.
    ///
    /// # Errors
    /// As [`Database::connect`].
    pub fn connect_as(url: &str, pool_size: usize, application_name: &str) -> Result<Self> {
        Self::connect_with(url, pool_size, Some(application_name))
    }

    fn connect_with(url: &str, pool_size: usize, application_name: Option<&str>) -> Result<Self> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            Error::invalid(
                "database_url",
                redact(url),
                format!("a postgres:// URL or key=value connection string ({e})"),
            )
        })?;
        if let Some(name) = application_name {
            config.application_name(name);
        } else if config.get_application_name().is_none() {
            config.application_name("pgtide");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // Detect half-open TCP connections (a vanished host, a dropped NAT entry) at the OS level too.
        config.keepalives_idle(Duration::from_secs(30));
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| match e {
                deadpool_postgres::BuildError::NoRuntimeSpecified => {
                    Error::invalid("pool", "no runtime", "a tokio runtime")
                }
            })?;
        Ok(Self {
            pool,
            config,
            pooler: None,
        })
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
    /// [`Error::Pool`] when no connection can be had within the pool's wait timeout.
    pub async fn client(&self) -> Result<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }

    /// Opens a connection outside the pool and drives it on a background task. Used for LISTEN and for
    /// the migration lock, which need a session of their own. Notifications (and notices) arrive on the
    /// returned receiver; it closes when the connection ends.
    ///
    /// # Errors
    /// [`Error::Db`] when the connection cannot be opened.
    pub async fn dedicated(
        &self,
    ) -> Result<(
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::AsyncMessage>,
    )> {
        let (client, mut connection) = self.config.connect(NoTls).await?;
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

/// Hides the password in a connection string before it is shown in an error.
pub(crate) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _password)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact("host=db user=app"), "host=db user=app");
    }
}
