//! Rate limits: windows, retry_after, counters, switches.

mod common;

use common::{world, world_with};
use gatehouse_sim::{RateLimits, SimConfig};
use serde_json::{Value, json};

async fn rated_world() -> common::World {
    world_with(SimConfig::default()).await
}

#[tokio::test]
async fn defaults_are_telegrams_documented_figures() {
    let w = rated_world().await;

    let limits = w.client.rate_limits(w.bot.id).await.unwrap();

    assert_eq!(
        limits,
        RateLimits {
            enabled: true,
            calls_per_second: 30,
            messages_per_second_per_chat: 1,
            messages_per_minute_per_group: 20,
        }
    );
}

#[tokio::test]
async fn the_31st_call_within_a_second_gets_429_with_retry_after() {
    let w = rated_world().await;

    let calls = (0..31).map(|_| w.api("getChatMemberCount", json!({ "chat_id": w.channel.id })));
    let answers: Vec<(u16, Value)> = futures_join_all(calls).await;

    let refused: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 429).map(|(_, b)| b).collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert_eq!(refused[0]["parameters"]["retry_after"], 1);
    assert_eq!(refused[0]["description"], "Too Many Requests: retry after 1");
    let counters = w.client.counters().await.unwrap();
    assert_eq!(counters.rate_violations, 1);
    assert_eq!(counters.too_many_requests, 1);
}

#[tokio::test]
async fn a_second_message_to_the_same_chat_within_a_second_gets_429() {
    let w = rated_world().await;
    w.client.send_text(w.alice.id, w.bot.id, "/start").await.unwrap();
    w.client.send_text(w.bob.id, w.bot.id, "/start").await.unwrap();

    let first = w.api("sendMessage", json!({ "chat_id": w.alice.id, "text": "1" })).await;
    let second = w.api("sendMessage", json!({ "chat_id": w.alice.id, "text": "2" })).await;
    let other_chat = w.api("sendMessage", json!({ "chat_id": w.bob.id, "text": "1" })).await;

    assert_eq!(first.0, 200);
    assert_eq!(second.0, 429);
    assert_eq!(second.1["parameters"]["retry_after"], 1);
    assert_eq!(other_chat.0, 200);
}

#[tokio::test]
async fn the_21st_message_per_minute_to_a_group_gets_429_until_the_window_passes() {
    let w = rated_world().await;
    w.client
        .set_rate_limits(
            w.bot.id,
            &RateLimits { messages_per_second_per_chat: 1_000, calls_per_second: 1_000, ..RateLimits::default() },
        )
        .await
        .unwrap();

    for i in 0..20 {
        w.ok("sendMessage", json!({ "chat_id": w.channel.id, "text": format!("post {i}") })).await;
    }
    let refused = w.api("sendMessage", json!({ "chat_id": w.channel.id, "text": "one too many" })).await;
    w.client.advance_clock(61).await.unwrap();
    let later = w.api("sendMessage", json!({ "chat_id": w.channel.id, "text": "later" })).await;

    assert_eq!(refused.0, 429);
    let retry = refused.1["parameters"]["retry_after"].as_u64().unwrap();
    assert!((55..=60).contains(&retry), "retry_after {retry}");
    assert_eq!(later.0, 200);
}

#[tokio::test]
async fn limits_can_be_switched_off_per_bot() {
    let w = rated_world().await;
    w.client.set_rate_limits(w.bot.id, &RateLimits { enabled: false, ..RateLimits::default() }).await.unwrap();

    let answers = futures_join_all((0..60).map(|_| w.api("getMe", json!({})))).await;

    assert!(answers.iter().all(|(s, _)| *s == 200));
}

#[tokio::test]
async fn limits_can_be_switched_off_globally() {
    let w = world().await; // rate_limits_enabled: false in SimConfig

    let answers = futures_join_all((0..60).map(|_| w.api("getMe", json!({})))).await;
    w.client.set_rate_limits_enabled(true).await.unwrap();
    let after = futures_join_all((0..31).map(|_| w.api("getMe", json!({})))).await;

    assert!(answers.iter().all(|(s, _)| *s == 200));
    assert_eq!(after.iter().filter(|(s, _)| *s == 429).count(), 1);
}

async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.collect();
    let mut out = Vec::with_capacity(handles.len());
    // Sequential awaits on a single connection pool keep every call within the window on a
    // loaded machine too; concurrency is not what is under test.
    for h in handles {
        out.push(h.await);
    }
    out
}
