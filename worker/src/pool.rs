//! One apalis worker per queue, in one monitor, with graceful shutdown.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use apalis::prelude::*;
use apalis_postgres::{Config as QueueConfig, PostgresStorage};
use chrono::Utc;
use gatehouse_jobs::{
    Config,
    catalog::{self, JobContext},
    clock::Clock,
    metrics as m,
    queue::{Envelope, JobError, Queue, retry_delay},
    store,
    telegram::budget::Budgets,
};
use sqlx::PgPool;

/// How long one job run may take before it is abandoned and retried.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(120);

/// What a worker process needs beyond the configuration.
#[derive(Clone)]
pub struct WorkerOptions {
    /// A name unique to this process start (see [`process_name`]). apalis never rescues
    /// the jobs of a worker restarted under the same name, so it must never be reused.
    pub name: String,
    /// Which queues this process runs (all three by default).
    pub queues: Vec<Queue>,
    /// What the scheduler enqueues when this process leads ([`crate::scheduler::schedules`]).
    pub schedules: Vec<crate::scheduler::Schedule>,
    /// Gatehouse's time (tests move it).
    pub clock: Clock,
}

impl WorkerOptions {
    /// All queues, under a fresh process name.
    pub fn new() -> Self {
        Self {
            name: process_name(),
            queues: Queue::ALL.to_vec(),
            schedules: crate::scheduler::schedules(),
            clock: Clock::system(),
        }
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Database connections a worker process needs: one per job slot of each queue,
/// plus heartbeats, claims and the scheduler. (Each queue's LISTEN connection is
/// opened apart from the pool.)
pub fn pool_size(config: &Config) -> u32 {
    (3 * config.worker.concurrency as u32 + 4).min(200)
}

/// `<host>-<pid>-<ulid>`: unique for every process start.
pub fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}-{}", std::process::id(), ulid::Ulid::generate().to_string().to_lowercase())
}

#[derive(Clone)]
struct HandlerState {
    pool: PgPool,
    config: Arc<Config>,
    worker: Arc<str>,
    http: reqwest::Client,
    clock: Clock,
    queue: Queue,
    budgets: Arc<Budgets>,
}

/// Runs the worker until `shutdown` completes: then it stops claiming, lets jobs in
/// flight finish within `shutdown_grace`, and returns. Jobs claimed but not started
/// go back to the queue; jobs cut off by the grace period are rescued by another
/// worker after `rescue_after`.
pub async fn run(
    config: Arc<Config>,
    pool: PgPool,
    options: WorkerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MonitorError> {
    let settings = &config.worker;
    let heartbeat = (settings.rescue_after / 3).max(Duration::from_secs(1));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let names: Vec<String> = options.queues.iter().map(|q| format!("{}:{}", options.name, q.name())).collect();
    let scheduler =
        tokio::spawn(crate::scheduler::run(config.clone(), pool.clone(), options.schedules.clone(), names, {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        }));

    let http = gatehouse_jobs::telegram::http_client(config.telegram_timeout);
    // One share of the rate budgets per process: its leases serve all three queues.
    let budgets = Arc::new(Budgets::new(pool.clone(), config.telegram_budget.clone()));
    let mut monitor = Monitor::new();
    for queue in options.queues.iter().copied() {
        let state = HandlerState {
            pool: pool.clone(),
            config: config.clone(),
            worker: Arc::from(format!("{}:{}", options.name, queue.name())),
            http: http.clone(),
            clock: options.clock.clone(),
            queue,
            budgets: budgets.clone(),
        };
        let queue_config = QueueConfig::default()
            .queue(queue.name())
            .batch_size(settings.batch_size)
            .heartbeat_interval(heartbeat)
            .missed_heartbeats(3);
        let concurrency = settings.concurrency;
        let poll = settings.poll_interval;
        let pool = pool.clone();
        monitor = monitor.register(move |_restarts| {
            let backend = PostgresStorage::<Envelope>::new(&pool)
                .with_config(queue_config.clone())
                .with_pubsub()
                .poll_with_interval(poll);
            WorkerBuilder::new(state.worker.to_string())
                .backend(backend)
                .catch_panic()
                .concurrency(concurrency)
                .data(state.clone())
                .build(handle)
        });
    }
    let grace = settings.shutdown_grace;
    let result = monitor
        .with_terminator(async move {
            tokio::time::sleep(grace).await;
            tracing::warn!("shutdown grace period over: jobs still running are left to be rescued");
        })
        .run_with_signal(async move {
            shutdown.await;
            tracing::info!("shutting down: no new jobs are claimed");
            Ok(())
        })
        .await;
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    result
}

/// Runs one job and turns its outcome into the queue's next state.
async fn handle(
    envelope: Envelope,
    id: TaskId,
    attempt: Attempt,
    state: Data<HandlerState>,
) -> Result<(), BoxDynError> {
    let kind = envelope.kind.clone();
    let queue = catalog::queue_of(&kind).map(Queue::name).unwrap_or("unknown");
    let labels = [("kind", kind.clone()), ("queue", queue.to_string())];
    let job_id = id.to_string();
    let attempt = attempt.current() as u32;
    let ctx = JobContext {
        pool: state.pool.clone(),
        config: state.config.clone(),
        worker: state.worker.clone(),
        job_id: job_id.clone(),
        attempt,
        http: state.http.clone(),
        clock: state.clock.clone(),
        queue: state.queue,
        budgets: state.budgets.clone(),
    };
    metrics::counter!(m::JOBS_STARTED, &labels).increment(1);
    let started = Instant::now();
    let outcome = match tokio::time::timeout(JOB_TIMEOUT, catalog::dispatch(envelope, &ctx)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(JobError::Retry(format!("timed out after {JOB_TIMEOUT:?}"))),
    };
    metrics::histogram!(m::JOB_DURATION, &labels).record(started.elapsed().as_secs_f64());
    let span = tracing::info_span!("job", %job_id, %kind, attempt);
    let _enter = span.enter();
    match outcome {
        Ok(()) => {
            metrics::counter!(m::JOBS_SUCCEEDED, &labels).increment(1);
            tracing::debug!("job done");
            Ok(())
        }
        Err(JobError::Snooze { until, reason }) => {
            store::queue::reschedule(&ctx.pool, &job_id, until, true).await?;
            metrics::counter!(m::JOBS_RETRIED, "kind" => kind, "queue" => queue, "reason" => "snoozed").increment(1);
            tracing::info!(%until, %reason, "job snoozed");
            let wait = (until - Utc::now()).to_std().unwrap_or_default();
            Err(RetryAfterError::new(reason, wait).into())
        }
        Err(JobError::Retry(reason)) => {
            let at = Utc::now() + retry_delay(attempt);
            let max_attempts = store::queue::reschedule_returning_max(&ctx.pool, &job_id, at).await?;
            if gatehouse_jobs::queue::is_exhausted(attempt as i32, max_attempts) {
                metrics::counter!(m::JOBS_FAILED, "kind" => kind, "queue" => queue, "reason" => "exhausted")
                    .increment(1);
                tracing::error!(%reason, max_attempts, "job failed for good: attempts exhausted");
            } else {
                metrics::counter!(m::JOBS_RETRIED, "kind" => kind, "queue" => queue, "reason" => "error").increment(1);
                tracing::warn!(%reason, next_run = %at, "job failed, will retry");
            }
            Err(reason.into())
        }
        Err(JobError::Permanent(reason)) => {
            metrics::counter!(m::JOBS_FAILED, "kind" => kind, "queue" => queue, "reason" => "permanent").increment(1);
            tracing::error!(%reason, "job failed permanently");
            Err(AbortError::new(reason).into())
        }
    }
}
