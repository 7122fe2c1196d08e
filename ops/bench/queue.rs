//! No-op job throughput through Gatehouse's queue (apalis-postgres, real worker
//! processes) next to the raw floor: a batched `FOR UPDATE SKIP LOCKED` claim/ack
//! loop on the same database, measured in the same run.
//!
//! `cargo bench --bench queue` (env: BENCH_JOBS, default 10000; BENCH_BATCH for the
//! worker's claim batch, default the worker's own default).

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{BenchDb, Proc, env_or};
use gatehouse_jobs::{
    catalog::diagnostics::Noop,
    queue::{RunAt, enqueue},
};

const RAW_BATCH: i64 = 100;

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
    for (i, processes) in [1usize, 2].into_iter().enumerate() {
        let rate = gatehouse(&db, jobs, processes, batch).await;
        let label = format!(
            "gatehouse, {processes} worker process(es), batch {}",
            batch.map_or("default".to_string(), |b| b.to_string())
        );
        println!("{:<44} {:>9.2} {:>11.0} {:>8.2}", label, jobs as f64 / rate, rate, rate / floors[i]);
    }
    println!("ratio = gatehouse jobs/s ÷ raw floor jobs/s at the same parallelism (1 loop ↔ 1 process, 2 ↔ 2)");
    db.drop_now().await;
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

/// Runs `jobs` no-op jobs through `processes` worker processes; returns jobs/s.
async fn gatehouse(db: &BenchDb, jobs: usize, processes: usize, batch: Option<usize>) -> f64 {
    sqlx::query("DELETE FROM apalis.jobs").execute(&db.pool).await.unwrap();
    sqlx::query("DELETE FROM apalis.workers").execute(&db.pool).await.unwrap();
    let mut env = vec![("GATEHOUSE_POLL_INTERVAL_MS", "100".to_string())];
    if let Some(b) = batch {
        env.push(("GATEHOUSE_WORKER_BATCH", b.to_string()));
    }
    let workers: Vec<Proc> = (0..processes).map(|_| Proc::start("worker", &db.url, &env)).collect();
    // Every queue of every process registered and idle.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.workers").fetch_one(&db.pool).await.unwrap();
        if n as usize >= 3 * processes {
            break;
        }
        assert!(Instant::now() < deadline, "workers did not register");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Enqueued in one transaction: the clock starts when they become visible.
    let mut tx = db.pool.begin().await.unwrap();
    for n in 0..jobs {
        enqueue(&mut tx, &Noop { n: n as u64 }, RunAt::Now).await.unwrap();
    }
    tx.commit().await.unwrap();
    let started = Instant::now();
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE status = 'Done'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if done as usize >= jobs {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "jobs did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    drop(workers);
    jobs as f64 / elapsed.as_secs_f64()
}
