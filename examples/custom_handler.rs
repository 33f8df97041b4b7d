//! Embedding pgtide as a library: implement `Handler`, register it on a worker, enqueue, run.
//!
//! ```sh
//! DATABASE_URL=postgres://localhost/app cargo run --example custom_handler
//! cargo run --example custom_handler        # without a URL: the embedded cluster in ./.pgtide/
//! ```

use std::time::Duration;

use pgtide::{
    async_trait,
    embedded::{EmbeddedOptions, EmbeddedPostgres},
    CancellationToken, Database, Handler, HandlerError, HandlerResult, Job, NewJob, Worker,
    WorkerConfig,
};
use serde_json::json;

/// Sends a welcome email (pretend). Bad input is a permanent error: no retry can fix it.
struct WelcomeEmail;

#[async_trait]
impl Handler for WelcomeEmail {
    async fn run(&self, job: &Job) -> HandlerResult {
        let to = job.payload["to"]
            .as_str()
            .ok_or_else(|| HandlerError::permanent("payload.to must be an email address"))?;
        // Pass the row's key on, so the mail service can drop a duplicate delivery.
        println!(
            "sending welcome mail to {to} (idempotency key {})",
            job.idempotency_key
        );
        Ok(Some(json!({ "delivered_to": to })))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let cluster = tokio::task::spawn_blocking(|| {
                EmbeddedPostgres::start(".pgtide".as_ref(), &EmbeddedOptions::default())
            })
            .await??;
            (cluster.url("postgres"), Some(cluster))
        }
    };
    let db = Database::connect(&url, 8)?;
    pgtide::migrate(&db).await?;

    // Enqueue in the same transaction as your own writes, so the job exists exactly when they do.
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let id = pgtide::enqueue_with(
        &*tx,
        &NewJob::new("welcome_email")
            .payload(json!({ "to": "ada@example.com" }))
            .idempotency_key("welcome:ada@example.com"),
    )
    .await?;
    tx.commit().await?;
    drop(client);

    let worker = Worker::builder(db.clone())
        .config(WorkerConfig {
            concurrency: 4,
            ..Default::default()
        })
        .handler("welcome_email", WelcomeEmail)
        .build()?;
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (worker, stop) = (worker.clone(), stop.clone());
        async move { worker.run(stop).await }
    });

    // Wait for the row to finish, reading the database, not the worker.
    let status = loop {
        let row = db
            .client()
            .await?
            .query_one(
                "select status::text from pgtide.executions where id = $1",
                &[&id],
            )
            .await?;
        let status: String = row.get(0);
        if status != "queued" && status != "running" {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("execution {id}: {status}");
    stop.cancel();
    running.await??;
    if let Some(cluster) = cluster {
        tokio::task::spawn_blocking(move || cluster.stop()).await??;
    }
    Ok(())
}
