//! The membership page's first byte: `GET /p/{handle}` of a project with 50 plans on
//! sale (each granting 2 of 50 chats), one request at a time, timed from the request's
//! start to its response headers (the server sends the page in one piece, so headers
//! and the first byte arrive together), next to `GET /healthz` on the same server.
//!
//! `cargo bench --bench page` (env: BENCH_REQUESTS, default 500; BENCH_PLANS, default 50).

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{BenchDb, Proc, env_or, free_port};

#[tokio::main]
async fn main() {
    let requests: usize = env_or("BENCH_REQUESTS", 500);
    let plans: usize = env_or("BENCH_PLANS", 50);
    let db = BenchDb::new().await;
    let project = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO projects (id, handle, name, owner_telegram_id) VALUES ($1, 'bench', 'Bench Club', 1)")
        .bind(project)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO bots (id, project_id, telegram_bot_id, token_ciphertext, username, status, verified_at) VALUES ($1, $2, 9000002, '\\x00', 'bench_bot', 'connected', now())")
        .bind(uuid::Uuid::new_v4())
        .bind(project)
        .execute(&db.pool)
        .await
        .unwrap();
    let mut chats = Vec::new();
    for i in 0..50i64 {
        let id = uuid::Uuid::new_v4();
        sqlx::query("INSERT INTO chats (id, project_id, telegram_chat_id, title, join_strategy, status) VALUES ($1, $2, $3, $4, 'single_use_link', 'ready')")
            .bind(id)
            .bind(project)
            .bind(-1_000_000_000_000 - i)
            .bind(format!("Channel number {i}"))
            .execute(&db.pool)
            .await
            .unwrap();
        chats.push(id);
    }
    for i in 0..plans {
        let id = uuid::Uuid::new_v4();
        let plan = gatehouse_jobs::store::plans::NewPlan {
            id,
            project_id: project,
            name: &format!("Plan {i} with a longer name"),
            price_minor: 500 + i as i64,
            currency: "USD",
            stars_price: Some(250),
            duration_days: Some(30),
            recurring: i % 2 == 0,
            trial_days: (i % 3) as i32,
        };
        gatehouse_jobs::store::plans::insert(&db.pool, &plan).await.unwrap();
        gatehouse_jobs::store::plans::add_chats(&db.pool, id, &[chats[i % 50], chats[(i + 1) % 50]]).await.unwrap();
    }
    let port = free_port();
    let _api = Proc::start("api", &db.url, &[("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))]);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/readyz")).send().await.map(|r| r.status().is_success()).unwrap_or(false) {
        assert!(Instant::now() < deadline, "api not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = client.get(format!("{base}/p/bench")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert_eq!(body.matches("class=\"card plan\"").count(), plans, "every plan is on the page");

    println!("membership page first byte, {plans} plans, {requests} sequential requests (client on the same 2 cores)");
    println!("{:<36} {:>9} {:>9} {:>9} {:>8}", "run", "p50 ms", "p99 ms", "max ms", "bytes");
    let floor = run(&client, &format!("{base}/healthz"), requests).await;
    floor.print("GET /healthz (HTTP floor)");
    let figures = run(&client, &format!("{base}/p/bench"), requests).await;
    figures.print(&format!("GET /p/bench ({plans} plans)"));
    println!("first byte = request start to response headers; the page is sent in one piece");
    drop(_api);
    db.drop_now().await;
}

struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
    bytes: usize,
}

impl Figures {
    fn print(&self, label: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("{:<36} {:>9.2} {:>9.2} {:>9.2} {:>8}", label, ms(self.p50), ms(self.p99), ms(self.max), self.bytes);
    }
}

async fn run(client: &reqwest::Client, url: &str, requests: usize) -> Figures {
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    for _ in 0..requests {
        let start = Instant::now();
        let response = client.get(url).send().await.unwrap();
        times.push(start.elapsed());
        assert!(response.status().is_success());
        bytes = response.bytes().await.unwrap().len();
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Figures { p50: at(0.5), p99: at(0.99), max: *times.last().unwrap(), bytes }
}
