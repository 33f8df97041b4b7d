//! Opening one connection: every host of the string in turn, each with the TLS its `sslmode` asks
//! for.
//!
//! tokio-postgres walks a multi-host string itself, but it would use one TLS mode for every host,
//! none for `allow`, TLS even on a Unix socket, and report only the last host's error. pgtide
//! therefore tries the hosts one by one with single-host configurations, as libpq does:
//! - a Unix-socket host is always plain (libpq never uses TLS there);
//! - `allow` tries plain text first and TLS only when the server refused it;
//! - `target_session_attrs=read-write` skips servers that do not accept writes (a standby), which is
//!   what carries a process across a failover: the pool's next connection finds the promoted one.
//!
//! When no host can be used, the error names each host and why, in these terms: the server's own
//! message, the certificate chain, the host name, or the network.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
};

use tokio_postgres::{
    config::{Host, LoadBalanceHosts, SslMode as WireMode, TargetSessionAttrs},
    Client, Config, Socket,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{SslMode, TlsSettings};

/// A connection as pgtide opens them: plain or TLS on one socket type.
pub(crate) type Connection = tokio_postgres::Connection<
    Socket,
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<Socket>>::Stream,
>;

/// Opens connections to one database.
pub(crate) struct Connector {
    /// Every setting but TLS, with all the hosts.
    pub(crate) config: Config,
    pub(crate) tls: TlsSettings,
    /// Why the last failed attempt failed, host by host (for the pool's error, which can only carry
    /// a tokio-postgres error).
    last_failure: Mutex<Option<Failure>>,
    /// Set while connecting fails; the first connection after that wakes [`Connector::online`].
    failing: std::sync::atomic::AtomicBool,
    /// Woken when a connection succeeds after failures: the database is back.
    pub(crate) online: tokio::sync::Notify,
}

/// Why no host could be used.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// Host by host, why.
    pub(crate) reason: String,
    /// Whether trying again later may work: some host was down, starting, full, or not writable
    /// (rather than refusing these credentials or certificates).
    pub(crate) retryable: bool,
}

/// One server to try.
#[derive(Debug, Clone)]
struct Target {
    host: Host,
    hostaddr: Option<IpAddr>,
    port: u16,
}

impl Target {
    fn name(&self) -> String {
        match &self.host {
            Host::Tcp(host) if host.contains(':') => format!("[{host}]:{}", self.port),
            Host::Tcp(host) => format!("{host}:{}", self.port),
            Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), self.port),
        }
    }

    /// `base` narrowed to this one server, with `mode` on the wire.
    fn config(&self, base: &Config, mode: WireMode) -> Config {
        let mut config = Config::new();
        match &self.host {
            Host::Tcp(host) => config.host(host),
            Host::Unix(dir) => config.host_path(dir),
        };
        if let Some(addr) = self.hostaddr {
            config.hostaddr(addr);
        }
        config.port(self.port);
        if let Some(user) = base.get_user() {
            config.user(user);
        }
        if let Some(password) = base.get_password() {
            config.password(password);
        }
        if let Some(dbname) = base.get_dbname() {
            config.dbname(dbname);
        }
        if let Some(options) = base.get_options() {
            config.options(options);
        }
        if let Some(name) = base.get_application_name() {
            config.application_name(name);
        }
        config.ssl_mode(mode);
        config.ssl_negotiation(base.get_ssl_negotiation());
        if let Some(timeout) = base.get_connect_timeout() {
            config.connect_timeout(*timeout);
        }
        if let Some(timeout) = base.get_tcp_user_timeout() {
            config.tcp_user_timeout(*timeout);
        }
        config.keepalives(base.get_keepalives());
        config.keepalives_idle(base.get_keepalives_idle());
        if let Some(interval) = base.get_keepalives_interval() {
            config.keepalives_interval(interval);
        }
        if let Some(retries) = base.get_keepalives_retries() {
            config.keepalives_retries(retries);
        }
        config.target_session_attrs(base.get_target_session_attrs());
        config.channel_binding(base.get_channel_binding());
        config
    }
}

/// The attempts one server gets, in order.
fn attempts(mode: SslMode, host: &Host) -> &'static [WireMode] {
    if matches!(host, Host::Unix(_)) {
        return &[WireMode::Disable];
    }
    match mode {
        SslMode::Disable => &[WireMode::Disable],
        SslMode::Allow => &[WireMode::Disable, WireMode::Require],
        SslMode::Prefer => &[WireMode::Prefer],
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => &[WireMode::Require],
    }
}

impl Connector {
    /// Checks that the hosts, addresses and ports of `config` line up, as tokio-postgres would at
    /// connect time, so a wrong string fails at start.
    pub(crate) fn new(config: Config, tls: TlsSettings) -> Result<Self, String> {
        let hosts = config.get_hosts().len();
        let addrs = config.get_hostaddrs().len();
        if hosts == 0 && addrs == 0 {
            return Err("a host (host=, hostaddr= or a host in the URL)".into());
        }
        if hosts > 0 && addrs > 0 && hosts != addrs {
            return Err(format!(
                "as many hostaddr values as hosts ({hosts} hosts, {addrs} hostaddr values)"
            ));
        }
        let ports = config.get_ports().len();
        if ports > 1 && ports != hosts.max(addrs) {
            return Err(format!(
                "one port for all hosts or one per host ({} hosts, {ports} ports)",
                hosts.max(addrs)
            ));
        }
        Ok(Self {
            config,
            tls,
            last_failure: Mutex::new(None),
            failing: std::sync::atomic::AtomicBool::new(false),
            online: tokio::sync::Notify::new(),
        })
    }

    fn targets(&self) -> Vec<Target> {
        let hosts = self.config.get_hosts();
        let addrs = self.config.get_hostaddrs();
        let ports = self.config.get_ports();
        let mut targets: Vec<Target> = (0..hosts.len().max(addrs.len()))
            .map(|i| Target {
                // Only an address: it is also the name the certificate is checked against.
                host: hosts
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| Host::Tcp(addrs[i].to_string())),
                hostaddr: addrs.get(i).copied(),
                port: ports.get(i).or(ports.first()).copied().unwrap_or(5432),
            })
            .collect();
        if self.config.get_load_balance_hosts() == LoadBalanceHosts::Random {
            use rand::seq::SliceRandom;
            targets.shuffle(&mut rand::rng());
        }
        targets
    }

    /// Opens a connection to the first host that takes it.
    ///
    /// # Errors
    /// The last host's error; [`Connector::last_failure`] has every host's.
    pub(crate) async fn connect(&self) -> Result<(Client, Connection), tokio_postgres::Error> {
        let mut failures = Vec::new();
        let mut retryable = false;
        let mut last = None;
        for target in self.targets() {
            for &mode in attempts(self.tls.mode, &target.host) {
                let config = target.config(&self.config, mode);
                let label = match mode {
                    WireMode::Disable => "plain",
                    WireMode::Prefer => "TLS if offered",
                    _ => "TLS",
                };
                // libpq's connect_timeout bounds the whole attempt on one host; tokio-postgres's
                // bounds only the TCP connect, so a server that accepts and then never answers
                // would hold the connection (and a failover) forever.
                let attempt = config.connect(self.tls.connector.clone());
                let outcome = match tokio::time::timeout(self.attempt_timeout(), attempt).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        retryable = true;
                        failures.push(format!(
                            "{} ({label}): no answer within {}",
                            target.name(),
                            humantime::format_duration(self.attempt_timeout())
                        ));
                        break;
                    }
                };
                match outcome {
                    Ok(connected) => {
                        if self
                            .failing
                            .swap(false, std::sync::atomic::Ordering::AcqRel)
                        {
                            tracing::info!(host = %target.name(), "connected again");
                            self.online.notify_waiters();
                        }
                        return Ok(connected);
                    }
                    Err(e) => {
                        let refused_by_server = e.as_db_error().is_some();
                        retryable |= self.is_transient(&e);
                        failures.push(format!("{} ({label}): {}", target.name(), self.explain(&e)));
                        last = Some(e);
                        // `allow` goes on to TLS only when the server refused plain text.
                        if !(mode == WireMode::Disable && refused_by_server) {
                            break;
                        }
                    }
                }
            }
        }
        let summary = if failures.len() == 1 {
            failures.remove(0)
        } else {
            format!("no host could be used: {}", failures.join("; "))
        };
        self.failing
            .store(true, std::sync::atomic::Ordering::Release);
        *self.last_failure.lock().expect("last_failure lock") = Some(Failure {
            reason: summary,
            retryable,
        });
        match last {
            Some(e) => Err(e),
            None => Err(timeout_error().await),
        }
    }

    /// How long one attempt on one host may take: the string's `connect_timeout` (default 10 s).
    fn attempt_timeout(&self) -> std::time::Duration {
        self.config
            .get_connect_timeout()
            .copied()
            .unwrap_or(std::time::Duration::from_secs(10))
    }

    /// Every host's reason from the last failed [`Connector::connect`].
    pub(crate) fn last_failure(&self) -> Option<Failure> {
        self.last_failure.lock().expect("last_failure lock").clone()
    }

    /// The error for a failed connect: every host's reason when this connector recorded them.
    pub(crate) fn error(&self, source: tokio_postgres::Error) -> crate::Error {
        let failure = self.last_failure().unwrap_or_else(|| Failure {
            reason: self.explain(&source),
            retryable: self.is_transient(&source),
        });
        crate::Error::Connect {
            reason: failure.reason,
            retryable: failure.retryable,
            source: Some(source),
        }
    }

    /// Whether `e` may go away by itself: a server that is down, starting, shutting down, full or
    /// read-only, or a network error. Refused credentials, a refused certificate, a missing
    /// database and a server without TLS where TLS is required are not.
    fn is_transient(&self, e: &tokio_postgres::Error) -> bool {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            // PgBouncer reports a refused login as a protocol violation (08P01).
            if db.message().contains("authentication failed") {
                return false;
            }
            return code.starts_with("57") // shutting down, starting up
                || code.starts_with("53") // too many connections, out of memory
                || code.starts_with("08") // connection exception
                || code == "25006"; // read-only
        }
        if self.tls.explain(e).is_some() {
            return false;
        }
        !crate::error::describe(e).contains("server does not support TLS")
    }

    /// Why one attempt failed, in the user's terms.
    pub(crate) fn explain(&self, e: &tokio_postgres::Error) -> String {
        if e.as_db_error().is_some() {
            return crate::error::describe(e);
        }
        if let Some(tls) = self.tls.explain(e) {
            return tls;
        }
        let text = crate::error::describe(e);
        if text.contains("database does not allow writes") {
            return format!(
                "the server does not accept writes (a standby, or read-only), and \
                 target_session_attrs={} asks for one that does",
                match self.config.get_target_session_attrs() {
                    TargetSessionAttrs::ReadWrite => "read-write",
                    _ => "read-only",
                }
            );
        }
        if text.contains("server does not support TLS") {
            return format!(
                "the server does not accept TLS connections, and sslmode={} requires TLS",
                self.tls.mode.as_str()
            );
        }
        text
    }
}

/// An error for a connect whose every attempt timed out. tokio-postgres errors can only be made by
/// tokio-postgres, and the pool's interface carries one, so this is the configuration error of an
/// empty configuration; the reason the user sees is [`Connector::last_failure`]'s.
async fn timeout_error() -> tokio_postgres::Error {
    match Config::new().connect(tokio_postgres::NoTls).await {
        Err(e) => e,
        Ok(_) => unreachable!("a configuration without a host cannot connect"),
    }
}

/// The pool's side of a [`Connector`] shared with the dedicated connections.
pub(crate) struct PoolConnector(pub(crate) Arc<Connector>);

impl deadpool_postgres::Connect for PoolConnector {
    fn connect(
        &self,
        _config: &Config,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        Box::pin(async move {
            let (client, connection) = self.0.connect().await?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "pooled connection ended");
                }
            });
            Ok((client, task))
        })
    }
}
