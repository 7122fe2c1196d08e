//! Removal in one call (`unbanChatMember` without `only_if_banned`) where Gatehouse's
//! record knows a plain member, and the guarantees it keeps: administrators stay
//! (listed or not, promoted seen or unseen), a ban someone else set stays, a removal
//! interrupted anywhere is completed with nobody left banned, and the sweep catches
//! what the record missed.

use gatehouse_jobs::catalog::{
    consistency_sweep::{Sweep, SweepChat},
    expiry_scan::ExpiryScan,
    remove_member::RemoveMember,
};
use gatehouse_sim::{AdminRights, CallRecord, Fault, MemberStatus, UpdateFaults, UserInfo};
use gatehouse_tests::app::{TestApp, World};
use serde_json::{Value, json};
use uuid::Uuid;

/// `h` hours from now on Gatehouse's clock.
fn hours(app: &TestApp, h: i64) -> Value {
    json!((app.clock.now() + chrono::Duration::hours(h)).to_rfc3339())
}

async fn status(app: &TestApp, world: &World, user: i64) -> MemberStatus {
    app.tg.member(world.channel.id, user).await.unwrap().status
}

fn chat_uuid(world: &World) -> Uuid {
    world.chat_uuid.parse().unwrap()
}

/// The calls the simulator saw about `user`, from the `from`-th call on.
async fn calls_about(app: &TestApp, user: i64, from: usize) -> Vec<CallRecord> {
    let all = app.tg.calls(&Default::default()).await.unwrap();
    all.into_iter().skip(from).filter(|c| c.params["user_id"] == json!(user)).collect()
}

async fn call_count(app: &TestApp) -> usize {
    app.tg.calls(&Default::default()).await.unwrap().len()
}

/// The methods of the calls about `user`, from the `from`-th call on.
async fn methods_about(app: &TestApp, user: i64, from: usize) -> Vec<String> {
    calls_about(app, user, from).await.into_iter().map(|c| c.method).collect()
}

/// How many "access ended" notices `user` got from the world's bot.
async fn ended_notices(app: &TestApp, world: &World, user: i64) -> usize {
    let notices = app.tg.messages_to(user, world.bot.id).await.unwrap();
    notices.iter().filter(|m| m.text.as_deref().is_some_and(|t| t.contains("has ended"))).count()
}

/// How often an action about `user` is in the audit log.
async fn audited(app: &TestApp, user: i64, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE telegram_user_id = $1 AND action = $2")
        .bind(user)
        .bind(action)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// The chat's administrators as Gatehouse last listed them (`None`: never read).
async fn listed_admins(app: &TestApp, world: &World) -> Option<Vec<i64>> {
    sqlx::query_scalar("SELECT user_ids FROM chat_administrators WHERE chat_id = $1")
        .bind(chat_uuid(world))
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
}

/// Gatehouse's record of `user` in the channel.
async fn recorded(app: &TestApp, world: &World, user: i64) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM memberships WHERE chat_id = $1 AND telegram_user_id = $2")
        .bind(chat_uuid(world))
        .bind(user)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
}

/// `user` is granted the plan for an hour and joins with their link; `seen` says
/// whether the join's `chat_member` update reaches Gatehouse.
async fn granted_and_joined(app: &TestApp, world: &World, name: &str, seen: bool) -> UserInfo {
    let user = app.started_user(world, name).await;
    rejoins(app, world, &user, 1, seen).await;
    user
}

/// `user` is granted the plan for `h` hours and joins with the link they are sent.
async fn rejoins(app: &TestApp, world: &World, user: &UserInfo, h: i64, seen: bool) {
    app.grant(world, user.id, hours(app, h)).await;
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(world, user.id).await.pop().unwrap();
    if !seen {
        app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
    }
    assert_eq!(app.tg.join_by_link(user.id, &link).await.unwrap().outcome, "joined");
    app.settle(&[world.bot.id]).await;
}

/// The grants end: the clock moves past them and the expiry scan runs.
async fn access_ends(app: &TestApp, world: &World) {
    app.clock.advance(chrono::Duration::hours(2));
    app.enqueue(&ExpiryScan { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;
}

async fn remove(app: &TestApp, world: &World, user: i64) {
    let job = RemoveMember {
        chat_id: chat_uuid(world),
        telegram_user_id: user,
        reason: "removed by the integrator".into(),
        cause: format!("test:{}", Uuid::new_v4()),
    };
    app.enqueue(&job).await;
    app.settle(&[world.bot.id]).await;
}

/// A removal of one user the record knows as a plain member.
#[tokio::test]
async fn a_member_the_record_knows_is_removed_in_one_call_and_can_rejoin() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = granted_and_joined(&app, &world, "Alice", true).await;
    assert_eq!(recorded(&app, &world, alice.id).await.as_deref(), Some("member"));
    let before = call_count(&app).await;

    access_ends(&app, &world).await;

    let calls = calls_about(&app, alice.id, before).await;
    let methods: Vec<_> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods, ["unbanChatMember"], "one call for the removal");
    assert_eq!(calls[0].params["only_if_banned"], json!(false));
    assert!(matches!(status(&app, &world, alice.id).await, MemberStatus::Left), "out, and not banned");
    assert_eq!(audited(&app, alice.id, "removed").await, 1);
    let ended = ended_notices(&app, &world, alice.id).await;
    assert_eq!(ended, 1, "one \"access ended\" notice");
}

#[tokio::test]
async fn an_administrator_is_never_removed_listed_or_not_promoted_seen_or_unseen() {
    let app = TestApp::start().await;
    let world = app.world().await;
    // Administrator before the list was read (verify-chat read it).
    let listed = app.started_user(&world, "Listed").await;
    app.tg.add_admin(world.channel.id, listed.id, AdminRights::all()).await.unwrap();
    app.settle(&[world.bot.id]).await;
    app.enqueue(&gatehouse_jobs::catalog::verify_chat::VerifyChat {
        chat_id: chat_uuid(&world),
        attempt: Uuid::new_v4(),
        report_to: None,
    })
    .await;
    app.settle(&[world.bot.id]).await;
    assert!(listed_admins(&app, &world).await.unwrap().contains(&listed.id));
    // Members seen joining, then promoted after the list was read: one promotion seen,
    // one whose update was lost.
    let seen = granted_and_joined(&app, &world, "Seen", true).await;
    let unseen = granted_and_joined(&app, &world, "Unseen", true).await;
    app.tg.add_admin(world.channel.id, seen.id, AdminRights::all()).await.unwrap();
    app.settle(&[world.bot.id]).await;
    app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
    app.tg.add_admin(world.channel.id, unseen.id, AdminRights::all()).await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert_eq!(recorded(&app, &world, unseen.id).await.as_deref(), Some("member"), "the promotion went unseen");
    let before = call_count(&app).await;

    remove(&app, &world, listed.id).await;
    remove(&app, &world, seen.id).await;
    remove(&app, &world, unseen.id).await;
    access_ends(&app, &world).await;

    for user in [&listed, &seen, &unseen] {
        assert!(
            matches!(status(&app, &world, user.id).await, MemberStatus::Administrator { .. }),
            "{} is still an administrator",
            user.first_name
        );
        assert_eq!(audited(&app, user.id, "removed").await, 0, "{}", user.first_name);
        assert!(audited(&app, user.id, "kept").await >= 1, "{}", user.first_name);
    }
    // The listed and the seen promotion were kept without asking Telegram.
    assert!(calls_about(&app, listed.id, before).await.is_empty());
    assert!(calls_about(&app, seen.id, before).await.is_empty());
    // The unseen one was refused by Telegram, and the list read again.
    let refused = calls_about(&app, unseen.id, before).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].status, 400);
    assert!(listed_admins(&app, &world).await.unwrap().contains(&unseen.id), "listed since");
    assert!(app.tg.calls_of("banChatMember").await.unwrap().is_empty(), "nobody banned");

    // A chat whose administrators were never read: the removal reads them first.
    sqlx::query("DELETE FROM chat_administrators").execute(&app.db.pool).await.unwrap();
    let before = call_count(&app).await;
    remove(&app, &world, listed.id).await;
    assert!(matches!(status(&app, &world, listed.id).await, MemberStatus::Administrator { .. }));
    let read: Vec<_> =
        app.tg.calls(&Default::default()).await.unwrap().into_iter().skip(before).map(|c| c.method).collect();
    assert_eq!(read, ["getChatAdministrators"], "listed, then kept without another call");
}

#[tokio::test]
async fn a_user_banned_by_hand_stays_banned() {
    let app = TestApp::start().await;
    let world = app.world().await;
    // Bob: removed by Gatehouse once, back after renewing, then banned by the owner.
    let bob = granted_and_joined(&app, &world, "Bob", true).await;
    access_ends(&app, &world).await;
    assert!(matches!(status(&app, &world, bob.id).await, MemberStatus::Left));
    assert_eq!(audited(&app, bob.id, "removed").await, 1);
    rejoins(&app, &world, &bob, 1, true).await;
    // Alice: a member banned by the owner before her access ends.
    let alice = granted_and_joined(&app, &world, "Alice", true).await;
    for user in [alice.id, bob.id] {
        app.tg.set_member(world.channel.id, user, MemberStatus::Kicked { until_date: 0 }).await.unwrap();
    }
    app.settle(&[world.bot.id]).await;
    let before = call_count(&app).await;

    access_ends(&app, &world).await;
    remove(&app, &world, alice.id).await;

    for user in [&alice, &bob] {
        assert!(
            matches!(status(&app, &world, user.id).await, MemberStatus::Kicked { .. }),
            "{} is still banned",
            user.first_name
        );
        let unbans: Vec<_> =
            calls_about(&app, user.id, before).await.into_iter().filter(|c| c.method == "unbanChatMember").collect();
        assert!(unbans.is_empty(), "{}: {unbans:?}", user.first_name);
    }
}

#[tokio::test]
async fn a_removal_interrupted_anywhere_is_completed_and_leaves_nobody_banned() {
    let app = TestApp::start().await;
    let world = app.world().await;
    // One-call removals (seen joining): the unban refused (5xx), or carried out with its
    // answer lost. Careful removals (joins unseen): a 5xx between ban and unban, the ban
    // carried out with its answer lost, the unban carried out with its answer lost.
    let refused = granted_and_joined(&app, &world, "Refused", true).await;
    let lost = granted_and_joined(&app, &world, "Lost", true).await;
    let between = granted_and_joined(&app, &world, "Between", false).await;
    let ban_lost = granted_and_joined(&app, &world, "BanLost", false).await;
    let unban_lost = granted_and_joined(&app, &world, "UnbanLost", false).await;
    assert_eq!(recorded(&app, &world, between.id).await.as_deref(), Some("left"), "the join went unseen");
    let fault = |method: &str, user: &UserInfo, after_effect: bool, drop_connection: bool| Fault {
        method: Some(method.into()),
        when: json!({"user_id": user.id}).as_object().unwrap().clone(),
        times: Some(1),
        error_code: (!drop_connection).then_some(500),
        description: (!drop_connection).then(|| "Internal Server Error".to_string()),
        after_effect,
        drop_connection,
        ..Fault::default()
    };
    for f in [
        fault("unbanChatMember", &refused, false, false),
        fault("unbanChatMember", &lost, true, true),
        fault("unbanChatMember", &between, false, false),
        fault("banChatMember", &ban_lost, true, true),
        fault("unbanChatMember", &unban_lost, true, false),
    ] {
        app.tg.add_fault(&f).await.unwrap();
    }

    access_ends(&app, &world).await;

    assert!(app.tg.faults().await.unwrap().is_empty(), "every fault fired");
    for user in [&refused, &lost, &between, &ban_lost, &unban_lost] {
        let name = &user.first_name;
        assert!(matches!(status(&app, &world, user.id).await, MemberStatus::Left), "{name}: out and not banned");
        assert_eq!(audited(&app, user.id, "removed").await, 1, "{name}: one removal recorded");
        assert_eq!(recorded(&app, &world, user.id).await.as_deref(), Some("left"), "{name}");
        let ended = ended_notices(&app, &world, user.id).await;
        assert_eq!(ended, 1, "{name}: one \"access ended\" notice");
    }
}

#[tokio::test]
async fn the_sweep_catches_a_member_the_record_missed() {
    let app = TestApp::start().await;
    let world = app.world().await;
    // Carol's join went unseen and her expiry was never scanned; Dave's join went
    // unseen too, and he is still entitled; Mod's promotion went unseen.
    let carol = granted_and_joined(&app, &world, "Carol", false).await;
    let dave = app.started_user(&world, "Dave").await;
    rejoins(&app, &world, &dave, 48, false).await;
    let moderator = app.started_user(&world, "Mod").await;
    rejoins(&app, &world, &moderator, 48, true).await;
    app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
    app.tg.add_admin(world.channel.id, moderator.id, AdminRights::all()).await.unwrap();
    app.settle(&[world.bot.id]).await;
    // Read before they joined (outside), their joins unseen.
    assert_eq!(recorded(&app, &world, carol.id).await.as_deref(), Some("left"));
    assert_eq!(recorded(&app, &world, dave.id).await.as_deref(), Some("left"));
    assert!(!listed_admins(&app, &world).await.unwrap().contains(&moderator.id));

    app.clock.advance(chrono::Duration::hours(2));
    app.enqueue(&Sweep { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;

    assert!(matches!(status(&app, &world, carol.id).await, MemberStatus::Left), "Carol removed");
    assert_eq!(audited(&app, carol.id, "removed").await, 1);
    assert!(matches!(status(&app, &world, dave.id).await, MemberStatus::Member { .. }), "Dave stays");
    assert_eq!(recorded(&app, &world, dave.id).await.as_deref(), Some("member"), "Dave now on record");
    assert!(listed_admins(&app, &world).await.unwrap().contains(&moderator.id), "the list read again");
    assert!(matches!(status(&app, &world, moderator.id).await, MemberStatus::Administrator { .. }));
    assert_eq!(audited(&app, moderator.id, "removed").await, 0, "the moderator stays");
}

/// A mass expiry's kicks are planned at the bot's pace when they are enqueued: each
/// comes due one kick's calls (its removal and its notice) after the one before, so a
/// worker claims a kick when its bot has budget for it instead of holding a worker slot
/// while it waits, or being snoozed and claimed again.
#[tokio::test]
async fn a_mass_expiry_s_kicks_come_due_one_after_another_at_the_bot_s_pace() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let mut users = Vec::new();
    for i in 0..8 {
        let user = app.started_user(&world, &format!("Member{i}")).await;
        app.grant(&world, user.id, hours(&app, 1)).await;
        users.push(user.id);
    }
    app.settle(&[world.bot.id]).await;

    access_ends(&app, &world).await;

    let due: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM run_at)::float8 FROM apalis.jobs WHERE idempotency_key LIKE 'kick-expired:%' ORDER BY run_at",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(due.len(), users.len(), "one kick per grant");
    // 30 calls per window of 1/0.95 s (the defaults): 35.1 ms of budget per call, and a
    // kick is planned at two calls (one chat: one removal, one notice).
    let per_kick = 2.0 / (30.0 * 0.95);
    for pair in due.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((gap - per_kick).abs() < 0.002, "kicks {gap:.4} s apart, planned {per_kick:.4} s");
    }
    let done: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE idempotency_key LIKE 'kick-expired:%' AND status = 'Done'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(done, users.len() as i64, "every kick ran");
}

/// Two expiry scans at once (a scan longer than the minute between two ticks) over many
/// grants that end at the same moment: each grant is expired and kicked once, and the
/// scans do not deadlock (they lock the grants in one order).
#[tokio::test]
async fn two_expiry_scans_at_once_expire_each_grant_once_without_a_deadlock() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let project: Uuid = world.project_id.parse().unwrap();
    let plan: Uuid = world.plan_id.parse().unwrap();
    let grants = 150;
    sqlx::query(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, first_name, language_code)
         SELECT gen_random_uuid(), $1, 900000000 + u, 'Member', 'en' FROM generate_series(1, $2) u",
    )
    .bind(project)
    .bind(grants)
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO grants (id, project_id, subscriber_id, plan_id, source, state, starts_at, ends_at)
         SELECT gen_random_uuid(), $1, s.id, $2, 'manual', 'active', $3 - interval '1 day', $3
         FROM subscribers s WHERE s.project_id = $1 AND s.telegram_user_id > 900000000",
    )
    .bind(project)
    .bind(plan)
    .bind(app.clock.now() - chrono::Duration::minutes(1))
    .execute(&app.db.pool)
    .await
    .unwrap();

    let tick = app.clock.now();
    app.enqueue(&ExpiryScan { tick }).await;
    app.enqueue(&ExpiryScan { tick: tick + chrono::Duration::minutes(1) }).await;
    app.settle(&[world.bot.id]).await;

    let deadlocks: i64 = sqlx::query_scalar("SELECT count(*) FROM job_errors WHERE error LIKE '%deadlock%'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(deadlocks, 0, "no scan deadlocked");
    let kicks: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE idempotency_key LIKE 'kick-expired:%'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(kicks, i64::from(grants), "one kick per grant");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM grants WHERE project_id = $1 AND gatehouse_entitling_state(state)")
            .bind(project)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "every grant expired");
}

/// The sweep re-checks the longest-unobserved members who stay (entitled past the next
/// sweep, or whitelisted), so an unreported leave is found; a member whose access ends
/// before the next sweep is not read at all: their removal, one call that works whether
/// or not they are still inside, comes first.
#[tokio::test]
async fn the_sweep_rechecks_who_stays_and_reads_nobody_it_is_about_to_remove() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let stays = granted_and_joined(&app, &world, "Stays", true).await;
    let soon = app.started_user(&world, "Soon").await;
    let friend = app.started_user(&world, "Friend").await;
    for user in [&soon, &friend] {
        let ends = app.clock.now() + chrono::Duration::minutes(10);
        app.grant(&world, user.id, json!(ends.to_rfc3339())).await;
        app.settle(&[world.bot.id]).await;
        let link = app.invite_links_to(&world, user.id).await.pop().unwrap();
        assert_eq!(app.tg.join_by_link(user.id, &link).await.unwrap().outcome, "joined");
        app.settle(&[world.bot.id]).await;
    }
    sqlx::query("UPDATE subscribers SET whitelisted = true WHERE telegram_user_id = $1")
        .bind(friend.id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    // Two of them leave, and Gatehouse is not told.
    for user in [&stays, &friend] {
        assert_eq!(recorded(&app, &world, user.id).await.as_deref(), Some("member"));
        app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
        app.tg.leave(user.id, world.channel.id).await.unwrap();
        app.settle(&[world.bot.id]).await;
        assert_eq!(recorded(&app, &world, user.id).await.as_deref(), Some("member"), "the leave went unseen");
    }
    let before = call_count(&app).await;

    app.enqueue(&Sweep { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;

    assert_eq!(recorded(&app, &world, stays.id).await.as_deref(), Some("left"), "the entitled member re-checked");
    assert_eq!(recorded(&app, &world, friend.id).await.as_deref(), Some("left"), "the whitelisted member re-checked");
    let about_soon = calls_about(&app, soon.id, before).await;
    assert!(about_soon.is_empty(), "no call about a member whose access ends before the next sweep: {about_soon:?}");
    assert!(matches!(status(&app, &world, soon.id).await, MemberStatus::Member { .. }), "still entitled, still inside");

    // When it ends, the removal is its one call.
    app.clock.advance(chrono::Duration::minutes(11));
    app.enqueue(&ExpiryScan { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;
    let methods = methods_about(&app, soon.id, before).await;
    assert_eq!(methods, ["unbanChatMember"]);
    assert!(matches!(status(&app, &world, soon.id).await, MemberStatus::Left));
    assert!(matches!(status(&app, &world, friend.id).await, MemberStatus::Left));
}

/// A member whose access ended and whom the sweep removed before their planned kick
/// came costs no second call: the kick finds them observed outside since the end. They
/// are removed once and told once.
#[tokio::test]
async fn a_kick_after_the_sweep_removed_the_member_makes_no_call() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = granted_and_joined(&app, &world, "Alice", true).await;
    let before = call_count(&app).await;

    // The access ends; the sweep of the chat comes before the expiry scan's kick. The
    // simulator's clock moves too: the `chat_member` update of the removal is dated by it.
    app.clock.advance(chrono::Duration::hours(2));
    app.tg.advance_clock(2 * 3600).await.unwrap();
    app.enqueue(&SweepChat { chat_id: chat_uuid(&world), tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;
    assert!(matches!(status(&app, &world, alice.id).await, MemberStatus::Left), "removed by the sweep");
    app.enqueue(&ExpiryScan { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;

    let methods = methods_about(&app, alice.id, before).await;
    assert_eq!(methods, ["unbanChatMember"], "the sweep's one call, and none from the kick");
    assert_eq!(audited(&app, alice.id, "removed").await, 1);
    let kicks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE idempotency_key LIKE 'kick-expired:%' AND status = 'Done'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(kicks, 1, "the kick ran");
    let ended = ended_notices(&app, &world, alice.id).await;
    assert_eq!(ended, 1, "one \"access ended\" notice");
}

/// A record that says `left` from before the access ended is not trusted to mean the
/// user is still outside (a join since may have gone unreported): the kick reads first.
#[tokio::test]
async fn a_kick_reads_first_when_the_user_was_last_seen_outside_before_the_end() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let carol = app.started_user(&world, "Carol").await;
    // Seen outside (read before her join), then her join goes unreported.
    rejoins(&app, &world, &carol, 1, false).await;
    assert_eq!(recorded(&app, &world, carol.id).await.as_deref(), Some("left"));
    assert!(matches!(status(&app, &world, carol.id).await, MemberStatus::Member { .. }));
    let before = call_count(&app).await;

    access_ends(&app, &world).await;

    let methods = methods_about(&app, carol.id, before).await;
    assert_eq!(methods, ["getChatMember", "banChatMember", "unbanChatMember"], "the careful path");
    assert!(matches!(status(&app, &world, carol.id).await, MemberStatus::Left), "out, and not banned");
}

/// The sweep leaves a member whose kick is waiting in the queue (a mass expiry's kicks
/// come due one after another at the bot's pace) to that kick: one removal, one call.
#[tokio::test]
async fn the_sweep_leaves_a_member_whose_kick_is_waiting_to_that_kick() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = granted_and_joined(&app, &world, "Alice", true).await;
    let before = call_count(&app).await;
    // Her access ended and the scan expired it; her kick is planned for later.
    app.clock.advance(chrono::Duration::hours(2));
    let (grant_id, ends_at): (Uuid, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "UPDATE grants g SET state = 'expired' FROM subscribers s
         WHERE s.id = g.subscriber_id AND s.telegram_user_id = $1 RETURNING g.id, g.ends_at",
    )
    .bind(alice.id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let kick = gatehouse_jobs::catalog::kick_expired::KickExpired { grant_id, ends_at };
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut conn = app.db.pool.acquire().await.unwrap();
    gatehouse_jobs::queue::enqueue(&mut conn, &kick, gatehouse_jobs::queue::RunAt::At(later)).await.unwrap();
    drop(conn);

    app.enqueue(&SweepChat { chat_id: chat_uuid(&world), tick: app.clock.now() }).await;
    gatehouse_tests::wait_until(std::time::Duration::from_secs(60), "the sweep of the chat", || async {
        let done: Option<bool> =
            sqlx::query_scalar("SELECT status = 'Done' FROM apalis.jobs WHERE idempotency_key LIKE 'sweep-chat:%'")
                .fetch_optional(&app.db.pool)
                .await
                .unwrap();
        done == Some(true)
    })
    .await;
    assert!(calls_about(&app, alice.id, before).await.is_empty(), "the sweep leaves her to her kick");
    assert!(matches!(status(&app, &world, alice.id).await, MemberStatus::Member { .. }));

    // The kick comes due.
    sqlx::query("UPDATE apalis.jobs SET run_at = now() WHERE idempotency_key LIKE 'kick-expired:%'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    app.settle(&[world.bot.id]).await;
    let methods = methods_about(&app, alice.id, before).await;
    assert_eq!(methods, ["unbanChatMember"], "one removal, one call");
    assert_eq!(audited(&app, alice.id, "removed").await, 1);
    assert!(matches!(status(&app, &world, alice.id).await, MemberStatus::Left));
}

/// A kick whose one call went through with its answer lost is completed and recorded
/// on its next run, even though the member's `chat_member` update has recorded them
/// outside since the access ended (the simulator's clock moved with Gatehouse's, so the
/// update is dated after the end, as Telegram's would be).
#[tokio::test]
async fn a_kick_whose_answer_was_lost_is_recorded_when_the_update_came_first() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let lost = granted_and_joined(&app, &world, "Lost", true).await;
    let fault = Fault {
        method: Some("unbanChatMember".into()),
        when: json!({"user_id": lost.id}).as_object().unwrap().clone(),
        times: Some(1),
        after_effect: true,
        drop_connection: true,
        ..Fault::default()
    };
    app.tg.add_fault(&fault).await.unwrap();
    app.clock.advance(chrono::Duration::hours(2));
    app.tg.advance_clock(2 * 3600).await.unwrap();
    app.enqueue(&ExpiryScan { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;

    assert!(app.tg.faults().await.unwrap().is_empty(), "the fault fired");
    assert!(matches!(status(&app, &world, lost.id).await, MemberStatus::Left), "out, and not banned");
    assert_eq!(audited(&app, lost.id, "removed").await, 1, "the removal recorded");
    assert_eq!(recorded(&app, &world, lost.id).await.as_deref(), Some("left"));
}
