//! Bot API throughput: getChatMember at a fixed concurrency over keep-alive connections, rate
//! limits off. Run with `cargo bench -p gatehouse-sim`.

use std::time::{Duration, Instant};

use gatehouse_sim::{AdminRights, ChatInfo, ChatKind, Sim, SimConfig};

const CONCURRENCY: usize = 32;
const DURATION: Duration = Duration::from_secs(5);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let sim = Sim::start(SimConfig { rate_limits_enabled: false, call_log_capacity: 10_000, ..SimConfig::default() })
        .await
        .expect("simulator");
    let client = sim.client();
    let bot = client.create_bot_named("bench_bot").await.unwrap();
    let user = client.create_user_named("Member").await.unwrap();
    let chat = client
        .create_chat(ChatInfo {
            id: 0,
            kind: ChatKind::Channel,
            title: "Bench".into(),
            username: None,
            join_by_request: false,
            description: None,
            creator_id: None,
        })
        .await
        .unwrap();
    client.add_admin(chat.id, bot.id, AdminRights::membership_bot()).await.unwrap();
    client.add_member(chat.id, user.id).await.unwrap();

    let url = format!("{}/bot{}/getChatMember?chat_id={}&user_id={}", sim.base_url(), bot.token, chat.id, user.id);
    let http = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().unwrap();
    // Warm up connections.
    for _ in 0..CONCURRENCY {
        http.get(&url).send().await.unwrap().bytes().await.unwrap();
    }
    let started = Instant::now();
    let deadline = started + DURATION;
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            let mut failed = 0u64;
            while Instant::now() < deadline {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        done += 1;
                    }
                    _ => failed += 1,
                }
            }
            (done, failed)
        }));
    }
    let mut done = 0;
    let mut failed = 0;
    for t in tasks {
        let (d, f) = t.await.unwrap();
        done += d;
        failed += f;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "getChatMember: {done} requests in {secs:.2} s at concurrency {CONCURRENCY} over keep-alive = {:.0} requests/s ({failed} failed, rate limits off, {} cores)",
        done as f64 / secs,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    sim.shutdown().await;
}
