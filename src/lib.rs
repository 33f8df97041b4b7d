//! pgtide: a job queue and task scheduler whose only dependency is PostgreSQL.
//!
//! The `pgtide` binary runs workers, schedulers and the maintenance leader from a connection string
//! and a `pgtide.toml`. This crate is the same engine as a library, for Rust programs that want to run
//! a worker with handlers of their own, or enqueue jobs inside their own transactions. Everything it
//! stores lives in the `pgtide` schema, which is a public interface: psql users, the CLI and other
//! programs read and steer the same rows.
//!
//! # A worker with your own handler
//!
//! ```no_run
//! use pgtide::{async_trait, CancellationToken, Database, Handler, HandlerError, HandlerResult, Job, NewJob, Worker};
//! use serde_json::json;
//!
//! struct WelcomeEmail;
//!
//! #[async_trait]
//! impl Handler for WelcomeEmail {
//!     async fn run(&self, job: &Job) -> HandlerResult {
//!         let to = job.payload["to"]
//!             .as_str()
//!             .ok_or_else(|| HandlerError::permanent("payload.to is missing"))?;
//!         // ... send it, passing job.idempotency_key on, so a repeated delivery can be dropped ...
//!         Ok(Some(json!({ "delivered_to": to })))
//!     }
//! }
//!
//! # async fn example() -> pgtide::Result<()> {
//! let db = Database::connect("postgres://app@db/app?sslmode=verify-full", 20)?;
//! pgtide::migrate(&db).await?;
//! pgtide::enqueue(&db, &NewJob::new("welcome_email").payload(json!({"to": "ada@example.com"}))).await?;
//!
//! let worker = Worker::builder(db.clone()).handler("welcome_email", WelcomeEmail).build()?;
//! let shutdown = CancellationToken::new(); // cancel it on SIGTERM: held jobs finish within the grace
//! worker.run(shutdown).await?;
//! # Ok(()) }
//! ```
//!
//! A handler's error is a retryable failure unless it is [`HandlerError::permanent`]; the retry is a
//! new row with the execution's own policy (see [`RetryStrategy`]), and the last failure makes the row
//! `dead`, the dead-letter queue.
//!
//! # Enqueue inside your own transaction
//!
//! [`enqueue_with`] takes any client or transaction, so a job exists only if your own writes commit;
//! [`enqueue_many`] inserts a whole batch in one statement. A job's idempotency key makes a second
//! enqueue of the same key return the existing row.
//!
//! ```no_run
//! # async fn example(db: pgtide::Database) -> pgtide::Result<()> {
//! use pgtide::NewJob;
//! use serde_json::json;
//!
//! let mut client = db.client().await?;
//! let tx = client.transaction().await?;
//! tx.execute("insert into orders (id) values (42)", &[]).await?;
//! // `&*tx`: tokio-postgres's own transaction, inside the pool's wrapper.
//! let job = NewJob::new("ship").payload(json!({"order": 42})).idempotency_key("order-42");
//! pgtide::enqueue_with(&*tx, &job).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```
//!
//! # Connecting
//!
//! [`Database::connect`] takes the connection strings psql takes, with libpq's meaning of `sslmode`,
//! `sslrootcert`, `sslcert`, `sslkey`, several hosts and `target_session_attrs`; [`DatabaseBuilder`]
//! also takes a rustls configuration of your own.
//!
//! # Modules
//!
//! The worker ([`worker`]) claims, runs and completes jobs; the [`scheduler`] fires tasks; the
//! [`maintenance`] leader promotes, rescues and prunes; [`admin`] is the admin API the CLI, HTTP and the
//! console share; `http` and `console` serve them. The repository's `docs/architecture.md` follows
//! a job through them.
//!
//! # Features
//!
//! - `server`: the `http` module (the HTTP API with its OpenAPI document, `/metrics` and the probes)
//!   and the `console` module (the web console), with axum and maud.
//! - `embedded`: the `embedded` module, a private Postgres cluster started from the server binaries
//!   on the machine (the command line's default when no connection string is given).
//!
//! Neither is on by default, so a program that only enqueues or runs workers compiles neither.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin;
pub mod alerts;
pub mod config;
#[cfg(feature = "server")]
pub mod console;
pub mod db;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod enqueue;
pub mod error;
pub mod handlers;
#[cfg(feature = "server")]
pub mod http;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod notify;
pub mod scheduler;
#[cfg(feature = "server")]
pub mod web;
pub mod worker;

#[cfg(feature = "server")]
mod answer;
mod backoff;
mod interpolate;
mod leader;
mod sql;

pub use async_trait::async_trait;
pub use db::{Database, DatabaseBuilder};
pub use enqueue::{enqueue, enqueue_many, enqueue_many_with, enqueue_with, NewJob};
pub use error::{Error, Result};
pub use handlers::{Handler, HandlerError, HandlerResult, Job, SqlHandler};
pub use migrate::migrate;
pub use model::{ExecutionStatus, RetryStrategy, TaskStatus};
/// The rustls version [`DatabaseBuilder::tls_config`] takes.
pub use rustls;
pub use tokio_util::sync::CancellationToken;
pub use worker::{Worker, WorkerBuilder, WorkerConfig};
