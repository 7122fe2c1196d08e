//! The scheduler: every worker process runs it, one leads.
//!
//! Leadership is a session advisory lock held on a dedicated connection: if the
//! leader dies, Postgres drops the lock with its connection and another process
//! takes over at its next try (every 5 s). The leader enqueues each schedule's ticks with the
//! tick's time as idempotency key, so a tick enqueued twice (two leaders during a
//! failover, a restart, a catch-up) is one job. It also rescues the jobs of silent
//! workers across queues, rolls up the runs ended per minute (`job_throughput`), and
//! prunes idle chat rate budgets and old 429 counts. Every process refreshes
//! the queue gauges.

use std::{str::FromStr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use gatehouse_jobs::{
    Config, catalog, metrics as m,
    queue::{self, Enqueued, JobSpec, RunAt},
    store,
};
use sqlx::{Connection, PgConnection, PgPool};

/// The advisory lock key of the scheduler leader ("gatehouse" in ASCII, folded).
pub const LEADER_LOCK_KEY: i64 = 0x6761_7465_686f_7573;

/// How often the leader recounts the latest minutes of `job_throughput` (the console's
/// throughput of the last hour).
const THROUGHPUT_EVERY: Duration = Duration::from_secs(5);

/// How far back a new leader looks for ticks it may have missed.
const CATCH_UP: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// A named schedule: a cron expression (with seconds) and how to enqueue one tick.
#[derive(Clone)]
pub struct Schedule {
    /// Name, used in logs and the `schedule` metric label (the job's kind).
    pub name: &'static str,
    /// When it fires.
    pub cron: cron::Schedule,
    enqueue: Tick,
}

#[derive(Clone, Copy)]
enum Tick {
    /// A periodic job of the catalog.
    Periodic(catalog::PeriodicKind),
    /// Any job, built from the tick (tests, one-off schedules).
    Job(fn(DateTime<Utc>) -> Box<dyn EnqueueTick>),
}

impl Schedule {
    /// The schedule of a periodic job of the catalog.
    pub fn of(job: catalog::PeriodicKind) -> Result<Self, cron::error::Error> {
        Ok(Self { name: job.kind, cron: cron::Schedule::from_str(job.schedule)?, enqueue: Tick::Periodic(job) })
    }

    /// A schedule named `name` firing on `cron` (six fields, seconds first), whose
    /// tick at time `t` enqueues `job(t)`. The job's idempotency key must carry the tick.
    pub fn new(
        name: &'static str,
        cron: &str,
        job: fn(DateTime<Utc>) -> Box<dyn EnqueueTick>,
    ) -> Result<Self, cron::error::Error> {
        Ok(Self { name, cron: cron::Schedule::from_str(cron)?, enqueue: Tick::Job(job) })
    }

    async fn enqueue(&self, conn: &mut PgConnection, tick: DateTime<Utc>) -> Result<Enqueued, sqlx::Error> {
        match self.enqueue {
            Tick::Periodic(job) => (job.enqueue)(conn, tick).await,
            Tick::Job(job) => job(tick).enqueue(conn).await,
        }
    }
}

/// One tick's job, ready to write.
pub trait EnqueueTick: Send {
    /// Writes the job (idempotent per tick).
    fn enqueue<'c>(
        &'c self,
        conn: &'c mut PgConnection,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Enqueued, sqlx::Error>> + Send + 'c>>;
}

impl<J: JobSpec> EnqueueTick for J {
    fn enqueue<'c>(
        &'c self,
        conn: &'c mut PgConnection,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Enqueued, sqlx::Error>> + Send + 'c>> {
        Box::pin(queue::enqueue(conn, self, RunAt::Now))
    }
}

/// The schedules Gatehouse runs: one per periodic job of the catalog (each job's
/// schedule is written beside it, see [`gatehouse_jobs::queue::Periodic`]).
pub fn schedules() -> Vec<Schedule> {
    catalog::periodic().into_iter().map(|job| Schedule::of(job).expect("every periodic job has a valid cron")).collect()
}

/// Runs until `shutdown` completes.
/// `workers` are this process's apalis worker names: it keeps them alive every second.
pub async fn run(
    config: Arc<Config>,
    pool: PgPool,
    schedules: Vec<Schedule>,
    workers: crate::pool::WorkerNames,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut leader: Option<PgConnection> = None;
    let mut last_tick_check: Option<DateTime<Utc>> = None;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    let mut budgets_pruned_at = tokio::time::Instant::now();
    let mut throughput_rolled_at: Option<tokio::time::Instant> = None;
    let mut done_count_due = tokio::time::Instant::now();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = interval.tick() => {}
        }
        if ticks.is_multiple_of(5) {
            let count_done = tokio::time::Instant::now() >= done_count_due;
            if let Some(took) = refresh_gauges(&pool, count_done).await {
                done_count_due = tokio::time::Instant::now() + took.saturating_mul(DONE_COUNT_COST_FACTOR);
            }
        }
        if let Err(e) = store::queue::keep_alive(&pool, &workers.current()).await {
            tracing::warn!(error = %e, "keeping this process's workers alive failed");
        }
        ticks = ticks.wrapping_add(1);

        if leader.is_none() && ticks % 5 == 1 {
            leader = try_lead(&config).await;
            if leader.is_some() {
                tracing::info!("this process now leads the scheduler");
                metrics::gauge!(m::SCHEDULER_LEADER).set(1.0);
                last_tick_check = Some(Utc::now() - CATCH_UP);
            }
        }
        let Some(conn) = leader.as_mut() else {
            continue;
        };
        let now = Utc::now();
        let since = last_tick_check.unwrap_or(now);
        if let Err(e) = lead_once(conn, &pool, &config, &schedules, since, now).await {
            tracing::warn!(error = %e, "scheduler leader lost its connection; stepping down");
            leader = None;
            metrics::gauge!(m::SCHEDULER_LEADER).set(0.0);
            continue;
        }
        last_tick_check = Some(now);
        if throughput_rolled_at.is_none_or(|t| t.elapsed() >= THROUGHPUT_EVERY) {
            throughput_rolled_at = Some(tokio::time::Instant::now());
            if let Err(e) = store::operator::roll_up_throughput(&pool).await {
                tracing::warn!(error = %e, "rolling up the throughput failed");
            }
        }
        if budgets_pruned_at.elapsed() >= Duration::from_secs(60) {
            budgets_pruned_at = tokio::time::Instant::now();
            // One rate budget row exists per chat messaged: drop those idle for a minute.
            if let Err(e) = store::budget::prune_idle_chats(&pool).await {
                tracing::warn!(error = %e, "pruning idle chat budgets failed");
            }
            if let Err(e) = store::budget::prune_rate_limited(&pool).await {
                tracing::warn!(error = %e, "pruning the 429 counts failed");
            }
        }
    }
    if let Some(conn) = leader {
        let _ = conn.close().await;
        metrics::gauge!(m::SCHEDULER_LEADER).set(0.0);
    }
}

async fn try_lead(config: &Config) -> Option<PgConnection> {
    let mut conn = PgConnection::connect(config.database_url.expose()).await.ok()?;
    let locked = store::scheduler::try_lead(&mut conn, LEADER_LOCK_KEY).await.ok()?;
    if locked {
        Some(conn)
    } else {
        let _ = conn.close().await;
        None
    }
}

async fn lead_once(
    conn: &mut PgConnection,
    pool: &PgPool,
    config: &Config,
    schedules: &[Schedule],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // The lock lives on this connection: check it is still alive before acting as leader.
    store::scheduler::still_connected(conn).await?;
    for schedule in schedules {
        for tick in schedule.cron.after(&since).take_while(|t| *t <= now) {
            if let Enqueued::New(_) = schedule.enqueue(conn, tick).await? {
                metrics::counter!(m::SCHEDULER_TICKS, "schedule" => schedule.name).increment(1);
                tracing::info!(schedule = schedule.name, %tick, "schedule tick enqueued");
            }
        }
    }
    match store::queue::rescue_orphans(pool, config.worker.rescue_after.as_secs() as i64).await {
        Ok(0) => {}
        Ok(n) => {
            metrics::counter!(m::JOBS_RESCUED).increment(n);
            tracing::warn!(rescued = n, "gave the jobs of silent workers back to their queues");
        }
        Err(e) => tracing::warn!(error = %e, "rescue failed"),
    }
    Ok(())
}

/// The finished rows are counted (a read of every row kept) with the other gauges, every
/// 5 s, at most once per this many times the last count took: at most 2 % of a core
/// whatever the history. (At a million rows a count every 5 s by every process took 1 s,
/// and slowed the queue as history grew; now it runs about every 50 s there.)
const DONE_COUNT_COST_FACTOR: u32 = 50;

/// Refreshes the queue gauges, the finished rows' count too when `count_done`; returns
/// how long that count took.
async fn refresh_gauges(pool: &PgPool, count_done: bool) -> Option<Duration> {
    const STATES: [&str; 5] = ["available", "scheduled", "running", "retrying", "failed"];
    let Ok(rows) = store::queue::depth(pool).await else {
        return None;
    };
    for q in gatehouse_jobs::queue::Queue::ALL {
        for state in STATES {
            let jobs = rows.iter().find(|r| r.queue == q.name() && r.state == state).map_or(0, |r| r.jobs);
            metrics::gauge!(m::QUEUE_DEPTH, "queue" => q.name(), "state" => state).set(jobs as f64);
        }
    }
    let mut took = None;
    if count_done {
        let started = std::time::Instant::now();
        if let Ok(done) = store::operator::done_counts(pool).await {
            for q in gatehouse_jobs::queue::Queue::ALL {
                let jobs = done.iter().find(|(queue, _)| queue == q.name()).map_or(0, |(_, n)| *n);
                metrics::gauge!(m::QUEUE_DEPTH, "queue" => q.name(), "state" => "done").set(jobs as f64);
            }
        }
        took = Some(started.elapsed());
    }
    if let Ok(ages) = store::queue::oldest_available_age(pool).await {
        for q in gatehouse_jobs::queue::Queue::ALL {
            let age = ages.iter().find(|(name, _)| name == q.name()).map_or(0.0, |(_, a)| *a);
            metrics::gauge!(m::QUEUE_OLDEST_AGE, "queue" => q.name()).set(age);
        }
    }
    took
}
