//! Telegram rate budgets under load: real `gatehouse worker` processes against the
//! simulator with its rate limits on (equal to the configured budget).
//!
//! `cargo bench --bench rate_limits` prints, per scenario, the figures of
//! `ops/bench/README.md`:
//!
//! 1. **mass expiry**: BENCH_MEMBERS (10 000) members in 5 chats of one bot whose grants
//!    end at the same moment, removed through the real path (expiry-scan → kick-expired)
//!    by 2 worker processes: Bot API calls per removal (notices aside), time until all
//!    are removed next to the floor (calls made ÷ the bot's limit) and next to the floor
//!    at one call per removal, 429s, rate violations, members left behind; while it
//!    drains, BENCH_INTERACTIVE (100) new entitlements arrive: latency from entitlement
//!    to the link delivered, p50 and p99. Run twice: with Gatehouse's record of the
//!    members (seen joining: one `unbanChatMember` each), then, as the baseline, without
//!    it (the careful path every removal took before: getChatMember, ban, unban);
//!    BENCH_MASS_BASELINE=0 skips the baseline.
//! 2. **many bots**: BENCH_BOTS (50) bots × BENCH_PER_BOT (200) expiries, 2 processes:
//!    aggregate calls/s next to the sum of the bots' limits, and next to the machine's
//!    ceiling, measured in the same run with every limit off.
//!
//! Env: BENCH_RATE (calls/s per bot, default 30, Telegram's), BENCH_SCENARIOS
//! (`mass,many`, default both), BENCH_WORKERS (2).

#[path = "common.rs"]
mod common;

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use common::{BenchDb, ENCRYPTION_KEY, Proc, env_or};
use gatehouse_jobs::{
    catalog::{expiry_scan::ExpiryScan, grant_access::GrantAccess},
    queue::{RunAt, enqueue},
};
use gatehouse_sim::{CallFilter, CallRecord, MemberStatus, RateLimits, Seed, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};
use uuid::Uuid;

/// The owner (creator) of every chat.
const OWNER: i64 = 999;
/// Calls per expired member, as the jobs make them, with and without Gatehouse's
/// record of the member: one unbanChatMember, or getChatMember, banChatMember and
/// unbanChatMember; and the "access ended" sendMessage.
fn calls_per_member(recorded: bool) -> f64 {
    if recorded { 2.0 } else { 4.0 }
}

#[tokio::main]
async fn main() {
    let scenarios = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "mass,many".into());
    let rate: u32 = env_or("BENCH_RATE", 30);
    let workers: usize = env_or("BENCH_WORKERS", 2);
    println!(
        "Telegram rate budgets: {workers} `gatehouse worker` processes, simulator limits = budget = {rate} calls/s per bot"
    );
    println!("(2-core machine, local PostgreSQL; the simulator runs in this process)\n");
    if scenarios.contains("mass") {
        mass_expiry(rate, workers).await;
    }
    if scenarios.contains("many") {
        many_bots(rate, workers).await;
    }
}

/// One bot of a benchmark world.
struct BotSpec {
    id: i64,
    token: String,
    /// Telegram chat id → members whose access ends.
    chats: Vec<(i64, Vec<i64>)>,
    /// Users who have started the bot but have no grant yet.
    newcomers: Vec<i64>,
}

impl BotSpec {
    fn new(index: usize, chats: usize, per_chat: usize, newcomers: usize, next_user: &mut i64) -> Self {
        let id = 7_000_000_000 + index as i64;
        let mut take = |n: usize| {
            let users: Vec<i64> = (*next_user..*next_user + n as i64).collect();
            *next_user += n as i64;
            users
        };
        let chats = (0..chats).map(|c| (-1_001_000_000_000 - (index * 100 + c) as i64, take(per_chat))).collect();
        let newcomers = take(newcomers);
        Self { id, token: format!("{id}:BENCHTOKEN{index}"), chats, newcomers }
    }

    fn members(&self) -> impl Iterator<Item = i64> + '_ {
        self.chats.iter().flat_map(|(_, m)| m.iter().copied())
    }
}

/// The simulator's world: the bots, every user started with their bot, each chat with
/// the bot as administrator and its members.
fn seed(bots: &[BotSpec]) -> Seed {
    let admin = json!({"can_manage_chat": true, "can_invite_users": true, "can_restrict_members": true,
                       "can_post_messages": true});
    let mut users = vec![json!({"id": OWNER, "first_name": "Owner"})];
    let mut chats = Vec::new();
    let mut started = Vec::new();
    for bot in bots {
        for user in bot.members().chain(bot.newcomers.iter().copied()) {
            users.push(json!({"id": user, "first_name": "Member", "language_code": "en"}));
            started.push(json!({"user_id": user, "bot_id": bot.id}));
        }
        for (chat, members) in &bot.chats {
            let mut list = vec![json!({"user_id": bot.id, "status": "administrator", "rights": admin})];
            list.extend(members.iter().map(|m| json!({"user_id": m, "status": "member"})));
            chats.push(json!({"id": chat, "type": "channel", "title": format!("Chat {chat}"), "creator_id": OWNER,
                              "members": list}));
        }
    }
    let bots: Vec<Value> =
        bots.iter().map(|b| json!({"id": b.id, "token": b.token, "username": format!("bot{}", b.id)})).collect();
    Seed::parse(&json!({"bots": bots, "users": users, "chats": chats, "started": started}).to_string()).expect("seed")
}

async fn start_sim(bots: &[BotSpec], rate: u32, limits_on: bool) -> SimHandle {
    Sim::start(SimConfig {
        rate_limits_enabled: limits_on,
        default_limits: RateLimits { calls_per_second: rate, ..RateLimits::default() },
        seed: Some(seed(bots)),
        call_log_capacity: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

/// What Gatehouse's database holds for one bot: the project, the bot (token sealed),
/// each chat ready with its own plan, and a grant per member ending at `ends_at`.
async fn seed_db(db: &BenchDb, bot: &BotSpec, ends_at: DateTime<Utc>) {
    let config =
        gatehouse_jobs::Config::from_lookup(|k| (k == "GATEHOUSE_ENCRYPTION_KEY").then(|| ENCRYPTION_KEY.into()))
            .expect("config");
    let sealed = gatehouse_jobs::crypto::seal(config.encryption_key().unwrap(), &bot.token);
    let project = Uuid::new_v4();
    let pool = &db.pool;
    // No reminders: the members' access ends seconds after the seed, and a real mass
    // expiry's reminders went out days before it, not during its drain.
    sqlx::query(
        "INSERT INTO projects (id, handle, name, owner_telegram_id, reminder_days) VALUES ($1, $2, 'Bench', $3, '{}')",
    )
    .bind(project)
    .bind(format!("bench{}", bot.id))
    .bind(OWNER)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO bots (id, project_id, telegram_bot_id, username, token_ciphertext, status, verified_at)
         VALUES ($1, $2, $3, $4, $5, 'connected', now())",
    )
    .bind(Uuid::new_v4())
    .bind(project)
    .bind(bot.id)
    .bind(format!("bot{}", bot.id))
    .bind(sealed)
    .execute(pool)
    .await
    .unwrap();
    let all: Vec<i64> = bot.members().chain(bot.newcomers.iter().copied()).collect();
    sqlx::query(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, first_name, language_code)
         SELECT gen_random_uuid(), $1, u, 'Member', 'en' FROM unnest($2::bigint[]) u",
    )
    .bind(project)
    .bind(&all)
    .execute(pool)
    .await
    .unwrap();
    for (chat, members) in &bot.chats {
        let (chat_uuid, plan) = (Uuid::new_v4(), Uuid::new_v4());
        sqlx::query(
            "INSERT INTO chats (id, project_id, telegram_chat_id, kind, title, status, can_invite_users,
                                can_restrict_members, bot_status)
             VALUES ($1, $2, $3, 'channel', 'Chat', 'ready', true, true, 'administrator')",
        )
        .bind(chat_uuid)
        .bind(project)
        .bind(chat)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO plans (id, project_id, name, price_minor, currency, duration_days)
             VALUES ($1, $2, 'Monthly', 500, 'USD', 30)",
        )
        .bind(plan)
        .bind(project)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO plan_chats (plan_id, chat_id) VALUES ($1, $2)")
            .bind(plan)
            .bind(chat_uuid)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO grants (id, project_id, subscriber_id, plan_id, source, state, starts_at, ends_at)
             SELECT gen_random_uuid(), $1, s.id, $3, 'manual', 'active', $4 - interval '30 days', $4
             FROM subscribers s WHERE s.project_id = $1 AND s.telegram_user_id = ANY($2)",
        )
        .bind(project)
        .bind(members)
        .bind(plan)
        .bind(ends_at)
        .execute(pool)
        .await
        .unwrap();
    }
}

/// Gatehouse's record of the bot's members, as the `chat_member` updates of their joins
/// left it: each inside as a plain member.
async fn record_members(db: &BenchDb, bot: &BotSpec) {
    for (chat, members) in &bot.chats {
        sqlx::query(
            "INSERT INTO memberships (chat_id, telegram_user_id, status, joined_at, observed_at)
             SELECT c.id, u, 'member', now() - interval '30 days', now() - interval '30 days'
             FROM chats c, unnest($2::bigint[]) u WHERE c.telegram_chat_id = $1",
        )
        .bind(chat)
        .bind(members)
        .execute(&db.pool)
        .await
        .unwrap();
    }
}

/// A new entitlement, as the api writes it: the grant and its grant-access job, in one
/// transaction. Returns when it was committed.
async fn entitle(db: &BenchDb, bot: i64, user: i64) -> i64 {
    let mut tx = db.pool.begin().await.unwrap();
    let grant: Uuid = sqlx::query_scalar(
        "INSERT INTO grants (id, project_id, subscriber_id, plan_id, source, state, ends_at)
         SELECT gen_random_uuid(), s.project_id, s.id, pc.plan_id, 'manual', 'active', now() + interval '30 days'
         FROM subscribers s
         JOIN bots b ON b.project_id = s.project_id AND b.telegram_bot_id = $1
         JOIN plans p ON p.project_id = s.project_id
         JOIN plan_chats pc ON pc.plan_id = p.id
         WHERE s.telegram_user_id = $2
         ORDER BY p.id LIMIT 1
         RETURNING id",
    )
    .bind(bot)
    .bind(user)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    enqueue(&mut tx, &GrantAccess { grant_id: grant }, RunAt::Now).await.unwrap();
    tx.commit().await.unwrap();
    Utc::now().timestamp_millis()
}

/// Worker processes, each with its `/metrics` on a port of its own.
struct Workers {
    /// Kept alive for the run: dropping them stops them.
    _procs: Vec<Proc>,
    metrics: Vec<u16>,
}

impl Workers {
    /// Sums a metric over the processes (every label combination, or those containing `filter`).
    async fn sum(&self, name: &str, filter: &str) -> f64 {
        let mut total = 0.0;
        for port in &self.metrics {
            let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else { continue };
            let text = response.text().await.unwrap_or_default();
            for line in text.lines().filter(|l| l.starts_with(name) && l.contains(filter)) {
                let rest = &line[name.len()..];
                if rest.starts_with('{') || rest.starts_with(' ') {
                    total += line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                }
            }
        }
        total
    }

    /// The budget figures of the run, as the workers counted them.
    async fn budget_report(&self) -> String {
        let calls = self.sum("gatehouse_telegram_calls_total", "").await
            - self.sum("gatehouse_telegram_calls_total", "over_budget").await;
        let leases = self.sum("gatehouse_telegram_budget_leases_total", "").await;
        let wasted = self.sum("gatehouse_telegram_budget_slots_wasted_total", "").await;
        let snoozes = self.sum("gatehouse_telegram_budget_snoozes_total", "").await;
        let limited = self.sum("gatehouse_telegram_rate_limited_total", "").await;
        format!(
            "{calls:.0} calls, {leases:.0} budget leases ({:.2} round-trips per call), {wasted:.0} slots dropped late, {snoozes:.0} snoozes for budget, {limited:.0} 429s",
            leases / calls.max(1.0)
        )
    }
}

fn start_workers(db: &BenchDb, sim: &SimHandle, rate: u32, n: usize) -> Workers {
    let metrics: Vec<u16> = (0..n).map(|_| common::free_port()).collect();
    let procs = metrics
        .iter()
        .map(|port| {
            let mut env = worker_env(sim, rate);
            env.push(("GATEHOUSE_METRICS_LISTEN", format!("127.0.0.1:{port}")));
            Proc::start("worker", &db.url, &env)
        })
        .collect();
    Workers { _procs: procs, metrics }
}

fn worker_env(sim: &SimHandle, rate: u32) -> Vec<(&'static str, String)> {
    vec![
        ("TELEGRAM_API_URL", sim.base_url().to_string()),
        ("GATEHOUSE_TG_CALLS_PER_SECOND", rate.to_string()),
        ("GATEHOUSE_TG_INTERACTIVE_RESERVE", (rate / 10).min(rate - 1).to_string()),
        ("RUST_LOG", "error".to_string()),
        // 8 jobs per queue keeps each worker's pool at 28 connections, within a stock
        // PostgreSQL's 100 shared with whatever else runs.
        ("GATEHOUSE_WORKER_CONCURRENCY", env_or("BENCH_CONCURRENCY", 8usize).to_string()),
    ]
}

async fn wait_registered(db: &BenchDb, processes: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.workers").fetch_one(&db.pool).await.unwrap();
        if n as usize >= 3 * processes {
            return;
        }
        assert!(Instant::now() < deadline, "workers did not register");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn removed(db: &BenchDb) -> i64 {
    // Members, not removals: two removals of one member (the sweep's and its kick's, at
    // once) must not end the drain early.
    sqlx::query_scalar("SELECT count(DISTINCT (chat_id, telegram_user_id)) FROM audit_log WHERE action = 'removed'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

fn user_of(call: &CallRecord) -> Option<i64> {
    match call.params.get("user_id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn chat_of(call: &CallRecord) -> Option<i64> {
    match call.params.get("chat_id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The most calls any bot had accepted within one sliding second.
fn busiest_second(calls: &[CallRecord]) -> usize {
    let mut per_bot: HashMap<i64, Vec<i64>> = HashMap::new();
    for c in calls.iter().filter(|c| c.status != 429) {
        per_bot.entry(c.bot_id.unwrap_or(0)).or_default().push(c.time_ms);
    }
    let mut most = 0;
    for times in per_bot.values_mut() {
        times.sort_unstable();
        let mut start = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= 1000 {
                start += 1;
            }
            most = most.max(end - start + 1);
        }
    }
    most
}

/// Members of the bots' chats still inside.
async fn left_behind(sim: &SimHandle, bots: &[BotSpec]) -> usize {
    let tg = sim.client();
    let mut left = 0;
    for bot in bots {
        for (chat, members) in &bot.chats {
            let expired: HashSet<i64> = members.iter().copied().collect();
            let state = tg.chat(*chat).await.unwrap();
            left += state
                .members
                .iter()
                .filter(|m| expired.contains(&m.user_id) && matches!(m.status, MemberStatus::Member { .. }))
                .count();
        }
    }
    left
}

/// Kick jobs' runs: how often each was claimed (1 = never snoozed).
async fn runs_per_kick(db: &BenchDb) -> (f64, i32) {
    sqlx::query_as(
        "SELECT COALESCE(avg(attempts), 0)::float8, COALESCE(max(attempts), 0) FROM apalis.jobs
         WHERE convert_from(job, 'UTF8')::jsonb ->> 'kind' = 'kick-expired'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What one mass-expiry run measured.
struct MassFigures {
    calls_per_removal: f64,
    elapsed: f64,
    floor: f64,
    floor_one_call: f64,
    too_many: u64,
    left: usize,
    p99: f64,
}

async fn mass_expiry(rate: u32, workers: usize) {
    let now = mass_run(rate, workers, true).await;
    if env_or("BENCH_MASS_BASELINE", 1u8) == 0 {
        return;
    }
    let before = mass_run(rate, workers, false).await;
    println!("mass expiry, with the record (one call per removal) | without it (read, ban, unban), same run:");
    println!(
        "  Bot API calls per removal      {:>9.2} | {:.2}   (notices aside; target ≤ 1.1)",
        now.calls_per_removal, before.calls_per_removal
    );
    println!("  time until all removed         {:>9.1} | {:.1} s", now.elapsed, before.elapsed);
    println!("  floor (calls made ÷ limit)     {:>9.1} | {:.1} s", now.floor, before.floor);
    println!(
        "  floor at one call per removal  {:>9.1} | {:.1} s   utilisation {:.3} | {:.3} (target ≥ 0.9)",
        now.floor_one_call,
        before.floor_one_call,
        now.floor_one_call / now.elapsed,
        before.floor_one_call / before.elapsed
    );
    println!("  429s                           {:>9} | {}", now.too_many, before.too_many);
    println!("  members not removed            {:>9} | {}", now.left, before.left);
    println!("  interactive p99                {:>9.2} | {:.2} s   (target < 1 s)", now.p99, before.p99);
    println!();
}

/// One mass expiry; `recorded`: Gatehouse's record knows the members (seen joining).
async fn mass_run(rate: u32, workers: usize, recorded: bool) -> MassFigures {
    let members: usize = env_or("BENCH_MEMBERS", 10_000);
    let interactive: usize = env_or("BENCH_INTERACTIVE", 100);
    let chats = 5;
    let mut next_user = 100_000;
    let bot = BotSpec::new(0, chats, members / chats, interactive, &mut next_user);
    let members = bot.members().count();
    let bots = [bot];
    let bot = &bots[0];
    let sim = start_sim(&bots, rate, true).await;
    let db = BenchDb::new().await;
    let ends_at = Utc::now() + chrono::Duration::seconds(5);
    seed_db(&db, bot, ends_at).await;
    if recorded {
        record_members(&db, bot).await;
    }
    let procs = start_workers(&db, &sim, rate, workers);
    wait_registered(&db, workers).await;
    let wait = (ends_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;

    // Access ends: the expiry scan the leader would enqueue at this tick.
    let t0 = Utc::now().timestamp_millis();
    let started = Instant::now();
    let mut conn = db.pool.acquire().await.unwrap();
    enqueue(&mut conn, &ExpiryScan { tick: Utc::now() }, RunAt::Now).await.unwrap();
    drop(conn);

    // New entitlements spread over the expected drain (80 % of it).
    let expected = members as f64 * calls_per_member(recorded) / f64::from(rate);
    let spacing = Duration::from_secs_f64(expected * 0.8 / interactive.max(1) as f64);
    let mut arrivals: Vec<(i64, i64)> = Vec::new();
    let mut next_arrival = started + spacing / 2;
    let mut last_report = Instant::now();
    loop {
        let done = removed(&db).await as usize;
        if done >= members && arrivals.len() >= interactive {
            break;
        }
        if arrivals.len() < interactive && Instant::now() >= next_arrival {
            let user = bot.newcomers[arrivals.len()];
            arrivals.push((user, entitle(&db, bot.id, user).await));
            next_arrival += spacing;
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!("  … {done}/{members} removed after {:.0} s", started.elapsed().as_secs_f64());
        }
        assert!(started.elapsed() < Duration::from_secs_f64(expected * 3.0 + 300.0), "the drain did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every link sent (the last entitlements may come after the last removal).
    let link_deadline = Instant::now() + Duration::from_secs(120);
    let tg = sim.client();
    let calls = loop {
        let calls = tg.calls(&CallFilter { bot: Some(bot.id), ..CallFilter::default() }).await.unwrap();
        let newcomers: HashSet<i64> = arrivals.iter().map(|(u, _)| *u).collect();
        let sent = calls
            .iter()
            .filter(|c| c.method == "sendMessage" && c.status == 200)
            .filter(|c| chat_of(c).is_some_and(|u| newcomers.contains(&u)))
            .count();
        if sent >= arrivals.len() || Instant::now() > link_deadline {
            break calls;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let counters = tg.counters().await.unwrap();
    let (runs, most_runs) = runs_per_kick(&db).await;
    let budget = procs.budget_report().await;
    drop(procs);

    let expired: HashSet<i64> = bot.members().collect();
    let last_removal = calls
        .iter()
        .filter(|c| c.method == "unbanChatMember" && c.status == 200)
        .filter(|c| user_of(c).is_some_and(|u| expired.contains(&u)))
        .map(|c| c.time_ms)
        .max()
        .unwrap_or(t0);
    let window: Vec<&CallRecord> =
        calls.iter().filter(|c| c.time_ms >= t0 && c.time_ms <= last_removal && c.status != 429).collect();
    let elapsed = (last_removal - t0) as f64 / 1000.0;
    let floor = window.len() as f64 / f64::from(rate);
    // The removals' own calls: those about an expired member, and the administrator
    // lists read for them (notices are sent to the user's chat, not about a user_id).
    let removal_calls = calls
        .iter()
        .filter(|c| c.status == 200 || c.status == 400)
        .filter(|c| user_of(c).is_some_and(|u| expired.contains(&u)) || c.method == "getChatAdministrators")
        .count();
    let calls_per_removal = removal_calls as f64 / members as f64;
    // Where they went: by method and answer, and the removals by path (audit log).
    let mut by_method: std::collections::BTreeMap<(String, u16), usize> = Default::default();
    for c in calls
        .iter()
        .filter(|c| c.status == 200 || c.status == 400)
        .filter(|c| user_of(c).is_some_and(|u| expired.contains(&u)) || c.method == "getChatAdministrators")
    {
        *by_method.entry((c.method.clone(), c.status)).or_default() += 1;
    }
    let paths: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT reason, coalesce(details->>'calls', CASE WHEN details ? 'completed' THEN 'completed' ELSE 'careful' END),
                count(*)
         FROM audit_log WHERE action = 'removed' GROUP BY 1, 2 ORDER BY 3 DESC",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let in_window_removal_calls = window
        .iter()
        .filter(|c| user_of(c).is_some_and(|u| expired.contains(&u)) || c.method == "getChatAdministrators")
        .count();
    let floor_one_call = (window.len() - in_window_removal_calls + members) as f64 / f64::from(rate);
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter_map(|(user, at)| {
            calls
                .iter()
                .filter(|c| c.method == "sendMessage" && c.status == 200 && chat_of(c) == Some(*user))
                .map(|c| (c.time_ms - at) as f64 / 1000.0)
                .next()
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let during = arrivals.iter().filter(|(_, at)| *at <= last_removal).count();
    let left = left_behind(&sim, &bots).await;

    let path = if recorded { "members on record: one call per removal" } else { "no record: read, ban, unban" };
    println!("mass expiry: {members} members in {chats} chats of one bot, {workers} worker processes ({path})");
    println!("  Bot API calls per removal      {calls_per_removal:>9.2}   (notices aside)");
    for ((method, status), n) in &by_method {
        println!(
            "    {method} ({status}){:>w$} {:.3} per removal",
            n,
            *n as f64 / members as f64,
            w = 28 - method.len()
        );
    }
    for (reason, path, n) in &paths {
        println!("    removed for {reason}, path {path}: {n}");
    }
    println!("  time until all removed         {elapsed:>9.1} s");
    println!(
        "  floor (calls ÷ limit)          {floor:>9.1} s   ({} calls in the drain, {:.2} per member, limit {rate}/s)",
        window.len(),
        window.len() as f64 / members as f64
    );
    println!("  utilisation (floor ÷ time)     {:>9.3}", floor / elapsed);
    println!(
        "  floor at one call per removal  {floor_one_call:>9.1} s   (utilisation {:.3})",
        floor_one_call / elapsed
    );
    println!("  busiest sliding second         {:>9} calls (limit {rate})", busiest_second(&calls));
    println!("  429s returned by the simulator {:>9}", counters.too_many_requests);
    println!("  rate violations counted        {:>9}", counters.rate_violations);
    println!("  members not removed            {left:>9}");
    println!("  runs per kick-expired job      {runs:>9.2} avg, {most_runs} max (1 = never snoozed)");
    println!("  workers' own count             {budget}");
    println!(
        "interactive under backlog: {} entitlements ({} during the drain), entitlement → link delivered",
        latencies.len(),
        during
    );
    println!("  p50                            {:>9.2} s", percentile(&latencies, 50.0));
    println!("  p99                            {:>9.2} s", percentile(&latencies, 99.0));
    println!("  max                            {:>9.2} s", latencies.last().copied().unwrap_or(f64::NAN));
    if latencies.len() < arrivals.len() {
        println!("  links not delivered            {:>9}", arrivals.len() - latencies.len());
    }
    println!();
    sim.shutdown().await;
    db.drop_now().await;
    MassFigures {
        calls_per_removal,
        elapsed,
        floor,
        floor_one_call,
        too_many: counters.too_many_requests,
        left,
        p99: percentile(&latencies, 99.0),
    }
}

/// Runs the many-bots drain; returns (calls/s, seconds, calls, 429s, violations, left behind).
async fn many_bots_run(rate: u32, workers: usize, limits_on: bool) -> (f64, f64, usize, u64, u64, usize, usize) {
    let bots_n: usize = env_or("BENCH_BOTS", 50);
    let per_bot: usize = env_or("BENCH_PER_BOT", 200);
    let mut next_user = 100_000;
    let bots: Vec<BotSpec> = (0..bots_n).map(|i| BotSpec::new(i, 1, per_bot, 0, &mut next_user)).collect();
    let sim = start_sim(&bots, rate, limits_on).await;
    let db = BenchDb::new().await;
    let ends_at = Utc::now() + chrono::Duration::seconds(5);
    for bot in &bots {
        seed_db(&db, bot, ends_at).await;
    }
    // Without limits, the budget is set far above anything the machine can do.
    let budget = if limits_on { rate } else { 1_000_000 };
    let procs = start_workers(&db, &sim, budget, workers);
    wait_registered(&db, workers).await;
    tokio::time::sleep((ends_at - Utc::now()).to_std().unwrap_or_default()).await;
    let t0 = Utc::now().timestamp_millis();
    let started = Instant::now();
    let mut conn = db.pool.acquire().await.unwrap();
    enqueue(&mut conn, &ExpiryScan { tick: Utc::now() }, RunAt::Now).await.unwrap();
    drop(conn);
    let total = bots_n * per_bot;
    while (removed(&db).await as usize) < total {
        assert!(started.elapsed() < Duration::from_secs(1800), "the drain did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tg = sim.client();
    let calls = tg.calls(&CallFilter::default()).await.unwrap();
    let counters = tg.counters().await.unwrap();
    println!("  ({}: {})", if limits_on { "limits on" } else { "limits off" }, procs.budget_report().await);
    drop(procs);
    let last = calls.iter().filter(|c| c.method == "unbanChatMember").map(|c| c.time_ms).max().unwrap_or(t0);
    let made = calls.iter().filter(|c| c.time_ms >= t0 && c.time_ms <= last && c.status != 429).count();
    let seconds = (last - t0) as f64 / 1000.0;
    let left = left_behind(&sim, &bots).await;
    let busiest = busiest_second(&calls);
    sim.shutdown().await;
    db.drop_now().await;
    (made as f64 / seconds, seconds, made, counters.too_many_requests, counters.rate_violations, left, busiest)
}

async fn many_bots(rate: u32, workers: usize) {
    let bots_n: usize = env_or("BENCH_BOTS", 50);
    let per_bot: usize = env_or("BENCH_PER_BOT", 200);
    let (ceiling, c_secs, c_calls, ..) = many_bots_run(rate, workers, false).await;
    let (rate_seen, secs, calls, too_many, violations, left, busiest) = many_bots_run(rate, workers, true).await;
    let limits = f64::from(rate) * bots_n as f64;
    let bound = limits.min(ceiling);
    println!("many bots: {bots_n} bots × {per_bot} expiries, {workers} worker processes");
    println!("  aggregate calls/s              {rate_seen:>9.0}   ({calls} calls in {secs:.1} s)");
    println!("  sum of the bots' limits        {limits:>9.0}");
    println!("  machine ceiling (limits off)   {ceiling:>9.0}   ({c_calls} calls in {c_secs:.1} s, same run)");
    println!(
        "  ratio to min(limits, ceiling)  {:>9.3}   ({} bound)",
        rate_seen / bound,
        if ceiling < limits { "CPU" } else { "rate" }
    );
    println!("  busiest sliding second per bot {busiest:>9} calls (limit {rate})");
    println!("  429s / rate violations         {too_many:>9} / {violations}");
    println!("  members not removed            {left:>9}");
}
