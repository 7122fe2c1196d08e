//! Waking idle workers without apalis's per-row NOTIFY trigger: the enqueueing side
//! notifies, debounced per queue (`gatehouse_jobs::queue::wake`), and the workers' poll
//! finds what no notification announced.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use gatehouse_jobs::{
    catalog::diagnostics::{Probe, ProbeFailure},
    queue::{RunAt, enqueue},
};
use gatehouse_tests::{TestDb, drain, spawn_worker, test_config};

fn probe(key: &str) -> Probe {
    Probe { key: key.into(), sleep_ms: 0, fail_first: 0, failure: ProbeFailure::Transient }
}

/// Enqueues a probe in a transaction of its own; returns when it was committed.
async fn put(db: &TestDb, key: &str) -> DateTime<Utc> {
    let mut tx = db.pool.begin().await.unwrap();
    enqueue(&mut tx, &probe(key), RunAt::Now).await.unwrap();
    let at = Utc::now();
    tx.commit().await.unwrap();
    at
}

/// How long after `since` the probe started, waiting up to 10 s for it.
async fn started_after(db: &TestDb, key: &str, since: DateTime<Utc>) -> Duration {
    for _ in 0..2_000 {
        let started: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(at) FROM diagnostic_probe_runs WHERE probe_key = $1 AND phase = 'started'",
        )
        .bind(key)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if let Some(started) = started {
            return (started - since).to_std().unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("probe {key} did not start within 10 s");
}

/// A worker whose poll would take a minute: only a wake-up starts a job sooner than the
/// watchdog's nudge of idle workers (once a second).
async fn idle_worker_that_barely_polls(db: &TestDb) -> gatehouse_tests::Running {
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[("GATEHOUSE_POLL_INTERVAL_MS", "60000")]))).await;
    // Registered and waiting.
    for _ in 0..200 {
        if db.count("SELECT count(*) FROM apalis.workers").await >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker
}

#[tokio::test]
async fn the_per_row_notify_trigger_is_gone() {
    let db = TestDb::new().await;
    assert_eq!(db.count("SELECT count(*) FROM pg_trigger WHERE tgname = 'notify_workers'").await, 0);
}

#[tokio::test]
async fn a_job_enqueued_into_an_idle_worker_is_woken_for_not_polled_for() {
    let db = TestDb::new().await;
    let _worker = idle_worker_that_barely_polls(&db).await;
    // Each job the first of its queue's window (a leading wake-up in its transaction).
    let mut waits = Vec::new();
    for i in 0..7 {
        let at = put(&db, &format!("alone-{i}")).await;
        waits.push(started_after(&db, &format!("alone-{i}"), at).await);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    waits.sort();
    // Without a wake-up, each would wait for the nudge: 500 ms on average.
    assert!(waits[3] < Duration::from_millis(300), "median wait {:?} (all: {waits:?})", waits[3]);
}

#[tokio::test]
async fn jobs_enqueued_within_one_window_are_woken_by_the_trailing_wake_up() {
    let db = TestDb::new().await;
    let _worker = idle_worker_that_barely_polls(&db).await;
    let mut waits = Vec::new();
    for i in 0..7 {
        put(&db, &format!("first-{i}")).await;
        // Enqueued within the first one's window, so it does not notify itself, and
        // committed after the worker, woken for the first, has found only that one.
        let second = format!("second-{i}");
        let mut tx = db.pool.begin().await.unwrap();
        enqueue(&mut tx, &probe(&second), RunAt::Now).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let at = Utc::now();
        tx.commit().await.unwrap();
        waits.push(started_after(&db, &second, at).await);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    waits.sort();
    // Without the trailing wake-up, each would wait for the nudge: 500 ms on average.
    assert!(waits[3] < Duration::from_millis(300), "median wait {:?} (all: {waits:?})", waits[3]);
}

#[tokio::test]
async fn a_job_written_with_no_notification_at_all_is_still_picked_up() {
    let db = TestDb::new().await;
    let _worker = idle_worker_that_barely_polls(&db).await;
    // Straight into the table, as another writer would: nothing notifies.
    let body = serde_json::to_vec(&serde_json::json!({"kind": "probe", "args": probe("silent")})).unwrap();
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata)
         VALUES ($1, 'bulk', $2, 'Pending', 0, 5, now(), 0, ''::hstore)",
    )
    .bind("01JD0000000000000000000001")
    .bind(body)
    .execute(&db.pool)
    .await
    .unwrap();
    drain(&db.pool, Duration::from_secs(10)).await;
    assert_eq!(db.count("SELECT count(*) FROM diagnostic_probe_runs WHERE probe_key = 'silent' AND phase = 'finished'").await, 1);
}

#[tokio::test]
async fn a_rolled_back_enqueue_wakes_nobody_and_loses_no_later_job() {
    let db = TestDb::new().await;
    let _worker = idle_worker_that_barely_polls(&db).await;
    // The window's leading wake-up goes with a transaction that rolls back…
    let mut tx = db.pool.begin().await.unwrap();
    enqueue(&mut tx, &probe("rolled-back"), RunAt::Now).await.unwrap();
    tx.rollback().await.unwrap();
    // …so the next job of the window is announced by the trailing one.
    let at = put(&db, "kept").await;
    let waited = started_after(&db, "kept", at).await;
    assert!(waited < Duration::from_millis(600), "waited {waited:?}");
    drain(&db.pool, Duration::from_secs(10)).await;
    assert_eq!(db.count("SELECT count(*) FROM diagnostic_probe_runs WHERE probe_key = 'rolled-back'").await, 0);
}
