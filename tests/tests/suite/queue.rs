//! The queue backbone: idempotent enqueue, retries with backoff, snoozes that do
//! not count, permanent failures, scheduler ticks under one leader, pruning.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use gatehouse_jobs::{
    catalog::{
        diagnostics::{Probe, ProbeFailure},
        maintenance::PruneFinishedJobs,
    },
    queue::{Enqueued, RunAt, enqueue},
};
use gatehouse_tests::{TestDb, drain, drain_all, spawn_worker, test_config};

fn probe(key: &str) -> Probe {
    Probe { key: key.into(), sleep_ms: 0, fail_first: 0, failure: ProbeFailure::Transient }
}

async fn put(db: &TestDb, job: &Probe) -> Enqueued {
    let mut conn = db.pool.acquire().await.unwrap();
    enqueue(&mut conn, job, RunAt::Now).await.unwrap()
}

/// A bulk worker's row in `apalis.workers`, last seen `silent_secs` ago.
async fn register_worker(db: &TestDb, id: &str, silent_secs: i64) {
    sqlx::query(
        "INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen)
         VALUES ($1, 'bulk', 'PgStorage', '', now() - make_interval(secs => $2))",
    )
    .bind(id)
    .bind(silent_secs as f64)
    .execute(&db.pool)
    .await
    .unwrap();
}

/// Bulk rows `(id, status, lock_by)`, each run `attempts` times, due a second ago.
async fn insert_rows(db: &TestDb, rows: &[(&str, &str, Option<&str>)], attempts: i32) {
    for (id, status, lock_by) in rows {
        sqlx::query(
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata, lock_by)
             VALUES ($1, 'bulk', convert_to('{}', 'UTF8'), $2, $3, 25, now() - interval '1 second', 0, ''::hstore, $4)",
        )
        .bind(id)
        .bind(status)
        .bind(attempts)
        .bind(lock_by)
        .execute(&db.pool)
        .await
        .unwrap();
    }
}

/// Every row's `(id, status, attempts, lock_by)`, by id.
async fn rows_now(db: &TestDb) -> Vec<(String, String, i32, Option<String>)> {
    sqlx::query_as("SELECT id, status, attempts, lock_by FROM apalis.jobs ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

/// `expected` as [`rows_now`] reads it.
fn owned(expected: &[(&str, &str, i32, Option<&str>)]) -> Vec<(String, String, i32, Option<String>)> {
    expected
        .iter()
        .map(|(id, status, attempts, lock)| (id.to_string(), status.to_string(), *attempts, lock.map(String::from)))
        .collect()
}

/// Start times of a probe's runs, in order.
async fn starts(db: &TestDb, key: &str) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar("SELECT at FROM diagnostic_probe_runs WHERE probe_key = $1 AND phase = 'started' ORDER BY at")
        .bind(key)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn enqueueing_the_same_key_twice_makes_one_job_and_keeps_the_transaction_usable() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    assert!(matches!(enqueue(&mut tx, &probe("k"), RunAt::Now).await.unwrap(), Enqueued::New(_)));
    assert_eq!(enqueue(&mut tx, &probe("k"), RunAt::Now).await.unwrap(), Enqueued::Duplicate);
    // The duplicate did not abort the transaction: the intent written after it commits.
    sqlx::query("INSERT INTO diagnostic_probe_runs (probe_key, phase, worker) VALUES ('intent', 'started', 'test')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.jobs().await.len(), 1);
    assert_eq!(db.count("SELECT count(*) FROM diagnostic_probe_runs WHERE probe_key = 'intent'").await, 1);
}

#[tokio::test]
async fn every_job_runs_once() {
    let db = TestDb::new().await;
    for i in 0..200 {
        put(&db, &probe(&format!("p{i}"))).await;
    }
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    drain(&db.pool, Duration::from_secs(30)).await;
    assert_eq!(db.count("SELECT count(*) FROM diagnostic_probe_runs WHERE phase = 'finished'").await, 200);
    assert_eq!(
        db.count("SELECT count(DISTINCT probe_key) FROM diagnostic_probe_runs WHERE phase = 'finished'").await,
        200
    );
    assert!(db.jobs().await.iter().all(|j| j.status == "Done" && j.attempts == 1));
    worker.stop().await;
}

#[tokio::test]
async fn a_transient_failure_is_retried_after_a_backoff_not_at_once() {
    let db = TestDb::new().await;
    put(&db, &Probe { fail_first: 1, failure: ProbeFailure::Transient, ..probe("flaky") }).await;
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    drain_all(&db.pool, Duration::from_secs(30)).await;
    let runs = starts(&db, "flaky").await;
    assert_eq!(runs.len(), 2, "one failure, one success");
    let gap = runs[1] - runs[0];
    assert!(gap >= chrono::Duration::milliseconds(1000), "retried after {gap}, before the 1 s minimum backoff");
    let job = &db.jobs().await[0];
    assert_eq!((job.status.as_str(), job.attempts), ("Done", 2));
    worker.stop().await;
}

#[tokio::test]
async fn a_rate_limited_job_waits_its_retry_after_and_the_wait_is_not_counted_as_an_attempt() {
    let db = TestDb::new().await;
    put(&db, &Probe { fail_first: 2, failure: ProbeFailure::RateLimited(2), ..probe("limited") }).await;
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    gatehouse_tests::wait_until(Duration::from_secs(10), "the first snooze", || async {
        db.jobs().await[0].status == "Pending" && starts(&db, "limited").await.len() == 1
    })
    .await;
    let job = &db.jobs().await[0];
    assert!(job.run_at > Utc::now() + chrono::Duration::milliseconds(1000), "rescheduled at retry_after, not slept");
    drain_all(&db.pool, Duration::from_secs(30)).await;
    let runs = starts(&db, "limited").await;
    assert_eq!(runs.len(), 3);
    for pair in runs.windows(2) {
        assert!(pair[1] - pair[0] >= chrono::Duration::milliseconds(2000), "ran again before retry_after");
    }
    let job = &db.jobs().await[0];
    assert_eq!(job.status, "Done");
    // Two snoozes raised max_attempts by two: they did not use up the job's attempts.
    assert_eq!(job.max_attempts, 12 + 2);
    worker.stop().await;
}

#[tokio::test]
async fn a_permanent_failure_is_not_retried_and_keeps_its_reason() {
    let db = TestDb::new().await;
    put(&db, &Probe { fail_first: 5, failure: ProbeFailure::Permanent, ..probe("doomed") }).await;
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    drain_all(&db.pool, Duration::from_secs(30)).await;
    assert_eq!(starts(&db, "doomed").await.len(), 1);
    let job = &db.jobs().await[0];
    assert_eq!(job.status, "Killed");
    assert!(job.last_result.as_ref().unwrap().to_string().contains("permanent failure as asked"));
    worker.stop().await;
}

#[tokio::test]
async fn an_unknown_job_kind_fails_permanently() {
    let db = TestDb::new().await;
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata)
         VALUES ('01JD0000000000000000000000', 'bulk', convert_to('{\"kind\":\"no-such-job\",\"args\":{}}', 'UTF8'),
                 'Pending', 0, 5, now(), 0, ''::hstore)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    drain_all(&db.pool, Duration::from_secs(30)).await;
    let job = &db.jobs().await[0];
    assert_eq!((job.status.as_str(), job.attempts), ("Killed", 1));
    worker.stop().await;
}

#[tokio::test]
async fn a_schedule_tick_runs_once_with_two_workers_competing() {
    let db = TestDb::new().await;
    let config = Arc::new(test_config(&db.url, &[]));
    let every_second = gatehouse_worker::scheduler::Schedule::new("probe-every-second", "* * * * * *", |tick| {
        Box::new(Probe {
            key: format!("tick:{}", tick.timestamp()),
            sleep_ms: 0,
            fail_first: 0,
            failure: ProbeFailure::Transient,
        })
    })
    .unwrap();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let options = gatehouse_worker::WorkerOptions { schedules: vec![every_second.clone()], ..Default::default() };
        let pool = db.pool.clone();
        let config = config.clone();
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            gatehouse_worker::run(config, pool, options, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
        });
        workers.push((tx, task));
    }
    gatehouse_tests::wait_until(Duration::from_secs(20), "three ticks", || async {
        db.count("SELECT count(DISTINCT probe_key) FROM diagnostic_probe_runs WHERE phase = 'finished'").await >= 3
    })
    .await;
    for (tx, task) in workers {
        tx.send(true).unwrap();
        task.await.unwrap().unwrap();
    }
    let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(gatehouse_worker::scheduler::LEADER_LOCK_KEY)
        .fetch_one(&mut db.pool.acquire().await.unwrap().detach())
        .await
        .unwrap();
    assert!(free, "leadership is released on shutdown");
    let runs: Vec<(String, i64)> =
        sqlx::query_as("SELECT probe_key, count(*) FROM diagnostic_probe_runs WHERE phase = 'started' GROUP BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(runs.len() >= 3);
    assert!(runs.iter().all(|(_, n)| *n == 1), "a tick ran twice: {runs:?}");
}

#[tokio::test]
async fn finished_jobs_older_than_the_retention_are_pruned() {
    let db = TestDb::new().await;
    put(&db, &probe("old")).await;
    put(&db, &probe("recent")).await;
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    drain(&db.pool, Duration::from_secs(30)).await;
    sqlx::query("UPDATE apalis.jobs SET done_at = now() - interval '8 days' WHERE idempotency_key = 'probe:old'")
        .execute(&db.pool)
        .await
        .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    enqueue(&mut conn, &PruneFinishedJobs { tick: Utc::now() }, RunAt::Now).await.unwrap();
    drop(conn);
    drain(&db.pool, Duration::from_secs(30)).await;
    let keys: Vec<String> = db.jobs().await.into_iter().filter_map(|j| j.idempotency_key).collect();
    assert!(!keys.contains(&"probe:old".to_string()), "{keys:?}");
    assert!(keys.contains(&"probe:recent".to_string()), "{keys:?}");
    worker.stop().await;
}

/// apalis's claim (`apalis.get_jobs`, as migration 20261201000170 defines it): the due
/// rows of the queue, highest priority first, Failed ones with attempts left included;
/// rows another transaction holds are skipped; and it finds its rows by index, never by
/// reading the whole table (behind a backlog, the old claim's join read every row of
/// `apalis.jobs` once per claim, so a claim cost as much as the table held).
#[tokio::test]
async fn a_claim_takes_the_due_rows_by_priority_skips_held_ones_and_reads_no_whole_table() {
    let db = TestDb::new().await;
    register_worker(&db, "claimer", 0).await;
    register_worker(&db, "other", 0).await;
    // A backlog of five thousand due rows of lower priority, as a mass expiry leaves them.
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata)
         SELECT 'Z' || lpad(g::text, 25, '0'), 'bulk', convert_to('{}', 'UTF8'), 'Pending', 0, 25,
                now() - interval '1 hour', -1, ''::hstore
         FROM generate_series(1, 5000) g",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let rows = [
        // (id, queue, status, attempts, max_attempts, run_at offset in s, priority)
        ("A-low", "bulk", "Pending", 0, 25, -10, 0),
        ("B-high", "bulk", "Pending", 0, 25, -5, 5),
        ("C-failed", "bulk", "Failed", 1, 25, -20, 0),
        ("D-exhausted", "bulk", "Failed", 25, 25, -30, 9),
        ("E-later", "bulk", "Pending", 0, 25, 60, 9),
        ("F-other-queue", "lifecycle", "Pending", 0, 25, -30, 9),
        ("G-held", "bulk", "Pending", 0, 25, -40, 9),
        ("H-running", "bulk", "Running", 1, 25, -50, 9),
    ];
    for (id, queue, status, attempts, max_attempts, offset, priority) in rows {
        sqlx::query(
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata, lock_by)
             VALUES ($1, $2, convert_to('{}', 'UTF8'), $3, $4, $5, now() + make_interval(secs => $6), $7, ''::hstore,
                     CASE WHEN $3 = 'Running' THEN 'other' END)",
        )
        .bind(id)
        .bind(queue)
        .bind(status)
        .bind(attempts)
        .bind(max_attempts)
        .bind(f64::from(offset))
        .bind(priority)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    sqlx::query("ANALYZE apalis.jobs").execute(&db.pool).await.unwrap();
    // Another worker's transaction holds one due row.
    let mut holder = db.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM apalis.jobs WHERE id = 'G-held' FOR UPDATE").execute(&mut *holder).await.unwrap();

    // Rows read from apalis.jobs by sequential scans, as this backend counts them (the
    // count is not reset between transactions until it is reported, so it is read before
    // and after).
    let read_by_scans = "SELECT pg_stat_get_xact_tuples_returned('apalis.jobs'::regclass)";
    let mut tx = db.pool.begin().await.unwrap();
    let before: i64 = sqlx::query_scalar(read_by_scans).fetch_one(&mut *tx).await.unwrap();
    let claimed: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, lock_by FROM apalis.get_jobs('claimer', 'bulk', 3)")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    let scanned = sqlx::query_scalar::<_, i64>(read_by_scans).fetch_one(&mut *tx).await.unwrap() - before;
    tx.commit().await.unwrap();
    holder.rollback().await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|(id, ..)| id.as_str()).collect();
    assert_eq!(ids, ["B-high", "C-failed", "A-low"], "due rows of the queue, highest priority first, then oldest");
    assert!(
        claimed.iter().all(|(_, status, lock)| status == "Queued" && lock.as_deref() == Some("claimer")),
        "{claimed:?}"
    );
    assert!(scanned < 100, "a claim of 3 rows read {scanned} rows of apalis.jobs by sequential scan");
}

/// The claim keeps its plan for the session (PL/pgSQL, migration 20261201000180): after
/// PostgreSQL's five custom plans it runs a generic one, which must pick the same rows
/// the same way. Ten claims on one connection take the backlog in order, by index.
#[tokio::test]
async fn a_claim_repeated_on_one_connection_takes_the_backlog_in_order_by_index() {
    let db = TestDb::new().await;
    register_worker(&db, "claimer", 0).await;
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata)
         SELECT 'J' || lpad(g::text, 25, '0'), 'bulk', convert_to('{}', 'UTF8'), 'Pending', 0, 25,
                now() - interval '1 hour' + make_interval(secs => g), 0, ''::hstore
         FROM generate_series(1, 3000) g",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE apalis.jobs").execute(&db.pool).await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let read_by_scans = "SELECT pg_stat_get_xact_tuples_returned('apalis.jobs'::regclass)";
    let mut taken = Vec::new();
    for claim in 0..10 {
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        let before: i64 = sqlx::query_scalar(read_by_scans).fetch_one(&mut *tx).await.unwrap();
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM apalis.get_jobs('claimer', 'bulk', 7)")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        let scanned = sqlx::query_scalar::<_, i64>(read_by_scans).fetch_one(&mut *tx).await.unwrap() - before;
        tx.commit().await.unwrap();
        assert_eq!(ids.len(), 7, "claim {claim}: {ids:?}");
        assert!(scanned < 100, "claim {claim} read {scanned} rows of apalis.jobs by sequential scan");
        taken.extend(ids);
    }
    let expected: Vec<String> = (1..=70).map(|g| format!("J{g:025}")).collect();
    assert_eq!(taken, expected, "the oldest due rows, in order, none twice");
    let queued = db.count("SELECT count(*) FROM apalis.jobs WHERE status = 'Queued' AND lock_by = 'claimer'").await;
    assert_eq!(queued, 70);
}

/// With no foreign key from `lock_by` to `apalis.workers` (migration 20261201000180), a
/// worker's row still cannot be deleted while it holds claimed or running rows, since the
/// rescue finds those through it; and the rescue gives back what a silent worker held,
/// counting an attempt, while a live worker's rows and rows nobody holds stay.
#[tokio::test]
async fn a_worker_holding_rows_cannot_be_deleted_and_the_rescue_gives_back_a_silent_ones_rows() {
    let db = TestDb::new().await;
    register_worker(&db, "alive", 0).await;
    register_worker(&db, "silent", 600).await;
    register_worker(&db, "finished", 600).await;
    let rows = [
        ("A-alive-running", "Running", Some("alive")),
        ("B-alive-queued", "Queued", Some("alive")),
        ("C-silent-running", "Running", Some("silent")),
        ("D-silent-queued", "Queued", Some("silent")),
        ("E-pending", "Pending", None),
        ("F-done", "Done", Some("finished")),
    ];
    insert_rows(&db, &rows, 1).await;
    let refused = sqlx::query("DELETE FROM apalis.workers WHERE id = 'silent'").execute(&db.pool).await.unwrap_err();
    let code = refused.as_database_error().and_then(|e| e.code()).map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("23503"), "{refused}");
    let gone = sqlx::query("DELETE FROM apalis.workers WHERE id = 'finished'").execute(&db.pool).await.unwrap();
    assert_eq!(gone.rows_affected(), 1, "a worker holding only finished rows can go");

    let rescued = gatehouse_jobs::store::queue::rescue_orphans(&db.pool, 60).await.unwrap();
    assert_eq!(rescued, 2);
    let after = rows_now(&db).await;
    let expected = [
        ("A-alive-running", "Running", 1, Some("alive")),
        ("B-alive-queued", "Queued", 1, Some("alive")),
        ("C-silent-running", "Pending", 2, None),
        ("D-silent-queued", "Pending", 2, None),
        ("E-pending", "Pending", 1, None),
        ("F-done", "Done", 1, Some("finished")),
    ];
    assert_eq!(after, owned(&expected));
    let now_free = sqlx::query("DELETE FROM apalis.workers WHERE id = 'silent'").execute(&db.pool).await.unwrap();
    assert_eq!(now_free.rows_affected(), 1, "once its rows were given back, the silent worker's row can go");
}

/// The worker's completer writes starts and acknowledgements apart from the stream, so one
/// may come after its row was given back (a stream that ended) or claimed by another: it
/// changes only rows the worker still holds, and the job runs again.
#[tokio::test]
async fn a_start_or_acknowledgement_written_late_changes_only_rows_the_worker_still_holds() {
    use gatehouse_worker::backend::{Status, TaskEvent, TaskId, TaskResult, write_events};
    let db = TestDb::new().await;
    let rows = [
        ("A-claimed", "Queued", Some("w1")),
        ("B-given-back", "Pending", None),
        ("C-claimed-by-another", "Queued", Some("w2")),
        ("D-running", "Running", Some("w1")),
        ("E-running-on-another", "Running", Some("w2")),
        ("F-claimed-and-done", "Queued", Some("w1")),
    ];
    insert_rows(&db, &rows, 0).await;
    let start = |id: &str| TaskEvent::Lock { task_id: TaskId::from_string(id) };
    let done = |id: &str| {
        TaskEvent::Complete(TaskResult {
            task_id: TaskId::from_string(id),
            attempt: 1,
            status: Status::Done,
            result: Ok(serde_json::Value::Null),
        })
    };
    let events = [
        start("A-claimed"),
        start("B-given-back"),
        start("C-claimed-by-another"),
        done("D-running"),
        done("E-running-on-another"),
        start("F-claimed-and-done"),
        done("F-claimed-and-done"),
    ];
    write_events(&db.pool, "w1", &events).await.unwrap();
    let after = rows_now(&db).await;
    let expected = [
        ("A-claimed", "Running", 0, Some("w1")),
        ("B-given-back", "Pending", 0, None),
        ("C-claimed-by-another", "Queued", 0, Some("w2")),
        ("D-running", "Done", 1, Some("w1")),
        ("E-running-on-another", "Running", 0, Some("w2")),
        ("F-claimed-and-done", "Done", 1, Some("w1")),
    ];
    assert_eq!(after, owned(&expected));
}

/// Migration 20261201000190: the queue table is vacuumed after a fixed number of dead or
/// inserted rows whatever its size, without cost-based pauses (its claims otherwise walk
/// the dead index entries of every row claimed since the last vacuum).
#[tokio::test]
async fn the_queue_table_is_vacuumed_after_a_fixed_number_of_rows_whatever_its_size() {
    let db = TestDb::new().await;
    let options: Vec<String> =
        sqlx::query_scalar("SELECT unnest(reloptions) FROM pg_class WHERE oid = 'apalis.jobs'::regclass")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    for option in [
        "autovacuum_vacuum_scale_factor=0",
        "autovacuum_vacuum_threshold=5000",
        "autovacuum_vacuum_insert_scale_factor=0",
        "autovacuum_vacuum_insert_threshold=5000",
        "autovacuum_vacuum_cost_delay=0",
        "autovacuum_analyze_scale_factor=0.02",
    ] {
        assert!(options.iter().any(|o| o == option), "{option} in {options:?}");
    }
}
