//! The console's queries with a large history: a scratch database filled with
//! 1,000,000 finished jobs (done, and 1 % dead) and 10,000 waiting ones (pending,
//! scheduled, failed with a retry to come), failed runs for the failed and dead ones
//! spread over 20 projects, 100,000 audit lines; then each query the console (and
//! `gatehouse jobs`) runs, timed through the same store functions, with the figure it
//! must stay under (50 ms).
//!
//! `cargo bench --bench console` (env: BENCH_FINISHED, default 1000000; BENCH_WAITING,
//! default 10000; BENCH_RUNS, default 20; BENCH_KEEP=1 keeps the database to look at plans).

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::{BenchDb, env_or};
use gatehouse_jobs::{
    operator,
    store::{
        self,
        operator::{Filter, State},
    },
};
use uuid::Uuid;

const BOUND: Duration = Duration::from_millis(50);
const PROJECTS: i64 = 20;

#[tokio::main]
async fn main() {
    let finished: i64 = env_or("BENCH_FINISHED", 1_000_000);
    let waiting: i64 = env_or("BENCH_WAITING", 10_000);
    let runs: usize = env_or("BENCH_RUNS", 20);
    let db = BenchDb::new().await;
    let started = Instant::now();
    let projects = fill(&db.pool, finished, waiting).await;
    println!(
        "console queries, {finished} finished jobs ({} dead) + {waiting} waiting, filled in {:.1} s; \
         {runs} runs each, 2-core machine, local PostgreSQL",
        finished / 100,
        started.elapsed().as_secs_f64()
    );
    println!("{:<52} {:>9} {:>9} {:>9} {:>7}", "query", "rows", "p50 ms", "max ms", "< 50ms");

    let pool = &db.pool;
    let project = projects[3];
    let config = gatehouse_jobs::Config::from_lookup(|_| None).expect("default config");
    let a_dead: String =
        sqlx::query_scalar("SELECT id FROM apalis.jobs WHERE status = 'Killed' LIMIT 1").fetch_one(pool).await.unwrap();
    let mut all_ok = true;
    macro_rules! time {
        ($name:expr, $query:expr) => {{
            let mut times = Vec::with_capacity(runs);
            let mut rows = 0usize;
            for _ in 0..runs {
                let t = Instant::now();
                let out = $query.await.expect($name);
                times.push(t.elapsed());
                rows = Rows::count(&out);
            }
            times.sort();
            let p50 = times[times.len() / 2];
            let max = *times.last().unwrap();
            let ok = max < BOUND;
            all_ok &= ok;
            println!(
                "{:<52} {:>9} {:>9.2} {:>9.2} {:>7}",
                $name,
                rows,
                p50.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3,
                if ok { "yes" } else { "NO" }
            );
        }};
    }
    let failed_or_dead = |state| Filter { state: Some(state), ..Filter::default() };
    time!("queues: depth by state, oldest (open_counts)", store::operator::open_counts(pool));
    time!(
        "throughput, last hour (job_throughput)",
        store::operator::throughput(pool, Utc::now() - chrono::TimeDelta::hours(1))
    );
    time!("dead jobs, newest 50 (admin)", operator::list(pool, &failed_or_dead(State::Dead), 50));
    time!("failed jobs, newest 50 (admin)", operator::list(pool, &failed_or_dead(State::Failed), 50));
    time!(
        "dead jobs of one project, newest 50 (api key)",
        operator::list(pool, &Filter { state: Some(State::Dead), project: Some(project), ..Filter::default() }, 50)
    );
    time!(
        "failed jobs of one project, newest 50 (api key)",
        operator::list(pool, &Filter { state: Some(State::Failed), project: Some(project), ..Filter::default() }, 50)
    );
    time!(
        "dead jobs of a project with none (api key)",
        operator::list(
            pool,
            &Filter { state: Some(State::Dead), project: Some(Uuid::new_v4()), ..Filter::default() },
            50
        )
    );
    time!("pending jobs, oldest 50", operator::list(pool, &failed_or_dead(State::Pending), 50));
    time!(
        "dead jobs of one kind, newest 50",
        operator::list(
            pool,
            &Filter { state: Some(State::Dead), kind: Some("remove-member"), ..Filter::default() },
            50
        )
    );
    time!("one job with its errors and audit (show)", operator::show(pool, &a_dead));
    time!("bots: budget use, 429s, pause", operator::bots(pool, &config, None));
    time!("chats not ready", store::chats::not_ready_list(pool, None, 50));
    time!("latest member actions, 20 (admin)", store::audit::latest_member_actions(pool, None, 20));
    time!("latest member actions, 20 (one project)", store::audit::latest_member_actions(pool, Some(project), 20));
    time!("throughput rollup (the leader, every 5 s)", store::operator::roll_up_throughput(pool));
    println!("{}", if all_ok { "every query under 50 ms" } else { "SOME QUERIES OVER 50 ms" });
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("kept the database {} (BENCH_KEEP)", db.name);
    } else {
        db.drop_now().await;
    }
}

/// How many rows a query's answer holds, for the table.
trait Rows {
    fn count(&self) -> usize;
}
impl<T> Rows for Vec<T> {
    fn count(&self) -> usize {
        self.len()
    }
}
impl<T> Rows for Option<T> {
    fn count(&self) -> usize {
        usize::from(self.is_some())
    }
}
impl Rows for () {
    fn count(&self) -> usize {
        0
    }
}

/// Fills the database; returns the projects.
async fn fill(pool: &sqlx::PgPool, finished: i64, waiting: i64) -> Vec<Uuid> {
    let projects: Vec<Uuid> = (0..PROJECTS).map(|_| Uuid::new_v4()).collect();
    for (i, p) in projects.iter().enumerate() {
        sqlx::query("INSERT INTO projects (id, handle, name, owner_telegram_id) VALUES ($1, $2, $3, 1)")
            .bind(p)
            .bind(format!("bench{i}"))
            .bind(format!("Bench {i}"))
            .execute(pool)
            .await
            .expect("project");
        sqlx::query(
            "INSERT INTO bots (id, project_id, telegram_bot_id, token_ciphertext, status, verified_at)
             VALUES ($1, $2, $3, '\\x00', 'connected', now())",
        )
        .bind(Uuid::new_v4())
        .bind(p)
        .bind(7_000_000 + i as i64)
        .execute(pool)
        .await
        .expect("bot");
        sqlx::query(
            "INSERT INTO chats (id, project_id, telegram_chat_id, status, status_reason)
             VALUES ($1, $2, $3, CASE WHEN $4 THEN 'not_ready' ELSE 'ready' END, 'the bot is not an administrator')",
        )
        .bind(Uuid::new_v4())
        .bind(p)
        .bind(-1_000_000_000_000 - i as i64)
        .bind(i % 5 == 0)
        .execute(pool)
        .await
        .expect("chat");
    }
    let statements = [
        // The notification trigger is apalis's, for new work: off while filling history.
        "ALTER TABLE apalis.jobs DISABLE TRIGGER USER".to_string(),
        // Finished: 99 % done, 1 % dead (killed), over the last week.
        format!(
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, done_at, priority, metadata, last_result)
             SELECT 'F' || lpad(i::text, 12, '0'),
                    (ARRAY['interactive', 'lifecycle', 'bulk'])[1 + i % 3],
                    convert_to('{{\"kind\":\"remove-member\",\"args\":{{\"chat_id\":\"' || gen_random_uuid() || '\",\"telegram_user_id\":' || i || ',\"reason\":\"expired\",\"cause\":\"bench\"}}}}', 'UTF8'),
                    CASE WHEN i % 100 = 0 THEN 'Killed' ELSE 'Done' END,
                    1, 12,
                    now() - (i * interval '604800 seconds' / {finished}),
                    now() - (i * interval '604800 seconds' / {finished}) + interval '20 milliseconds',
                    0, ''::hstore,
                    CASE WHEN i % 100 = 0 THEN '{{\"Err\": \"Bad Request: chat not found\"}}'::jsonb ELSE '{{\"Ok\": null}}'::jsonb END
             FROM generate_series(1, {finished}) AS i"
        ),
        // Waiting: 80 % due, 15 % scheduled, 5 % failed with a retry to come.
        format!(
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, done_at, priority, metadata, last_result)
             SELECT 'W' || lpad(i::text, 12, '0'),
                    (ARRAY['interactive', 'lifecycle', 'bulk'])[1 + i % 3],
                    convert_to('{{\"kind\":\"issue-invite\",\"args\":{{\"grant_id\":\"' || gen_random_uuid() || '\",\"chat_id\":\"' || gen_random_uuid() || '\",\"reason\":\"paid\"}}}}', 'UTF8'),
                    CASE WHEN i % 20 = 0 THEN 'Failed' ELSE 'Pending' END,
                    CASE WHEN i % 20 = 0 THEN 2 ELSE 0 END, 12,
                    CASE WHEN i % 20 = 0 OR i % 7 = 0 THEN now() + (i % 600) * interval '1 second'
                         ELSE now() - (i % 300) * interval '1 second' END,
                    CASE WHEN i % 20 = 0 THEN now() - interval '1 second' END,
                    0, ''::hstore,
                    CASE WHEN i % 20 = 0 THEN '{{\"Err\": \"transient: Telegram answered 502\"}}'::jsonb END
             FROM generate_series(1, {waiting}) AS i"
        ),
        "ALTER TABLE apalis.jobs ENABLE TRIGGER USER".to_string(),
    ];
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.expect("fill jobs");
    }
    // A failed run for every failed and dead job, each of one of the projects.
    sqlx::query(
        "INSERT INTO job_errors (job_id, attempt, kind, queue, project_id, error, at)
         SELECT id, attempts, 'remove-member', job_type, ($1::uuid[])[1 + (abs(hashtext(id)) % $2)],
                last_result ->> 'Err', COALESCE(done_at, now())
         FROM apalis.jobs WHERE status IN ('Failed', 'Killed')",
    )
    .bind(&projects)
    .bind(PROJECTS as i32)
    .execute(pool)
    .await
    .expect("job errors");
    sqlx::query(
        "INSERT INTO audit_log (project_id, telegram_user_id, action, reason, job_id, at)
         SELECT ($1::uuid[])[1 + i % $2], 1000 + i, (ARRAY['link_issued', 'removed', 'approved'])[1 + i % 3],
                'bench', 'F' || lpad(i::text, 12, '0'), now() - i * interval '6 seconds'
         FROM generate_series(1, 100000) AS i",
    )
    .bind(&projects)
    .bind(PROJECTS as i32)
    .execute(pool)
    .await
    .expect("audit");
    store::operator::roll_up_throughput(pool).await.expect("rollup");
    // What autovacuum does on a live system: statistics and the visibility map.
    for table in ["VACUUM ANALYZE apalis.jobs", "VACUUM ANALYZE job_errors", "VACUUM ANALYZE audit_log"] {
        sqlx::raw_sql(table).execute(pool).await.expect("vacuum");
    }
    projects
}
