//! A broadcast under Telegram's limits: real `gatehouse worker` processes against the
//! simulator with its rate limits on (equal to the configured budget).
//!
//! `cargo bench --bench broadcast` runs twice, printing the figures of `ops/bench/README.md`:
//!
//! 1. **broadcast**: BENCH_RECIPIENTS (5 000) active subscribers, BENCH_BLOCKED (200) of
//!    whom blocked the bot, sent by BENCH_WORKERS (2) processes: time from Send to the last
//!    recipient next to the floor (the bot's calls ÷ its limit), the broadcast's calls per
//!    second next to what the budget allows the bulk lane while interactive work runs (the
//!    limit less the interactive reserve), 429s, recipients reached exactly once; meanwhile BENCH_INTERACTIVE (100) other users send `/help`: latency from
//!    the update to the reply, p50 and p99, next to the same replies with the queues idle,
//!    measured first in the same run.
//! 2. **a worker killed**: the same, one worker SIGKILLed when 40 % are sent: every
//!    reachable recipient served, duplicates next to the calls in flight at the kill.
//!
//! Env: BENCH_RATE (calls/s per bot, default 30, Telegram's), BENCH_RUNS (`plain,kill`).

#[path = "common.rs"]
mod common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::Utc;
use common::{BenchDb, ENCRYPTION_KEY, Proc, env_or};
use gatehouse_jobs::{
    kinds::process_telegram_update::ProcessTelegramUpdate,
    queue::{RunAt, enqueue},
};
use gatehouse_sim::{CallFilter, CallRecord, RateLimits, Sim, SimConfig};
use gatehouse_tests::audience::Audience;
use serde_json::{Value, json};

const BOT: i64 = 7_400_000_001;
const TEXT: &str = "News: the club opens a second channel on Monday";

#[tokio::main]
async fn main() {
    let runs = std::env::var("BENCH_RUNS").unwrap_or_else(|_| "plain,kill".into());
    let rate: u32 = env_or("BENCH_RATE", 30);
    let workers: usize = env_or("BENCH_WORKERS", 2);
    println!("broadcast: {workers} `gatehouse worker` processes, simulator limits = budget = {rate} calls/s per bot");
    println!("(2-core machine, local PostgreSQL; the simulator runs in this process)\n");
    if runs.contains("plain") {
        run(rate, workers, false).await;
    }
    if runs.contains("kill") {
        run(rate, workers, true).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn chat_of(call: &CallRecord) -> Option<i64> {
    match call.params.get("chat_id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A `/help` from `user`, as the api would enqueue its update. Returns when it was committed.
async fn help_from(db: &BenchDb, user: i64, update_id: i64) -> i64 {
    let update = json!({
        "update_id": update_id,
        "message": {"message_id": update_id, "date": Utc::now().timestamp(), "text": "/help",
                    "from": {"id": user, "is_bot": false, "first_name": "User", "language_code": "en"},
                    "chat": {"id": user, "type": "private", "first_name": "User"},
                    "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}
    });
    let mut conn = db.pool.acquire().await.unwrap();
    enqueue(&mut conn, &ProcessTelegramUpdate { bot_id: BOT, update_id, update }, RunAt::Now).await.unwrap();
    Utc::now().timestamp_millis()
}

/// Seconds from each `/help` to the first reply the simulator accepted for its user.
fn reply_latencies(calls: &[CallRecord], asked: &[(i64, i64)]) -> Vec<f64> {
    let mut latencies: Vec<f64> = asked
        .iter()
        .filter_map(|(user, at)| {
            calls
                .iter()
                .filter(|c| c.method == "sendMessage" && c.status == 200 && chat_of(c) == Some(*user))
                .filter(|c| c.params["text"] != TEXT && c.time_ms >= *at)
                .map(|c| (c.time_ms - at) as f64 / 1000.0)
                .next()
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

async fn count(db: &BenchDb, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

async fn run(rate: u32, workers: usize, kill: bool) {
    let recipients: usize = env_or("BENCH_RECIPIENTS", 5_000);
    let blocked: usize = env_or("BENCH_BLOCKED", 200);
    let interactive: usize = env_or("BENCH_INTERACTIVE", 100);
    let idle_probes = (interactive / 5).max(1);
    let audience = Audience::new(BOT, 500_000, recipients, blocked, interactive + idle_probes);
    let sim = Sim::start(SimConfig {
        rate_limits_enabled: true,
        default_limits: RateLimits { calls_per_second: rate, ..RateLimits::default() },
        seed: Some(audience.seed()),
        call_log_capacity: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let tg = sim.client();
    audience.block(&tg).await;
    let db = BenchDb::new().await;
    let config =
        gatehouse_jobs::Config::from_lookup(|k| (k == "GATEHOUSE_ENCRYPTION_KEY").then(|| ENCRYPTION_KEY.into()))
            .expect("config");
    audience.seed_db(&db.pool, &config).await;
    let env = vec![
        ("TELEGRAM_API_URL", sim.base_url().to_string()),
        ("GATEHOUSE_TG_CALLS_PER_SECOND", rate.to_string()),
        ("GATEHOUSE_TG_INTERACTIVE_RESERVE", (rate / 10).min(rate - 1).to_string()),
        ("GATEHOUSE_WORKER_CONCURRENCY", env_or("BENCH_CONCURRENCY", 8usize).to_string()),
        ("GATEHOUSE_RESCUE_AFTER_SECS", "3".to_string()),
        ("GATEHOUSE_SHUTDOWN_GRACE_SECS", "2".to_string()),
        ("RUST_LOG", "error".to_string()),
    ];
    let mut procs: Vec<Proc> = (0..workers).map(|_| Proc::start("worker", &db.url, &env)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&db, "SELECT count(*) FROM apalis.workers").await < 3 * workers as i64 {
        assert!(Instant::now() < deadline, "workers did not register");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The baseline: replies with the queues idle (after the workers' first polls).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut update_id = 1;
    let mut idle_asked = Vec::new();
    for user in &audience.others[interactive..] {
        idle_asked.push((*user, help_from(&db, *user, update_id).await));
        update_id += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Send pressed.
    let t0 = Utc::now().timestamp_millis();
    let started = Instant::now();
    let id = audience.launch(&db.pool, TEXT).await;
    let expected = recipients as f64 / f64::from(rate);
    let spacing = Duration::from_secs_f64(expected * 0.8 / interactive.max(1) as f64);
    let mut next = started + spacing / 2;
    let mut asked = Vec::new();
    let mut killed: Option<(i64, i64)> = None;
    let kill_at = (audience.reachable() as i64) * 2 / 5;
    let mut last_report = Instant::now();
    loop {
        let done = count(&db, "SELECT count(*) FROM broadcasts WHERE state = 'done'").await == 1;
        if done && asked.len() >= interactive {
            break;
        }
        if asked.len() < interactive && Instant::now() >= next {
            let user = audience.others[asked.len()];
            asked.push((user, help_from(&db, user, update_id).await));
            update_id += 1;
            next += spacing;
        }
        if kill && killed.is_none() {
            let sent = count(&db, "SELECT count(*) FROM broadcast_recipients WHERE state = 'sent'").await;
            if sent >= kill_at {
                let mut doomed = procs.remove(0);
                let _ = doomed.0.kill();
                let _ = doomed.0.wait();
                std::mem::forget(doomed);
                let in_flight = count(&db, "SELECT count(*) FROM broadcast_recipients WHERE state = 'sending'").await;
                killed = Some((sent, in_flight));
            }
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            let sent = count(&db, "SELECT count(*) FROM broadcast_recipients WHERE state <> 'pending'").await;
            eprintln!("  … {sent}/{recipients} done after {:.0} s", started.elapsed().as_secs_f64());
        }
        assert!(started.elapsed() < Duration::from_secs_f64(expected * 3.0 + 300.0), "the broadcast did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every reply in (the last /help may come after the last recipient), 15 s at most.
    let replies_deadline = Instant::now() + Duration::from_secs(15);
    let calls = loop {
        let calls = tg.calls(&CallFilter { bot: Some(BOT), ..CallFilter::default() }).await.unwrap();
        if reply_latencies(&calls, &asked).len() >= asked.len() || Instant::now() > replies_deadline {
            break calls;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let counters = tg.counters().await.unwrap();
    let tally = gatehouse_jobs::store::broadcasts::tally(&db.pool, id).await.unwrap();
    drop(procs);

    let broadcast_calls: Vec<&CallRecord> =
        calls.iter().filter(|c| c.method == "sendMessage" && c.params["text"] == TEXT).collect();
    let last = broadcast_calls.iter().map(|c| c.time_ms).max().unwrap_or(t0);
    let elapsed = (last - t0) as f64 / 1000.0;
    let window = calls.iter().filter(|c| c.time_ms >= t0 && c.time_ms <= last && c.status != 429).count();
    let floor = window as f64 / f64::from(rate);
    let mut per_user: HashMap<i64, usize> = HashMap::new();
    for c in broadcast_calls.iter().filter(|c| c.status == 200) {
        *per_user.entry(chat_of(c).unwrap_or(0)).or_default() += 1;
    }
    let once = per_user.values().filter(|n| **n == 1).count();
    let twice = per_user.values().filter(|n| **n > 1).count();
    let refused = broadcast_calls.iter().filter(|c| c.status == 403).count();
    let idle = reply_latencies(&calls, &idle_asked);
    let busy = reply_latencies(&calls, &asked);
    let during = asked.iter().filter(|(_, at)| *at <= last).count();

    println!(
        "{}: {recipients} recipients ({blocked} blocked the bot), {workers} worker processes",
        if kill { "broadcast, a worker SIGKILLed at 40 %" } else { "broadcast" }
    );
    println!("  time from Send to the last recipient {elapsed:>8.1} s");
    println!(
        "  floor (the bot's calls ÷ limit)      {floor:>8.1} s   ({window} calls: {} sends, {refused} refused 403, the rest replies and progress edits)",
        broadcast_calls.len() - refused
    );
    let reserve = (rate / 10).min(rate - 1);
    let bulk_allowed = f64::from(rate - reserve);
    let send_rate = broadcast_calls.len() as f64 / elapsed;
    println!(
        "  broadcast calls per second           {send_rate:>8.1}   (the bulk lane's allowance while interactive work runs: {bulk_allowed:.0}/s = limit {rate} − reserve {reserve})"
    );
    println!("  ratio to that allowance              {:>8.3}   (target ≥ 0.9)", send_rate / bulk_allowed);
    println!(
        "  the bot's calls ÷ its limit (all lanes) {:>5.3}   (the budget keeps 5 % headroom, and the reserve while /help arrives)",
        floor / elapsed
    );
    println!("  429s returned by the simulator       {:>8}   (target 0)", counters.too_many_requests);
    println!(
        "  reachable recipients reached once    {once:>8} of {}   ({} unreachable counted, {} failed)",
        audience.reachable(),
        tally.unreachable,
        tally.failed
    );
    match killed {
        Some((sent, in_flight)) => println!(
            "  reached more than once               {twice:>8}   (bound: {in_flight} in flight at the kill, with {sent} sent; {} rows sent again)",
            tally.resent
        ),
        None => println!("  reached more than once               {twice:>8}   (target 0)"),
    }
    println!(
        "  /help replies meanwhile ({} of {} answered, {during} asked during the broadcast): p50 {:.2} s, p99 {:.2} s, max {:.2} s   (target p99 < 1 s)",
        busy.len(),
        asked.len(),
        percentile(&busy, 50.0),
        percentile(&busy, 99.0),
        busy.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  /help replies, queues idle (baseline, {}): p50 {:.2} s, p99 {:.2} s",
        idle.len(),
        percentile(&idle, 50.0),
        percentile(&idle, 99.0)
    );
    println!();
    sim.shutdown().await;
    db.drop_now().await;
}
