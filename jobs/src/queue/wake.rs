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
//!   notification goes out at the end of the window, on its own connection of the
//!   process's pool (see [`install`]), for every such job together;
//! - **fallback**: the workers also poll every `GATEHOUSE_POLL_INTERVAL_MS`, which finds
//!   what a lost notification, a transaction committed after its window's trailing
//!   notification, or a job that comes due later (`run_at` in the future) leaves behind.
//!
//! So at most two notifying commits per queue, process and window, whatever the
//! ingress rate; a worker busy with a backlog claims again as soon as its batch is
//! taken, notified or not. The notification's payload is the one apalis's listener
//! reads (`{"job_type", "id"}`); it only wakes the worker, which then claims as usual.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use sqlx::{PgConnection, PgPool};

use super::Queue;

/// The debounce window: at most one leading and one trailing notification per queue
/// and process within it.
pub const WAKE_EVERY: Duration = Duration::from_millis(20);

#[derive(Default, Clone, Copy)]
struct Edge {
    /// When the last notification (leading or trailing) was sent or scheduled.
    last: Option<Instant>,
    /// A trailing notification is scheduled for this window.
    trailing: bool,
}

/// The state of the three queues' windows in this process.
static EDGES: Mutex<[Edge; 3]> = Mutex::new([Edge { last: None, trailing: false }; 3]);

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

fn decide(edge: &mut Edge, now: Instant) -> Wake {
    match edge.last {
        Some(last) if now.duration_since(last) < WAKE_EVERY => {
            if edge.trailing {
                Wake::Covered
            } else {
                edge.trailing = true;
                Wake::After(WAKE_EVERY - now.duration_since(last))
            }
        }
        _ => {
            edge.last = Some(now);
            edge.trailing = false;
            Wake::Now
        }
    }
}

/// Called for each due row written on `conn` (the caller's transaction): wakes the
/// workers of `queue`, debounced (see the module's docs).
pub(crate) async fn due_row_written(conn: &mut PgConnection, queue: Queue, job_id: &str) -> Result<(), sqlx::Error> {
    let wake = {
        let mut edges = EDGES.lock().unwrap_or_else(|e| e.into_inner());
        decide(&mut edges[slot(queue)], Instant::now())
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
                        tokio::time::sleep(wait).await;
                        {
                            let mut edges = EDGES.lock().unwrap_or_else(|e| e.into_inner());
                            let edge = &mut edges[slot(queue)];
                            edge.last = Some(Instant::now());
                            edge.trailing = false;
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
    fn one_leading_and_one_trailing_notification_per_window() {
        let mut edge = Edge::default();
        let t0 = Instant::now();
        assert_eq!(decide(&mut edge, t0), Wake::Now);
        let t1 = t0 + Duration::from_millis(5);
        assert_eq!(decide(&mut edge, t1), Wake::After(WAKE_EVERY - Duration::from_millis(5)));
        assert_eq!(decide(&mut edge, t0 + Duration::from_millis(10)), Wake::Covered);
        // The trailing notification went out at the window's end.
        edge.last = Some(t0 + WAKE_EVERY);
        edge.trailing = false;
        assert!(matches!(decide(&mut edge, t0 + WAKE_EVERY + Duration::from_millis(1)), Wake::After(_)));
        // After a quiet window, the next row notifies in its own transaction again.
        assert_eq!(decide(&mut edge, t0 + WAKE_EVERY * 3), Wake::Now);
    }
}
