//! A worker killed mid-job, and a worker stopped gracefully.

use std::time::{Duration, Instant};

use gatehouse_jobs::{
    catalog::diagnostics::{Probe, ProbeFailure},
    queue::{RunAt, enqueue},
};
use gatehouse_tests::{TestDb, wait_until};

use crate::harness::{Proc, is_of, probe_workers};

async fn put_probe(db: &TestDb, key: &str, sleep_ms: u64) {
    let mut conn = db.pool.acquire().await.unwrap();
    let probe = Probe { key: key.into(), sleep_ms, fail_first: 0, failure: ProbeFailure::Transient };
    enqueue(&mut conn, &probe, RunAt::Now).await.unwrap();
}

#[tokio::test]
async fn a_job_of_a_killed_worker_completes_on_another_worker_within_the_rescue_time() {
    let db = TestDb::new().await;
    put_probe(&db, "slow", 4_000).await;
    let a = Proc::start("worker", &db.url, &[]);
    wait_until(Duration::from_secs(30), "worker A to start the job", || async {
        !probe_workers(&db.pool, "slow", "started").await.is_empty()
    })
    .await;
    let b = Proc::start("worker", &db.url, &[]);
    a.signal("KILL");
    let killed_at = Instant::now();

    wait_until(Duration::from_secs(30), "worker B to start the job again", || async {
        probe_workers(&db.pool, "slow", "started").await.len() == 2
    })
    .await;
    let rescued_after = killed_at.elapsed();
    wait_until(Duration::from_secs(30), "the job to finish", || async {
        !probe_workers(&db.pool, "slow", "finished").await.is_empty()
    })
    .await;

    let started = probe_workers(&db.pool, "slow", "started").await;
    let finished = probe_workers(&db.pool, "slow", "finished").await;
    assert!(is_of(&started[0], a.pid()) && is_of(&started[1], b.pid()), "{started:?}");
    assert_eq!(finished.len(), 1);
    assert!(is_of(&finished[0], b.pid()), "{finished:?}");
    // Documented bound: rescue_after (3 s here) plus one heartbeat (1 s) and a poll; the
    // rest is slack for a loaded 2-core test machine running other tests alongside.
    assert!(rescued_after <= Duration::from_secs(3 + 1 + 4), "rescued after {rescued_after:?}");
    assert!(rescued_after >= Duration::from_secs(2), "not before the worker was silent long enough: {rescued_after:?}");
    // The probe records "finished" just before the worker acknowledges the job: the row
    // turns Done a moment later.
    wait_until(Duration::from_secs(10), "the job to be acknowledged as done", || async {
        db.jobs().await[0].status == "Done"
    })
    .await;
}

#[tokio::test]
async fn a_worker_stopped_with_sigterm_finishes_its_job_and_exits_0() {
    let db = TestDb::new().await;
    put_probe(&db, "graceful", 1_000).await;
    let mut a = Proc::start("worker", &db.url, &[]);
    wait_until(Duration::from_secs(30), "the worker to start the job", || async {
        !probe_workers(&db.pool, "graceful", "started").await.is_empty()
    })
    .await;
    a.signal("TERM");
    let status = a.wait(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{status:?}");
    let finished = probe_workers(&db.pool, "graceful", "finished").await;
    assert_eq!(finished.len(), 1, "the job in flight was finished before exit");
    assert!(is_of(&finished[0], a.pid()));
    assert_eq!(db.jobs().await[0].status, "Done");
}
