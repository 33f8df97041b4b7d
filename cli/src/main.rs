//! The `pgtide` binary.

mod commands;
mod error;
mod settings;

pub(crate) use error::{Error, Result};

use clap::{error::ErrorKind, Parser};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // One crypto provider for every TLS connection of the process: Postgres (rustls through
    // tokio-postgres-rustls) and the http handler and webhooks (reqwest).
    let _ = rustls::crypto::CryptoProvider::install_default(pgtide::db::tls::crypto_provider());
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(cli.default_log_level()));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        commands::LogFormat::Json => logs.json().flatten_event(true).init(),
        // Colour codes only for a person at a terminal, never in a file or a log collector.
        commands::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout as clap renders them; a usage error becomes one line on stderr
/// (clap's own rendering spreads it over several, with the usage and a hint).
fn usage_error(e: clap::Error) -> std::process::ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.use_stderr() {
            std::process::ExitCode::from(2)
        } else {
            std::process::ExitCode::SUCCESS
        };
    }
    let text = e.render().to_string();
    let message = text
        .split("\n\nUsage:")
        .next()
        .unwrap_or_default()
        .split("\n\nFor more information")
        .next()
        .unwrap_or_default();
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("{line} (see --help)");
    std::process::ExitCode::from(2)
}
