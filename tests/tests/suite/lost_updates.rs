//! The promise under lost updates: nobody who paid is kept out, nobody who did not is
//! let in unseen. The simulator loses 20 % of `chat_member` and `chat_join_request`
//! updates and repeats 10 %; the same scenario runs with personal single-use links and
//! with join requests, and prints its figures (the README's comparison comes from them):
//!
//! `cargo nextest run -p gatehouse-tests -E 'test(/lost_updates::/)' --no-capture`

use std::time::Instant;

use gatehouse_jobs::catalog::{consistency_sweep::Sweep, expiry_scan::ExpiryScan};
use gatehouse_sim::{CallFilter, MemberStatus, SimConfig, UpdateFaults, UpdateRates, UserInfo};
use gatehouse_tests::app::{TestApp, World};
use serde_json::json;

/// Updates that carry joins: the ones Telegram is known to lose.
pub const JOIN_KINDS: &[&str] = &["chat_member", "chat_join_request"];

/// Starts the system without Telegram's rate limits (the scenario measures outcomes and
/// calls, not pacing) and builds the world, its chat in `strategy`.
pub async fn start(strategy: &str) -> (TestApp, World) {
    let sim = SimConfig { rate_limits_enabled: false, ..SimConfig::default() };
    let app = TestApp::start_with(sim, &[("GATEHOUSE_TG_CALLS_PER_SECOND", "1000")]).await;
    let world = app.world().await;
    if strategy != "single_use_link" {
        app.add_chat(&world.project_id, &world.key, world.channel.id, strategy, &world.bot).await;
    }
    (app, world)
}

/// A user's status in the world's channel.
pub async fn status(app: &TestApp, world: &World, user: i64) -> MemberStatus {
    app.tg.member(world.channel.id, user).await.unwrap().status
}

/// Whether `status` is inside the chat.
pub fn inside(status: &MemberStatus) -> bool {
    matches!(
        status,
        MemberStatus::Member { .. }
            | MemberStatus::Restricted { is_member: true, .. }
            | MemberStatus::Administrator { .. }
            | MemberStatus::Creator { .. }
    )
}

/// A payer gets in as a subscriber would: opens the newest link the bot sent; when it
/// does not let them in (full, revoked, or their request went unanswered), sends
/// `/links` and tries what comes back. Returns how many `/links` it took, or `None` if
/// they stayed out after three.
pub async fn get_in(app: &TestApp, world: &World, user: i64) -> Option<u32> {
    for asked in 0..=3 {
        if inside(&status(app, world, user).await) {
            return Some(asked);
        }
        if let Some(link) = app.invite_links_to(world, user).await.last() {
            // A refusal (LINK_MEMBER_LIMIT_REACHED, LINK_REVOKED…) is what the payer sees.
            let _ = app.tg.join_by_link(user, link).await;
            app.settle(&[world.bot.id]).await;
            if inside(&status(app, world, user).await) {
                return Some(asked);
            }
        }
        if asked < 3 {
            app.tg.send_text(user, world.bot.id, "/links").await.unwrap();
            app.settle(&[world.bot.id]).await;
        }
    }
    None
}

/// Whether the simulator delivered (did not lose) an update of `user` entering the chat.
pub async fn join_reported(app: &TestApp, world: &World, user: i64) -> bool {
    app.tg.updates(world.bot.id).await.unwrap().iter().any(|u| {
        !u.dropped
            && ((u.kind == "chat_member"
                && u.update["chat_member"]["new_chat_member"]["user"]["id"] == json!(user)
                && matches!(
                    u.update["chat_member"]["new_chat_member"]["status"].as_str(),
                    Some("member" | "restricted")
                ))
                || (u.kind == "chat_join_request" && u.update["chat_join_request"]["from"]["id"] == json!(user)))
    })
}

/// What one run of the scenario came to.
#[derive(Debug, Default)]
struct Figures {
    payers_kept_out: usize,
    payers_needing_links: usize,
    links_asked: u32,
    lapsed_inside: usize,
    renewed_outside: usize,
    strangers_inside: usize,
    strangers_reported_inside: usize,
    strangers_ever_inside: usize,
    unseen_reported: i32,
    misuse_flags: i64,
    banned_left: usize,
    join_updates: usize,
    join_updates_lost: usize,
    bot_api_calls: usize,
    messages_to_payers: usize,
    seconds: f64,
}

/// 30 payers (half of them renewed), four whose links strangers open first (the first
/// of those joins is always lost, as in the report), three strangers coming in without
/// a Gatehouse link; 20 % of join updates lost and 10 % repeated. Then the payers get in,
/// the sweep runs, the unrenewed half lapses and the sweep runs again.
async fn scenario(strategy: &str) -> Figures {
    let started = Instant::now();
    let (app, world) = start(strategy).await;
    app.tg.set_update_rates(world.bot.id, &UpdateRates::for_kinds(19, JOIN_KINDS, 0.2, 0.1)).await.unwrap();
    let soon = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    let later = json!((chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339());
    let mut payers: Vec<UserInfo> = Vec::new();
    for i in 0..30 {
        let payer = app.started_user(&world, &format!("Payer{i}")).await;
        app.grant(&world, payer.id, soon.clone()).await;
        payers.push(payer);
    }
    app.settle(&[world.bot.id]).await;
    let mut strangers = Vec::new();
    for i in 0..7 {
        strangers.push(app.tg.create_user_named(&format!("Stranger{i}")).await.unwrap());
    }
    // Four strangers open payers' links first; the first of these joins goes unreported.
    for (i, stranger) in strangers.iter().take(4).enumerate() {
        if i == 0 {
            app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
        }
        let link = app.invite_links_to(&world, payers[i].id).await.pop().expect("a link");
        let _ = app.tg.join_by_link(stranger.id, &link).await;
        app.settle(&[world.bot.id]).await;
    }
    // Three come in without a Gatehouse link: added by hand, or asking to join.
    for stranger in &strangers[4..] {
        if strategy == "join_request" {
            let _ = app.tg.request_join(stranger.id, world.channel.id).await;
        } else {
            app.tg.add_member(world.channel.id, stranger.id).await.unwrap();
        }
    }
    app.settle(&[world.bot.id]).await;

    let mut figures = Figures::default();
    for payer in &payers {
        match get_in(&app, &world, payer.id).await {
            Some(0) => {}
            Some(n) => {
                figures.payers_needing_links += 1;
                figures.links_asked += n;
            }
            None => figures.payers_kept_out += 1,
        }
    }
    app.enqueue(&Sweep { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;

    // Half renew (a second grant); the clock passes the first grants' end.
    for payer in payers.iter().skip(15) {
        app.grant(&world, payer.id, later.clone()).await;
    }
    app.settle(&[world.bot.id]).await;
    app.clock.advance(chrono::Duration::hours(2));
    app.enqueue(&ExpiryScan { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;
    app.enqueue(&Sweep { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;

    for (i, payer) in payers.iter().enumerate() {
        let now = status(&app, &world, payer.id).await;
        if i < 15 && inside(&now) {
            figures.lapsed_inside += 1;
        }
        if i >= 15 && !inside(&now) {
            figures.renewed_outside += 1;
        }
    }
    let updates = app.tg.updates(world.bot.id).await.unwrap();
    for stranger in &strangers {
        let now = status(&app, &world, stranger.id).await;
        if inside(&now) {
            figures.strangers_inside += 1;
            if join_reported(&app, &world, stranger.id).await {
                figures.strangers_reported_inside += 1;
            }
        }
        let ever = updates.iter().any(|u| {
            u.kind == "chat_member"
                && u.update["chat_member"]["new_chat_member"]["user"]["id"] == json!(stranger.id)
                && u.update["chat_member"]["new_chat_member"]["status"] == "member"
        });
        figures.strangers_ever_inside += usize::from(ever);
    }
    figures.unseen_reported = sqlx::query_scalar::<_, Option<i32>>("SELECT unknown_members FROM chats")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .unwrap_or(0);
    figures.misuse_flags = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'link_possibly_misused'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    figures.banned_left = app.tg.chat(world.channel.id).await.unwrap().banned.len();
    figures.join_updates = updates.iter().filter(|u| JOIN_KINDS.contains(&u.kind.as_str())).count();
    figures.join_updates_lost = updates.iter().filter(|u| JOIN_KINDS.contains(&u.kind.as_str()) && u.dropped).count();
    figures.bot_api_calls = app.tg.calls(&CallFilter::default()).await.unwrap().len();
    for payer in &payers {
        figures.messages_to_payers += app.tg.messages_to(payer.id, world.bot.id).await.unwrap().len();
    }
    figures.seconds = started.elapsed().as_secs_f64();
    println!("lost updates, {strategy}: {figures:?}");
    figures
}

#[tokio::test]
async fn with_single_use_links_no_payer_is_kept_out_and_every_unseen_stranger_is_reported() {
    let f = scenario("single_use_link").await;
    assert_eq!(f.payers_kept_out, 0, "every payer gets in, after /links where needed: {f:?}");
    assert!(f.payers_needing_links >= 1, "the stranger's lost join spent a payer's link: {f:?}");
    assert_eq!(f.lapsed_inside, 0, "every lapsed payer is removed: {f:?}");
    assert_eq!(f.renewed_outside, 0, "every renewed payer stays: {f:?}");
    assert_eq!(f.strangers_reported_inside, 0, "every stranger whose join was reported is removed: {f:?}");
    assert_eq!(f.banned_left, 0, "nobody is left banned: {f:?}");
    assert!(f.strangers_inside >= 1, "the first stranger's join was lost by construction: {f:?}");
    assert_eq!(
        f.unseen_reported as usize, f.strangers_inside,
        "the strangers nobody saw are counted, and nobody else: {f:?}"
    );
    assert!(f.misuse_flags >= 1, "the spent link is recorded as possibly misused: {f:?}");
}

#[tokio::test]
async fn with_join_requests_no_payer_is_kept_out_and_no_stranger_gets_in_at_all() {
    let f = scenario("join_request").await;
    assert_eq!(f.payers_kept_out, 0, "every payer gets in, after /links where needed: {f:?}");
    assert_eq!(f.strangers_ever_inside, 0, "no stranger was ever inside: {f:?}");
    assert_eq!(f.strangers_inside, 0, "{f:?}");
    assert_eq!(f.lapsed_inside, 0, "every lapsed payer is removed: {f:?}");
    assert_eq!(f.renewed_outside, 0, "every renewed payer stays: {f:?}");
    assert_eq!(f.banned_left, 0, "nobody is left banned: {f:?}");
    assert_eq!(f.unseen_reported, 0, "nobody inside unseen: {f:?}");
}

#[tokio::test]
async fn a_payer_whose_link_a_stranger_spent_unseen_gets_a_fresh_link_and_the_owner_is_told_once_a_day() {
    let (app, world) = start("single_use_link").await;
    app.tg.send_text(world.owner.id, world.bot.id, "/start").await.unwrap();
    let (alice, bob) = (app.started_user(&world, "Alice").await, app.started_user(&world, "Bob").await);
    for payer in [&alice, &bob] {
        app.grant(&world, payer.id, json!(null)).await;
    }
    app.settle(&[world.bot.id]).await;
    let mut strangers = Vec::new();
    for payer in [&alice, &bob] {
        let stranger = app.tg.create_user_named("Stranger").await.unwrap();
        let spent = app.invite_links_to(&world, payer.id).await.pop().unwrap();
        app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
        app.tg.join_by_link(stranger.id, &spent).await.unwrap();
        app.settle(&[world.bot.id]).await;
        let refused = app.tg.join_by_link(payer.id, &spent).await.unwrap_err().to_string();
        assert!(refused.contains("LINK_MEMBER_LIMIT_REACHED"), "{refused}");

        app.tg.send_text(payer.id, world.bot.id, "/links").await.unwrap();
        app.settle(&[world.bot.id]).await;

        let fresh = app.invite_links_to(&world, payer.id).await.pop().unwrap();
        assert_ne!(fresh, spent, "never the spent link again");
        assert!(app.tg.link(&spent).await.unwrap().is_revoked, "the spent link is revoked");
        app.tg.join_by_link(payer.id, &fresh).await.unwrap();
        assert!(inside(&status(&app, &world, payer.id).await));
        strangers.push(stranger);
    }
    app.settle(&[world.bot.id]).await;
    let flagged: Vec<i64> = sqlx::query_scalar(
        "SELECT telegram_user_id FROM audit_log WHERE action = 'link_possibly_misused' ORDER BY telegram_user_id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut expected = vec![alice.id, bob.id];
    expected.sort();
    assert_eq!(flagged, expected, "each spent link recorded once, on its owner's trail");
    let events: Vec<i64> = sqlx::query_scalar(
        "SELECT (data #>> '{link,owner_telegram_user_id}')::bigint FROM events
         WHERE type = 'link.possibly_misused' ORDER BY 1",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(events, expected, "and an integrator event for each");
    let metrics = reqwest::get(format!("{}/metrics", app.api.url())).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatehouse_links_possibly_misused_total"), "the metric is exported");
    let told = app.texts_to(&world, world.owner.id).await;
    let misuse: Vec<_> = told.iter().filter(|t| t.contains("someone else may have used it")).collect();
    assert_eq!(misuse.len(), 1, "the owner is told once per chat per day: {told:?}");
    assert!(misuse[0].contains("join_request"), "and join-request mode is suggested");

    // The sweep counts both strangers, whom nobody saw, and tells the owner; /stats shows them.
    app.enqueue(&Sweep { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;
    let unseen: Option<i32> =
        sqlx::query_scalar("SELECT unknown_members FROM chats").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(unseen, Some(2));
    app.tg.send_text(world.owner.id, world.bot.id, "/stats").await.unwrap();
    app.settle(&[world.bot.id]).await;
    let told = app.texts_to(&world, world.owner.id).await;
    assert!(told.iter().any(|t| t.contains("2 more people than Gatehouse has seen")), "{told:?}");
    assert!(told.last().unwrap().contains("2 inside unseen"), "{told:?}");
    for stranger in &strangers {
        assert!(inside(&status(&app, &world, stranger.id).await), "unseen, so still inside: reported instead");
    }
}

#[tokio::test]
async fn in_join_request_mode_links_approves_a_request_whose_update_was_lost_and_never_a_strangers() {
    let (app, world) = start("join_request").await;
    let (alice, bob) = (app.started_user(&world, "Alice").await, app.started_user(&world, "Bob").await);
    let stranger = app.tg.create_user_named("Stranger").await.unwrap();
    for payer in [&alice, &bob] {
        app.grant(&world, payer.id, json!(null)).await;
    }
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(&world, alice.id).await.pop().unwrap();
    // Alice's request and the stranger's (with her link) both go unreported.
    for user in [alice.id, stranger.id] {
        app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
        let outcome = app.tg.join_by_link(user, &link).await.unwrap();
        assert_eq!(outcome.outcome, "requested");
        app.settle(&[world.bot.id]).await;
    }
    assert!(!inside(&status(&app, &world, alice.id).await), "her request waits unseen");

    app.tg.send_text(alice.id, world.bot.id, "/links").await.unwrap();
    app.settle(&[world.bot.id]).await;

    assert!(inside(&status(&app, &world, alice.id).await), "/links approved her pending request");
    let approvals = app.tg.calls_of("approveChatJoinRequest").await.unwrap();
    let approved: Vec<_> = approvals.iter().filter(|c| c.status == 200).map(|c| c.params["user_id"].clone()).collect();
    assert_eq!(approved, [json!(alice.id)], "only hers");
    assert_eq!(app.invite_links_to(&world, alice.id).await.len(), 1, "no new link was needed");

    // Bob never asked to join: Telegram has no request from him, so he gets a fresh link.
    app.tg.send_text(bob.id, world.bot.id, "/links").await.unwrap();
    app.settle(&[world.bot.id]).await;
    let bobs = app.invite_links_to(&world, bob.id).await;
    assert_eq!(bobs.len(), 2, "{bobs:?}");
    assert!(app.tg.link(&bobs[0]).await.unwrap().is_revoked, "the old request link is revoked");
    app.tg.join_by_link(bob.id, &bobs[1]).await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert!(inside(&status(&app, &world, bob.id).await));

    // The stranger's request, unseen, is never approved: not by the sweep, not later.
    app.enqueue(&Sweep { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;
    assert!(!inside(&status(&app, &world, stranger.id).await));
    let pending = app.tg.chat(world.channel.id).await.unwrap().join_requests;
    assert_eq!(pending.len(), 1, "the stranger's request is left pending: {pending:?}");
}
