//! Waking idle workers without a NOTIFY per row.
//!
//! apalis-postgres wakes its workers through `LISTEN apalis::job::insert`, fed by a
//! per-row trigger on `apalis.jobs`. A transaction that has notified takes a lock that
//! is database-wide at commit, so that trigger serialized every enqueueing commit
//! (webhook ingress above all). Migration `20261201000140_app_level_wakeup.sql` drops
//! the trigger; the enqueueing side wakes the workers instead, debounced per queue
//! and per process, the way River does:
//!
//! - **leading edge**: the first due job a process enqueues into a queue after a quiet
//!   [`WAKE_EVERY`] notifies inside the caller's transaction, so the notification is
//!   delivered exactly when the row becomes visible (and not at all on rollback);
//! - **trailing edge**: a due job enqueued within the window does not notify itself; one
//!   notification goes out for every such job together, at the window's end and at least
//!   [`TRAILING_GRACE`] after the last of them was written (time for its transaction to
//!   commit), on a connection of the process's pool (see [`install`]);
//! - **fallback**: the workers also poll every `GATEHOUSE_POLL_INTERVAL_MS`, which finds
//!   what a lost notification, a transaction committed after its window's trailing
//!   notification, or a job that comes due later (`run_at` in the future) leaves behind.
//!
//! So at most one leading notification per queue, process and window, and one trailing
//! one per pause in the enqueueing, whatever the ingress rate; a worker busy with a backlog claims again as soon as its batch is
//! taken, notified or not. The notification's payload is the one apalis's listener
//! reads (`{"job_type", "id"}`); it only wakes the worker, which then claims as usual.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{PgConnection, PgPool};

use super::Queue;

/// The debounce window: at most one leading notification per queue and process within it.
pub const WAKE_EVERY: Duration = Duration::from_millis(20);

/// The window in use, in microseconds ([`WAKE_EVERY`] unless [`install_with_window`] set another).
static WINDOW_US: AtomicU64 = AtomicU64::new(WAKE_EVERY.as_micros() as u64);

fn window() -> Duration {
    Duration::from_micros(WINDOW_US.load(Ordering::Relaxed))
}

/// The trailing notification waits at least this long after the last row it covers was
/// written, so that row's transaction has committed by then (unless it takes longer).
pub const TRAILING_GRACE: Duration = Duration::from_millis(10);

#[derive(Clone, Copy)]
struct Edge {
    /// When the last leading notification was sent.
    last: Option<Instant>,
    /// A trailing notification is on its way.
    trailing: bool,
    /// When the last row that did not notify itself was written.
    latest_quiet: Option<Instant>,
}

impl Edge {
    const NEW: Edge = Edge { last: None, trailing: false, latest_quiet: None };
}

/// The state of the three queues' windows in this process.
static EDGES: Mutex<[Edge; 3]> = Mutex::new([Edge::NEW; 3]);

/// The pool trailing notifications go out on.
static POOL: Mutex<Option<PgPool>> = Mutex::new(None);

/// Gives this process's pool to the trailing edge (the api's `serve` and the worker's `run`
/// call it at start). The first pool is kept until it is closed. Without one,
/// jobs enqueued within a window notify in their own transactions, as the trigger did.
pub fn install(pool: &PgPool) {
    let mut installed = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if installed.as_ref().is_none_or(|p| p.is_closed()) {
        *installed = Some(pool.clone());
    }
}

/// [`install`], with a window other than [`WAKE_EVERY`] for this process (the tests
/// widen it, so that what falls within one window does not depend on the machine's speed).
pub fn install_with_window(pool: &PgPool, window: Duration) {
    WINDOW_US.store(window.as_micros().clamp(1, u64::MAX as u128) as u64, Ordering::Relaxed);
    install(pool);
}

fn installed_pool() -> Option<PgPool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner()).as_ref().filter(|p| !p.is_closed()).cloned()
}

fn slot(queue: Queue) -> usize {
    match queue {
        Queue::Interactive => 0,
        Queue::Lifecycle => 1,
        Queue::Bulk => 2,
    }
}

/// What a new due row asks of the waking side.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    /// Notify in the caller's transaction.
    Now,
    /// Notify on a connection of our own once the window ends, after this long.
    After(Duration),
    /// A trailing notification is already on its way.
    Covered,
}

fn decide(edge: &mut Edge, now: Instant, window: Duration) -> Wake {
    match edge.last {
        Some(last) if now.duration_since(last) < window => {
            edge.latest_quiet = Some(now);
            if edge.trailing {
                Wake::Covered
            } else {
                edge.trailing = true;
                Wake::After((window - now.duration_since(last)).max(TRAILING_GRACE))
            }
        }
        _ => {
            edge.last = Some(now);
            Wake::Now
        }
    }
}

/// After the trailing notification's wait: how much longer it waits for the rows it
/// covers, or `None` when it goes now (and the next quiet row schedules another).
fn trailing_due(edge: &mut Edge, now: Instant) -> Option<Duration> {
    let since = edge.latest_quiet.map_or(TRAILING_GRACE, |at| now.duration_since(at));
    if since < TRAILING_GRACE {
        return Some(TRAILING_GRACE - since);
    }
    edge.trailing = false;
    None
}

/// Called for each due row written on `conn` (the caller's transaction): wakes the
/// workers of `queue`, debounced (see the module's docs).
pub(crate) async fn due_row_written(conn: &mut PgConnection, queue: Queue, job_id: &str) -> Result<(), sqlx::Error> {
    let wake = {
        let mut edges = EDGES.lock().unwrap_or_else(|e| e.into_inner());
        decide(&mut edges[slot(queue)], Instant::now(), window())
    };
    match wake {
        Wake::Now => crate::store::queue::wake_workers(&mut *conn, queue.name(), job_id).await,
        Wake::After(wait) => {
            let pool = installed_pool();
            let runtime = tokio::runtime::Handle::try_current();
            match (pool, runtime) {
                (Some(pool), Ok(runtime)) => {
                    let job_id = job_id.to_string();
                    runtime.spawn(async move {
                        let mut wait = wait;
                        loop {
                            tokio::time::sleep(wait).await;
                            let mut edges = EDGES.lock().unwrap_or_else(|e| e.into_inner());
                            match trailing_due(&mut edges[slot(queue)], Instant::now()) {
                                Some(more) => wait = more,
                                None => break,
                            }
                        }
                        let sent = match pool.acquire().await {
                            Ok(mut conn) => crate::store::queue::wake_workers(&mut conn, queue.name(), &job_id).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = sent {
                            tracing::debug!(queue = queue.name(), error = %e, "trailing wake-up not sent: the poll finds the job");
                        }
                    });
                }
                _ => {
                    // No pool to send it on later (a process that never called
                    // `install`): notify with this transaction after all.
                    {
                        let mut edges = EDGES.lock().unwrap_or_else(|e| e.into_inner());
                        edges[slot(queue)].trailing = false;
                    }
                    return crate::store::queue::wake_workers(&mut *conn, queue.name(), job_id).await;
                }
            }
            Ok(())
        }
        Wake::Covered => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leading_notification_per_window_and_one_trailing_after_the_quiet_rows() {
        let mut edge = Edge::NEW;
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        assert_eq!(decide(&mut edge, t0, WAKE_EVERY), Wake::Now);
        assert_eq!(decide(&mut edge, t0 + ms(5), WAKE_EVERY), Wake::After(WAKE_EVERY - ms(5)));
        assert_eq!(decide(&mut edge, t0 + ms(15), WAKE_EVERY), Wake::Covered);
        // At the window's end, the last quiet row (15 ms) is only 5 ms old: wait for it.
        assert_eq!(trailing_due(&mut edge, t0 + WAKE_EVERY), Some(TRAILING_GRACE - ms(5)));
        assert_eq!(trailing_due(&mut edge, t0 + ms(25)), None);
        // A quiet row near a window's end still gets its grace.
        assert_eq!(decide(&mut edge, t0 + ms(19), WAKE_EVERY), Wake::After(TRAILING_GRACE));
        // After the window, the next row notifies in its own transaction again.
        assert_eq!(decide(&mut edge, t0 + ms(40), WAKE_EVERY), Wake::Now);
        assert!(edge.trailing, "the trailing notification still on its way");
        assert_eq!(decide(&mut edge, t0 + ms(45), WAKE_EVERY), Wake::Covered);
    }
}
