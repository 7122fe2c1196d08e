//! The lifecycle under repetition and faults: jobs that run twice, updates
//! delivered twice, and Telegram answering 429, 5xx or not at all.

use std::collections::BTreeMap;

use gatehouse_jobs::catalog::expiry_scan::ExpiryScan;
use gatehouse_sim::{CallFilter, Fault, MemberStatus, UpdateFaults, UserInfo};
use gatehouse_tests::app::{TestApp, World};
use serde_json::{Value, json};

fn hours(h: i64) -> Value {
    json!((chrono::Utc::now() + chrono::Duration::hours(h)).to_rfc3339())
}

/// Successful calls per method (answers with status 200).
async fn effects(app: &TestApp) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in app.tg.calls(&CallFilter::default()).await.unwrap() {
        if call.status == 200 {
            *counts.entry(call.method.to_lowercase()).or_default() += 1;
        }
    }
    counts
}

async fn status(app: &TestApp, world: &World, user: i64) -> MemberStatus {
    app.tg.member(world.channel.id, user).await.unwrap().status
}

/// The story every test here plays: Alice is granted and joins; Mallory joins with
/// Bob's link and Bob joins with the fresh one he gets; a stranger walks in;
/// Alice's access ends.
async fn story(app: &TestApp, world: &World) -> (UserInfo, UserInfo, UserInfo, UserInfo) {
    let (alice, bob, mallory, stranger) = (
        app.started_user(world, "Alice").await,
        app.started_user(world, "Bob").await,
        app.started_user(world, "Mallory").await,
        app.started_user(world, "Stranger").await,
    );
    app.grant(world, alice.id, hours(1)).await;
    app.grant(world, bob.id, hours(48)).await;
    app.settle(&[world.bot.id]).await;
    let alice_link = app.invite_links_to(world, alice.id).await.remove(0);
    let bob_link = app.invite_links_to(world, bob.id).await.remove(0);
    app.tg.join_by_link(alice.id, &alice_link).await.unwrap();
    app.tg.join_by_link(mallory.id, &bob_link).await.unwrap();
    app.tg.add_member(world.channel.id, stranger.id).await.unwrap();
    app.settle(&[world.bot.id]).await;
    let fresh = app.invite_links_to(world, bob.id).await.pop().unwrap();
    app.tg.join_by_link(bob.id, &fresh).await.unwrap();
    app.settle(&[world.bot.id]).await;
    app.clock.advance(chrono::Duration::hours(2));
    app.enqueue(&ExpiryScan { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;
    (alice, bob, mallory, stranger)
}

async fn assert_outcome(
    app: &TestApp,
    world: &World,
    (alice, bob, mallory, stranger): &(UserInfo, UserInfo, UserInfo, UserInfo),
) {
    assert!(matches!(status(app, world, alice.id).await, MemberStatus::Left), "Alice's access ended");
    assert!(matches!(status(app, world, mallory.id).await, MemberStatus::Left), "the intruder is out");
    assert!(matches!(status(app, world, stranger.id).await, MemberStatus::Left), "the stranger is out");
    assert_eq!(app.invite_links_to(world, bob.id).await.len(), 2, "Bob: his link, then a fresh one after the misuse");
    assert!(matches!(status(app, world, bob.id).await, MemberStatus::Member { .. }), "Bob is in");
    assert_eq!(app.invite_links_to(world, alice.id).await.len(), 1);
}

#[tokio::test]
async fn running_every_job_again_makes_no_second_link_message_or_removal() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let people = story(&app, &world).await;
    assert_outcome(&app, &world, &people).await;
    let before = effects(&app).await;

    // Every finished job runs once more, as after a crash between its work and its ack
    // (setup jobs aside: not member actions).
    let rerun = app.rerun_finished_jobs(|kind| kind != "connect-bot" && kind != "verify-chat").await;
    assert!(rerun > 15, "the story ran {rerun} jobs");
    app.settle(&[world.bot.id]).await;

    let after = effects(&app).await;
    // Messages: none sent twice (a scheduled reminder that came due meanwhile is new, not a repeat).
    let mut sent = std::collections::HashSet::new();
    for call in app.tg.calls(&CallFilter::default()).await.unwrap() {
        if call.method.eq_ignore_ascii_case("sendmessage") && call.status == 200 {
            let message = (call.params["chat_id"].to_string(), call.params["text"].to_string());
            assert!(sent.insert(message.clone()), "sent twice: {message:?}");
        }
    }
    for method in ["createchatinvitelink", "banchatmember", "revokechatinvitelink", "approvechatjoinrequest"] {
        assert_eq!(after.get(method), before.get(method), "{method}: {before:?} → {after:?}");
    }
    assert_outcome(&app, &world, &people).await;
}

#[tokio::test]
async fn delivering_every_update_twice_changes_nothing() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 0, duplicate_next: 1000 }).await.unwrap();
    let people = story(&app, &world).await;
    assert_outcome(&app, &world, &people).await;
    let counts = effects(&app).await;
    assert_eq!(counts.get("banchatmember"), None, "each seen joining: removed in one call ({counts:?})");
    let kicks = app.tg.calls(&CallFilter::default()).await.unwrap();
    let kicks = kicks.iter().filter(|c| c.status == 200 && c.params["only_if_banned"] == json!(false)).count();
    assert_eq!(kicks, 3, "Mallory, the stranger, Alice: once each");
    assert_eq!(counts.get("createchatinvitelink"), Some(&3), "{counts:?}");
    let updates: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE convert_from(job, 'UTF8')::jsonb ->> 'kind' = 'process-telegram-update'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let generated = app.tg.updates(world.bot.id).await.unwrap().iter().filter(|u| !u.dropped).count() as i64;
    let delivered = app.tg.webhook_state(world.bot.id).await.unwrap().delivered as i64;
    assert_eq!(updates, generated, "one job per update");
    assert!(delivered > generated + 10, "most updates were delivered twice ({delivered} deliveries of {generated})");
}

#[tokio::test]
async fn with_429s_5xx_and_timeouts_everyone_entitled_gets_in_and_everyone_expired_gets_out() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let faults = [
        Fault {
            method: Some("createChatInviteLink".into()),
            times: Some(2),
            error_code: Some(429),
            retry_after: Some(2),
            ..Fault::default()
        },
        Fault {
            method: Some("sendMessage".into()),
            times: Some(2),
            error_code: Some(500),
            description: Some("Internal Server Error".into()),
            ..Fault::default()
        },
        Fault { method: Some("getChatMember".into()), times: Some(1), latency_ms: Some(3_000), ..Fault::default() },
        Fault {
            method: Some("unbanChatMember".into()),
            times: Some(2),
            error_code: Some(429),
            retry_after: Some(3),
            ..Fault::default()
        },
        Fault { method: Some("unbanChatMember".into()), times: Some(1), drop_connection: true, ..Fault::default() },
    ];
    for fault in &faults {
        app.tg.add_fault(fault).await.unwrap();
    }
    let people = story(&app, &world).await;
    assert_outcome(&app, &world, &people).await;
    assert!(
        app.tg.faults().await.unwrap().iter().all(|f| f.times == Some(0) || f.times.is_none()),
        "every fault fired"
    );

    // No call was retried before its retry_after: the same call (same link name, same
    // banned user) came back only after the pause Telegram asked for.
    let calls = app.tg.calls(&CallFilter::default()).await.unwrap();
    for (i, refused) in calls.iter().enumerate().filter(|(_, c)| c.status == 429) {
        let retry_after = refused.response["parameters"]["retry_after"].as_i64().unwrap();
        let same = |c: &&gatehouse_sim::CallRecord| {
            c.method == refused.method
                && c.params.get("name") == refused.params.get("name")
                && c.params.get("user_id") == refused.params.get("user_id")
        };
        let next = calls[i + 1..].iter().find(same).expect("the refused call was made again");
        let waited = next.time_ms - refused.time_ms;
        assert!(
            waited >= retry_after * 1000,
            "{} retried after {waited} ms, retry_after was {retry_after} s",
            refused.method
        );
    }
}
