//! Outbound webhook throughput: events delivered per second to a local receiver (each a
//! `deliver-webhook` job: read the delivery, endpoint and event, open the secret, sign,
//! POST over HTTP to 127.0.0.1, log the attempt in a transaction), next to no-op jobs/s
//! through the same worker in the same run.
//!
//! `cargo bench --bench webhooks` (env: BENCH_EVENTS, default 5000; BENCH_JOBS for the
//! no-op baseline, default 10000).

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{BenchDb, ENCRYPTION_KEY, Proc, env_or};
use gatehouse_jobs::{
    catalog::diagnostics::Noop,
    queue::{RunAt, enqueue},
    store::{
        self,
        events::{EventType, NewEvent},
    },
};
use gatehouse_tests::receiver::Receiver;

#[tokio::main]
async fn main() {
    let events: usize = env_or("BENCH_EVENTS", 5_000);
    let jobs: usize = env_or("BENCH_JOBS", 10_000);
    let db = BenchDb::new().await;
    println!("webhook delivery throughput, 1 worker process, receiver on 127.0.0.1, 2-core machine, local PostgreSQL");
    println!("{:<52} {:>9} {:>11} {:>8}", "run", "seconds", "per s", "ratio");

    let worker = start_worker(&db).await;
    let noop = noop_rate(&db, jobs).await;
    println!("{:<52} {:>9.2} {:>11.0} {:>8}", format!("no-op jobs ({jobs})"), jobs as f64 / noop, noop, "1.00");
    let receiver = Receiver::start(0).await;
    let delivered = delivery_rate(&db, &receiver, events).await;
    println!(
        "{:<52} {:>9.2} {:>11.0} {:>8.2}",
        format!("events delivered, signed, 1 endpoint ({events})"),
        events as f64 / delivered,
        delivered,
        delivered / noop
    );
    assert_eq!(receiver.count(), events, "every event reached the receiver once");
    println!("ratio = events delivered/s ÷ no-op jobs/s, same worker process, same run");
    drop(worker);
    db.drop_now().await;
}

async fn start_worker(db: &BenchDb) -> Proc {
    let env = vec![
        ("GATEHOUSE_POLL_INTERVAL_MS", "100".to_string()),
        ("GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE", "true".to_string()),
    ];
    let worker = Proc::start("worker", &db.url, &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.workers").fetch_one(&db.pool).await.unwrap();
        if n >= 3 {
            return worker;
        }
        assert!(Instant::now() < deadline, "the worker did not register");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `jobs` no-op jobs; returns jobs/s.
async fn noop_rate(db: &BenchDb, jobs: usize) -> f64 {
    let mut tx = db.pool.begin().await.unwrap();
    for n in 0..jobs {
        enqueue(&mut tx, &Noop { n: n as u64 }, RunAt::Now).await.unwrap();
    }
    tx.commit().await.unwrap();
    let started = Instant::now();
    wait_for(db, "SELECT count(*) FROM apalis.jobs WHERE status = 'Done'", jobs).await;
    jobs as f64 / started.elapsed().as_secs_f64()
}

/// Writes `events` events for a project with one endpoint at `receiver`; returns
/// deliveries succeeded per second, from the commit to the last success.
async fn delivery_rate(db: &BenchDb, receiver: &Receiver, events: usize) -> f64 {
    let project_id = uuid::Uuid::now_v7();
    store::projects::insert(&db.pool, project_id, "bench", "Bench", 1).await.unwrap();
    let config = gatehouse_jobs::Config::from_lookup(|name| {
        (name == "GATEHOUSE_ENCRYPTION_KEY").then(|| ENCRYPTION_KEY.to_string())
    })
    .unwrap();
    let key = config.encryption_key().unwrap();
    let secret = gatehouse_jobs::webhooks::new_secret();
    let url = receiver.url();
    let endpoint = store::webhooks::NewEndpoint {
        id: uuid::Uuid::now_v7(),
        project_id,
        url: &url,
        event_types: &[],
        enabled: true,
        secret_sealed: &gatehouse_jobs::crypto::seal(key, secret.expose()),
    };
    store::webhooks::insert(&db.pool, &endpoint, chrono::Utc::now()).await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    for n in 0..events {
        let data =
            serde_json::json!({"member": {"telegram_user_id": n, "chat": {"id": project_id}}, "via": "own_link"});
        store::events::record(&mut tx, NewEvent::new(project_id, EventType::MemberJoined, data), chrono::Utc::now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let started = Instant::now();
    wait_for(db, "SELECT count(*) FROM webhook_deliveries WHERE state = 'succeeded'", events).await;
    events as f64 / started.elapsed().as_secs_f64()
}

async fn wait_for(db: &BenchDb, sql: &'static str, n: usize) {
    let started = Instant::now();
    loop {
        let done: i64 = sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap();
        if done as usize >= n {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(900), "did not finish: {sql}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
