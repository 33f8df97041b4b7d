//! Serving over HTTP: one server for the API and, when asked, the web console.
//!
//! The API ([`crate::http`]) and the console ([`crate::console`]) are two routers with states of
//! their own; this module merges them, adds the fallbacks and the body limit, checks that the address
//! is safe to listen on, and serves. Neither of the two imports the other: the mapping from an error
//! to its HTTP status, which both need, is one leaf module they share.

use std::net::SocketAddr;

use axum::{extract::DefaultBodyLimit, Router};
use tokio_util::sync::CancellationToken;

use crate::{
    console::Console,
    http::{self, ApiState},
    Error, Result,
};

/// What one server serves: the API, and the console when it has one.
pub struct App {
    api: ApiState,
    console: Option<Console>,
}

impl App {
    /// The API alone.
    pub fn new(api: ApiState) -> Self {
        Self { api, console: None }
    }

    /// Serves `console` at `/` too. Build it on its own pool, opened with `application_name =
    /// pgtide-console` so its actions are audited with the surface `console`, and with the API's
    /// token.
    pub fn with_console(mut self, console: Console) -> Self {
        self.console = Some(console);
        self
    }

    /// The routes of the API and the console, one JSON fallback for unknown routes and methods, and
    /// a body limit of [`http::MAX_BODY_BYTES`].
    pub fn router(self) -> Router {
        let mut app = http::router(self.api);
        if let Some(console) = self.console {
            app = app.merge(crate::console::router(console));
        }
        app.fallback(http::not_found)
            .method_not_allowed_fallback(http::method_not_allowed)
            .layer(DefaultBodyLimit::max(http::MAX_BODY_BYTES))
    }
}

/// Checks that serving on `addr` with `token` is safe: without a token, only a loopback address.
///
/// # Errors
/// [`Error::Invalid`] naming `PGTIDE_API_TOKEN` for a public address without one.
pub fn check_exposure(addr: SocketAddr, token: Option<&str>) -> Result<()> {
    if token.is_none_or(str::is_empty) && !addr.ip().is_loopback() {
        return Err(Error::invalid(
            "PGTIDE_API_TOKEN",
            "(unset)",
            format!(
                "a token for the API on the non-loopback address {addr} (or listen on 127.0.0.1)"
            ),
        ));
    }
    Ok(())
}

/// Serves `app` on `listener` until `shutdown`.
///
/// # Errors
/// [`Error::Invalid`] when the listener is public and there is no token; the server's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: CancellationToken,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::invalid("http", "listener", format!("a bound TCP listener ({e})")))?;
    check_exposure(addr, app.api.token())?;
    if app.api.token().is_none() {
        tracing::warn!(%addr, "HTTP API without PGTIDE_API_TOKEN: open to anyone on this host");
    }
    tracing::info!(%addr, "HTTP API listening");
    axum::serve(listener, app.router())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(|e| Error::invalid("http", addr, format!("a working HTTP server ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_needs_a_token_off_loopback() {
        assert!(check_exposure("127.0.0.1:8080".parse().unwrap(), None).is_ok());
        assert!(check_exposure("[::1]:8080".parse().unwrap(), None).is_ok());
        assert!(check_exposure("0.0.0.0:8080".parse().unwrap(), Some("s3cret")).is_ok());
        let e = check_exposure("0.0.0.0:8080".parse().unwrap(), None).unwrap_err();
        assert!(e.to_string().contains("PGTIDE_API_TOKEN"), "{e}");
        assert!(check_exposure("10.0.0.5:80".parse().unwrap(), Some("")).is_err());
    }
}
