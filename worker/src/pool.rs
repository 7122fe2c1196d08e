//! One apalis worker per queue, in one monitor, with graceful shutdown.

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use apalis::prelude::*;
use apalis_postgres::{Config as QueueConfig, Pubsub};
use chrono::Utc;
use futures::FutureExt;
use gatehouse_jobs::{
    Config, catalog,
    clock::Clock,
    metrics as m,
    queue::{JobError, Queue, StoredJob, retry_delay},
    runtime::JobContext,
    store,
    telegram::budget::Budgets,
};
use sqlx::PgPool;
use tracing::Instrument;

use crate::backend::QueueBackend;

/// How long a run of a kind the catalog does not know may take (every kind has its
/// own, [`gatehouse_jobs::queue::JobSpec::TIMEOUT`]).
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
/// plus heartbeats, claims, the completers' writes ([`crate::backend`]) and the
/// scheduler. (Each queue's LISTEN connection is opened apart from the pool.)
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

/// The apalis worker names (`apalis.workers.id`) this process runs now; the scheduler
/// vouches for them every second. A stream started again gets a new name, so the rows
/// its predecessor held are never mistaken for its own.
#[derive(Clone, Default)]
pub struct WorkerNames(Arc<RwLock<Vec<String>>>);

impl WorkerNames {
    /// These names.
    pub fn new(names: Vec<String>) -> Self {
        Self(Arc::new(RwLock::new(names)))
    }

    /// The names now.
    pub fn current(&self) -> Vec<String> {
        self.0.read().map(|n| n.clone()).unwrap_or_default()
    }

    fn replace(&self, old: &str, new: &str) {
        if let Ok(mut names) = self.0.write() {
            names.retain(|n| n != old);
            names.push(new.to_string());
        }
    }
}

/// The name of a queue's stream after `restarts` restarts.
fn stream_name(base: &str, restarts: usize) -> String {
    if restarts == 0 { base.to_string() } else { format!("{base}#{restarts}") }
}

/// After a stream ended: the rows it had claimed but not started go back to the queue,
/// and a row that cannot be decoded is killed with the reason, so it cannot end the
/// next stream too. (Rows it was running are rescued like a dead worker's, once its
/// name stops being vouched for.)
async fn recover_stream(pool: PgPool, worker: String) {
    let rows = match store::queue::claimed_not_started(&pool, &worker).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(%worker, error = %e, "could not read the rows an ended stream held: they are rescued later");
            return;
        }
    };
    let (mut released, mut killed) = (0, 0);
    for (id, bytes) in rows {
        let decoded = std::str::from_utf8(&bytes)
            .map_err(|e| format!("the job row is not UTF-8: {e}"))
            .and_then(|text| {
                serde_json::from_str::<StoredJob>(text).map_err(|e| format!("the job row is not JSON: {e}"))
            })
            .and_then(|job| job.decode());
        let result = match decoded {
            Ok(_) => store::queue::release_claimed(&pool, &id, &worker).await.map(|done| released += done as u32),
            Err(reason) => {
                tracing::error!(job_id = %id, %reason, "a job row that cannot be decoded is killed");
                store::queue::kill_unreadable(&pool, &id, &reason).await.map(|done| killed += done as u32)
            }
        };
        if let Err(e) = result {
            tracing::error!(job_id = %id, error = %e, "could not release a row an ended stream held");
        }
    }
    tracing::warn!(%worker, released, killed, "rows of an ended worker stream recovered");
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
    // The debounced wake-ups after a burst of follow-up jobs go out on this pool.
    gatehouse_jobs::queue::wake::install(&pool);
    // The platform bot's webhook, once per configuration (a duplicate is "already enqueued").
    if let Some(job) = gatehouse_jobs::catalog::connect_manager_bot::ConnectManagerBot::for_config(&config) {
        match pool.acquire().await {
            Ok(mut conn) => {
                if let Err(e) = gatehouse_jobs::queue::enqueue(&mut conn, &job, gatehouse_jobs::queue::RunAt::Now).await
                {
                    tracing::error!(error = %e, "could not enqueue connect-manager-bot");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not enqueue connect-manager-bot"),
        }
    }
    let heartbeat = (settings.rescue_after / 3).max(Duration::from_secs(1));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let names = WorkerNames::new(options.queues.iter().map(|q| format!("{}:{}", options.name, q.name())).collect());
    let scheduler =
        tokio::spawn(crate::scheduler::run(config.clone(), pool.clone(), options.schedules.clone(), names.clone(), {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        }));

    let http = gatehouse_jobs::telegram::http_client(config.telegram_timeout);
    // One share of the rate budgets per process: its leases serve all three queues.
    let budgets = Arc::new(Budgets::new(pool.clone(), config.telegram_budget.clone()));
    let mut monitor = Monitor::new();
    // The streams' completers, which write their last acknowledgements after them.
    let completers = Arc::new(std::sync::Mutex::new(Vec::new()));
    for queue in options.queues.iter().copied() {
        let base = format!("{}:{}", options.name, queue.name());
        let state = HandlerState {
            pool: pool.clone(),
            config: config.clone(),
            worker: Arc::from(base.as_str()),
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
        let names = names.clone();
        let completers = completers.clone();
        monitor = monitor.register(move |restarts| {
            let name = stream_name(&base, restarts);
            let mut state = state.clone();
            if restarts > 0 {
                let previous = stream_name(&base, restarts - 1);
                names.replace(&previous, &name);
                state.worker = Arc::from(name.as_str());
                tokio::spawn(recover_stream(pool.clone(), previous));
            }
            let (storage, completer) = QueueBackend::<StoredJob>::new(&pool, queue_config.clone());
            if let Ok(mut all) = completers.lock() {
                all.retain(|c: &tokio::task::JoinHandle<()>| !c.is_finished());
                all.push(completer);
            }
            let wakes = EchoedWakes::new(Pubsub::new(pool.clone(), queue.name().to_string()), WAKE_ECHO);
            let backend = PollWith::new(storage, StreamStrategy::new(wakes)).poll_with_interval(poll);
            WorkerBuilder::new(name).backend(backend).catch_panic().concurrency(concurrency).data(state).build(handle)
        });
    }
    let grace = settings.shutdown_grace;
    let watchdog = tokio::spawn(nudge_idle_workers(monitor.context(), stop_rx.clone()));
    let restarts = Arc::new(std::sync::Mutex::new(RestartPace::default()));
    let result = monitor
        .should_restart(move |worker, error| {
            if worker.is_shutting_down() {
                return false;
            }
            let queue = worker.name().split(':').nth(1).unwrap_or("unknown").split('#').next().unwrap_or("unknown");
            metrics::counter!(m::WORKER_RESTARTS, "queue" => queue.to_string()).increment(1);
            let pause = restarts.lock().map(|mut pace| pace.next()).unwrap_or(RESTART_PAUSE_MAX);
            tracing::error!(worker = worker.name(), ?error, ?pause, "worker stream ended: starting it again");
            // A stream that ends at once again (the database is away) is restarted at a
            // growing pace, not thousands of times a second. The callback is synchronous:
            // on a multi-threaded runtime the wait moves this thread's other tasks away.
            if !pause.is_zero()
                && tokio::runtime::Handle::try_current()
                    .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            {
                tokio::task::block_in_place(|| std::thread::sleep(pause));
            }
            true
        })
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
    // Each completer ends once its stream is gone and what it was handed is written.
    let pending: Vec<tokio::task::JoinHandle<()>> =
        completers.lock().map(|mut all| all.drain(..).collect()).unwrap_or_default();
    if tokio::time::timeout(COMPLETERS_GRACE, futures::future::join_all(pending)).await.is_err() {
        tracing::warn!("acknowledgements still unwritten at shutdown: those jobs are rescued and run again");
    }
    let _ = scheduler.await;
    let _ = watchdog.await;
    result
}

/// How long a stopping worker waits for its streams' last acknowledgements.
const COMPLETERS_GRACE: Duration = Duration::from_secs(5);

/// The longest pause between two restarts of worker streams.
const RESTART_PAUSE_MAX: Duration = Duration::from_secs(2);

/// How fast ended streams are started again: at once the first time, then twice as long
/// each time another ends within 10 s, up to [`RESTART_PAUSE_MAX`].
#[derive(Default)]
struct RestartPace {
    last: Option<Instant>,
    pause: Duration,
}

impl RestartPace {
    fn next(&mut self) -> Duration {
        let now = Instant::now();
        self.pause = match self.last {
            Some(last) if now.duration_since(last) < Duration::from_secs(10) => {
                (self.pause * 2).clamp(Duration::from_millis(50), RESTART_PAUSE_MAX)
            }
            _ => Duration::ZERO,
        };
        self.last = Some(now);
        self.pause
    }
}

/// How often an idle worker is woken to look for work.
const NUDGE_EVERY: Duration = Duration::from_secs(1);

/// Wakes every running worker that has no job in flight, once a [`NUDGE_EVERY`].
///
/// apalis-core 1.0's poll strategies can lose a wake-up under load: the interval
/// strategy replaces a fired timer without polling the new one, and the LISTEN stream
/// hands back its notification without registering for the next, so a worker with
/// nothing in flight may never be polled again while due rows wait (seen by the fuzz
/// suite on a loaded machine; its heartbeats go on, so nothing rescues its queue).
/// Pausing and resuming a worker wakes it; a worker that was not stalled polls once,
/// finds nothing new, and goes back to waiting. Workers with jobs in flight are woken by
/// those jobs finishing.
async fn nudge_idle_workers(monitor: apalis::prelude::MonitorContext, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(NUDGE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        for worker in monitor.workers() {
            if worker.is_running() && !worker.is_shutting_down() && worker.task_count() == 0 && worker.pause().is_ok() {
                let _ = worker.resume();
            }
        }
    }
}

/// How long after a wake-up its timed echo comes (see [`EchoedWakes`]).
const WAKE_ECHO: Duration = Duration::from_millis(10);

/// A queue's wake-ups (apalis-postgres's LISTEN stream), each echoed twice.
///
/// apalis-core's stream strategy takes a notification and then lets the backend poll;
/// when a claim is already on its way (it started before the notified row committed), the
/// notification is spent on that claim, which comes back without the row, and the worker
/// waits for the next poll or nudge (the second of two jobs enqueued 5 ms apart waited up to
/// 200 ms, `cargo bench --bench queue`). So each wake-up is echoed: once at the next poll
/// after the one that took it (the claim in flight has usually ended by then; the echo
/// wakes the task again so that it claims once more), and once [`WAKE_ECHO`] later (for a
/// claim that was still running at that poll). An idle worker pays up to two empty claims
/// per notification (at most two notifications per queue, enqueueing process and 20 ms
/// window, [`gatehouse_jobs::queue::wake`]); a busy one claims anyway.
struct EchoedWakes<S> {
    wakes: S,
    echo_after: Duration,
    next_poll: bool,
    timed: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    ended: bool,
}

impl<S> EchoedWakes<S> {
    fn new(wakes: S, echo_after: Duration) -> Self {
        Self { wakes, echo_after, next_poll: false, timed: None, ended: false }
    }
}

impl<S: futures::Stream + Unpin> futures::Stream for EchoedWakes<S> {
    type Item = ();

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<()>> {
        use std::task::Poll;
        let this = &mut *self;
        if !this.ended {
            match std::pin::Pin::new(&mut this.wakes).poll_next(cx) {
                Poll::Ready(Some(_)) => {
                    // A newer wake-up moves the echoes: they follow the last one. The
                    // timer is polled once now, so that it wakes this task.
                    let mut timed = Box::pin(tokio::time::sleep(this.echo_after));
                    let _ = timed.as_mut().poll(cx);
                    this.timed = Some(timed);
                    this.next_poll = true;
                    return Poll::Ready(Some(()));
                }
                // The listener ended: the poll interval and the nudges carry on alone.
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => {}
            }
        }
        if std::mem::take(&mut this.next_poll) {
            // Polled again, so that the backend, which polls after this, claims once more.
            cx.waker().wake_by_ref();
            return Poll::Ready(Some(()));
        }
        if let Some(timed) = this.timed.as_mut()
            && timed.as_mut().poll(cx).is_ready()
        {
            this.timed = None;
            return Poll::Ready(Some(()));
        }
        Poll::Pending
    }
}

/// How a run ended, before it is turned into the queue's next state.
enum Outcome {
    Ran(Result<(), JobError>),
    Panicked(String),
}

/// Runs one job and turns its outcome into the queue's next state. Nothing a job does
/// ends the worker: a row that does not decode and a job that panics end as Killed with
/// the reason, a job that times out as Failed (retried with backoff).
async fn handle(job: StoredJob, id: TaskId, attempt: Attempt, state: Data<HandlerState>) -> Result<(), BoxDynError> {
    let job_id = id.to_string();
    let attempt = attempt.current() as u32;
    let queue = state.queue.name();
    let envelope = match job.decode() {
        Ok(envelope) => envelope,
        Err(reason) => {
            metrics::counter!(m::JOBS_FAILED, "kind" => "undecodable", "queue" => queue, "reason" => "undecodable")
                .increment(1);
            tracing::error!(%job_id, queue, attempt, %reason, "job row cannot be decoded: killed");
            let run = store::operator::FailedRun {
                job_id: &job_id,
                attempt: attempt as i32,
                kind: "undecodable",
                queue,
                args: serde_json::Value::Null,
                error: &reason,
            };
            record_failed_run(&state.pool, &run).await;
            return Err(AbortError::new(reason).into());
        }
    };
    let kind = envelope.kind.clone();
    let span = tracing::info_span!("job", %job_id, %kind, attempt, queue);
    run_job(envelope, job_id, attempt, &state).instrument(span).await
}

async fn run_job(
    envelope: gatehouse_jobs::queue::Envelope,
    job_id: String,
    attempt: u32,
    state: &HandlerState,
) -> Result<(), BoxDynError> {
    let kind = envelope.kind.clone();
    let queue = state.queue.name();
    // A reason may quote what a user sent; apalis stores it in jsonb, which refuses U+0000.
    let clean = |reason: String| if reason.contains('\0') { reason.replace('\0', "") } else { reason };
    let labels = [("kind", kind.clone()), ("queue", queue.to_string())];
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
    // The args tell the job's project, kept for when a run fails (`job_errors`).
    let args = envelope.args.clone();
    metrics::counter!(m::JOBS_STARTED, &labels).increment(1);
    let started = Instant::now();
    let timeout = catalog::timeout_of(&kind).unwrap_or(JOB_TIMEOUT);
    let run = AssertUnwindSafe(catalog::dispatch(envelope, &ctx)).catch_unwind();
    let outcome = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(result)) => Outcome::Ran(result),
        Ok(Err(panic)) => Outcome::Panicked(panic_message(panic.as_ref())),
        Err(_) => Outcome::Ran(Err(JobError::Retry(format!("timed out after {timeout:?}")))),
    };
    metrics::histogram!(m::JOB_DURATION, &labels).record(started.elapsed().as_secs_f64());
    let failure = match &outcome {
        Outcome::Ran(Err(JobError::Retry(reason) | JobError::Permanent(reason))) => Some(clean(reason.clone())),
        Outcome::Panicked(message) => Some(clean(format!("panicked: {message}"))),
        Outcome::Ran(Ok(()) | Err(JobError::Snooze { .. })) => None,
    };
    if let Some(error) = failure {
        let run = store::operator::FailedRun {
            job_id: &job_id,
            attempt: attempt as i32,
            kind: &kind,
            queue,
            args,
            error: &error,
        };
        record_failed_run(&ctx.pool, &run).await;
    }
    match outcome {
        Outcome::Ran(Ok(())) => {
            metrics::counter!(m::JOBS_SUCCEEDED, &labels).increment(1);
            tracing::debug!("job done");
            Ok(())
        }
        Outcome::Panicked(message) => {
            metrics::counter!(m::JOBS_FAILED, "kind" => kind, "queue" => queue, "reason" => "panic").increment(1);
            tracing::error!(panic = %message, "job panicked: killed (a bug; `gatehouse` keeps running)");
            Err(AbortError::new(clean(format!("panicked: {message}"))).into())
        }
        Outcome::Ran(Err(JobError::Snooze { until, reason })) => {
            store::queue::snooze(&ctx.pool, &job_id, until).await?;
            metrics::counter!(m::JOBS_RETRIED, "kind" => kind, "queue" => queue, "reason" => "snoozed").increment(1);
            tracing::info!(%until, %reason, "job snoozed");
            let wait = (until - Utc::now()).to_std().unwrap_or_default();
            Err(RetryAfterError::new(clean(reason), wait).into())
        }
        Outcome::Ran(Err(JobError::Retry(reason))) => {
            // The backoff grows with failed runs only: snoozes (rate limits) do not count.
            let snoozes = store::queue::snoozes(&ctx.pool, &job_id).await?;
            let failures = attempt.saturating_sub(snoozes.max(0) as u32).max(1);
            let delay = chrono::TimeDelta::from_std(retry_delay(failures)).unwrap_or(chrono::TimeDelta::MAX);
            let at = Utc::now().checked_add_signed(delay).unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
            let run = store::queue::reschedule_failed(&ctx.pool, &job_id, at).await?;
            if gatehouse_jobs::queue::is_exhausted(attempt as i32, run.max_attempts) {
                metrics::counter!(m::JOBS_FAILED, "kind" => kind, "queue" => queue, "reason" => "exhausted")
                    .increment(1);
                tracing::error!(%reason, max_attempts = run.max_attempts, "job failed for good: attempts exhausted");
            } else {
                metrics::counter!(m::JOBS_RETRIED, "kind" => kind, "queue" => queue, "reason" => "error").increment(1);
                tracing::warn!(%reason, failures, next_run = %at, "job failed, will retry");
            }
            Err(clean(reason).into())
        }
        Outcome::Ran(Err(JobError::Permanent(reason))) => {
            metrics::counter!(m::JOBS_FAILED, "kind" => kind, "queue" => queue, "reason" => "permanent").increment(1);
            tracing::error!(%reason, "job failed permanently");
            Err(AbortError::new(clean(reason)).into())
        }
    }
}

/// Records a failed run for the operator's view; a failure to record it is logged and
/// never changes the job's outcome.
async fn record_failed_run(pool: &PgPool, run: &store::operator::FailedRun<'_>) {
    if let Err(e) = store::operator::record_failed_run(pool, run).await {
        tracing::warn!(error = %e, "recording the failed run failed");
    }
}

/// The text a panic carried.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll};

    use futures::{Stream, channel::mpsc, task::noop_waker_ref};

    use super::*;

    /// Long enough that a loaded machine does not reach it between two polls meant to fall
    /// before it.
    const ECHO: Duration = Duration::from_millis(400);

    fn poll(wakes: &mut EchoedWakes<mpsc::UnboundedReceiver<u32>>) -> Poll<Option<()>> {
        std::pin::Pin::new(wakes).poll_next(&mut Context::from_waker(noop_waker_ref()))
    }

    #[tokio::test]
    async fn each_wake_up_is_echoed_at_the_next_poll_and_once_more_after_the_echo_time() {
        let (tx, rx) = mpsc::unbounded();
        let mut wakes = EchoedWakes::new(rx, ECHO);
        assert_eq!(poll(&mut wakes), Poll::Pending, "nothing yet");
        tx.unbounded_send(1).unwrap();
        assert_eq!(poll(&mut wakes), Poll::Ready(Some(())), "the wake-up");
        assert_eq!(poll(&mut wakes), Poll::Ready(Some(())), "its echo at the next poll");
        assert_eq!(poll(&mut wakes), Poll::Pending, "one echo at the next poll, not at every poll");
        tokio::time::sleep(ECHO + Duration::from_millis(100)).await;
        assert_eq!(poll(&mut wakes), Poll::Ready(Some(())), "the timed echo");
        tokio::time::sleep(ECHO + Duration::from_millis(100)).await;
        assert_eq!(poll(&mut wakes), Poll::Pending, "and no more");
    }

    #[tokio::test]
    async fn a_newer_wake_up_moves_the_timed_echo_and_an_ended_listener_leaves_the_echoes() {
        let (tx, rx) = mpsc::unbounded();
        let mut wakes = EchoedWakes::new(rx, ECHO);
        tx.unbounded_send(1).unwrap();
        assert_eq!(poll(&mut wakes), Poll::Ready(Some(())));
        tokio::time::sleep(ECHO / 2).await;
        tx.unbounded_send(2).unwrap();
        assert_eq!(poll(&mut wakes), Poll::Ready(Some(())), "the second wake-up");
        drop(tx);
        assert_eq!(poll(&mut wakes), Poll::Ready(Some(())), "its echo at the next poll");
        tokio::time::sleep(ECHO * 3 / 4).await;
        assert_eq!(poll(&mut wakes), Poll::Pending, "the first timed echo was moved to follow the second");
        assert!(wakes.ended, "the listener ended");
        tokio::time::sleep(ECHO / 2).await;
        assert_eq!(poll(&mut wakes), Poll::Ready(Some(())), "the second's timed echo");
        tokio::time::sleep(ECHO + Duration::from_millis(100)).await;
        assert_eq!(poll(&mut wakes), Poll::Pending, "nothing more");
    }
}
