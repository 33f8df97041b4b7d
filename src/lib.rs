#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod alerts;
pub mod config;
pub mod console;
pub mod db;
pub mod embedded;
pub mod enqueue;
pub mod error;
pub mod handlers;
pub mod http;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod notify;
pub mod scheduler;
pub mod worker;

mod backoff;
mod sql;

pub use async_trait::async_trait;
pub use db::{Database, DatabaseBuilder};
pub use enqueue::{enqueue, enqueue_many, enqueue_many_with, enqueue_with, NewJob};
pub use error::{Error, Result};
pub use handlers::{Handler, HandlerError, HandlerResult, Job, SqlHandler};
pub use migrate::migrate;
pub use model::{ExecutionStatus, RetryStrategy};
/// The rustls version [`DatabaseBuilder::tls_config`] takes.
pub use rustls;
pub use tokio_util::sync::CancellationToken;
pub use worker::{Worker, WorkerBuilder, WorkerConfig};
