//! Chaos: the real `gatehouse` processes against the simulator and the local Postgres
//! while something breaks: a worker killed with SIGKILL mid-drain, every database
//! connection cut, Telegram down, a poison row in a queue, a transaction left idle on
//! the jobs table. Each test asserts what must hold afterwards (nothing lost, nothing
//! done twice beyond what was in flight, the processes alive) and prints its figures in
//! one line starting `chaos figures:` (run with `--no-capture` to see them).

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use gatehouse_jobs::{
    catalog::{
        diagnostics::{Probe, ProbeFailure},
        expiry_scan::ExpiryScan,
    },
    queue::{Envelope, RunAt, enqueue},
};
use gatehouse_sim::{CallFilter, CallRecord, Fault, RateLimits, Seed, Sim, SimConfig, SimHandle};
use gatehouse_tests::{PgProxy, TEST_ADMIN_TOKEN, TestDb, insert_connected_bot, test_config, wait_until};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Proc, free_port};

// Shared pieces ------------------------------------------------------------------------

/// The creator of the managed channel.
const OWNER: i64 = 999;
/// The project's bot in the simulator.
const BOT: i64 = 7_200_000_001;
/// The managed channel.
const CHAT: i64 = -1_001_200_000_001;
/// The first member's Telegram id.
const FIRST_USER: i64 = 300_000;

/// The processes' log filter: errors only (a cut database makes every worker loud),
/// unless the run sets `RUST_LOG`.
fn log_filter() -> String {
    std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into())
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Whether a child process is still running.
fn alive(proc: &mut Proc) -> bool {
    proc.child.try_wait().expect("try_wait").is_none()
}

/// Like `wait_until`, but says what the world looked like when it gives up.
async fn wait_or_report<F, Fut, R, RFut>(timeout: Duration, what: &str, mut condition: F, report: R)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
    R: FnOnce() -> RFut,
    RFut: Future<Output = String>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}: {}", report().await);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `processes` worker processes have registered their three queues.
async fn wait_registered(db: &TestDb, processes: i64) {
    wait_until(Duration::from_secs(60), "the workers to register", || async {
        db.count("SELECT count(*) FROM apalis.workers").await >= 3 * processes
    })
    .await;
}

fn probe(key: String, sleep_ms: u64) -> Probe {
    Probe { key, sleep_ms, fail_first: 0, failure: ProbeFailure::Transient }
}

/// Enqueues probes `<prefix><i>` for `range`, in transactions of 500.
async fn put_probes(db: &TestDb, prefix: &str, range: std::ops::Range<usize>, sleep_ms: u64) {
    let mut tx = db.pool.begin().await.unwrap();
    for i in range {
        enqueue(&mut tx, &probe(format!("{prefix}{i}"), sleep_ms), RunAt::Now).await.unwrap();
        if i % 500 == 499 {
            tx.commit().await.unwrap();
            tx = db.pool.begin().await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// Per probe key: how many runs started, how many finished.
async fn probe_runs(db: &TestDb) -> HashMap<String, (i64, i64)> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT probe_key, count(*) FILTER (WHERE phase = 'started'), count(*) FILTER (WHERE phase = 'finished')
         FROM diagnostic_probe_runs GROUP BY probe_key",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    rows.into_iter().map(|(k, s, f)| (k, (s, f))).collect()
}

/// How many probes have finished at least once.
async fn probes_finished(db: &TestDb) -> i64 {
    db.count("SELECT count(DISTINCT probe_key) FROM diagnostic_probe_runs WHERE phase = 'finished'").await
}

/// What every probe of `keys` did: (missing = never finished, finished more than once,
/// runs started beyond the first).
fn exactly_once(runs: &HashMap<String, (i64, i64)>, keys: &[String]) -> (Vec<String>, Vec<String>, i64) {
    let mut missing = Vec::new();
    let mut twice = Vec::new();
    let mut reruns = 0;
    for key in keys {
        match runs.get(key) {
            None | Some((_, 0)) => missing.push(key.clone()),
            Some((started, finished)) => {
                if *finished > 1 {
                    twice.push(key.clone());
                }
                reruns += started - 1;
            }
        }
    }
    (missing, twice, reruns)
}

fn keys(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// Rows per (kind, status) of the queue, for the figures and for failure messages.
async fn job_states(db: &TestDb) -> Vec<(String, String, i64)> {
    let mut counts: HashMap<(String, String), i64> = HashMap::new();
    for job in db.jobs().await {
        *counts.entry((job.kind.unwrap_or_else(|| "?".into()), job.status)).or_default() += 1;
    }
    let mut rows: Vec<_> = counts.into_iter().map(|((k, s), n)| (k, s, n)).collect();
    rows.sort();
    rows
}

/// The sum of every series of a metric a worker serves on `port` (0 when unreachable).
async fn metric_sum(port: u16, name: &str) -> i64 {
    let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else { return 0 };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as i64)
        .sum()
}

fn user_of(call: &CallRecord) -> Option<i64> {
    match call.params.get("chat_id").or_else(|| call.params.get("user_id"))? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

// A managed channel whose members' access has ended ------------------------------------

/// A bot, a managed channel with `members` members, and in Gatehouse's database the
/// project, the bot (token sealed), the channel (ready), a plan and one grant per member
/// whose end has passed. The simulator is seeded, so no update is generated and nobody
/// is removed before the test asks.
struct Expired {
    sim: SimHandle,
    db: TestDb,
    users: Vec<i64>,
}

impl Expired {
    async fn start(members: usize, sim_calls_per_second: u32) -> Self {
        let users: Vec<i64> = (0..members as i64).map(|i| FIRST_USER + i).collect();
        let sim = Sim::start(SimConfig {
            rate_limits_enabled: true,
            default_limits: RateLimits { calls_per_second: sim_calls_per_second, ..RateLimits::default() },
            seed: Some(Self::seed(&users)),
            call_log_capacity: 1_000_000,
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let db = TestDb::new().await;
        let this = Self { sim, db, users };
        this.seed_db().await;
        this
    }

    fn token() -> String {
        format!("{BOT}:CHAOS-chaos-chaos-chaos-chaos-chaos12")
    }

    fn seed(users: &[i64]) -> Seed {
        let admin = json!({"can_manage_chat": true, "can_invite_users": true, "can_restrict_members": true,
                           "can_post_messages": true});
        let mut all = vec![json!({"id": OWNER, "first_name": "Owner"})];
        all.extend(users.iter().map(|u| json!({"id": u, "first_name": "Member", "language_code": "en"})));
        let started: Vec<Value> = users.iter().map(|u| json!({"user_id": u, "bot_id": BOT})).collect();
        let mut members = vec![json!({"user_id": BOT, "status": "administrator", "rights": admin})];
        members.extend(users.iter().map(|u| json!({"user_id": u, "status": "member"})));
        let seed = json!({
            "bots": [{"id": BOT, "token": Self::token(), "username": "chaos_bot"}],
            "users": all,
            "chats": [{"id": CHAT, "type": "channel", "title": "Chaos channel", "creator_id": OWNER,
                       "members": members}],
            "started": started,
        });
        Seed::parse(&seed.to_string()).expect("seed")
    }

    async fn seed_db(&self) {
        let config = test_config(&self.db.url, &[]);
        let sealed = gatehouse_jobs::crypto::seal(config.encryption_key().unwrap(), &Self::token());
        let pool = &self.db.pool;
        let (project, chat, plan) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        sqlx::query("INSERT INTO projects (id, handle, name, owner_telegram_id) VALUES ($1, 'chaos', 'Chaos', $2)")
            .bind(project)
            .bind(OWNER)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO bots (id, project_id, telegram_bot_id, username, token_ciphertext, status, verified_at)
             VALUES ($1, $2, $3, 'chaos_bot', $4, 'connected', now())",
        )
        .bind(Uuid::new_v4())
        .bind(project)
        .bind(BOT)
        .bind(sealed)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO subscribers (id, project_id, telegram_user_id, first_name, language_code)
             SELECT gen_random_uuid(), $1, u, 'Member', 'en' FROM unnest($2::bigint[]) u",
        )
        .bind(project)
        .bind(&self.users)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO chats (id, project_id, telegram_chat_id, kind, title, status, can_invite_users,
                                can_restrict_members, bot_status)
             VALUES ($1, $2, $3, 'channel', 'Chaos channel', 'ready', true, true, 'administrator')",
        )
        .bind(chat)
        .bind(project)
        .bind(CHAT)
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
            .bind(chat)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO grants (id, project_id, subscriber_id, plan_id, source, state, starts_at, ends_at)
             SELECT gen_random_uuid(), $1, s.id, $2, 'manual', 'active', now() - interval '30 days',
                    now() - interval '1 second'
             FROM subscribers s WHERE s.project_id = $1",
        )
        .bind(project)
        .bind(plan)
        .execute(pool)
        .await
        .unwrap();
    }

    /// Worker settings: the simulator, the bot's budget, job slots per queue.
    fn worker_env(&self, calls_per_second: u32, concurrency: u32) -> Vec<(&'static str, String)> {
        vec![
            ("TELEGRAM_API_URL", self.sim.base_url().to_string()),
            ("GATEHOUSE_TG_CALLS_PER_SECOND", calls_per_second.to_string()),
            ("GATEHOUSE_TG_INTERACTIVE_RESERVE", (calls_per_second / 20).to_string()),
            ("GATEHOUSE_WORKER_CONCURRENCY", concurrency.to_string()),
            ("GATEHOUSE_TELEGRAM_TIMEOUT_MS", "2000".to_string()),
            ("RUST_LOG", log_filter()),
        ]
    }

    /// The expiry scan the leader enqueues every minute, now.
    async fn expire_now(&self) {
        let mut conn = self.db.pool.acquire().await.unwrap();
        enqueue(&mut conn, &ExpiryScan { tick: Utc::now() }, RunAt::Now).await.unwrap();
    }

    /// Members Gatehouse recorded as removed.
    async fn removed(&self) -> i64 {
        self.db.count("SELECT count(DISTINCT telegram_user_id) FROM audit_log WHERE action = 'removed'").await
    }

    /// Members still inside the channel, and members left banned in it.
    async fn inside_and_banned(&self) -> (usize, usize) {
        let ours: HashSet<i64> = self.users.iter().copied().collect();
        let state = self.sim.client().chat(CHAT).await.unwrap();
        let inside = state.members.iter().filter(|m| ours.contains(&m.user_id)).count();
        let banned = state.banned.iter().filter(|m| ours.contains(&m.user_id)).count();
        (inside, banned)
    }

    /// "Access ended" messages each member received.
    async fn notices(&self) -> HashMap<i64, usize> {
        let mut per_user: HashMap<i64, usize> = HashMap::new();
        for m in self.sim.client().messages(Some(BOT), None).await.unwrap() {
            if m.from_bot && m.text.as_deref().is_some_and(|t| t.contains("has ended")) {
                *per_user.entry(m.chat_id).or_default() += 1;
            }
        }
        per_user
    }

    /// Every member removed (as Telegram sees it) and told, and no job left to run.
    async fn all_done(&self) -> bool {
        let sent = self.db.count("SELECT count(*) FROM outbound_messages WHERE state = 'sent'").await;
        if sent < self.users.len() as i64 {
            return false;
        }
        if gatehouse_jobs::store::queue::unfinished(&self.db.pool).await.unwrap_or(1) > 0 {
            return false;
        }
        self.inside_and_banned().await == (0, 0)
    }

    /// Where the drain stands, for a failure message.
    async fn report(&self) -> String {
        let sent = self.db.count("SELECT count(*) FROM outbound_messages WHERE state = 'sent'").await;
        let unfinished = gatehouse_jobs::store::queue::unfinished(&self.db.pool).await.unwrap_or(-1);
        let claimed: Vec<(String, String, String, i32, DateTime<Utc>)> = sqlx::query_as(
            "SELECT COALESCE(convert_from(job, 'UTF8')::jsonb ->> 'kind', '?'), status, COALESCE(lock_by, ''), attempts, run_at
             FROM apalis.jobs WHERE status NOT IN ('Done') ORDER BY run_at LIMIT 12",
        )
        .fetch_all(&self.db.pool)
        .await
        .unwrap_or_default();
        let workers: Vec<(String, DateTime<Utc>)> =
            sqlx::query_as("SELECT id, last_seen FROM apalis.workers ORDER BY last_seen DESC LIMIT 8")
                .fetch_all(&self.db.pool)
                .await
                .unwrap_or_default();
        #[allow(clippy::type_complexity)]
        let sessions: Vec<(Option<String>, Option<String>, Option<String>, Option<String>, i64)> = sqlx::query_as(
            "SELECT state, wait_event_type, wait_event, left(query, 90), count(*) FROM pg_stat_activity
             WHERE datname = current_database() GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC",
        )
        .fetch_all(&self.db.pool)
        .await
        .unwrap_or_default();
        format!(
            "removed {}, notices sent {sent}, unfinished {unfinished}, inside/banned {:?}, jobs {:?}, \
             not done {claimed:?}, workers {workers:?}, sessions {sessions:?}, now {}",
            self.removed().await,
            self.inside_and_banned().await,
            job_states(&self.db).await,
            Utc::now()
        )
    }

    async fn calls(&self) -> Vec<CallRecord> {
        self.sim.client().calls(&CallFilter { bot: Some(BOT), ..CallFilter::default() }).await.unwrap()
    }
}

/// Rows a process had claimed (Queued or Running), per kind and status.
async fn claimed_by(db: &TestDb, pid: u32) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "SELECT COALESCE(convert_from(job, 'UTF8')::jsonb ->> 'kind', '?'), status, count(*)
         FROM apalis.jobs
         WHERE lock_by LIKE $1 AND status IN ('Queued', 'Running')
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(format!("%-{pid}-%"))
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

// (a) A worker killed mid-drain --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_drain_leaves_nobody_inside_and_nobody_banned() {
    const MEMBERS: usize = 1_000;
    const CONCURRENCY: u32 = 6;
    let test_started = Instant::now();
    let world = Expired::start(MEMBERS, 1_000).await;
    let ports = [free_port(), free_port()];
    let env = |port: u16| {
        let mut env = world.worker_env(600, CONCURRENCY);
        env.push(("GATEHOUSE_METRICS_LISTEN", format!("127.0.0.1:{port}")));
        env
    };
    let mut a = Proc::start("worker", &world.db.url, &env(ports[0]));
    let b = Proc::start("worker", &world.db.url, &env(ports[1]));
    wait_registered(&world.db, 2).await;
    // The survivor's own account, for a failure message.
    let survivor = || async {
        let mut figures = Vec::new();
        for name in [
            "gatehouse_jobs_started_total",
            "gatehouse_jobs_succeeded_total",
            "gatehouse_jobs_retried_total",
            "gatehouse_worker_restarts_total",
            "gatehouse_jobs_rescued_total",
            "gatehouse_telegram_calls_total",
        ] {
            figures.push(format!("{name}={}", metric_sum(ports[1], name).await));
        }
        format!("{}; survivor: {}", world.report().await, figures.join(" "))
    };

    world.expire_now().await;
    let drain_started = Instant::now();
    wait_or_report(
        Duration::from_secs(120),
        "a third of the members removed",
        || async { world.removed().await >= (MEMBERS / 3) as i64 },
        survivor,
    )
    .await;
    a.signal("KILL");
    let killed_at = Instant::now();
    a.wait(Duration::from_secs(10)).await;
    // The dead process's rows stay as they were until the rescue (3 s of silence).
    let removed_at_kill = world.removed().await;
    let claimed = claimed_by(&world.db, a.pid()).await;
    let count = |f: &dyn Fn(&(String, String, i64)) -> bool| claimed.iter().filter(|r| f(r)).map(|r| r.2).sum::<i64>();
    let running = count(&|r| r.1 == "Running");
    let claimed_total = count(&|_| true);
    let notices_in_flight = count(&|r| r.0 == "send-notice");
    let kicks_in_flight = count(&|r| r.0 == "kick-expired");

    wait_or_report(Duration::from_secs(200), "every member removed and told", || world.all_done(), survivor).await;
    let recovered = killed_at.elapsed();
    let drained = drain_started.elapsed();

    let (inside, banned) = world.inside_and_banned().await;
    let unaudited = MEMBERS as i64 - world.removed().await;
    let notices = world.notices().await;
    let lost: Vec<i64> = world.users.iter().copied().filter(|u| !notices.contains_key(u)).collect();
    let duplicates: usize = notices.values().map(|n| n - 1).sum();
    let users_with_duplicates = notices.values().filter(|n| **n > 1).count();
    let calls = world.calls().await;
    let kicks_calls: HashMap<&str, usize> = calls.iter().fold(HashMap::new(), |mut m, c| {
        *m.entry(c.method.as_str()).or_default() += 1;
        m
    });
    let bans = kicks_calls.get("banChatMember").copied().unwrap_or(0);
    // Runs beyond the first that were not snoozes (waits for budget): the rescued ones.
    let rescued = world
        .db
        .count(
            "SELECT count(*) FROM apalis.jobs
             WHERE attempts - COALESCE((metadata -> 'snoozes')::int, 0) > 1",
        )
        .await;
    let states = job_states(&world.db).await;
    let not_done: Vec<_> =
        states.iter().filter(|(k, s, _)| (k == "kick-expired" || k == "send-notice") && s != "Done").collect();
    eprintln!(
        "chaos figures: (a) kill -9 of 1 of 2 workers mid-drain of {MEMBERS} removals: removed at the kill {removed_at_kill}, \
         in flight at the kill {running} running / {claimed_total} claimed ({kicks_in_flight} kick-expired, \
         {notices_in_flight} send-notice; concurrency {CONCURRENCY} per queue), jobs lost {}, left inside {inside}, \
         left banned {banned}, removals missing from the audit trail {unaudited}, \
         duplicate notices {duplicates} (to {users_with_duplicates} users), \
         {bans} banChatMember for {MEMBERS} members, jobs run again {rescued}, kill to all done {}, \
         whole drain {}, test {}",
        lost.len() + not_done.len(),
        secs(recovered),
        secs(drained),
        secs(test_started.elapsed()),
    );
    assert_eq!(inside, 0, "members left inside");
    assert_eq!(banned, 0, "members left banned: a removal is a kick, not a ban");
    assert!(lost.is_empty(), "members never told their access ended: {:?}", &lost[..lost.len().min(10)]);
    assert!(not_done.is_empty(), "jobs not done: {states:?}");
    // Only a notice the dead process had claimed (running, or sent and not yet
    // acknowledged) can be sent again by the rescue.
    assert!(
        duplicates as i64 <= notices_in_flight,
        "{duplicates} duplicate notices, but only {notices_in_flight} send-notice jobs were in flight at the kill"
    );
    let mut b = b;
    assert!(alive(&mut b), "the surviving worker is still running");
}

// (b) Every database connection cut for 10 s -------------------------------------------

const HOOK_BOT: i64 = 8_100_000_001;
const HOOK_SECRET: &str = "chaos-webhook-secret";

fn update(update_id: usize) -> String {
    format!(
        r#"{{"update_id": {update_id}, "message": {{"message_id": {update_id}, "date": 0, "chat": {{"id": 1, "type": "private"}}, "text": "hi"}}}}"#
    )
}

#[tokio::test]
async fn every_database_connection_cut_for_ten_seconds_is_503_meanwhile_and_loses_no_job() {
    const BEFORE: usize = 1_000;
    const DURING: usize = 100;
    const AFTER: usize = 500;
    const CUT: Duration = Duration::from_secs(10);
    let test_started = Instant::now();
    let db = TestDb::new().await;
    insert_connected_bot(&db.pool, HOOK_BOT, HOOK_SECRET).await;
    let proxy = PgProxy::start().await;
    let through_proxy = proxy.url(&db.name);
    let api_port = free_port();
    let mut api = Proc::start(
        "api",
        &through_proxy,
        &[("GATEHOUSE_LISTEN", format!("127.0.0.1:{api_port}")), ("RUST_LOG", log_filter())],
    );
    let ports = [free_port(), free_port()];
    let env = |port: u16| {
        [
            ("GATEHOUSE_WORKER_CONCURRENCY", "4".to_string()),
            ("GATEHOUSE_METRICS_LISTEN", format!("127.0.0.1:{port}")),
            ("RUST_LOG", log_filter()),
        ]
    };
    let mut w1 = Proc::start("worker", &through_proxy, &env(ports[0]));
    let mut w2 = Proc::start("worker", &through_proxy, &env(ports[1]));
    let base = format!("http://127.0.0.1:{api_port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    wait_until(Duration::from_secs(30), "the api to be ready", || async {
        http.get(format!("{base}/readyz")).send().await.map(|r| r.status().is_success()).unwrap_or(false)
    })
    .await;
    wait_registered(&db, 2).await;

    let create = |handle: String| {
        http.post(format!("{base}/v1/projects"))
            .bearer_auth(TEST_ADMIN_TOKEN)
            .json(&json!({"handle": handle, "name": "P", "owner_telegram_id": 1}))
            .send()
    };
    let hook = |update_id: usize| {
        http.post(format!("{base}/hooks/telegram/{HOOK_BOT}"))
            .header("X-Telegram-Bot-Api-Secret-Token", HOOK_SECRET)
            .body(update(update_id))
            .send()
    };
    let status = |r: Result<reqwest::Response, reqwest::Error>| r.map(|r| r.status().as_u16()).unwrap_or(0);

    // Load before the cut: probes of 50 ms and webhooks.
    put_probes(&db, "before-", 0..BEFORE, 50).await;
    for i in 0..50 {
        assert_eq!(status(hook(i).await), 200);
    }
    assert_eq!(status(create("before".into()).await), 201);
    wait_until(Duration::from_secs(60), "a fifth of the probes done", || async {
        probes_finished(&db).await >= (BEFORE / 5) as i64
    })
    .await;

    proxy.cut();
    let cut_at = Instant::now();
    let finished_at_cut = probes_finished(&db).await;
    // Rows claimed when the connections went: running, or run and not yet acknowledged.
    let claimed_at_cut = db.count("SELECT count(*) FROM apalis.jobs WHERE status IN ('Queued', 'Running')").await;
    // Meanwhile: every request is answered 503 (not 500, not a hang); other clients of
    // the database (here the test itself) still enqueue.
    put_probes(&db, "during-", 0..DURING, 50).await;
    let mut answers: Vec<u16> = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut n = 0;
    while cut_at.elapsed() < CUT - Duration::from_millis(500) {
        let asked = Instant::now();
        answers.push(status(create(format!("during{n}")).await));
        answers.push(status(hook(1_000 + n).await));
        slowest = slowest.max(asked.elapsed() / 2);
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready_during = status(http.get(format!("{base}/readyz")).send().await);
    let finished_during_cut = probes_finished(&db).await - finished_at_cut;
    tokio::time::sleep(CUT.saturating_sub(cut_at.elapsed())).await;
    proxy.restore();
    let restored_at = Instant::now();

    wait_until(Duration::from_secs(30), "the api to reach the database again", || async {
        status(create(format!("after{}", Uuid::new_v4().simple())).await) == 201
    })
    .await;
    let api_back = restored_at.elapsed();
    // Telegram delivers the refused updates again.
    for i in 1_000..1_000 + n {
        assert_eq!(status(hook(i).await), 200, "update {i} redelivered");
    }
    for i in 50..100 {
        assert_eq!(status(hook(i).await), 200);
    }
    let first_finished_before = probes_finished(&db).await;
    wait_until(Duration::from_secs(60), "the workers to run jobs again", || async {
        probes_finished(&db).await > first_finished_before
    })
    .await;
    let workers_back = restored_at.elapsed();
    put_probes(&db, "after-", 0..AFTER, 50).await;
    wait_until(Duration::from_secs(120), "every probe finished", || async {
        probes_finished(&db).await >= (BEFORE + DURING + AFTER) as i64
    })
    .await;
    gatehouse_tests::drain_all(&db.pool, Duration::from_secs(60)).await;
    let all_done = restored_at.elapsed();

    let runs = probe_runs(&db).await;
    let mut all = keys("before-", 0..BEFORE);
    all.extend(keys("during-", 0..DURING));
    all.extend(keys("after-", 0..AFTER));
    let (missing, twice, reruns) = exactly_once(&runs, &all);
    let states = job_states(&db).await;
    let updates = db.jobs().await.into_iter().filter(|j| j.kind.as_deref() == Some("process-telegram-update"));
    let (updates_done, updates_total) = updates.fold((0, 0), |(d, t), j| (d + (j.status == "Done") as usize, t + 1));
    let not_503 = answers.iter().filter(|s| **s != 503).count();
    let restarts = metric_sum(ports[0], "gatehouse_worker_restarts_total").await
        + metric_sum(ports[1], "gatehouse_worker_restarts_total").await;
    eprintln!(
        "chaos figures: (b) database cut {} under load: {} requests meanwhile, {not_503} not 503 (slowest answer {}), \
         /readyz {ready_during}, probes finished during the cut {finished_during_cut}; api back {} after the restore, \
         workers back {}, all {} probes done {} after the restore; lost {}, finished twice {} ({claimed_at_cut} claimed at the cut), \
         runs started again {reruns}, webhook updates {updates_done}/{updates_total} done, \
         worker streams restarted {restarts}, test {}",
        secs(CUT),
        answers.len(),
        secs(slowest),
        secs(api_back),
        secs(workers_back),
        all.len(),
        secs(all_done),
        missing.len(),
        twice.len(),
        secs(test_started.elapsed()),
    );
    assert_eq!(not_503, 0, "answers while the database was cut: {answers:?}");
    assert_eq!(ready_during, 503);
    assert!(missing.is_empty(), "probes never finished: {:?}", &missing[..missing.len().min(10)]);
    // A job whose acknowledgement was lost with the connection runs again (see the
    // report): only jobs claimed at the cut can.
    assert!(
        twice.len() as i64 <= claimed_at_cut,
        "{} probes finished twice, {claimed_at_cut} were claimed at the cut: {twice:?}",
        twice.len()
    );
    assert_eq!(updates_total, 100 + n, "every webhook update enqueued once");
    assert_eq!(updates_done, updates_total, "{states:?}");
    assert!(states.iter().all(|(_, s, _)| s == "Done"), "every job done, none failed or killed: {states:?}");
    assert!(alive(&mut api) && alive(&mut w1) && alive(&mut w2), "every process reconnected by itself");
}

// (c) Telegram down for 60 s -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_down_for_a_minute_then_all_work_is_done_and_no_call_comes_before_retry_after() {
    const MEMBERS: usize = 200;
    const OUTAGE: Duration = Duration::from_secs(60);
    const RETRY_AFTER: u64 = 5;
    // A 429 pause reaches every worker within the lease (250 ms): calls leased before it
    // may still go out that long after.
    const LEASE_SLACK_MS: i64 = 400;
    let test_started = Instant::now();
    let world = Expired::start(MEMBERS, 300).await;
    let tg = world.sim.client();
    // Telegram down: connections dropped without an answer, then 502s, for every method.
    let drop: Fault = serde_json::from_value(json!({"drop_connection": true, "times": 300})).unwrap();
    let bad_gateway: Fault = serde_json::from_value(json!({"error_code": 502, "description": "Bad Gateway"})).unwrap();
    tg.add_fault(&drop).await.unwrap();
    tg.add_fault(&bad_gateway).await.unwrap();
    let env = world.worker_env(200, 6);
    let mut a = Proc::start("worker", &world.db.url, &env);
    let mut b = Proc::start("worker", &world.db.url, &env);
    wait_registered(&world.db, 2).await;
    let down_ms = tg.now().await.unwrap() * 1000;
    world.expire_now().await;
    let down_at = Instant::now();
    // The outage lasts a fixed time: nothing to wait for but the clock.
    tokio::time::sleep(OUTAGE).await;
    let during = world.calls().await;
    let removed_during = world.removed().await;
    let limited: Fault =
        serde_json::from_value(json!({"bot_id": BOT, "times": 1, "error_code": 429, "retry_after": RETRY_AFTER}))
            .unwrap();
    tg.clear_faults().await.unwrap();
    tg.add_fault(&limited).await.unwrap();
    let up_at = Instant::now();

    wait_or_report(
        Duration::from_secs(170),
        "every member removed and told after the outage",
        || world.all_done(),
        || world.report(),
    )
    .await;
    let recovered = up_at.elapsed();

    let calls = world.calls().await;
    let dropped = during.iter().filter(|c| c.status == 0).count();
    let bad = during.iter().filter(|c| c.status == 502).count();
    let during_calls = during.iter().filter(|c| c.time_ms >= down_ms).count();
    // Every 429 (the injected one, and any the simulator's limits gave): nothing for that
    // bot until retry_after has passed, beyond what was already leased.
    let mut early = Vec::new();
    let mut within_lease = 0;
    let mut limits = 0;
    for c in calls.iter().filter(|c| c.status == 429) {
        limits += 1;
        let retry_after = c.response["parameters"]["retry_after"].as_i64().unwrap_or(1);
        let until = c.time_ms + retry_after * 1000;
        for later in calls.iter().filter(|l| l.seq > c.seq && l.time_ms < until) {
            if later.time_ms <= c.time_ms + LEASE_SLACK_MS {
                within_lease += 1;
            } else {
                early.push((later.seq, later.method.clone(), later.time_ms - c.time_ms, user_of(later)));
            }
        }
    }
    let attempts: (i32, f64) = sqlx::query_as(
        "SELECT COALESCE(max(attempts), 0), COALESCE(avg(attempts), 0)::float8 FROM apalis.jobs
         WHERE convert_from(job, 'UTF8')::jsonb ->> 'kind' = 'kick-expired'",
    )
    .fetch_one(&world.db.pool)
    .await
    .unwrap();
    let (inside, banned) = world.inside_and_banned().await;
    let notices = world.notices().await;
    let duplicates: usize = notices.values().map(|n| n - 1).sum();
    let states = job_states(&world.db).await;
    eprintln!(
        "chaos figures: (c) Telegram down {} during an expiry of {MEMBERS}: {during_calls} calls refused meanwhile \
         ({dropped} connections dropped, {bad} answered 502), removed meanwhile {removed_during}; after it: all done {} \
         after Telegram was back (outage start to done {}), kick attempts max {} avg {:.1}, jobs lost {}, \
         left inside {inside}, left banned {banned}, duplicate notices {duplicates}; {limits} 429s (retry_after \
         {RETRY_AFTER} s): calls before retry_after {} (+{within_lease} within the {LEASE_SLACK_MS} ms lease), test {}",
        secs(OUTAGE),
        secs(recovered),
        secs(down_at.elapsed()),
        attempts.0,
        attempts.1,
        MEMBERS - notices.len(),
        early.len(),
        secs(test_started.elapsed()),
    );
    assert!(dropped > 0 && bad > 0, "the outage was felt: {dropped} dropped, {bad} 502");
    assert_eq!(removed_during, 0, "nobody removed while Telegram was down");
    assert_eq!((inside, banned), (0, 0));
    assert_eq!(notices.len(), MEMBERS, "every member told");
    assert!(states.iter().all(|(_, s, _)| s == "Done"), "no job failed for good: {states:?}");
    assert!(limits >= 1, "the 429 was answered");
    assert!(early.is_empty(), "calls before retry_after had passed (seq, method, ms after the 429, chat): {early:?}");
    assert!(alive(&mut a) && alive(&mut b));
}

// (d) One poison row among 1,000 -------------------------------------------------------

/// 26 characters of Crockford base32 from a v7 uuid, like apalis's ULIDs.
fn ulid_like() -> String {
    let n = Uuid::now_v7().as_u128();
    let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26).rev().map(|i| alphabet[((n >> (i * 5)) & 31) as usize] as char).collect()
}

/// Writes a row straight into a queue, bypassing `enqueue`'s checks.
async fn insert_raw(conn: &mut sqlx::PgConnection, queue: &str, bytes: &[u8]) -> String {
    let id = ulid_like();
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata)
         VALUES ($1, $2, $3, 'Pending', 0, 12, now(), 0, ''::hstore)",
    )
    .bind(&id)
    .bind(queue)
    .bind(bytes)
    .execute(conn)
    .await
    .unwrap();
    id
}

/// Rows a worker stream claims per round-trip (`GATEHOUSE_WORKER_BATCH`'s default).
const BATCH: usize = 32;

async fn one_poison_among_a_thousand(label: &str, poison: &[u8], reason: &str, max_twice: usize) {
    const JOBS: usize = 1_000;
    let test_started = Instant::now();
    let db = TestDb::new().await;
    let metrics = free_port();
    let mut worker = Proc::start(
        "worker",
        &db.url,
        &[
            ("GATEHOUSE_WORKER_CONCURRENCY", "4".to_string()),
            ("GATEHOUSE_METRICS_LISTEN", format!("127.0.0.1:{metrics}")),
            ("RUST_LOG", log_filter()),
        ],
    );
    wait_registered(&db, 1).await;
    // 999 probes of the bulk queue and the poison row in their middle, in one transaction.
    let good = keys("good-", 0..JOBS - 1);
    let mut tx = db.pool.begin().await.unwrap();
    let mut poison_id = String::new();
    for (i, key) in good.iter().enumerate() {
        if i == JOBS / 2 {
            poison_id = insert_raw(&mut tx, "bulk", poison).await;
        }
        let row = Envelope { kind: "probe".into(), args: serde_json::to_value(probe(key.clone(), 0)).unwrap() };
        insert_raw(&mut tx, "bulk", &serde_json::to_vec(&row).unwrap()).await;
    }
    tx.commit().await.unwrap();
    let enqueued_at = Instant::now();

    wait_until(Duration::from_secs(120), "every row of the queue finished", || async {
        gatehouse_jobs::store::queue::unfinished(&db.pool).await.map(|n| n == 0).unwrap_or(false)
    })
    .await;
    let took = enqueued_at.elapsed();
    let alive_after = alive(&mut worker);
    // Still taking new jobs.
    put_probes(&db, "after-poison-", 0..1, 0).await;
    wait_until(Duration::from_secs(30), "a job enqueued after the poison row", || async {
        db.count("SELECT count(*) FROM apalis.jobs WHERE idempotency_key = 'probe:after-poison-0' AND status = 'Done'")
            .await
            == 1
    })
    .await;

    let jobs = db.jobs().await;
    let row = jobs.iter().find(|j| j.id == poison_id).expect("the poison row").clone();
    let done = jobs.iter().filter(|j| j.status == "Done" && j.kind.as_deref() == Some("probe")).count();
    let killed: Vec<_> = jobs.iter().filter(|j| j.status == "Killed").collect();
    let runs = probe_runs(&db).await;
    let (missing, twice, reruns) = exactly_once(&runs, &good);
    let restarts = metric_sum(metrics, "gatehouse_worker_restarts_total").await;
    let last_result = row.last_result.clone().unwrap_or(Value::Null).to_string();
    eprintln!(
        "chaos figures: (d) one poison row ({label}) among {JOBS} bulk jobs: {done} probes done, {} killed \
         (the poison row: {}, {} attempt(s), reason {}), lost {}, finished twice {}, runs again {reruns}, worker alive {alive_after}, \
         worker streams restarted {restarts}, all finished in {}, test {}",
        killed.len(),
        row.status,
        row.attempts,
        last_result.chars().take(160).collect::<String>(),
        missing.len(),
        twice.len(),
        secs(took),
        secs(test_started.elapsed()),
    );
    assert_eq!(done, JOBS - 1 + 1, "the 999 probes and the one enqueued after");
    assert_eq!(killed.len(), 1, "only the poison row killed: {killed:?}");
    assert_eq!(row.status, "Killed");
    assert!(last_result.contains(reason), "the reason is kept: {last_result}");
    assert!(missing.is_empty(), "probes never finished: {missing:?}");
    // A row the handler cannot decode fails as a job: nothing else runs twice. A row the
    // stream cannot read ends the stream, and the jobs of its claimed batch that had run
    // but were not yet acknowledged run again (see the report): never more than a batch.
    assert!(twice.len() <= max_twice, "{} probes finished twice: {twice:?}", twice.len());
    assert!(alive_after && alive(&mut worker), "the worker process is alive");
}

#[tokio::test]
async fn one_row_nested_200_levels_deep_among_a_thousand_is_killed_and_the_other_999_run() {
    let deep = format!(r#"{{"kind":"probe","args":{}1{}}}"#, "[".repeat(199), "]".repeat(199));
    one_poison_among_a_thousand("nested 200 levels deep", deep.as_bytes(), "recursion limit", 0).await;
}

#[tokio::test]
async fn one_row_that_is_not_json_among_a_thousand_is_killed_and_the_other_999_run() {
    one_poison_among_a_thousand("bytes that are not JSON", b"\xff\xfe not json at all", "UTF-8", BATCH).await;
}

// (e) A transaction held idle for 60 s on the jobs table -------------------------------

#[tokio::test]
async fn a_transaction_idle_for_a_minute_on_the_jobs_table_and_throughput_recovers_after_it() {
    const HOLD: Duration = Duration::from_secs(60);
    const WINDOW: Duration = Duration::from_secs(10);
    const PER_TICK: usize = 10;
    const TICK: Duration = Duration::from_millis(100);
    const HELD: usize = 4;
    let test_started = Instant::now();
    let db = TestDb::new().await;
    let env = [("GATEHOUSE_WORKER_CONCURRENCY", "4".to_string()), ("RUST_LOG", log_filter())];
    let mut w1 = Proc::start("worker", &db.url, &env);
    let mut w2 = Proc::start("worker", &db.url, &env);
    wait_registered(&db, 2).await;

    // A steady flow of probes, 100 a second, until told to stop.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let producer = {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop_rx.wait_for(|s| *s) => return n,
                }
                let mut tx = pool.begin().await.unwrap();
                for _ in 0..PER_TICK {
                    enqueue(&mut tx, &probe(format!("flow-{n}"), 0), RunAt::Now).await.unwrap();
                    n += 1;
                }
                tx.commit().await.unwrap();
            }
        })
    };
    let done_between = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let pool = db.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM apalis.jobs
                 WHERE status = 'Done' AND done_at >= $1 AND done_at < $2 AND idempotency_key LIKE 'probe:flow-%'",
            )
            .bind(from)
            .bind(to)
            .fetch_one(&pool)
            .await
            .unwrap();
            n as f64 / (to - from).as_seconds_f64()
        }
    };

    let flow_started = Utc::now();
    // The flow before, for one window.
    tokio::time::sleep(WINDOW).await;
    // Slow jobs whose rows the transaction will hold while they run.
    put_probes(&db, "held-", 0..HELD, 10_000).await;
    wait_until(Duration::from_secs(30), "the slow jobs running", || async {
        db.count("SELECT count(DISTINCT probe_key) FROM diagnostic_probe_runs WHERE probe_key LIKE 'held-%'").await
            == HELD as i64
    })
    .await;

    // An operator's session: BEGIN; SELECT … FOR UPDATE on rows being worked; then idle.
    use sqlx::Connection;
    let mut session = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut held = session.begin().await.unwrap();
    let locked: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, status FROM apalis.jobs WHERE idempotency_key LIKE 'probe:held-%' ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut *held)
    .await
    .unwrap();
    let hold_started = Utc::now();
    let held_done_at_lock = db
        .count("SELECT count(*) FROM apalis.jobs WHERE idempotency_key LIKE 'probe:held-%' AND status = 'Done'")
        .await;
    tokio::time::sleep(HOLD).await;
    let held_finished = db
        .count("SELECT count(DISTINCT probe_key) FROM diagnostic_probe_runs WHERE probe_key LIKE 'held-%' AND phase = 'finished'")
        .await;
    let held_acked_during = db
        .count("SELECT count(*) FROM apalis.jobs WHERE idempotency_key LIKE 'probe:held-%' AND status = 'Done'")
        .await;
    held.rollback().await.unwrap();
    let hold_ended = Utc::now();
    let released_at = Instant::now();
    drop(session);
    wait_until(Duration::from_secs(30), "the held rows acknowledged after the release", || async {
        db.count("SELECT count(*) FROM apalis.jobs WHERE idempotency_key LIKE 'probe:held-%' AND status = 'Done'").await
            == HELD as i64
    })
    .await;
    let held_acked = released_at.elapsed();
    tokio::time::sleep(WINDOW.saturating_sub(released_at.elapsed())).await;
    let _ = stop_tx.send(true);
    let produced = producer.await.unwrap();
    let flow_ended = Utc::now();

    wait_until(Duration::from_secs(120), "every probe finished", || async {
        gatehouse_jobs::store::queue::unfinished(&db.pool).await.map(|n| n == 0).unwrap_or(false)
    })
    .await;
    let drained = released_at.elapsed();

    let window = chrono::TimeDelta::from_std(WINDOW).unwrap();
    let before = done_between(hold_started - window, hold_started).await;
    let during = done_between(hold_started, hold_ended).await;
    let after = done_between(hold_ended, hold_ended + window).await;
    let worst_during = {
        let mut worst = f64::MAX;
        let mut t = hold_started;
        while t + chrono::TimeDelta::seconds(1) <= hold_ended {
            worst = worst.min(done_between(t, t + chrono::TimeDelta::seconds(1)).await);
            t += chrono::TimeDelta::seconds(1);
        }
        worst
    };
    let offered = produced as f64 / (flow_ended - flow_started).as_seconds_f64();
    let runs = probe_runs(&db).await;
    let mut all = keys("flow-", 0..produced);
    all.extend(keys("held-", 0..HELD));
    let (missing, twice, reruns) = exactly_once(&runs, &all);
    let states = job_states(&db).await;
    eprintln!(
        "chaos figures: (e) a transaction idle {} holding the rows of {} running jobs (status {:?} when locked): offered {offered:.0} jobs/s; \
         done {before:.0} jobs/s in the {} before, {during:.0} during (worst second {worst_during:.0}), {after:.0} in the {} after; \
         the held jobs: {held_finished} of {HELD} finished and {held_acked_during} acknowledged while held, all acknowledged {} \
         after the release; {produced} flow jobs, lost {}, finished twice {}, runs again {reruns}, all done {} after the release, test {}",
        secs(HOLD),
        locked.len(),
        locked.iter().map(|(_, status)| status.as_str()).collect::<Vec<_>>(),
        secs(WINDOW),
        secs(WINDOW),
        secs(held_acked),
        missing.len(),
        twice.len(),
        secs(drained),
        secs(test_started.elapsed()),
    );
    assert!(missing.is_empty(), "probes never finished: {:?}", &missing[..missing.len().min(10)]);
    assert!(twice.is_empty(), "probes finished twice: {twice:?}");
    assert!(states.iter().all(|(_, s, _)| s == "Done"), "{states:?}");
    assert!(before > 0.0, "the flow ran before the transaction");
    assert_eq!(held_acked_during, held_done_at_lock, "a row held by the transaction cannot be acknowledged meanwhile");
    assert!(
        after >= before / 2.0,
        "throughput after the transaction ({after:.0}/s) under half of before ({before:.0}/s)"
    );
    assert!(alive(&mut w1) && alive(&mut w2));
}
