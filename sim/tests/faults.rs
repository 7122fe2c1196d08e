//! Fault injection: errors, latency, dropped connections, update faults, stale reads.

mod common;

use std::time::{Duration, Instant};

use common::world;
use gatehouse_sim::{Fault, UpdateFaults};
use serde_json::json;

#[tokio::test]
async fn a_fault_answers_the_configured_error_the_configured_number_of_times() {
    let w = world().await;
    w.client
        .add_fault(&Fault {
            method: Some("banChatMember".into()),
            times: Some(2),
            error_code: Some(429),
            retry_after: Some(7),
            ..Fault::default()
        })
        .await
        .unwrap();
    let params = json!({ "chat_id": w.channel.id, "user_id": w.alice.id });

    let first = w.api("banChatMember", params.clone()).await;
    let second = w.api("BanChatMember", params.clone()).await;
    let third = w.api("banChatMember", params.clone()).await;

    assert_eq!(first.0, 429);
    assert_eq!(first.1["parameters"]["retry_after"], 7);
    assert_eq!(first.1["description"], "Too Many Requests: retry after 7");
    assert_eq!(second.0, 429);
    assert_eq!(third.0, 200);
    assert!(w.client.faults().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_fault_can_match_a_parameter_value() {
    let w = world().await;
    w.client
        .add_fault(&Fault {
            method: Some("getChatMember".into()),
            when: json!({ "user_id": w.bob.id }).as_object().unwrap().clone(),
            error_code: Some(500),
            description: Some("Internal Server Error".into()),
            ..Fault::default()
        })
        .await
        .unwrap();

    let alice = w.api("getChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;
    // Form-encoded parameters are strings; they match too.
    let bob = w
        .http
        .post(format!("{}/bot{}/getChatMember", w.sim.base_url(), w.bot.token))
        .form(&[("chat_id", w.channel.id.to_string()), ("user_id", w.bob.id.to_string())])
        .send()
        .await
        .unwrap();

    assert_eq!(alice.0, 200);
    assert_eq!(bob.status().as_u16(), 500);
}

#[tokio::test]
async fn added_latency_delays_the_answer() {
    let w = world().await;
    w.client
        .add_fault(&Fault { method: Some("getMe".into()), latency_ms: Some(300), times: Some(1), ..Fault::default() })
        .await
        .unwrap();

    let started = Instant::now();
    let (status, _) = w.api("getMe", json!({})).await;
    let slow = started.elapsed();
    let started = Instant::now();
    w.api("getMe", json!({})).await;
    let fast = started.elapsed();

    assert_eq!(status, 200);
    assert!(slow >= Duration::from_millis(300), "{slow:?}");
    assert!(fast < Duration::from_millis(300), "{fast:?}");
}

#[tokio::test]
async fn a_dropped_connection_gets_no_answer() {
    let w = world().await;
    w.client
        .add_fault(&Fault {
            method: Some("sendMessage".into()),
            drop_connection: true,
            times: Some(1),
            ..Fault::default()
        })
        .await
        .unwrap();

    let result = w
        .http
        .post(format!("{}/bot{}/sendMessage", w.sim.base_url(), w.bot.token))
        .json(&json!({ "chat_id": w.alice.id, "text": "x" }))
        .send()
        .await;

    let err = result.expect_err("no HTTP answer");
    assert!(!err.is_status(), "{err:?}");
    let log = w.client.calls_of("sendMessage").await.unwrap();
    assert_eq!(log[0].status, 0);
}

#[tokio::test]
async fn dropped_updates_leave_a_gap_in_update_ids() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    w.client.set_update_faults(w.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();

    w.client.send_text(w.alice.id, w.bot.id, "lost").await.unwrap();
    w.client.send_text(w.alice.id, w.bot.id, "kept").await.unwrap();
    let update = hook.next().await;

    assert_eq!(update["message"]["text"], "kept");
    let records = w.client.updates(w.bot.id).await.unwrap();
    let lost = records.iter().find(|r| r.dropped).unwrap();
    assert_eq!(update["update_id"].as_i64().unwrap(), lost.update_id + 1);
    hook.assert_quiet(&w.client, w.bot.id).await;
}

#[tokio::test]
async fn duplicated_updates_arrive_twice_with_the_same_id() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    w.client.set_update_faults(w.bot.id, &UpdateFaults { drop_next: 0, duplicate_next: 1 }).await.unwrap();

    w.client.send_text(w.alice.id, w.bot.id, "twice").await.unwrap();
    let a = hook.next().await;
    let b = hook.next().await;

    assert_eq!(a, b);
    hook.assert_quiet(&w.client, w.bot.id).await;
}

#[tokio::test]
async fn get_chat_member_stays_stale_for_n_seconds_after_a_ban() {
    let w = world().await;
    w.client.add_member(w.channel.id, w.alice.id).await.unwrap();
    w.client.set_stale_chat_member(30).await.unwrap();

    w.ok("banChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;
    let stale = w.status_of(w.alice.id).await;
    w.client.advance_clock(31).await.unwrap();
    let fresh = w.status_of(w.alice.id).await;

    assert_eq!(stale, "member");
    assert_eq!(fresh, "kicked");
    assert_eq!(w.client.member(w.channel.id, w.alice.id).await.unwrap().status.name(), "kicked");
}

#[tokio::test]
async fn standing_rates_lose_and_repeat_updates_of_the_listed_kinds_only_and_repeat_with_the_seed() {
    use gatehouse_sim::UpdateRates;
    let w = world().await;
    let pattern = |records: &[gatehouse_sim::UpdateRecord], kind: &str| -> Vec<(bool, bool)> {
        records.iter().filter(|r| r.kind == kind).map(|r| (r.dropped, r.repeated)).collect()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let before = w.client.updates(w.bot.id).await.unwrap().len();
        w.client.set_update_rates(w.bot.id, &UpdateRates::for_kinds(7, &["message"], 0.3, 0.2)).await.unwrap();
        for i in 0..200 {
            w.client.send_text(w.alice.id, w.bot.id, &format!("m{i}")).await.unwrap();
        }
        let records = w.client.updates(w.bot.id).await.unwrap();
        runs.push(pattern(&records[before..], "message"));
    }
    let lost = runs[0].iter().filter(|(d, _)| *d).count();
    let repeated = runs[0].iter().filter(|(_, r)| *r).count();
    assert!((40..=80).contains(&lost), "about 30 % of 200 lost: {lost}");
    assert!((15..=50).contains(&repeated), "about 20 % of the 140 delivered repeated: {repeated}");
    assert!(runs[0].iter().all(|(d, r)| !(*d && *r)), "a lost update is not repeated");
    assert_eq!(runs[0], runs[1], "the same seed gives the same outcomes");

    // A kind not listed is never touched.
    w.ok("getUpdates", json!({ "allowed_updates": ["message", "chat_member"], "timeout": 0 })).await;
    w.client.set_update_rates(w.bot.id, &UpdateRates::for_kinds(7, &["chat_member"], 1.0, 1.0)).await.unwrap();
    let before = w.client.updates(w.bot.id).await.unwrap().len();
    w.client.send_text(w.alice.id, w.bot.id, "untouched").await.unwrap();
    w.client.add_member(w.channel.id, w.alice.id).await.unwrap();
    let records = w.client.updates(w.bot.id).await.unwrap();
    assert_eq!(pattern(&records[before..], "message"), [(false, false)]);
    let members = pattern(&records[before..], "chat_member");
    assert!(!members.is_empty() && members.iter().all(|(d, _)| *d), "every chat_member lost: {members:?}");
    let refused = w.client.set_update_rates(w.bot.id, &UpdateRates::for_kinds(1, &["message"], 1.5, 0.0)).await;
    assert!(refused.is_err(), "a share above 1 is refused");
}

#[tokio::test]
async fn a_fault_after_the_effect_carries_the_call_out_and_then_answers_the_error() {
    let w = world().await;
    w.client.add_member(w.channel.id, w.alice.id).await.unwrap();
    w.client
        .add_fault(&Fault {
            method: Some("unbanChatMember".into()),
            times: Some(1),
            error_code: Some(500),
            after_effect: true,
            ..Fault::default()
        })
        .await
        .unwrap();

    let (status, _) = w.api("unbanChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;

    assert_eq!(status, 500);
    assert_eq!(w.status_of(w.alice.id).await, "left", "removed all the same");
}
