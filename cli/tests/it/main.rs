//! pgtide's integration tests: one test binary, one module per concern.
//!
//! Every test runs against a real Postgres. The harness in [`common`] starts a throwaway cluster
//! (or uses `PGTIDE_TEST_DATABASE_URL`) and gives each test its own database, cloned from a migrated
//! template, so tests run in parallel and never share state. Tests that need more (a TLS-only
//! server, a streaming standby, PgBouncer, Chromium) start it themselves.
//!
//! One binary rather than one per file: each file used to compile and link the harness again.
//! Run one concern with `cargo test --test it tls::`, one test by its full path.

mod common;

mod alerts;
mod batching;
mod bloat;
mod chaos_workers;
mod cli;
mod cli_admin;
mod console;
mod console_browser;
mod embedded_default;
mod enqueue;
mod exclusivity;
mod failover;
mod fencing;
mod handlers;
mod http_api;
mod key_limits;
mod lock_order;
mod maintenance;
mod migrate;
mod notify;
mod pg_restart;
mod pooler;
mod prefetch;
mod properties;
mod queue_control;
mod retry;
mod roles;
mod scheduler;
mod scheduler_multi;
mod schema;
mod shutdown;
mod sql_api;
mod sql_batches;
mod tls;
mod warm_up;
