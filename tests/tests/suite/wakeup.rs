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
        let started: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT min(at) FROM diagnostic_probe_runs WHERE probe_key = $1 AND phase = 'started'")
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

/// The wake-ups the queues' listeners receive, with when they arrived.
async fn listen(db: &TestDb) -> sqlx::postgres::PgListener {
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener.listen("apalis::job::insert").await.unwrap();
    listener
}

async fn received(
    listener: &mut sqlx::postgres::PgListener,
    within: Duration,
) -> Vec<(DateTime<Utc>, serde_json::Value)> {
    let mut got = Vec::new();
    while let Ok(Ok(n)) = tokio::time::timeout(within, listener.recv()).await {
        got.push((Utc::now(), serde_json::from_str(n.payload()).unwrap()));
    }
    got
}

#[tokio::test]
async fn a_burst_of_enqueues_is_announced_by_a_few_wake_ups_the_last_after_the_last_commit() {
    let db = TestDb::new().await;
    // A window wide enough that the burst falls within it, however slow the machine.
    let window = Duration::from_secs(3);
    gatehouse_jobs::queue::wake::install_with_window(&db.pool, window);
    let mut listener = listen(&db).await;
    let started = std::time::Instant::now();
    let mut last_commit = Utc::now();
    for i in 0..40 {
        let mut tx = db.pool.begin().await.unwrap();
        enqueue(&mut tx, &probe(&format!("burst-{i}")), RunAt::Now).await.unwrap();
        tx.commit().await.unwrap();
        last_commit = Utc::now();
    }
    let windows = (started.elapsed().as_millis() / window.as_millis()) as usize + 1;
    let wake_ups = received(&mut listener, window + Duration::from_millis(500)).await;
    // Debounced: at most a leading and a trailing one per window, not one per job.
    assert!(!wake_ups.is_empty() && wake_ups.len() <= 2 * windows, "{} wake-ups in {windows} windows", wake_ups.len());
    assert!(wake_ups.len() < 40, "one wake-up per job");
    // The last job is announced by a wake-up after its commit (the trailing one, unless its
    // row opened a window of its own; the next test pins the trailing one down).
    assert!(wake_ups.last().unwrap().0 >= last_commit, "no wake-up after the last commit");
    assert!(wake_ups.iter().all(|(_, p)| p["job_type"] == "bulk"));
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
    assert_eq!(
        db.count("SELECT count(*) FROM diagnostic_probe_runs WHERE probe_key = 'silent' AND phase = 'finished'").await,
        1
    );
}

#[tokio::test]
async fn a_rolled_back_enqueue_wakes_nobody_and_the_next_job_of_its_window_is_announced() {
    let db = TestDb::new().await;
    gatehouse_jobs::queue::wake::install_with_window(&db.pool, Duration::from_millis(500));
    let mut listener = listen(&db).await;
    // The window's leading wake-up goes with a transaction that rolls back…
    let mut tx = db.pool.begin().await.unwrap();
    enqueue(&mut tx, &probe("rolled-back"), RunAt::Now).await.unwrap();
    tx.rollback().await.unwrap();
    // …so the next job of the window is announced by the trailing one, after its commit.
    let mut tx = db.pool.begin().await.unwrap();
    let kept = match enqueue(&mut tx, &probe("kept"), RunAt::Now).await.unwrap() {
        gatehouse_jobs::queue::Enqueued::New(id) => id,
        other => panic!("{other:?}"),
    };
    tx.commit().await.unwrap();
    let committed = Utc::now();
    let wake_ups = received(&mut listener, Duration::from_millis(1_000)).await;
    assert_eq!(wake_ups.len(), 1, "{wake_ups:?}");
    assert_eq!(wake_ups[0].1["id"], kept.as_str());
    assert!(wake_ups[0].0 >= committed);
    assert_eq!(db.count("SELECT count(*) FROM apalis.jobs").await, 1);
}
