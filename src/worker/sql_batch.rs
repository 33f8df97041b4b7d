//! SQL handlers, several jobs to a transaction.
//!
//! A sql handler's statement commits together with its job's success, so its effect happens exactly
//! once. With one job to a transaction, that guarantee costs a synchronous commit (a WAL flush) and
//! five round trips per job, which for a short statement is most of its time: the queue would drain
//! at the commit rate, not at the rate of the work. So short statements share transactions, one
//! batch of up to `sql_batch` jobs at a time, in one round trip when all goes well: `BEGIN`, every
//! statement, the fenced success update of the batch's jobs and `COMMIT`, sent at once, in that
//! order ([`Pipeline`]). A statement that fails aborts the transaction, and the update fails unless
//! it marked every row; either way the `COMMIT` behind them rolls back instead: no effect ever
//! commits without its job's success.
//!
//! The rare turns of events each make the next try of the same batch more careful:
//! - A row that the update did not find (rescued, cancelled or claimed again while the statements
//!   ran): the batch runs again with its rows locked first (`worker/lock_running.sql`, sent between
//!   `BEGIN` and the statements, so it runs before them on the server). A row missing from that lock
//!   rolls the transaction back once more, and the batch runs without that job, whose outcome is
//!   refused like any fenced completion.
//! - A statement that fails: statements run without savepoints at first, because savepoints cost
//!   server work per statement. After a failure the batch runs again with each statement under its
//!   own savepoint, in transactions of at most [`MAX_SAVEPOINTS`] jobs (a bigger batch is split, and
//!   each part tries without savepoints first). A statement that fails then is rolled back to its
//!   savepoint, which undoes its own effect and no other's; its job fails, and the statements after
//!   it are sent again. The success update and `COMMIT` then go in a round trip of their own. The
//!   failed jobs are recorded by the completer like any failed attempt, once the commit has released
//!   their rows.
//!
//! A crash or a lost connection before the commit rolls everything back: no effect, and the rows stay
//! running until the rescuer retries them after their lease. So every succeeded job has exactly one
//! effect, and a failed or fenced attempt none.
//!
//! Who shares, and the worker's slots: a job whose handler's recent statements took [`ALONE_FROM`]
//! or more (or whose handler has not run on this worker yet) runs alone, in a transaction of its own,
//! in its own task and slot: it would hold back every other job of its batch, and a shared commit
//! saves it little. A short one takes a place in the waiting list and gives its slot back: waiting for
//! a batch is not running, and the free slot lets the worker claim the next batch's jobs while this
//! one runs. Two runner tasks take the list a batch at a time, each batch in a transaction of its own
//! on its own connection, so one batch's statements run while the other's commit is flushed. There
//! are `2 × sql_batch` places, so a worker holds at most that many waiting jobs and two running
//! batches beyond its slots; their leases are extended by the heartbeat like any held row. (A second
//! runner used to split the batches and was slower; now that the worker claims short jobs ahead,
//! both find full batches: the ledger drain went from about 11,000 to about 18,000 jobs/s.)
//!
//! Bigger batches drain faster, up to a point: each batch pays fixed costs (its commit, its success
//! update, a claim of the rows), which a batch of 256 spreads over eight times more jobs than one of
//! 32. The default is 256 (see docs/decisions.md for the figures).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::Type;

use super::{completer::Outcome, Inner};
use crate::{
    handlers::{Job, SqlHandler},
    sql, Error,
};

/// Statements that take this long or longer (on recent average) run alone.
pub(crate) const ALONE_FROM: Duration = Duration::from_millis(5);
/// Batches in flight at once, each in a transaction of its own on its own connection (three were
/// no faster than two on two cores).
const RUNNERS: usize = 2;
/// Most jobs in one batch.
pub const MAX_SQL_BATCH: usize = 1024;
/// Most statements under savepoints in one transaction: Postgres keeps the ids of at most 64
/// subtransactions that wrote per session in shared memory, and beyond that every other session's
/// snapshots get slower (subtransaction overflow).
const MAX_SAVEPOINTS: usize = 64;

/// One job's statement, waiting for its batch.
struct Queued {
    id: i64,
    attempt: i32,
    handler: String,
    payload: Value,
    sql: Arc<SqlHandler>,
    timeout: Duration,
    reply: oneshot::Sender<Outcome>,
    /// Its place in the waiting list, given back when a runner takes it into a batch.
    place: Option<OwnedSemaphorePermit>,
}

/// The worker's waiting statements and what it knows of each handler's speed.
pub(super) struct SqlBatches {
    waiting: Mutex<Waiting>,
    /// Places in the waiting list: `sql_batch` per runner, so that the next batches can fill up while
    /// others run, and a worker never holds more than that many jobs beyond its slots and the running
    /// batches.
    places: Arc<Semaphore>,
    /// Moving average of each handler's statement time, in microseconds.
    run_micros: Mutex<HashMap<String, u64>>,
}

#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Queued>,
    /// Runner tasks taking batches off the list (at most [`RUNNERS`]).
    runners: usize,
}

impl SqlBatches {
    pub(super) fn new(sql_batch: usize) -> Self {
        Self {
            waiting: Mutex::default(),
            places: Arc::new(Semaphore::new(sql_batch * RUNNERS)),
            run_micros: Mutex::default(),
        }
    }

    fn runs_alone(&self, handler: &str) -> bool {
        let micros = self.run_micros.lock().expect("run_micros lock");
        micros
            .get(handler)
            .is_none_or(|&m| m >= ALONE_FROM.as_micros() as u64)
    }

    /// The moving average of `handler`'s statement time, once one has run.
    pub(super) fn statement_time(&self, handler: &str) -> Option<Duration> {
        let micros = self.run_micros.lock().expect("run_micros lock");
        micros.get(handler).map(|&m| Duration::from_micros(m))
    }

    /// Records one statement's time in its handler's moving average (weight 1/4).
    fn record(&self, handler: &str, elapsed: Duration) {
        let sample = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut micros = self.run_micros.lock().expect("run_micros lock");
        match micros.get_mut(handler) {
            Some(average) => *average = *average - *average / 4 + sample / 4,
            None => {
                micros.insert(handler.to_string(), sample);
            }
        }
    }
}

/// Runs `job`'s statement in a batch (or alone) and returns its outcome: `Recorded` once its effect
/// and its success have committed, `Fenced` when the row was no longer this attempt's, `Failed` when
/// the statement (or its transaction) failed and nothing of it committed.
///
/// A statement that shares gives its worker `slot` back as soon as it has a place in the waiting
/// list: waiting for a batch is not running, and the slot lets the worker claim the jobs of the next
/// batch meanwhile. The places bound what the worker holds that way.
pub(super) async fn run(
    inner: &Arc<Inner>,
    job: &Job,
    handler: Arc<SqlHandler>,
    timeout: Duration,
    slot: &mut Option<super::execute::Slot>,
) -> Outcome {
    let (reply, outcome) = oneshot::channel();
    let mut queued = Queued {
        id: job.id,
        attempt: job.attempt,
        handler: job.handler.clone(),
        payload: job.payload.clone(),
        sql: handler,
        timeout,
        reply,
        place: None,
    };
    let batches = &inner.sql_batches;
    if inner.config.sql_batch == 1 || batches.runs_alone(&job.handler) {
        run_batch(inner, vec![queued]).await;
    } else {
        let place = batches
            .places
            .clone()
            .acquire_owned()
            .await
            .expect("the places semaphore is never closed");
        queued.place = Some(place);
        drop(slot.take());
        let start_runner = {
            let mut waiting = batches.waiting.lock().expect("sql batch lock");
            waiting.jobs.push_back(queued);
            let start = waiting.runners < RUNNERS;
            if start {
                waiting.runners += 1;
            }
            start
        };
        if start_runner {
            // A task of its own, not this job's: the heartbeat may abort a job's task, and that must
            // not end a transaction that holds other jobs' statements.
            tokio::spawn(runner(inner.clone()));
        }
    }
    outcome.await.unwrap_or_else(|_| Outcome::Failed {
        error: "sql handler failed: its batch ended without an outcome".into(),
        permanent: false,
    })
}

/// Takes batches off the waiting list until it is empty.
async fn runner(inner: Arc<Inner>) {
    loop {
        let batch: Vec<Queued> = {
            let mut waiting = inner.sql_batches.waiting.lock().expect("sql batch lock");
            let n = waiting.jobs.len().min(inner.config.sql_batch);
            if n == 0 {
                // Under the lock that every submitter takes: a job pushed after this sees the
                // runner gone and starts one.
                waiting.runners -= 1;
                return;
            }
            let mut batch: Vec<Queued> = waiting.jobs.drain(..n).collect();
            for queued in &mut batch {
                queued.place = None;
            }
            batch
        };
        run_batch(&inner, batch).await;
    }
}

/// Runs one batch and answers each of its jobs.
async fn run_batch(inner: &Inner, batch: Vec<Queued>) {
    let outcomes = transactions(inner, &batch).await;
    for (queued, outcome) in batch.into_iter().zip(outcomes) {
        let _ = queued.reply.send(outcome);
    }
}

/// The batch's outcome per job, in order.
///
/// The batch goes the cheapest way first, in one transaction; each rare turn of events makes the
/// next try more careful, once. So this ends: `Raced` comes at most once per part, `Fenced` shrinks
/// a part, and `Failing` either splits a part into parts of at most [`MAX_SAVEPOINTS`] jobs or
/// turns savepoints on for it.
async fn transactions(inner: &Inner, batch: &[Queued]) -> Vec<Outcome> {
    let mut outcomes: HashMap<i64, Outcome> = HashMap::new();
    let mut parts: Vec<Vec<&Queued>> = vec![batch.iter().collect()];
    'parts: while let Some(mut todo) = parts.pop() {
        let mut how = Try {
            savepoints: false,
            lock_first: false,
        };
        while !todo.is_empty() {
            let attempt = match attempt(inner, &todo, how).await {
                Ok(attempt) => attempt,
                Err(e) => {
                    // Nothing of this part committed (or, after a lost COMMIT, the completer's
                    // fence finds the rows succeeded and refuses these failures).
                    let error = describe(&e);
                    for queued in &todo {
                        outcomes.insert(
                            queued.id,
                            Outcome::Failed {
                                error: error.clone(),
                                permanent: false,
                            },
                        );
                    }
                    continue 'parts;
                }
            };
            match attempt {
                Attempt::Committed(mut failed) => {
                    for queued in &todo {
                        let outcome = match failed.remove(&queued.id) {
                            Some(error) => Outcome::Failed {
                                error,
                                permanent: false,
                            },
                            None => Outcome::Recorded,
                        };
                        outcomes.insert(queued.id, outcome);
                    }
                    continue 'parts;
                }
                Attempt::Fenced(missing) => todo.retain(|queued| {
                    let gone = missing.contains(&queued.id);
                    if gone {
                        outcomes.insert(queued.id, Outcome::Fenced);
                    }
                    !gone
                }),
                // Savepoints are for parts of at most `MAX_SAVEPOINTS` jobs. Each part tries the
                // cheap way again: only the one with the failing statement needs savepoints.
                Attempt::Failing if todo.len() > MAX_SAVEPOINTS => {
                    parts.extend(todo.chunks(MAX_SAVEPOINTS).map(<[_]>::to_vec));
                    continue 'parts;
                }
                Attempt::Failing => how.savepoints = true,
                Attempt::Raced => how.lock_first = true,
            }
        }
    }
    batch
        .iter()
        .map(|queued| {
            outcomes
                .remove(&queued.id)
                .expect("every job of the batch has an outcome")
        })
        .collect()
}

/// How carefully a transaction of a batch goes about it.
#[derive(Clone, Copy)]
struct Try {
    /// Each statement under its own savepoint, so that one can fail alone. Savepoints cost server
    /// work per statement, and statements rarely fail: only a batch in which one failed needs them.
    savepoints: bool,
    /// Lock the rows before the statements run, to learn which ones are no longer this worker's.
    /// Without it the rows are locked (and fenced) by the success update at the end: cheaper, and a
    /// cancel or a rescue is not kept waiting while a statement runs.
    lock_first: bool,
}

/// How one transaction of a batch ended.
enum Attempt {
    /// Committed (or, for a batch of one failed job, rolled back): every job's effect and success,
    /// except those of the failed jobs (by id).
    Committed(HashMap<i64, String>),
    /// Rolled back, because these rows were no longer this attempt's on this worker.
    Fenced(HashSet<i64>),
    /// Rolled back, because a statement failed where there were no savepoints.
    Failing,
    /// Rolled back, because the success update did not find every row still this worker's.
    Raced,
}

/// One transaction for `jobs`. Without savepoints it takes one round trip: `BEGIN`, every
/// statement, the success update of every job and `COMMIT` go out at once. A statement that fails
/// aborts the transaction, the update behind it is refused, and the `COMMIT` rolls back; an update
/// that misses a row fails, and the `COMMIT` rolls back too. So no effect commits without its
/// job's success, and nothing needs deciding between the statements and the end.
///
/// With savepoints, a failed statement is rolled back to its savepoint and the rest sent again,
/// and the update (of the jobs that did not fail) and `COMMIT` follow in a round trip of their own.
///
/// With `lock_first`, the lock of the rows goes out between `BEGIN` and the statements. It runs
/// first on the server, so no statement runs on a row it did not lock; its answer is read afterwards,
/// and a row missing from it rolls the transaction back for the caller to try without that job.
async fn attempt(inner: &Inner, jobs: &[&Queued], how: Try) -> Result<Attempt, Error> {
    let db = &inner.db;
    let checkout = Checkout(Some(db.client().await?));
    let client = checkout.client();
    // Prepared before anything is sent at once (see `Database::prepare_declared`).
    for statement in [
        sql::LOCK_RUNNING,
        sql::SET_STATEMENT_TIMEOUT,
        sql::COMPLETE_SUCCEEDED,
    ] {
        db.prepare_declared(client, statement, &[]).await?;
    }
    for queued in jobs {
        db.prepare_declared(client, &queued.sql.statement, &[Type::JSONB])
            .await?;
    }
    let ids: Vec<i64> = jobs.iter().map(|q| q.id).collect();
    let attempts: Vec<i32> = jobs.iter().map(|q| q.attempt).collect();
    let worker: &str = &inner.id;
    let finishes = !how.savepoints;
    if finishes {
        // From here these rows may leave `running` in this transaction: a heartbeat that finds
        // them gone must not take that for a lost lease.
        for &id in &ids {
            inner.mark_completing(id);
        }
    }
    let mut pipeline = Pipeline::default();
    pipeline.push(0, Request::Begin, async {
        client.batch_execute(sql::TX_BEGIN).await?;
        Ok(Vec::new())
    });
    if how.lock_first {
        pipeline.push(0, Request::Lock, async {
            db.query(client, sql::LOCK_RUNNING, &[&ids, &attempts, &worker])
                .await
        });
    }
    let savepoints = match how.savepoints {
        true => Savepoints::First,
        false => Savepoints::None,
    };
    push_statements(&mut pipeline, inner, client, jobs, savepoints);
    if finishes {
        push_finish(&mut pipeline, inner, client, &ids, &attempts);
    }
    let mut answers = Answers::read(inner, jobs, pipeline.send().await?)?;
    if let Some(locked) = answers.locked.take() {
        let locked: HashSet<i64> = locked.iter().map(|row| row.get(0)).collect();
        if locked.len() < jobs.len() {
            if !finishes {
                client.batch_execute(sql::TX_ROLLBACK).await?;
            }
            checkout.release();
            return Ok(Attempt::Fenced(
                ids.into_iter().filter(|id| !locked.contains(id)).collect(),
            ));
        }
    }
    if finishes {
        // The COMMIT ended the transaction either way; what came before says which way.
        answers.committed.take().expect("sent")?;
        checkout.release();
        if let Some((_, e)) = answers.failed {
            // Alone, the failed statement was all there was to roll back.
            return Ok(match jobs {
                [only] => Attempt::Committed(HashMap::from([(only.id, describe(&e))])),
                _ => Attempt::Failing,
            });
        }
        return answers.ended(how, HashMap::new());
    }
    let mut failed = HashMap::new();
    let mut rest = jobs;
    while let Some((n, e)) = answers.failed.take() {
        // The statement at `n` failed, and every later one was refused for it: undo its effect
        // alone, fail its job, and send the rest again.
        client.batch_execute(sql::SAVEPOINT_ROLLBACK).await?;
        failed.insert(rest[n].id, describe(&e));
        rest = &rest[n + 1..];
        if rest.is_empty() {
            break;
        }
        let mut pipeline = Pipeline::default();
        push_statements(&mut pipeline, inner, client, rest, Savepoints::Next);
        answers = Answers::read(inner, rest, pipeline.send().await?)?;
    }
    let (ok_ids, ok_attempts): (Vec<i64>, Vec<i32>) = jobs
        .iter()
        .filter(|q| !failed.contains_key(&q.id))
        .map(|q| (q.id, q.attempt))
        .unzip();
    for &id in &ok_ids {
        inner.mark_completing(id);
    }
    let mut pipeline = Pipeline::default();
    push_finish(&mut pipeline, inner, client, &ok_ids, &ok_attempts);
    let mut answers = Answers::read(inner, &[], pipeline.send().await?)?;
    answers.committed.take().expect("sent")?;
    checkout.release();
    answers.ended(how, failed)
}

/// Adds the fenced success update of the jobs `ids` (at `attempts`) and `COMMIT` behind it. The
/// update fails unless it marks every row, and then the `COMMIT` rolls back: no effect without its
/// success.
fn push_finish<'a>(
    pipeline: &mut Pipeline<'a>,
    inner: &'a Inner,
    client: &'a deadpool_postgres::Client,
    ids: &'a [i64],
    attempts: &'a [i32],
) {
    let db = &inner.db;
    let worker: &str = &inner.id;
    pipeline.push(0, Request::Complete, async move {
        db.query(client, sql::COMPLETE_SUCCEEDED, &[&ids, &attempts, &worker])
            .await
    });
    pipeline.push(0, Request::Commit, async {
        client.batch_execute(sql::TX_COMMIT).await?;
        Ok(Vec::new())
    });
}

/// A pooled connection that goes back to the pool only once its transaction has ended. Dropped in
/// the middle of one (an error, or the task aborted), it is closed instead, and the server rolls the
/// transaction back: a connection inside a transaction never reaches another user of the pool.
struct Checkout(Option<deadpool_postgres::Client>);

impl Checkout {
    fn client(&self) -> &deadpool_postgres::Client {
        self.0.as_ref().expect("held until released or dropped")
    }

    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// Whether each statement runs under a savepoint, and whether the first one opens the first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Savepoints {
    None,
    First,
    Next,
}

/// What one request of a pipeline is, to tell whose answer (or error) it was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Request {
    Begin,
    Lock,
    Timeout,
    Savepoint,
    Statement,
    Complete,
    Commit,
}

type Answer = Result<Vec<tokio_postgres::Row>, Error>;
type Pending<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Answer, Instant)> + Send + 'a>>;

/// Requests for one connection, sent at once: one round trip for them all. tokio-postgres writes a
/// request out on the first poll of its future, and the server answers in the order it received
/// them, so [`Pipeline::send`] polls each one first in the order pushed. The order is what keeps a
/// statement inside its transaction: one that overtook `BEGIN` or fell behind `COMMIT` would run
/// (and commit) on its own.
#[derive(Default)]
struct Pipeline<'a> {
    requests: Vec<(usize, Request, Pending<'a>)>,
}

impl<'a> Pipeline<'a> {
    /// Adds a request, for the job at `job` in the batch (0 for the transaction's own).
    fn push(
        &mut self,
        job: usize,
        request: Request,
        pending: impl std::future::Future<Output = Answer> + Send + 'a,
    ) {
        let timed = async move {
            let answer = pending.await;
            (answer, Instant::now())
        };
        self.requests.push((job, request, Box::pin(timed)));
    }

    /// Sends every request, in order, and returns each answer with the time it arrived.
    ///
    /// A request that fails before it is sent (it is over as soon as it is first polled: a
    /// parameter that does not fit, say) stops the sending there, and its error is returned: what
    /// comes after it, a `COMMIT` among them, must not reach the server without it. The caller then
    /// closes the connection, and the server rolls the transaction back.
    async fn send(self) -> Result<Vec<(usize, Request, Answer, Instant)>, Error> {
        use std::{future::Future, pin::Pin};
        let mut requests = self.requests.into_iter();
        let mut sent = Vec::with_capacity(requests.len());
        let mut unsent = None;
        std::future::poll_fn(|cx| {
            for (job, request, pending) in requests.by_ref() {
                let mut answer = futures_util::future::maybe_done(pending);
                if Future::poll(Pin::new(&mut answer), cx).is_ready() {
                    if let Some((Err(_), _)) = Pin::new(&mut answer).output_mut() {
                        unsent = Pin::new(&mut answer)
                            .take_output()
                            .and_then(|(a, _)| a.err());
                        break;
                    }
                }
                sent.push((job, request, answer));
            }
            std::task::Poll::Ready(())
        })
        .await;
        if let Some(e) = unsent {
            return Err(e);
        }
        futures_util::future::join_all(sent.iter_mut().map(|(_, _, answer)| answer)).await;
        Ok(sent
            .into_iter()
            .map(|(job, request, mut answer)| {
                let (answer, at) = Pin::new(&mut answer)
                    .take_output()
                    .expect("every request answered");
                (job, request, answer, at)
            })
            .collect())
    }
}

/// Adds every job's statement to `pipeline`, each after its savepoint if any (and its timeout,
/// where that changes). The statements after a failed one are refused by the server (the
/// transaction is aborted until a rollback).
fn push_statements<'a>(
    pipeline: &mut Pipeline<'a>,
    inner: &'a Inner,
    client: &'a deadpool_postgres::Client,
    jobs: &'a [&'a Queued],
    savepoints: Savepoints,
) {
    let db = &inner.db;
    // Idling inside the transaction is limited to the lease: a worker that stalls mid-batch has its
    // session ended by the server, and the batch rolled back, instead of holding the rows' locks.
    let idle = format!("{}ms", inner.config.lease.as_millis().max(1));
    let mut last_timeout = None;
    for (i, queued) in jobs.iter().enumerate() {
        if last_timeout != Some(queued.timeout) {
            last_timeout = Some(queued.timeout);
            let timeout = format!("{}ms", queued.timeout.as_millis().max(1));
            let idle = idle.clone();
            pipeline.push(i, Request::Timeout, async move {
                db.query(client, sql::SET_STATEMENT_TIMEOUT, &[&timeout, &idle])
                    .await
            });
        }
        let savepoint = match savepoints {
            Savepoints::None => None,
            Savepoints::First if i == 0 => Some(sql::SAVEPOINT_FIRST),
            Savepoints::First | Savepoints::Next => Some(sql::SAVEPOINT_NEXT),
        };
        if let Some(savepoint) = savepoint {
            pipeline.push(i, Request::Savepoint, async move {
                client.batch_execute(savepoint).await?;
                Ok(Vec::new())
            });
        }
        // $1 is always the payload as jsonb, declared up front so `$1->>'field'` needs no cast; a
        // statement that ignores it still gets it.
        pipeline.push(i, Request::Statement, async move {
            db.query_declared(
                client,
                &queued.sql.statement,
                &[Type::JSONB],
                &[&queued.payload],
            )
            .await
        });
    }
}

/// What a pipeline's answers say about the transaction.
struct Answers {
    /// The first statement that failed: its place among the jobs sent, and its error.
    failed: Option<(usize, Error)>,
    /// The rows the lock found, when it was sent.
    locked: Option<Vec<tokio_postgres::Row>>,
    /// The success update's answer, when it was sent.
    marked: Option<Answer>,
    /// The COMMIT's answer, when it was sent.
    committed: Option<Result<(), Error>>,
}

impl Answers {
    /// Reads the answers of a pipeline for `jobs`, and records each statement's time: the time
    /// between its answer and the previous one. Any failure other than a statement's, the success
    /// update's or one that a failed statement caused (a savepoint, a timeout setting, the
    /// connection) is the whole batch's, and an `Err`.
    fn read(
        inner: &Inner,
        jobs: &[&Queued],
        answers: Vec<(usize, Request, Answer, Instant)>,
    ) -> Result<Self, Error> {
        let mut read = Answers {
            failed: None,
            locked: None,
            marked: None,
            committed: None,
        };
        let mut previous = None;
        for (i, request, answer, at) in answers {
            if let (Request::Statement, None, Some(previous)) = (request, &read.failed, previous) {
                inner
                    .sql_batches
                    .record(&jobs[i].handler, at.saturating_duration_since(previous));
            }
            previous = Some(previous.map_or(at, |p: Instant| p.max(at)));
            match (request, answer) {
                (Request::Lock, answer) => read.locked = Some(answer?),
                (Request::Complete, answer) => read.marked = Some(answer),
                (Request::Commit, answer) => read.committed = Some(answer.map(drop)),
                (_, Ok(_)) => {}
                // Refused because the transaction was already aborted by a failed statement.
                (_, Err(_)) if read.failed.is_some() => {}
                (Request::Statement, Err(e)) if e.as_db_error().is_some() => {
                    read.failed = Some((i, e));
                }
                (_, Err(e)) => return Err(e),
            }
        }
        Ok(read)
    }

    /// How a transaction ended whose success update and `COMMIT` went out and whose statements
    /// all ran: committed, the `failed` jobs apart, unless the update missed a row.
    fn ended(&mut self, how: Try, failed: HashMap<i64, String>) -> Result<Attempt, Error> {
        match self.marked.take().expect("sent") {
            Ok(_) => Ok(Attempt::Committed(failed)),
            // Some row was rescued, cancelled or claimed again while the statements ran (or the
            // update failed otherwise): nothing committed. Try again, locking first.
            Err(e) if e.as_db_error().is_some() && !how.lock_first => Ok(Attempt::Raced),
            Err(e) => Err(e),
        }
    }
}

fn describe(e: &Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("sql handler failed: {}: {}", db.code().code(), db.message()),
        None => format!("sql handler failed: {e}"),
    }
}
