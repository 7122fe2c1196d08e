//! Rate budgets end to end: the real api and workers against the simulator with its
//! limits equal to the configured budget, asserting the calls the simulator saw.
//! A second in-process worker has budgets of its own, as a second process would.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use gatehouse_jobs::catalog::{daily_member_count::DailyMemberCount, send_message::SendMessage};
use gatehouse_sim::{CallFilter, CallRecord, RateLimits, SimConfig};
use gatehouse_tests::app::{TestApp, World};
use serde_json::json;
use uuid::Uuid;

/// Calls per second for these tests: small, so that a few dozen calls make a backlog.
const LIMIT: u32 = 10;

async fn app() -> TestApp {
    let limits = RateLimits { calls_per_second: LIMIT, ..RateLimits::default() };
    TestApp::start_with(
        SimConfig { default_limits: limits, ..SimConfig::default() },
        &[("GATEHOUSE_TG_CALLS_PER_SECOND", "10"), ("GATEHOUSE_TG_INTERACTIVE_RESERVE", "3")],
    )
    .await
}

/// The bot's accepted calls of `method` (all methods when empty).
async fn calls(app: &TestApp, world: &World, method: &str) -> Vec<CallRecord> {
    let filter = CallFilter { bot: Some(world.bot.id), ..CallFilter::default() };
    let all = app.tg.calls(&filter).await.unwrap();
    all.into_iter().filter(|c| method.is_empty() || c.method.eq_ignore_ascii_case(method)).collect()
}

/// The most accepted calls within any sliding second.
fn busiest_second(calls: &[CallRecord]) -> usize {
    let mut times: Vec<i64> = calls.iter().filter(|c| c.status != 429).map(|c| c.time_ms).collect();
    times.sort_unstable();
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= 1000 {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

/// The `getChatMemberCount` calls the scheduled sweeps made: each sweep of the world's
/// one chat counts it once, and a wall-clock sweep tick (every 15 minutes) can fall in
/// any test's window.
async fn sweep_counts(app: &TestApp) -> usize {
    app.db.count("SELECT count(*) FROM apalis.jobs WHERE idempotency_key LIKE 'sweep-chat:%' AND status = 'Done'").await
        as usize
}

/// Enqueues `n` daily counts of the world's channel (one Bot API call each, bulk lane).
async fn count_backlog(app: &TestApp, world: &World, n: u32) {
    let chat_id: Uuid = world.chat_uuid.parse().unwrap();
    let first = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for i in 0..n {
        app.enqueue(&DailyMemberCount { chat_id, day: first + chrono::Days::new(u64::from(i)) }).await;
    }
}

#[tokio::test]
async fn two_workers_together_never_put_more_than_the_bots_limit_into_any_second() {
    let app = app().await;
    let world = app.world().await;
    let second = gatehouse_tests::spawn_worker_with(app.config.clone(), app.clock.clone()).await;
    let before = app.tg.counters().await.unwrap();

    count_backlog(&app, &world, 60).await;
    app.settle(&[world.bot.id]).await;

    let counts = calls(&app, &world, "getChatMemberCount").await;
    let sweeps = sweep_counts(&app).await;
    assert_eq!(counts.iter().filter(|c| c.status == 200).count(), 60 + sweeps, "60 daily counts, {sweeps} sweeps");
    let busiest = busiest_second(&calls(&app, &world, "").await);
    assert!(busiest <= LIMIT as usize, "{busiest} calls in one second");
    let after = app.tg.counters().await.unwrap();
    assert_eq!(after.rate_violations, before.rate_violations, "the simulator refused calls");
    second.stop().await;
}

#[tokio::test]
async fn a_429_pauses_the_bot_for_every_worker_and_the_job_is_snoozed_not_failed() {
    let app = app().await;
    let world = app.world().await;
    let second = gatehouse_tests::spawn_worker_with(app.config.clone(), app.clock.clone()).await;
    count_backlog(&app, &world, 40).await;
    gatehouse_tests::wait_until(Duration::from_secs(30), "the backlog to start", || async {
        calls(&app, &world, "getChatMemberCount").await.len() >= 8
    })
    .await;
    let fault = json!({"method": "getChatMemberCount", "bot_id": world.bot.id, "times": 1,
                       "error_code": 429, "retry_after": 3});
    app.tg.add_fault(&serde_json::from_value(fault).unwrap()).await.unwrap();
    app.settle(&[world.bot.id]).await;

    let all = calls(&app, &world, "").await;
    let limited = all.iter().find(|c| c.status == 429).expect("the 429 was answered");
    // Every worker sees the pause within one lease (250 ms) of it being written.
    let during: Vec<_> =
        all.iter().filter(|c| c.time_ms > limited.time_ms + 400 && c.time_ms < limited.time_ms + 3000).collect();
    assert!(during.is_empty(), "calls during the pause: {during:?}");
    assert!(all.iter().any(|c| c.time_ms >= limited.time_ms + 3000), "calls resumed after the pause");
    let counts = all.iter().filter(|c| c.method == "getChatMemberCount" && c.status == 200).count();
    let sweeps = sweep_counts(&app).await;
    assert_eq!(counts, 40 + sweeps, "every count made it, the rate-limited one on its second run ({sweeps} sweeps)");
    let failed = app.db.count("SELECT count(*) FROM apalis.jobs WHERE status NOT IN ('Done')").await;
    assert_eq!(failed, 0);
    let paused = app.db.count("SELECT count(*) FROM rate_budgets WHERE paused_until IS NOT NULL").await;
    assert_eq!(paused, 1, "the pause is in the shared budget");
    second.stop().await;
}

#[tokio::test]
async fn a_paying_users_link_goes_ahead_of_a_bulk_backlog() {
    let app = app().await;
    let world = app.world().await;
    let alice = app.tg.create_user_named("Alice").await.unwrap();
    app.tg.send_text(alice.id, world.bot.id, "/start").await.unwrap();
    count_backlog(&app, &world, 60).await;
    gatehouse_tests::wait_until(Duration::from_secs(30), "the backlog to start", || async {
        calls(&app, &world, "getChatMemberCount").await.len() >= 5
    })
    .await;

    app.grant(&world, alice.id, json!((Utc::now() + chrono::Duration::days(30)).to_rfc3339())).await;
    app.settle(&[world.bot.id]).await;

    let link = calls(&app, &world, "sendMessage")
        .await
        .into_iter()
        .find(|c| c.params["chat_id"].to_string().trim_matches('"') == alice.id.to_string())
        .expect("the link was sent");
    let counts_after =
        calls(&app, &world, "getChatMemberCount").await.into_iter().filter(|c| c.time_ms > link.time_ms).count();
    assert!(counts_after >= 20, "the link waited for the backlog: only {counts_after} counts came after it");
}

#[tokio::test]
async fn messages_to_one_chat_are_spaced_a_second_apart() {
    let app = app().await;
    let world = app.world().await;
    let alice = app.tg.create_user_named("Alice").await.unwrap();
    app.tg.send_text(alice.id, world.bot.id, "/start").await.unwrap();
    let project: Uuid = world.project_id.parse().unwrap();
    for i in 0..3 {
        let id = gatehouse_jobs::store::messages::put(&app.db.pool, project, alice.id, &format!("t{i}"), "hi", None)
            .await
            .unwrap();
        app.enqueue(&SendMessage { message_id: id }).await;
    }
    app.settle(&[world.bot.id]).await;

    let sent: Vec<i64> = calls(&app, &world, "sendMessage")
        .await
        .iter()
        .filter(|c| c.params["text"] == "hi")
        .map(|c| c.time_ms)
        .collect();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent.windows(2).all(|w| w[1] - w[0] >= 1000), "{sent:?}");
    assert_eq!(app.tg.counters().await.unwrap().too_many_requests, 0);
}

#[tokio::test]
async fn a_bots_own_limit_set_through_the_api_holds_for_every_worker() {
    let mut app = app().await;
    let world = app.world().await;
    let path = format!("/v1/projects/{}/bot/limits", world.project_id);
    let put = |body| app.call(reqwest::Method::PUT, &path, Some(&world.key), Some(body));

    let (status, body) = put(json!({"calls_per_second": 0})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("calls_per_second:"), "{body}");
    let (status, body) = put(json!({"calls_per_second": 4, "interactive_reserve": 4})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("interactive_reserve:"), "{body}");
    let (status, body) = put(json!({"calls_per_second": "four"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = put(json!({"calls_per_second": 4, "interactive_reserve": 1})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["calls_per_second"], 4);
    assert_eq!(body["data"]["chat_messages_per_second"], serde_json::Value::Null, "null: the default");
    let (_, bot) = app.get(&format!("/v1/projects/{}/bot", world.project_id), &world.key).await;
    assert_eq!(bot["data"]["limits"]["calls_per_second"], 4, "{bot}");
    assert_eq!(bot["data"]["limits"]["interactive_reserve"], 1, "{bot}");

    // Workers that have not read the bot's limits yet (they re-read them every 30 s).
    app.worker.take().unwrap().stop().await;
    let first = gatehouse_tests::spawn_worker_with(app.config.clone(), app.clock.clone()).await;
    let second = gatehouse_tests::spawn_worker_with(app.config.clone(), app.clock.clone()).await;
    let before = app.tg.counters().await.unwrap();
    count_backlog(&app, &world, 20).await;
    app.settle(&[world.bot.id]).await;

    let counts = calls(&app, &world, "getChatMemberCount").await;
    let sweeps = sweep_counts(&app).await;
    assert_eq!(counts.iter().filter(|c| c.status == 200).count(), 20 + sweeps, "20 daily counts, {sweeps} sweeps");
    let busiest = busiest_second(&counts);
    assert!(busiest <= 4, "{busiest} calls in one second: the bot's own limit is 4");
    assert_eq!(app.tg.counters().await.unwrap().rate_violations, before.rate_violations);
    first.stop().await;
    second.stop().await;
}
