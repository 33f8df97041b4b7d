//! Handlers for tests.

#![allow(dead_code)]

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use pgtide::{async_trait, Handler, HandlerError, HandlerResult, Job};
use tokio::sync::Semaphore;

/// Always fails (retryable), with the attempt number in the message.
pub struct AlwaysFails;

#[async_trait]
impl Handler for AlwaysFails {
    async fn run(&self, job: &Job) -> HandlerResult {
        Err(HandlerError::retry(format!(
            "failure on attempt {}",
            job.attempt
        )))
    }
}

/// Fails permanently.
pub struct Permanent;

#[async_trait]
impl Handler for Permanent {
    async fn run(&self, _job: &Job) -> HandlerResult {
        Err(HandlerError::permanent("bad request: no such customer"))
    }
}

/// Panics.
pub struct Panics;

#[async_trait]
impl Handler for Panics {
    async fn run(&self, _job: &Job) -> HandlerResult {
        panic!("boom")
    }
}

/// Sleeps for the given time, then succeeds.
pub struct Sleeps(pub Duration);

#[async_trait]
impl Handler for Sleeps {
    async fn run(&self, _job: &Job) -> HandlerResult {
        tokio::time::sleep(self.0).await;
        Ok(Some(serde_json::json!("slept")))
    }
}

/// Blocks until the test opens the gate; records starts, and whether a run was dropped (aborted)
/// before it finished.
#[derive(Clone)]
pub struct Gate {
    pub open: Arc<Semaphore>,
    pub started: Arc<AtomicUsize>,
    pub aborted: Arc<AtomicBool>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    pub fn new() -> Self {
        Self {
            open: Arc::new(Semaphore::new(0)),
            started: Arc::default(),
            aborted: Arc::default(),
        }
    }

    /// Lets `n` waiting runs finish.
    pub fn release(&self, n: usize) {
        self.open.add_permits(n);
    }
}

struct SetOnDrop(Arc<AtomicBool>, bool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Handler for Gate {
    async fn run(&self, _job: &Job) -> HandlerResult {
        self.started.fetch_add(1, Ordering::SeqCst);
        let mut guard = SetOnDrop(self.aborted.clone(), false);
        let permit = self.open.acquire().await.expect("gate closed");
        permit.forget();
        guard.1 = true;
        Ok(Some(serde_json::json!("through the gate")))
    }
}
