//! No-op job throughput through Gatehouse's queue (apalis-postgres, real worker
//! processes) next to the raw floor: a batched `FOR UPDATE SKIP LOCKED` claim/ack
//! loop on the same database, measured in the same run.
//!
//! Then the enqueue → start latency of one job into an idle worker process: a probe
//! job enqueued in its own transaction, timed from just before its commit to the
//! `started` row the job writes (`clock_timestamp()`, the same host clock), alone
//! (each job the first of its queue's wake-up window) and as the second of two
//! enqueued 5 ms apart (woken by the trailing wake-up or found by the claim loop).
//!
//! Each run of the workers also prints the database transactions committed per job and
//! the share of the machine's CPU busy while the jobs ran (`/proc/stat`, both cores).
//!
//! `cargo bench --bench queue` (env: BENCH_JOBS, default 10000; BENCH_BATCH for the
//! worker's claim batch, default the worker's own default; BENCH_LATENCY_SAMPLES,
//! default 200, 0 skips the latency runs; BENCH_OLD_CLAIM, default 1, 0 skips the run
//! with apalis-postgres 1.0's claim put back, the baseline of migration 20261201000170;
//! BENCH_BEFORE_0180, default 1, 0 skips the runs with migration 0170's claim and apalis's
//! foreign key on `lock_by` put back, the baseline of migration 20261201000180).
//!
//! `BENCH_BASELINE_BIN=<path of another gatehouse build>` adds, for 1 and 2 processes, runs
//! of that build in the order today, baseline, baseline, today: e.g. the commit before the
//! worker's own backend (`worker/src/backend.rs`), built from a `git worktree` of it with
//! `cargo build --release --bin gatehouse`. Both builds must agree on the migrations.
//!
//! `BENCH_HISTORY=1000000` adds a long run: the same two worker processes kept running
//! through that many no-op jobs in chunks of `BENCH_CHUNK` (100000), each chunk written
//! in one statement and timed from its commit to its last job done; finished rows are
//! kept (as they are within the retention), so the last chunk runs against the whole
//! history. Run it detached: it takes minutes.

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{BenchDb, Proc, cpu_busy, cpu_ticks, env_or};
use gatehouse_jobs::{
    catalog::diagnostics::{Noop, Probe},
    queue::{RunAt, enqueue},
};

const RAW_BATCH: i64 = 100;

/// `apalis.get_jobs` as apalis-postgres 1.0 defines it (its migration
/// `20260902075949_remove_pl_in_get_jobs.sql`), before migration 20261201000170: its
/// UPDATE joins the picked ids, which the planner hashes against a read of the whole table.
const APALIS_CLAIM: &str =
    "CREATE OR REPLACE FUNCTION apalis.get_jobs(worker_id TEXT, v_job_type TEXT, v_job_count INTEGER DEFAULT 5)
RETURNS SETOF apalis.jobs LANGUAGE sql VOLATILE AS $$
    WITH jobs AS (
        SELECT id FROM apalis.jobs
        WHERE (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
          AND run_at < now() AND job_type = v_job_type
        ORDER BY priority DESC, run_at ASC
        LIMIT v_job_count
        FOR UPDATE SKIP LOCKED
    )
    UPDATE apalis.jobs j SET status = 'Queued', lock_by = worker_id, lock_at = now()
    FROM jobs WHERE j.id = jobs.id
    RETURNING j.*;
$$;";

#[tokio::main]
async fn main() {
    let jobs: usize = env_or("BENCH_JOBS", 10_000);
    let batch: Option<usize> = std::env::var("BENCH_BATCH").ok().and_then(|v| v.parse().ok());
    let db = BenchDb::new().await;
    println!("queue throughput, {jobs} no-op jobs per run, 2-core machine, local PostgreSQL");
    println!("{:<44} {:>9} {:>11} {:>8}", "run", "seconds", "jobs/s", "ratio");

    let mut floors = Vec::new();
    for loops in [1usize, 2] {
        let rate = raw_floor(&db, jobs, loops).await;
        println!(
            "{:<44} {:>9.2} {:>11.0} {:>8}",
            format!("raw SKIP LOCKED floor, {loops} loop(s), batch {RAW_BATCH}"),
            jobs as f64 / rate,
            rate,
            "1.00"
        );
        floors.push(rate);
    }
    // With BENCH_BEFORE_0180 (default on), each parallelism runs today's claim and the
    // baseline of migration 20261201000180 (migration 0170's claim, a LANGUAGE sql function
    // planned on every call, and apalis's foreign key from `lock_by` to `apalis.workers`)
    // in the order today, baseline, baseline, today, so neither gains from going first.
    let before_0180 = env_or("BENCH_BEFORE_0180", 1u8) == 1;
    for (i, processes) in [1usize, 2].into_iter().enumerate() {
        let order: &[bool] = if before_0180 { &[false, true, true, false] } else { &[false] };
        for &baseline in order {
            if baseline {
                put_back_claim_before_0180(&db).await;
            }
            let run = gatehouse(&db, jobs, processes, batch, None).await;
            if baseline {
                restore_claim(&db).await;
            }
            let label = if baseline {
                format!("the same, {processes} process(es), before migration 0180")
            } else {
                format!(
                    "gatehouse, {processes} worker process(es), batch {}",
                    batch.map_or("default".to_string(), |b| b.to_string())
                )
            };
            report(&label, jobs, run, floors[i]);
        }
    }
    if let Ok(bin) = std::env::var("BENCH_BASELINE_BIN") {
        let bin = std::path::PathBuf::from(bin);
        for (i, processes) in [1usize, 2].into_iter().enumerate() {
            for baseline in [false, true, true, false] {
                let run = gatehouse(&db, jobs, processes, batch, baseline.then_some(bin.as_path())).await;
                let label = if baseline {
                    format!("the same, {processes} process(es), BENCH_BASELINE_BIN")
                } else {
                    format!("gatehouse, {processes} worker process(es), this build")
                };
                report(&label, jobs, run, floors[i]);
            }
        }
    }
    if env_or("BENCH_OLD_CLAIM", 1u8) == 1 {
        // The baseline of migration 20261201000170: apalis-postgres 1.0's own claim, put
        // back for this one run.
        sqlx::raw_sql(APALIS_CLAIM).execute(&db.pool).await.unwrap();
        let run = gatehouse(&db, jobs, 2, batch, None).await;
        restore_claim(&db).await;
        report("the same, apalis 1.0's claim put back", jobs, run, floors[1]);
    }
    println!("ratio = gatehouse jobs/s ÷ raw floor jobs/s at the same parallelism (1 loop ↔ 1 process, 2 ↔ 2)");
    let history: usize = env_or("BENCH_HISTORY", 0);
    if history > 0 {
        long_run(&db, history, env_or("BENCH_CHUNK", 100_000), batch).await;
    }
    let samples: usize = env_or("BENCH_LATENCY_SAMPLES", 200);
    if samples > 0 {
        latency(&db, samples).await;
    }
    db.drop_now().await;
}

/// Prints one run of the workers: jobs/s from `(jobs/s, transactions per job, CPU busy)`
/// next to the raw loop's `floor`.
fn report(label: &str, jobs: usize, (rate, per_job, cpu): (f64, f64, f64), floor: f64) {
    println!(
        "{:<44} {:>9.2} {:>11.0} {:>8.2}   ({per_job:.2} transactions per job, CPU {:.0} % busy)",
        label,
        jobs as f64 / rate,
        rate,
        rate / floor,
        cpu * 100.0
    );
}

/// The claim as it was before migration 20261201000180: migration 0170's function and
/// apalis's foreign key on `lock_by`.
async fn put_back_claim_before_0180(db: &BenchDb) {
    sqlx::raw_sql(include_str!("../../migrations/20261201000170_claim_by_id.sql")).execute(&db.pool).await.unwrap();
    sqlx::raw_sql(
        "ALTER TABLE apalis.jobs ADD CONSTRAINT fk_worker_lock_by FOREIGN KEY (lock_by) REFERENCES apalis.workers(id)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
}

/// Puts back today's claim (the last statement of migration 20261201000180, and no foreign
/// key on `lock_by`) after a baseline run replaced it.
async fn restore_claim(db: &BenchDb) {
    sqlx::raw_sql("ALTER TABLE apalis.jobs DROP CONSTRAINT IF EXISTS fk_worker_lock_by")
        .execute(&db.pool)
        .await
        .unwrap();
    let migration = include_str!("../../migrations/20261201000180_claim_plan_kept.sql");
    let claim = migration.find("CREATE OR REPLACE FUNCTION apalis.get_jobs").expect("the claim is in migration 0180");
    sqlx::raw_sql(&migration[claim..]).execute(&db.pool).await.unwrap();
}

/// No-op jobs/s of each chunk of `total`, two worker processes running throughout.
async fn long_run(db: &BenchDb, total: usize, chunk: usize, batch: Option<usize>) {
    sqlx::query("DELETE FROM apalis.jobs").execute(&db.pool).await.unwrap();
    sqlx::query("DELETE FROM apalis.workers").execute(&db.pool).await.unwrap();
    let mut env = vec![("GATEHOUSE_POLL_INTERVAL_MS", "100".to_string())];
    if let Some(b) = batch {
        env.push(("GATEHOUSE_WORKER_BATCH", b.to_string()));
    }
    let _workers: Vec<Proc> = (0..2).map(|_| Proc::start("worker", &db.url, &env)).collect();
    wait_registered(db, 2).await;
    println!();
    println!("history: {total} no-op jobs through 2 worker processes, in chunks of {chunk}");
    println!("{:<44} {:>9} {:>11} {:>8}", "chunk", "seconds", "jobs/s", "ratio");
    let mut first = None;
    for c in 0..total.div_ceil(chunk) {
        let n = chunk.min(total - c * chunk) as i64;
        // The row `store::queue::insert` writes for a `noop`, many at once (apalis reads
        // each id as a ULID).
        let ids: Vec<String> = (0..n).map(|_| ulid::Ulid::generate().to_string()).collect();
        sqlx::query(
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata)
             SELECT id, 'bulk', convert_to(json_build_object('kind', 'noop', 'args', json_build_object('n', $1 + g))::text, 'UTF8'),
                    'Pending', 0, 25, now(), 0, ''::hstore
             FROM unnest($2::text[]) WITH ORDINALITY AS t(id, g)",
        )
        .bind((c * chunk) as i64)
        .bind(&ids)
        .execute(&db.pool)
        .await
        .unwrap();
        let started = Instant::now();
        wait_until_none_open(db, started + Duration::from_secs(900)).await;
        let rate = n as f64 / started.elapsed().as_secs_f64();
        let base = *first.get_or_insert(rate);
        println!(
            "{:<44} {:>9.2} {:>11.0} {:>8.2}",
            format!("jobs {}–{}", c * chunk + 1, c * chunk + n as usize),
            started.elapsed().as_secs_f64(),
            rate,
            rate / base
        );
    }
    println!("ratio = the chunk's jobs/s ÷ the first chunk's, same processes, same run");
}

/// Enqueue → start latency into one idle worker process (see the module's docs).
async fn latency(db: &BenchDb, samples: usize) {
    sqlx::query("DELETE FROM apalis.jobs").execute(&db.pool).await.unwrap();
    sqlx::query("DELETE FROM apalis.workers").execute(&db.pool).await.unwrap();
    let poll_ms = 200;
    let mut env = vec![("GATEHOUSE_POLL_INTERVAL_MS", poll_ms.to_string())];
    // BENCH_WORKER_LOG: the worker's RUST_LOG for these runs (e.g. to trace its claims).
    if let Ok(filter) = std::env::var("BENCH_WORKER_LOG") {
        env.push(("RUST_LOG", filter));
    }
    let _worker = Proc::start("worker", &db.url, &env);
    wait_registered(db, 1).await;
    // Let the worker settle into waiting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut alone = Vec::new();
    let mut second = Vec::new();
    for i in 0..samples {
        alone.push(enqueue_and_time(db, &format!("alone-{i}")).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let first = format!("pair-a-{i}");
        let then = format!("pair-b-{i}");
        let pool = db.pool.clone();
        let a = tokio::spawn(async move { enqueue_probe(&pool, &first).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = enqueue_probe(&db.pool, &then).await;
        a.await.unwrap();
        second.push(started_after(db, &then, b).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!();
    println!(
        "enqueue → start, one job into an idle worker process ({samples} samples each, poll fallback {poll_ms} ms)"
    );
    println!("{:<44} {:>9} {:>9} {:>9}", "run", "p50 ms", "p99 ms", "max ms");
    for (label, mut v) in [("one job alone (leading wake-up)", alone), ("second of two, 5 ms apart (trailing)", second)]
    {
        v.sort_by(f64::total_cmp);
        println!(
            "{:<44} {:>9.2} {:>9.2} {:>9.2}",
            label,
            v[v.len() / 2],
            v[(v.len() * 99 / 100).min(v.len() - 1)],
            v[v.len() - 1]
        );
    }
}

/// Enqueues a probe in its own transaction; returns the time just before its commit.
async fn enqueue_probe(pool: &sqlx::PgPool, key: &str) -> chrono::DateTime<chrono::Utc> {
    let probe = Probe { key: key.to_string(), sleep_ms: 0, fail_first: 0, failure: Default::default() };
    let mut tx = pool.begin().await.unwrap();
    enqueue(&mut tx, &probe, RunAt::Now).await.unwrap();
    let before_commit = chrono::Utc::now();
    tx.commit().await.unwrap();
    before_commit
}

async fn enqueue_and_time(db: &BenchDb, key: &str) -> f64 {
    let at = enqueue_probe(&db.pool, key).await;
    started_after(db, key, at).await
}

/// Milliseconds from `at` to the probe's `started` row, waiting for it.
async fn started_after(db: &BenchDb, key: &str, at: chrono::DateTime<chrono::Utc>) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "SELECT at FROM diagnostic_probe_runs WHERE probe_key = $1 AND phase = 'started' ORDER BY at LIMIT 1",
        )
        .bind(key)
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        if let Some(started) = started {
            return (started - at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3;
        }
        assert!(Instant::now() < deadline, "probe {key} never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until no due row of the no-ops' queue is open, polling every 20 ms through the
/// index of open rows: counting the finished rows every few milliseconds would take the
/// database from the workers (at 100,000 jobs it took more of its CPU than they did).
async fn wait_until_none_open(db: &BenchDb, deadline: Instant) {
    loop {
        let open: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM apalis.jobs WHERE job_type = 'bulk' AND status <> 'Done' AND run_at <= now())",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if !open {
            return;
        }
        assert!(Instant::now() < deadline, "the no-op jobs did not finish in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every queue of `processes` worker processes is registered.
async fn wait_registered(db: &BenchDb, processes: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.workers").fetch_one(&db.pool).await.unwrap();
        if n as usize >= 3 * processes {
            break;
        }
        assert!(Instant::now() < deadline, "workers did not register");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Claims and acks `jobs` rows with `loops` concurrent connections; returns jobs/s.
async fn raw_floor(db: &BenchDb, jobs: usize, loops: usize) -> f64 {
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_raw;
         CREATE TABLE bench_raw (id bigserial PRIMARY KEY, status text NOT NULL, payload jsonb NOT NULL);
         CREATE INDEX bench_raw_pending ON bench_raw (id) WHERE status = 'pending';",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO bench_raw (status, payload) SELECT 'pending', jsonb_build_object('n', n) FROM generate_series(1, $1) n")
        .bind(jobs as i64)
        .execute(&db.pool)
        .await
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..loops {
        let pool = db.pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            loop {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "UPDATE bench_raw SET status = 'running'
                     WHERE id IN (SELECT id FROM bench_raw WHERE status = 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                     RETURNING id",
                )
                .bind(RAW_BATCH)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
                if ids.is_empty() {
                    break;
                }
                sqlx::query("UPDATE bench_raw SET status = 'done' WHERE id = ANY($1)")
                    .bind(&ids)
                    .execute(&mut *conn)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let done: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bench_raw WHERE status = 'done'").fetch_one(&db.pool).await.unwrap();
    assert_eq!(done as usize, jobs);
    jobs as f64 / elapsed.as_secs_f64()
}

/// Runs `jobs` no-op jobs through `processes` worker processes (of `bin`, or of this
/// build); returns jobs/s, the database transactions committed per job (the workers',
/// and the benchmark's polling), and the share of the machine's CPU busy meanwhile.
async fn gatehouse(
    db: &BenchDb,
    jobs: usize,
    processes: usize,
    batch: Option<usize>,
    bin: Option<&std::path::Path>,
) -> (f64, f64, f64) {
    sqlx::query("DELETE FROM apalis.jobs").execute(&db.pool).await.unwrap();
    sqlx::query("DELETE FROM apalis.workers").execute(&db.pool).await.unwrap();
    let mut env = vec![("GATEHOUSE_POLL_INTERVAL_MS", "100".to_string())];
    if let Some(b) = batch {
        env.push(("GATEHOUSE_WORKER_BATCH", b.to_string()));
    }
    let workers: Vec<Proc> = (0..processes)
        .map(|_| match bin {
            Some(bin) => Proc::start_bin(bin, "worker", &db.url, &env),
            None => Proc::start("worker", &db.url, &env),
        })
        .collect();
    // Every queue of every process registered and idle.
    wait_registered(db, processes).await;
    // Enqueued in one transaction: the clock starts when they become visible.
    let mut tx = db.pool.begin().await.unwrap();
    for n in 0..jobs {
        enqueue(&mut tx, &Noop { n: n as u64 }, RunAt::Now).await.unwrap();
    }
    let commits_before = commits(db).await;
    let cpu_before = cpu_ticks();
    tx.commit().await.unwrap();
    let started = Instant::now();
    wait_until_none_open(db, started + Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let cpu = cpu_busy(cpu_before, cpu_ticks());
    let done: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE status = 'Done' AND convert_from(job, 'UTF8')::jsonb ->> 'kind' = 'noop'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(done as usize, jobs, "every no-op job ends Done");
    drop(workers);
    // The statistics reach pg_stat_database within a second of a backend going idle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let per_job = (commits(db).await - commits_before) as f64 / jobs as f64;
    (jobs as f64 / elapsed.as_secs_f64(), per_job, cpu)
}

/// Transactions committed in the benchmark's database so far (every worker statement
/// outside an explicit transaction is one).
async fn commits(db: &BenchDb) -> i64 {
    sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}
