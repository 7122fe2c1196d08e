//! Two `gatehouse worker` processes share one bot's rate budget through Postgres.

use std::time::Duration;

use chrono::NaiveDate;
use gatehouse_jobs::catalog::daily_member_count::DailyMemberCount;
use gatehouse_sim::{CallFilter, RateLimits, SimConfig};
use gatehouse_tests::{app::TestApp, wait_until};
use serde_json::json;
use uuid::Uuid;

use crate::harness::Proc;

#[tokio::test]
async fn two_worker_processes_stay_within_the_bots_budget_and_both_stop_on_a_429() {
    let limits = RateLimits { calls_per_second: 10, ..RateLimits::default() };
    let mut app = TestApp::start_with(
        SimConfig { default_limits: limits, ..SimConfig::default() },
        &[("GATEHOUSE_TG_CALLS_PER_SECOND", "10")],
    )
    .await;
    let world = app.world().await;
    app.worker.take().unwrap().stop().await;
    let env =
        [("TELEGRAM_API_URL", app.sim.base_url().to_string()), ("GATEHOUSE_TG_CALLS_PER_SECOND", "10".to_string())];
    let a = Proc::start("worker", &app.db.url, &env);
    let b = Proc::start("worker", &app.db.url, &env);
    let chat_id: Uuid = world.chat_uuid.parse().unwrap();
    let first = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for i in 0..80u64 {
        app.enqueue(&DailyMemberCount { chat_id, day: first + chrono::Days::new(i) }).await;
    }
    let filter =
        CallFilter { bot: Some(world.bot.id), method: Some("getChatMemberCount".into()), ..Default::default() };
    wait_until(Duration::from_secs(60), "half of the backlog", || async {
        app.tg.calls(&filter).await.unwrap().len() >= 40
    })
    .await;
    let fault = json!({"method": "getChatMemberCount", "bot_id": world.bot.id, "times": 1,
                       "error_code": 429, "retry_after": 3});
    app.tg.add_fault(&serde_json::from_value(fault).unwrap()).await.unwrap();
    wait_until(Duration::from_secs(90), "every count made", || async {
        app.tg.calls(&filter).await.unwrap().iter().filter(|c| c.status == 200).count() >= 80
    })
    .await;

    let calls = app.tg.calls(&CallFilter { bot: Some(world.bot.id), ..Default::default() }).await.unwrap();
    let mut times: Vec<i64> = calls.iter().filter(|c| c.status != 429).map(|c| c.time_ms).collect();
    times.sort_unstable();
    let busiest = (0..times.len()).map(|i| times[i..].iter().take_while(|t| **t - times[i] < 1000).count()).max();
    assert!(busiest.unwrap_or(0) <= 10, "{busiest:?} calls in one second");
    assert_eq!(app.tg.counters().await.unwrap().rate_violations, 0);
    let limited = calls.iter().find(|c| c.status == 429).expect("the 429 was answered");
    let during: Vec<_> =
        calls.iter().filter(|c| c.time_ms > limited.time_ms + 400 && c.time_ms < limited.time_ms + 3000).collect();
    assert!(during.is_empty(), "calls while the bot was paused: {during:?}");
    // Both processes took part: the counts were run under both processes' worker names.
    let runners: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT split_part(lock_by, ':', 1) FROM apalis.jobs WHERE job_type = 'bulk' AND lock_by IS NOT NULL",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(runners.iter().any(|r| r.contains(&format!("-{}-", a.pid()))), "{runners:?}");
    assert!(runners.iter().any(|r| r.contains(&format!("-{}-", b.pid()))), "{runners:?}");
}
