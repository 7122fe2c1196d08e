//! The queue's apalis backend: apalis-postgres's schema, rows, claim (`apalis.get_jobs`)
//! and worker rows, with fewer statements per job.
//!
//! apalis-postgres's `PostgresStorage` drives one state machine per stream that claims a
//! batch, then writes the batch's starts and acknowledgements, then claims again, each in
//! its own transaction (BEGIN, the statements, COMMIT): about seven round trips per batch,
//! one after another. Here the claim is one statement (no transaction around it), and
//! the starts and acknowledgements go to a completer task of the stream that writes all
//! it has gathered in one statement, on its own connection, while the stream claims on
//! (River's batch completer). What each statement does to a row is apalis-postgres's own
//! (`queries/task/lock_by_id.sql`, `queries/task/handle_result.sql`).
//!
//! A write the completer cannot make ends the stream, as a failed write of apalis's own
//! ends it: its next claim or hand-over fails, the stream is restarted under a new name,
//! and the rows it held are given back or rescued ([`crate::pool`]).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use apalis::prelude::*;
/// What [`write_events`] takes (apalis's types).
pub use apalis::prelude::{Status, TaskId};
use apalis_codec::json::JsonCodec;
use apalis_core::backend::{
    BackendConfig, WireFormatBackend,
    finalize::Durable,
    persistence::{Persisted, Persistence, TaskPersistLayer},
};
pub use apalis_core::backend::{TaskResult, persistence::TaskEvent};
use apalis_postgres::{Config as QueueConfig, Error, PgTask, queries};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::mpsc;
use ulid::Ulid;

/// Events a stream's completer may hold before the stream waits for it.
const COMPLETER_BACKLOG: usize = 64;

/// At most this many events are written by one statement.
const COMPLETER_BATCH: usize = 4096;

/// Writes the starts and acknowledgements of `events`, by worker `worker`, in one
/// statement: a start (`Running`) as `queries/task/lock_by_id.sql` writes it, an
/// acknowledgement as `queries/task/handle_result.sql`; both only to a row the worker
/// still holds (its claim set `lock_by`), so a write that comes after the row was given
/// back or rescued changes nothing (the job then runs again). Rows acknowledged are locked
/// in id order. A task started and finished within one batch is only acknowledged.
const WRITE_EVENTS: &str = "
WITH j AS (
    SELECT (value ->> 'task_id')::text AS task_id,
           (value ->> 'attempt')::integer AS attempt,
           value -> 'result' AS result,
           value ->> 'status' AS status
    FROM jsonb_array_elements($1::jsonb) AS value
),
held AS (
    SELECT jobs.id FROM apalis.jobs AS jobs
    INNER JOIN j ON j.task_id = jobs.id
    WHERE jobs.lock_by = $2
    ORDER BY jobs.id
    FOR UPDATE
),
acked AS (
    UPDATE apalis.jobs AS jobs
    SET status = j.status, attempts = j.attempt, last_result = j.result, done_at = NOW()
    FROM j INNER JOIN held ON held.id = j.task_id
    WHERE jobs.id = held.id
    RETURNING 1
),
started AS (
    UPDATE apalis.jobs
    SET status = 'Running', lock_at = now(), lock_by = $2
    WHERE (status = 'Pending' OR status = 'Queued' OR (status = 'Failed' AND attempts < max_attempts))
      AND run_at < now()
      AND id = ANY($3)
      AND lock_by = $2
    RETURNING 1
)
SELECT (SELECT count(*) FROM acked), (SELECT count(*) FROM started)";

/// apalis-postgres's `queries/worker/register.sql`.
const REGISTER_WORKER: &str = "
INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen)
VALUES ($1, $2, $3, $4, NOW()) ON CONFLICT (id) DO
UPDATE SET worker_type = EXCLUDED.worker_type, storage_name = EXCLUDED.storage_name,
    layers = EXCLUDED.layers, last_seen = NOW()
WHERE pg_try_advisory_lock(hashtext(workers.id))";

/// One stream's backend over apalis-postgres's schema (see the module's documentation).
pub struct QueueBackend<Args> {
    persistence: Persisted<Persist>,
    codec: JsonCodec,
    _args: std::marker::PhantomData<Args>,
}

impl<Args> QueueBackend<Args> {
    /// A backend for the queue `config.queue` on `pool`, and its completer, which runs
    /// until the backend is dropped and has written what it was given.
    pub fn new(pool: &PgPool, config: QueueConfig) -> (Self, tokio::task::JoinHandle<()>) {
        let (events, rx) = mpsc::channel(COMPLETER_BACKLOG);
        let failure = Arc::new(Mutex::new(None));
        let completer = tokio::spawn(complete(pool.clone(), rx, failure.clone()));
        let persist = Persist { pool: pool.clone(), config, events, failure };
        let backend =
            Self { persistence: Persisted::new(persist), codec: JsonCodec::default(), _args: Default::default() };
        (backend, completer)
    }
}

/// Events for the completer: the worker that wrote them, and them.
type Batch = (String, Vec<TaskEvent<Value>>);

#[derive(Clone)]
struct Persist {
    pool: PgPool,
    config: QueueConfig,
    events: mpsc::Sender<Batch>,
    /// The completer's first failed write: the stream ends with it.
    failure: Arc<Mutex<Option<String>>>,
}

impl Persist {
    /// The completer's failure, as the error that ends the stream.
    fn failed(&self) -> Result<(), Error> {
        match self.failure.lock().map(|f| f.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(reason)) => Err(Error::Database(sqlx::Error::Protocol(format!(
                "the stream's completer could not write starts and acknowledgements: {reason}"
            )))),
            Err(_) => Err(Error::Database(sqlx::Error::Protocol("the stream's completer panicked".into()))),
        }
    }
}

impl Persistence for Persist {
    type Compact = Vec<u8>;
    type Error = Error;
    type Response = Value;

    async fn register(&mut self, worker: &WorkerContext) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let queue = self.config.queue.as_ref();
        queries::reenqueue_orphaned(&mut *tx, queue, self.config.orphaned_duration().as_secs()).await?;
        let registered = sqlx::query(REGISTER_WORKER)
            .bind(worker.name())
            .bind(queue)
            .bind("PgStorage")
            .bind(worker.get_service())
            .execute(&mut *tx)
            .await?;
        if registered.rows_affected() == 0 {
            return Err(Error::WorkerAlreadyExists(worker.name().to_owned()));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn heartbeat(&mut self, worker: &WorkerContext) -> Result<(), Error> {
        self.failed()?;
        let mut tx = self.pool.begin().await?;
        let queue = self.config.queue.as_ref();
        queries::keep_alive(&mut *tx, queue, worker).await?;
        queries::reenqueue_orphaned(&mut *tx, queue, self.config.orphaned_duration().as_secs()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn fetch_next(&mut self, worker: &WorkerContext) -> Result<Vec<PgTask>, Error> {
        self.failed()?;
        let mut conn = self.pool.acquire().await?;
        queries::fetch_next(&mut *conn, &self.config, worker).await
    }

    async fn handle_events(&mut self, events: Vec<TaskEvent<Value>>, worker: &WorkerContext) -> Result<(), Error> {
        self.failed()?;
        if events.is_empty() {
            return Ok(());
        }
        // Waits only while the completer holds COMPLETER_BACKLOG batches.
        self.events
            .send((worker.name().to_owned(), events))
            .await
            .map_err(|_| Error::Database(sqlx::Error::Protocol("the stream's completer has stopped".into())))?;
        self.failed()
    }

    async fn reenqueue_abandoned(&mut self, tasks: Vec<PgTask>, worker: &WorkerContext) -> Result<u64, Error> {
        let ids: Vec<String> = tasks.iter().filter_map(|t| t.task_id()).map(|id| id.to_string()).collect();
        let mut conn = self.pool.acquire().await?;
        let count = queries::reenqueue_abandoned(&mut *conn, self.config.queue.as_ref(), worker.name(), &ids).await?;
        if count as usize != tasks.len() {
            return Err(Error::ReenqueueMismatch { queued: tasks.len(), abandoned: count as usize });
        }
        Ok(count)
    }

    async fn push_tasks(&mut self, tasks: Vec<PgTask>) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        queries::push_tasks(&mut *tx, self.config.queue.as_ref(), tasks).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The completer: writes what the stream hands it, all it has gathered at once, in the
/// order it was handed; stops at its first failed write (the stream then ends) or when
/// the stream is gone and everything is written.
async fn complete(pool: PgPool, mut rx: mpsc::Receiver<Batch>, failure: Arc<Mutex<Option<String>>>) {
    while let Some(first) = rx.recv().await {
        let mut batches = vec![first];
        let mut count = batches[0].1.len();
        while count < COMPLETER_BATCH {
            match rx.try_recv() {
                Ok(batch) => {
                    count += batch.1.len();
                    batches.push(batch);
                }
                Err(_) => break,
            }
        }
        // A stream writes under one name; gathered batches are grouped by it all the same.
        let mut by_worker: Vec<(String, Vec<TaskEvent<Value>>)> = Vec::new();
        for (worker, events) in batches {
            match by_worker.iter_mut().find(|(w, _)| *w == worker) {
                Some((_, all)) => all.extend(events),
                None => by_worker.push((worker, events)),
            }
        }
        for (worker, events) in by_worker {
            if let Err(e) = write_events(&pool, &worker, &events).await {
                tracing::error!(%worker, error = %e, "could not write job starts and acknowledgements: the stream ends");
                if let Ok(mut f) = failure.lock() {
                    *f = Some(e.to_string());
                }
                return;
            }
        }
    }
}

/// One statement for a worker's starts and acknowledgements ([`WRITE_EVENTS`]).
pub async fn write_events(pool: &PgPool, worker: &str, events: &[TaskEvent<Value>]) -> Result<(), Error> {
    let acks: Vec<&queries::ResultPayload> =
        events.iter().filter_map(|e| if let TaskEvent::Complete(payload) = e { Some(payload) } else { None }).collect();
    let acked: HashSet<String> = acks.iter().map(|a| a.task_id().to_string()).collect();
    let starts: Vec<String> = events
        .iter()
        .filter_map(|e| if let TaskEvent::Lock { task_id } = e { Some(task_id.to_string()) } else { None })
        .filter(|id| !acked.contains(id))
        .collect();
    if acks.is_empty() && starts.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_value(&acks).map_err(Error::JsonError)?;
    sqlx::query(WRITE_EVENTS).bind(payload).bind(worker).bind(&starts).execute(pool).await?;
    Ok(())
}

impl<Args> Backend for QueueBackend<Args> {
    type Task = PgTask;
    type Error = Error;

    fn poll_ready(&mut self, cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Result<(), Error>> {
        let heartbeat = self.persistence.config.heartbeat_interval;
        self.persistence.poll_ready(cx, worker, heartbeat)
    }

    fn poll_next(&mut self, cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Option<Result<PgTask, Error>>> {
        self.persistence.poll_next(cx, worker)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Result<(), Error>> {
        self.persistence.poll_close(cx, worker)
    }
}

impl<Args> BackendConfig for QueueBackend<Args> {
    type Args = Args;
    type Kind = Durable;
    type Id = Ulid;
    type Config = QueueConfig;
    type Layer = TaskPersistLayer<JsonCodec<Value>, Value>;

    fn config(&self) -> &QueueConfig {
        &self.persistence.config
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        let config = &self.persistence.config;
        let (batch, persist_results, lock_tasks) = (config.batch_size, config.persist_results, config.lock_tasks);
        self.persistence
            .layer(JsonCodec::<Value>::default(), batch)
            .persist_results(persist_results)
            .lock_tasks(lock_tasks)
    }
}

impl<Args> WireFormatBackend for QueueBackend<Args> {
    type Codec = JsonCodec;
    type Compact = Vec<u8>;

    fn codec(&self) -> &JsonCodec {
        &self.codec
    }
}
