//! Webhook ingress: `POST /hooks/telegram/{bot_id}` (authenticate, parse, enqueue in
//! a transaction) at a fixed concurrency, next to `GET /healthz` on the same server
//! and the same client (the HTTP floor, no database), measured in the same run.
//!
//! `cargo bench --bench webhook` (env: BENCH_REQUESTS, default 20000; BENCH_CONCURRENCY, default 32).

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{BenchDb, Proc, env_or, free_port};
use futures::StreamExt;
use sha2::Digest;

const BOT: i64 = 9_000_001;
const SECRET: &str = "bench-webhook-secret";

#[tokio::main]
async fn main() {
    let requests: usize = env_or("BENCH_REQUESTS", 20_000);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 32);
    let db = BenchDb::new().await;
    let project = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO projects (id, handle, name, owner_telegram_id) VALUES ($1, 'bench', 'Bench', 1)")
        .bind(project)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO bots (id, project_id, telegram_bot_id, token_ciphertext, webhook_secret_hash, status, verified_at) VALUES ($1, $2, $3, '\\x00', $4, 'connected', now())")
        .bind(uuid::Uuid::new_v4())
        .bind(project)
        .bind(BOT)
        .bind(sha2::Sha256::digest(SECRET).to_vec())
        .execute(&db.pool)
        .await
        .unwrap();
    let port = free_port();
    let _api = Proc::start("api", &db.url, &[("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))]);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/readyz")).send().await.map(|r| r.status().is_success()).unwrap_or(false) {
        assert!(Instant::now() < deadline, "api not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    println!(
        "webhook ingress, {requests} requests at concurrency {concurrency}, api in release, 2-core machine (client shares the cores)"
    );
    println!("{:<40} {:>10} {:>9} {:>9} {:>8}", "run", "req/s", "p50 ms", "p99 ms", "ratio");
    let floor = run(&client, requests, concurrency, |_| client.get(format!("{base}/healthz"))).await;
    floor.print("GET /healthz (HTTP floor)", floor.rate);
    let hooks = run(&client, requests, concurrency, |i| {
        client
            .post(format!("{base}/hooks/telegram/{BOT}"))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .header("content-type", "application/json")
            .body(format!(r#"{{"update_id":{i},"message":{{"message_id":{i},"date":0,"chat":{{"id":1,"type":"private"}},"text":"/start"}}}}"#))
    })
    .await;
    hooks.print("POST /hooks/telegram (enqueue)", floor.rate);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs").fetch_one(&db.pool).await.unwrap();
    assert_eq!(jobs as usize, requests, "every accepted update is one job");
    println!("ratio = req/s ÷ the /healthz floor's req/s");
    drop(_api);
    db.drop_now().await;
}

struct Figures {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

impl Figures {
    fn print(&self, label: &str, floor: f64) {
        println!(
            "{:<40} {:>10.0} {:>9.2} {:>9.2} {:>8.2}",
            label,
            self.rate,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.rate / floor
        );
    }
}

async fn run(
    _client: &reqwest::Client,
    requests: usize,
    concurrency: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder,
) -> Figures {
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..requests)
        .map(|i| {
            let request = make(i).send();
            async move {
                let t = Instant::now();
                let response = request.await.expect("request");
                assert!(response.status().is_success(), "{}", response.status());
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    latencies.sort();
    Figures {
        rate: requests as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    }
}
