//! Bot reply latency: from a user's message reaching the simulator to the bot's
//! answer being delivered to that user, for 100 users writing over a few seconds,
//! with the queues idle (the baseline) and behind a backlog of 1,000 bulk jobs
//! (each 150 ms of work: the backlog outlasts the run), measured in the same run.
//! Real api and worker (production concurrency), simulator with Telegram's rate
//! limits on.
//!
//! `cargo bench --bench bot_replies`

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use gatehouse_jobs::{
    catalog::diagnostics::{Probe, ProbeFailure},
    queue::{RunAt, enqueue},
};
use gatehouse_sim::SimConfig;
use gatehouse_tests::app::{TestApp, World};

const USERS: usize = 100;
const BACKLOG: usize = 1_000;

#[tokio::main]
async fn main() {
    let app = TestApp::start_with(SimConfig::default(), &[("GATEHOUSE_WORKER_CONCURRENCY", "16")]).await;
    let world = app.world().await;
    println!("bot reply latency, {USERS} users each sending /help 40 ms apart, 2-core machine");
    println!("{:<44} {:>8} {:>8} {:>8} {:>10}", "run", "p50 ms", "p99 ms", "max ms", "p99 ratio");
    let idle = run(&app, &world, "idle", false).await;
    idle.print("queues idle (baseline)", idle.p99);
    let busy = run(&app, &world, "backlog", true).await;
    busy.print("behind 1,000 bulk jobs of 150 ms", idle.p99);
    println!("bulk jobs still unfinished when the last reply arrived: {} of {BACKLOG}", busy.backlog_left);
    assert!(busy.backlog_left > 0, "the backlog drained before the replies: the figure would not show a backlog");
}

struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
    backlog_left: i64,
}

impl Figures {
    fn print(&self, label: &str, baseline_p99: Duration) {
        println!(
            "{:<44} {:>8.1} {:>8.1} {:>8.1} {:>10.2}",
            label,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() / baseline_p99.as_secs_f64()
        );
    }
}

async fn run(app: &TestApp, world: &World, tag: &str, backlog: bool) -> Figures {
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(app.tg.create_user_named(&format!("{tag}-{i}")).await.unwrap().id);
    }
    if backlog {
        let mut tx = app.db.pool.begin().await.unwrap();
        for n in 0..BACKLOG {
            let probe =
                Probe { key: format!("{tag}-{n}"), sleep_ms: 150, fail_first: 0, failure: ProbeFailure::default() };
            enqueue(&mut tx, &probe, RunAt::Now).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let sent = std::sync::Arc::new(tokio::sync::Mutex::new(HashMap::<i64, Instant>::new()));
    let sender = {
        let tg = app.tg.clone();
        let sent = sent.clone();
        let users = users.clone();
        let bot = world.bot.id;
        tokio::spawn(async move {
            for user in users {
                sent.lock().await.insert(user, Instant::now());
                tg.send_text(user, bot, "/help").await.unwrap();
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    let mut answered: HashMap<i64, Duration> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut backlog_left = 0;
    while answered.len() < USERS {
        assert!(Instant::now() < deadline, "only {} of {USERS} replies arrived", answered.len());
        let messages = app.tg.messages(Some(world.bot.id), None).await.unwrap();
        let now = Instant::now();
        let sent = sent.lock().await;
        for m in messages.iter().filter(|m| m.from_bot) {
            if let Some(at) = sent.get(&m.chat_id) {
                answered.entry(m.chat_id).or_insert_with(|| now - *at);
            }
        }
        drop(sent);
        if answered.len() == USERS {
            backlog_left =
                app.db.count("SELECT count(*) FROM apalis.jobs WHERE status <> 'Done' AND job_type = 'bulk'").await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sender.await.unwrap();
    let mut latencies: Vec<Duration> = answered.into_values().collect();
    latencies.sort();
    Figures {
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
        max: *latencies.last().unwrap(),
        backlog_left,
    }
}
