//! Webhook ingress: `POST /hooks/telegram/{bot_id}` (authenticate, parse, enqueue) at a
//! fixed concurrency, next to two baselines measured in the same run: `GET /healthz` on
//! the same server and the same client (the HTTP floor, no database), and a raw
//! single-row INSERT of the same row (`store::queue::insert`, autocommit) from as many
//! connections as the concurrency (the database floor), once with apalis-postgres's
//! per-row NOTIFY trigger put back for the run (what ingress paid before migration
//! `20261201000140_app_level_wakeup.sql`) and once without (today's schema).
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
    sqlx::raw_sql(TRIGGER).execute(&db.pool).await.unwrap();
    let with_trigger = raw_inserts(&db.url, requests, concurrency).await;
    sqlx::raw_sql("DROP TRIGGER notify_workers ON apalis.jobs; DROP FUNCTION apalis.notify_new_jobs();")
        .execute(&db.pool)
        .await
        .unwrap();
    let raw = raw_inserts(&db.url, requests, concurrency).await;
    with_trigger.print("raw INSERT, per-row NOTIFY trigger (before)", raw.rate);
    raw.print("raw INSERT of the same row (DB floor)", raw.rate);
    let hooks = run(&client, requests, concurrency, |i| {
        client
            .post(format!("{base}/hooks/telegram/{BOT}"))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .header("content-type", "application/json")
            .body(format!(r#"{{"update_id":{i},"message":{{"message_id":{i},"date":0,"chat":{{"id":1,"type":"private"}},"text":"/start"}}}}"#))
    })
    .await;
    hooks.print("POST /hooks/telegram (enqueue)", raw.rate);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs").fetch_one(&db.pool).await.unwrap();
    assert_eq!(jobs as usize, requests, "every accepted update is one job");
    println!(
        "ratio = req/s ÷ the raw INSERT's req/s without the trigger (the /healthz floor: ratio = its req/s ÷ {:.0}, here {:.2})",
        floor.rate,
        raw.rate / floor.rate
    );
    drop(_api);
    db.drop_now().await;
}

/// apalis-postgres's trigger as its migration `20251018165121_notify_run_at.sql` creates it.
const TRIGGER: &str = "CREATE FUNCTION apalis.notify_new_jobs() RETURNS TRIGGER AS $$
BEGIN
    IF NEW.run_at <= now() THEN
        PERFORM pg_notify('apalis::job::insert', json_build_object('job_type', NEW.job_type, 'id', NEW.id, 'run_at', NEW.run_at)::text);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER notify_workers AFTER INSERT ON apalis.jobs FOR EACH ROW EXECUTE FUNCTION apalis.notify_new_jobs();";

/// `requests` single-row INSERTs of the webhook's row (the envelope of a
/// `process-telegram-update` with the same update, its idempotency key), autocommit, from
/// `concurrency` connections; the rows are deleted afterwards.
async fn raw_inserts(url: &str, requests: usize, concurrency: usize) -> Figures {
    use gatehouse_jobs::{kinds::process_telegram_update::ProcessTelegramUpdate, queue::JobSpec, store::queue};
    const RAW_BOT: i64 = 9_000_002;
    let pool = gatehouse_jobs::db::pool(url, concurrency as u32).unwrap();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..requests)
        .map(|i| {
            let pool = pool.clone();
            async move {
                let update = serde_json::json!({"update_id": i, "message": {"message_id": i, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "/start"}});
                let job = ProcessTelegramUpdate { bot_id: RAW_BOT, update_id: i as i64, update };
                let envelope = serde_json::json!({"kind": ProcessTelegramUpdate::KIND, "args": job});
                let body = serde_json::to_vec(&envelope).unwrap();
                let id = ulid::Ulid::generate().to_string();
                let key = format!("{}:{}", ProcessTelegramUpdate::KIND, job.idempotency_key().unwrap());
                let t = Instant::now();
                let mut conn = pool.acquire().await.unwrap();
                let row = queue::NewJob {
                    id: &id,
                    queue: ProcessTelegramUpdate::QUEUE.name(),
                    body: &body,
                    max_attempts: ProcessTelegramUpdate::MAX_ATTEMPTS,
                    run_at: None,
                    idempotency_key: Some(&key),
                };
                assert!(queue::insert(&mut conn, row).await.unwrap().is_some());
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    sqlx::query("DELETE FROM apalis.jobs").execute(&pool).await.unwrap();
    pool.close().await;
    latencies.sort();
    Figures {
        rate: requests as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    }
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
