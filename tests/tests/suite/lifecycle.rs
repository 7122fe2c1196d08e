//! The membership lifecycle end to end: the real api and worker against the
//! simulator, asserting the Bot API calls it received (in order where order
//! matters) and the world that resulted.

use std::time::Duration;

use gatehouse_jobs::catalog::{consistency_sweep::Sweep, daily_member_count::CountMembers, expiry_scan::ExpiryScan};
use gatehouse_sim::{AdminRights, CallFilter, CallRecord, MemberStatus};
use gatehouse_tests::app::{TestApp, World};
use serde_json::{Value, json};

/// The simulator's calls of these methods, in order.
async fn calls(app: &TestApp, methods: &[&str]) -> Vec<CallRecord> {
    let all = app.tg.calls(&CallFilter::default()).await.unwrap();
    all.into_iter().filter(|c| methods.iter().any(|m| m.eq_ignore_ascii_case(&c.method))).collect()
}

fn names(calls: &[CallRecord]) -> Vec<String> {
    calls.iter().map(|c| c.method.to_lowercase()).collect()
}

fn is_member(status: &MemberStatus) -> bool {
    matches!(status, MemberStatus::Member { .. })
}

async fn status(app: &TestApp, world: &World, user: i64) -> MemberStatus {
    app.tg.member(world.channel.id, user).await.unwrap().status
}

async fn in_an_hour() -> Value {
    json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339())
}

#[tokio::test]
async fn connecting_a_bot_points_its_webhook_at_gatehouse_with_chat_member_updates() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let hook = app.tg.webhook_state(world.bot.id).await.unwrap();
    assert_eq!(hook.url, format!("{}/hooks/telegram/{}", app.api.url(), world.bot.id));
    let allowed = hook.allowed_updates.unwrap();
    for update in
        ["chat_member", "my_chat_member", "chat_join_request", "message", "callback_query", "pre_checkout_query"]
    {
        assert!(allowed.iter().any(|a| a == update), "{update} missing from {allowed:?}");
    }
    let (_, bot) = app.get(&format!("/v1/projects/{}/bot", world.project_id), &world.key).await;
    let bot = &bot["data"];
    assert_eq!(bot["status"], "connected", "{bot}");
    assert_eq!(bot["username"], "club_bot");
    let connect = calls(&app, &["getMe", "setWebhook", "setMyCommands"]).await;
    assert_eq!(names(&connect), ["getme", "setwebhook", "setmycommands", "setmycommands"]);
    assert!(connect[2].params.get("scope").is_none_or(Value::is_null), "the public list");
    assert_eq!(connect[3].params["scope"], json!({"type": "chat", "chat_id": world.owner.id}), "the owner's list");
    let (_, chats) = app.get(&format!("/v1/projects/{}/chats", world.project_id), &world.key).await;
    assert_eq!(chats["data"][0]["status"], "ready", "{chats}");
}

#[tokio::test]
async fn a_token_telegram_rejects_marks_the_bot_failed_with_the_reason() {
    let app = TestApp::start().await;
    let (status, project) = app
        .post(
            "/v1/projects",
            gatehouse_tests::TEST_ADMIN_TOKEN,
            json!({"handle": "x1", "name": "X", "owner_telegram_id": 1}),
        )
        .await;
    assert_eq!(status, 201);
    let (p, key) = (project["data"]["project_id"].as_str().unwrap(), project["data"]["api_key"].as_str().unwrap());
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/projects/{p}/bot"),
            Some(key),
            Some(json!({"token": "999999:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})),
        )
        .await;
    assert_eq!(status, 202);
    app.settle(&[]).await;
    let (_, bot) = app.get(&format!("/v1/projects/{p}/bot"), key).await;
    let bot = &bot["data"];
    assert_eq!(bot["status"], "failed", "{bot}");
    assert!(bot["reason"].as_str().unwrap().contains("rejected the token"), "{bot}");
}

#[tokio::test]
async fn a_chat_where_the_bot_cannot_ban_is_not_ready_with_the_reason() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let group = app.tg.create_channel("Weak").await.unwrap();
    let rights = AdminRights { can_invite_users: true, can_manage_chat: true, ..AdminRights::default() };
    app.tg.add_admin(group.id, world.bot.id, rights).await.unwrap();
    app.add_chat(&world.project_id, &world.key, group.id, "single_use_link", &world.bot).await;
    let (_, chats) = app.get(&format!("/v1/projects/{}/chats", world.project_id), &world.key).await;
    let weak = chats["data"].as_array().unwrap().iter().find(|c| c["chat_id"] == group.id).unwrap().clone();
    assert_eq!(weak["status"], "not_ready", "{weak}");
    assert!(weak["reason"].as_str().unwrap().contains("can_restrict_members"), "{weak}");
}

#[tokio::test]
async fn a_granted_subscriber_is_unbanned_first_then_gets_a_personal_link_and_joins() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = app.started_user(&world, "Alice").await;
    app.grant(&world, alice.id, in_an_hour().await).await;
    app.settle(&[world.bot.id]).await;

    // From the admission on (the /start reply came before it).
    let admission = calls(&app, &["unbanChatMember", "createChatInviteLink", "sendMessage"]).await;
    let admission: Vec<_> = admission
        .into_iter()
        .skip_while(|c| c.method.to_lowercase() != "unbanchatmember")
        .filter(|c| c.status == 200)
        .filter(|c| c.method.to_lowercase() != "sendmessage" || c.params["text"].to_string().contains("https://t.me/+"))
        .collect();
    assert_eq!(names(&admission), ["unbanchatmember", "createchatinvitelink", "sendmessage"]);
    assert_eq!(admission[0].params["only_if_banned"], json!(true));
    let created = &admission[1].params;
    assert_eq!(created["member_limit"].as_i64(), Some(1), "{created}");
    assert!(created["expire_date"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    assert!(created["name"].as_str().unwrap().len() <= 32);

    let links = app.invite_links_to(&world, alice.id).await;
    assert_eq!(links.len(), 1);
    let joined = app.tg.join_by_link(alice.id, &links[0]).await.unwrap();
    assert_eq!(joined.outcome, "joined");
    app.settle(&[world.bot.id]).await;

    assert!(is_member(&status(&app, &world, alice.id).await));
    assert!(app.tg.link(&links[0]).await.unwrap().is_revoked, "a link is revoked once its owner joined");
    assert!(calls(&app, &["banChatMember"]).await.is_empty(), "nobody removed");
}

#[tokio::test]
async fn an_intruder_using_someone_elses_link_is_removed_and_the_owner_gets_a_fresh_link() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (alice, mallory) = (app.started_user(&world, "Alice").await, app.started_user(&world, "Mallory").await);
    app.grant(&world, alice.id, in_an_hour().await).await;
    app.settle(&[world.bot.id]).await;
    let shared = app.invite_links_to(&world, alice.id).await.remove(0);

    app.tg.join_by_link(mallory.id, &shared).await.unwrap();
    app.settle(&[world.bot.id]).await;

    let removal = calls(&app, &["revokeChatInviteLink", "banChatMember", "unbanChatMember"]).await;
    let removal: Vec<_> = removal
        .into_iter()
        .filter(|c| c.method.to_lowercase() != "unbanchatmember" || c.params["user_id"] == json!(mallory.id))
        .collect();
    // Seen joining, a plain member: removed in one call, a kick, not a ban.
    assert_eq!(names(&removal), ["revokechatinvitelink", "unbanchatmember"]);
    assert_eq!(removal[1].params["only_if_banned"], json!(false), "an unban that removes");
    assert!(matches!(status(&app, &world, mallory.id).await, MemberStatus::Left), "removed and not banned");
    assert!(app.tg.link(&shared).await.unwrap().is_revoked);

    let links = app.invite_links_to(&world, alice.id).await;
    assert_eq!(links.len(), 2, "the owner got a fresh link");
    assert_ne!(links[0], links[1]);
    app.tg.join_by_link(alice.id, &links[1]).await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert!(is_member(&status(&app, &world, alice.id).await));
}

#[tokio::test]
async fn someone_who_joins_without_an_entitlement_is_removed_but_admins_and_the_whitelist_stay() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (stranger, friend, moderator) = (
        app.started_user(&world, "Stranger").await,
        app.started_user(&world, "Friend").await,
        app.started_user(&world, "Mod").await,
    );
    let (status_code, _) = app
        .post(
            &format!("/v1/projects/{}/whitelist", world.project_id),
            &world.key,
            json!({"telegram_user_id": friend.id}),
        )
        .await;
    assert_eq!(status_code, 200);

    app.tg.add_member(world.channel.id, stranger.id).await.unwrap();
    app.tg.add_member(world.channel.id, friend.id).await.unwrap();
    app.tg.add_admin(world.channel.id, moderator.id, AdminRights::all()).await.unwrap();
    app.settle(&[world.bot.id]).await;

    assert!(matches!(status(&app, &world, stranger.id).await, MemberStatus::Left));
    assert!(is_member(&status(&app, &world, friend.id).await), "whitelisted users are never removed");
    assert!(matches!(status(&app, &world, moderator.id).await, MemberStatus::Administrator { .. }));
    assert!(calls(&app, &["banChatMember"]).await.is_empty(), "nobody banned");
    let kicks: Vec<_> = calls(&app, &["unbanChatMember"])
        .await
        .into_iter()
        .filter(|c| c.status == 200 && c.params["only_if_banned"] == json!(false))
        .collect();
    assert_eq!(kicks.len(), 1, "{kicks:?}");
    assert_eq!(kicks[0].params["user_id"], json!(stranger.id));
}

#[tokio::test]
async fn join_requests_are_approved_when_entitled_and_declined_otherwise() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let group = app.tg.create_channel("Requests").await.unwrap();
    app.tg.add_admin(group.id, world.bot.id, AdminRights::all()).await.unwrap();
    app.add_chat(&world.project_id, &world.key, group.id, "join_request", &world.bot).await;
    let (_, plan) = app
        .post(
            &format!("/v1/projects/{}/plans", world.project_id),
            &world.key,
            json!({"name": "Req", "price": 100, "currency": "USD", "duration_days": 30, "recurring": false, "trial_days": 0, "chat_ids": [group.id]}),
        )
        .await;
    let (alice, eve) = (app.started_user(&world, "Alice").await, app.started_user(&world, "Eve").await);
    let (code, _) = app
        .post(
            &format!("/v1/projects/{}/grants", world.project_id),
            &world.key,
            json!({"telegram_user_id": alice.id, "plan_id": plan["data"]["plan_id"], "expires_at": null}),
        )
        .await;
    assert_eq!(code, 202);
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(&world, alice.id).await.remove(0);
    let created = calls(&app, &["createChatInviteLink"]).await.pop().unwrap();
    assert_eq!(created.params["creates_join_request"], json!(true));

    app.tg.join_by_link(alice.id, &link).await.unwrap();
    app.tg.request_join(eve.id, group.id).await.unwrap();
    app.settle(&[world.bot.id]).await;

    assert!(is_member(&app.tg.member(group.id, alice.id).await.unwrap().status));
    assert!(!is_member(&app.tg.member(group.id, eve.id).await.unwrap().status));
    let answers = names(&calls(&app, &["approveChatJoinRequest", "declineChatJoinRequest"]).await);
    assert_eq!(answers.len(), 2);
    assert!(
        answers.contains(&"approvechatjoinrequest".to_string())
            && answers.contains(&"declinechatjoinrequest".to_string())
    );
}

#[tokio::test]
async fn a_bot_that_loses_its_admin_rights_marks_the_chat_not_ready_and_removes_nobody() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = app.started_user(&world, "Alice").await;
    app.tg.add_member(world.channel.id, alice.id).await.unwrap();
    app.tg.set_member(world.channel.id, world.bot.id, MemberStatus::Member { until_date: None }).await.unwrap();
    app.settle(&[world.bot.id]).await;
    let (_, chats) = app.get(&format!("/v1/projects/{}/chats", world.project_id), &world.key).await;
    assert_eq!(chats["data"][0]["status"], "not_ready", "{chats}");
    assert!(calls(&app, &["banChatMember"]).await.is_empty());
}

#[tokio::test]
async fn when_a_grant_ends_the_member_is_kicked_not_banned_and_can_come_back_after_renewing() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = app.started_user(&world, "Alice").await;
    app.grant(&world, alice.id, in_an_hour().await).await;
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(&world, alice.id).await.remove(0);
    app.tg.join_by_link(alice.id, &link).await.unwrap();
    app.settle(&[world.bot.id]).await;

    app.clock.advance(chrono::Duration::hours(2));
    app.enqueue(&ExpiryScan { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;

    let removal = calls(&app, &["banChatMember", "getChatMember", "unbanChatMember"]).await;
    let removal: Vec<_> = removal.into_iter().filter(|c| c.params["user_id"] == json!(alice.id)).collect();
    let removal: Vec<_> = removal.into_iter().skip_while(|c| c.params["only_if_banned"] != json!(false)).collect();
    assert_eq!(names(&removal), ["unbanchatmember"], "one call: an unban that removes her");
    assert!(matches!(status(&app, &world, alice.id).await, MemberStatus::Left), "out, and not banned");
    let texts: Vec<String> =
        app.tg.messages_to(alice.id, world.bot.id).await.unwrap().into_iter().filter_map(|m| m.text).collect();
    assert!(texts.last().unwrap().contains("has ended"), "{texts:?}");

    // Renewal: a new grant brings her back in.
    app.grant(&world, alice.id, json!((app.clock.now() + chrono::Duration::days(30)).to_rfc3339())).await;
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(&world, alice.id).await.pop().unwrap();
    assert_eq!(app.tg.join_by_link(alice.id, &link).await.unwrap().outcome, "joined");
    app.settle(&[world.bot.id]).await;
    assert!(is_member(&status(&app, &world, alice.id).await));
}

#[tokio::test]
async fn deleting_a_grant_ends_access_now() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = app.started_user(&world, "Alice").await;
    let grant = app.grant(&world, alice.id, Value::Null).await;
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(&world, alice.id).await.remove(0);
    app.tg.join_by_link(alice.id, &link).await.unwrap();
    app.settle(&[world.bot.id]).await;

    let (code, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/projects/{}/grants/{grant}", world.project_id),
            Some(&world.key),
            None,
        )
        .await;
    assert_eq!(code, 202);
    app.settle(&[world.bot.id]).await;
    assert!(matches!(status(&app, &world, alice.id).await, MemberStatus::Left));
    let (_, member) = app.get(&format!("/v1/projects/{}/members/{}", world.project_id, alice.id), &world.key).await;
    let actions: Vec<&str> =
        member["data"]["audit"].as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    assert!(actions.contains(&"removed") && actions.contains(&"link_issued"), "{actions:?}");
}

#[tokio::test]
async fn the_daily_count_stores_telegrams_member_count() {
    let app = TestApp::start().await;
    let world = app.world().await;
    for name in ["A", "B", "C"] {
        let u = app.started_user(&world, name).await;
        app.tg.add_member(world.channel.id, u.id).await.unwrap();
    }
    app.settle(&[world.bot.id]).await;
    app.enqueue(&CountMembers { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;
    let expected = app.tg.chat(world.channel.id).await.unwrap().member_count as i32;
    let stored: i32 = sqlx::query_scalar("SELECT members FROM member_counts").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn the_sweep_removes_members_left_behind_and_reports_members_it_never_saw() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = app.started_user(&world, "Alice").await;
    app.grant(&world, alice.id, in_an_hour().await).await;
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(&world, alice.id).await.remove(0);
    app.tg.join_by_link(alice.id, &link).await.unwrap();
    app.settle(&[world.bot.id]).await;
    // Her grant ended but the kick was lost; and someone joined while an update was lost.
    sqlx::query("UPDATE grants SET state = 'expired'").execute(&app.db.pool).await.unwrap();
    let ghost = app.started_user(&world, "Ghost").await;
    app.settle(&[world.bot.id]).await;
    app.tg
        .set_update_faults(world.bot.id, &gatehouse_sim::UpdateFaults { drop_next: 1, duplicate_next: 0 })
        .await
        .unwrap();
    app.tg.add_member(world.channel.id, ghost.id).await.unwrap();
    app.settle(&[world.bot.id]).await;

    app.enqueue(&Sweep { tick: app.clock.now() }).await;
    app.settle(&[world.bot.id]).await;

    let alice_now = status(&app, &world, alice.id).await;
    assert!(matches!(alice_now, MemberStatus::Left), "{alice_now:?}");
    let unknown: Option<i32> =
        sqlx::query_scalar("SELECT unknown_members FROM chats").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(unknown, Some(1), "the ghost is reported");
}

#[tokio::test]
async fn the_scheduler_runs_the_expiry_scan_by_itself() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = app.started_user(&world, "Alice").await;
    app.grant(&world, alice.id, json!((chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339())).await;
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(&world, alice.id).await.remove(0);
    app.tg.join_by_link(alice.id, &link).await.unwrap();
    gatehouse_tests::wait_until(Duration::from_secs(75), "the minute tick to remove Alice", || async {
        matches!(status(&app, &world, alice.id).await, MemberStatus::Left)
    })
    .await;
}

/// The SQL definition of entitlement (`gatehouse_entitles`, `gatehouse_entitling_state`)
/// and the state machine's (`State::entitles`) agree for every state the database
/// allows, every kind of end and both standings of a subscriber.
#[tokio::test]
async fn the_sql_entitlement_functions_agree_with_the_subscription_state_machine() {
    use gatehouse_jobs::payments::subscription::State;

    let db = gatehouse_tests::TestDb::new().await;
    // The states `grants.state` may hold, from its CHECK constraint: every one is a
    // state of the machine, and every state of the machine is allowed.
    let check: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'grants'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%state%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let stored: Vec<&str> = check.split('\'').skip(1).step_by(2).collect();
    let mut allowed: Vec<State> = stored.iter().map(|s| State::parse(s).expect("a state of the machine")).collect();
    allowed.sort_by_key(|s| s.as_str());
    let mut all = State::ALL.to_vec();
    all.sort_by_key(|s| s.as_str());
    assert_eq!(allowed, all, "{check}");

    let now = chrono::Utc::now();
    let ends = [None, Some(now - chrono::Duration::seconds(1)), Some(now), Some(now + chrono::Duration::days(1))];
    for state in State::ALL {
        let sql: bool = sqlx::query_scalar("SELECT gatehouse_entitling_state($1)")
            .bind(state.as_str())
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(sql, state.entitles(), "gatehouse_entitling_state({state})");
        for ends_at in ends {
            for subscriber in ["active", "banned"] {
                let sql: bool = sqlx::query_scalar("SELECT gatehouse_entitles($1, $2, $3, $4)")
                    .bind(state.as_str())
                    .bind(ends_at)
                    .bind(subscriber)
                    .bind(now)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                let rust = state.entitles() && ends_at.is_none_or(|end| end > now) && subscriber == "active";
                assert_eq!(sql, rust, "gatehouse_entitles({state}, {ends_at:?}, {subscriber})");
            }
        }
    }
}

/// A cohort that ends at the same moment (one statement granted them all) is expired one
/// grant at a time by its id: each expiry reads its own row, not every grant with the same
/// end (which made a mass expiry of 10,000 such grants take 58 ms per grant).
#[tokio::test]
async fn expiring_one_grant_of_a_cohort_ending_together_reads_its_own_row_only() {
    use gatehouse_jobs::store::grants;
    use gatehouse_tests::{TestDb, audience::Audience, test_config};
    let db = TestDb::new().await;
    let audience = Audience::new(4242, 10_000, 3_000, 0, 0);
    audience.seed_db(&db.pool, &test_config(&db.url, &[])).await;
    let cohort: Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT id, ends_at FROM grants ORDER BY id").fetch_all(&db.pool).await.unwrap();
    assert_eq!(cohort.len(), 3_000);
    assert!(cohort.iter().all(|(_, end)| *end == cohort[0].1), "one end for the whole cohort");
    // Entries this backend read from the index of grants by end (read before and after:
    // the count is not reset between transactions until it is reported). Ten expiries on
    // one connection, as the scan makes them: after five, the statement runs on its
    // generic plan, which cannot see how many grants share the end.
    let fetched = "SELECT pg_stat_get_xact_tuples_returned('grants_ends_at_idx'::regclass)";
    let expired = &cohort[1_000..1_010];
    let mut tx = db.pool.begin().await.unwrap();
    let before: i64 = sqlx::query_scalar(fetched).fetch_one(&mut *tx).await.unwrap();
    for (id, ends_at) in expired {
        let event = grants::expire(&mut *tx, *id, *ends_at).await.unwrap();
        assert!(event.is_some(), "the grant is expired and its event returned");
    }
    let read = sqlx::query_scalar::<_, i64>(fetched).fetch_one(&mut *tx).await.unwrap() - before;
    tx.commit().await.unwrap();
    assert!(read < 100, "expiring 10 grants read {read} entries of the index of grants by end");
    let mut ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM grants WHERE state = 'expired' ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    ids.sort();
    assert_eq!(ids, expired.iter().map(|(id, _)| *id).collect::<Vec<_>>(), "those grants only");
    // The same end again finds it expired already: nothing to report twice.
    let mut conn = db.pool.acquire().await.unwrap();
    assert!(grants::expire(&mut *conn, expired[0].0, expired[0].1).await.unwrap().is_none());
}
