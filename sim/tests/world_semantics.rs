//! Bot API world semantics (invite links, bans, rights, counts, administrators).

mod common;

use common::world;
use gatehouse_sim::{AdminRights, MemberStatus};
use serde_json::json;

#[tokio::test]
async fn a_slot_reopens_when_the_joiner_leaves() {
    let w = world().await;
    let link = w.create_link(json!({ "member_limit": 1 })).await;

    w.client.join_by_link(w.alice.id, &link).await.unwrap();
    let refused = w.client.join_by_link(w.bob.id, &link).await.unwrap_err();
    assert_eq!(refused.code(), Some("LINK_MEMBER_LIMIT_REACHED"));

    w.client.leave(w.alice.id, w.channel.id).await.unwrap();
    let joined = w.client.join_by_link(w.bob.id, &link).await.unwrap();

    assert_eq!(joined.outcome, "joined");
    let usage = w.client.link(&link).await.unwrap();
    assert_eq!((usage.members_now, usage.joins_total), (1, 2));
}

#[tokio::test]
async fn a_slot_reopens_when_the_joiner_is_removed() {
    let w = world().await;
    let link = w.create_link(json!({ "member_limit": 1 })).await;
    w.client.join_by_link(w.alice.id, &link).await.unwrap();

    w.ok("unbanChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;

    assert_eq!(w.client.join_by_link(w.bob.id, &link).await.unwrap().outcome, "joined");
}

#[tokio::test]
async fn a_join_request_link_cannot_have_a_member_limit() {
    let w = world().await;

    let (status, description) = w
        .err(
            "createChatInviteLink",
            json!({ "chat_id": w.channel.id, "creates_join_request": true, "member_limit": 5 }),
        )
        .await;

    assert_eq!(status, 400);
    assert_eq!(description, "Bad Request: member_limit can't be specified for links requiring administrator approval");
}

#[tokio::test]
async fn an_expired_link_cannot_be_used() {
    let w = world().await;
    let now = w.client.now().await.unwrap();
    let link = w.create_link(json!({ "expire_date": now + 60 })).await;

    w.client.advance_clock(61).await.unwrap();
    let refused = w.client.join_by_link(w.alice.id, &link).await.unwrap_err();

    assert_eq!(refused.code(), Some("LINK_EXPIRED"));
    assert_eq!(w.status_of(w.alice.id).await, "left");
}

#[tokio::test]
async fn a_revoked_link_cannot_be_used() {
    let w = world().await;
    let link = w.create_link(json!({})).await;

    let revoked = w.ok("revokeChatInviteLink", json!({ "chat_id": w.channel.id, "invite_link": link })).await;
    let refused = w.client.join_by_link(w.alice.id, &link).await.unwrap_err();

    assert_eq!(revoked["is_revoked"], true);
    assert_eq!(refused.code(), Some("LINK_REVOKED"));
}

#[tokio::test]
async fn a_banned_user_cannot_join_until_unbanned() {
    let w = world().await;
    let link = w.create_link(json!({})).await;
    w.ok("banChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;

    let refused = w.client.join_by_link(w.alice.id, &link).await.unwrap_err();
    assert_eq!(refused.code(), Some("USER_BANNED"));

    w.ok("unbanChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id, "only_if_banned": true })).await;
    assert_eq!(w.client.join_by_link(w.alice.id, &link).await.unwrap().outcome, "joined");
}

#[tokio::test]
async fn unban_without_only_if_banned_removes_a_current_member() {
    let w = world().await;
    w.client.add_member(w.channel.id, w.alice.id).await.unwrap();

    w.ok("unbanChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;

    assert_eq!(w.status_of(w.alice.id).await, "left");
    // Removed, not banned: free to rejoin.
    let link = w.create_link(json!({})).await;
    assert_eq!(w.client.join_by_link(w.alice.id, &link).await.unwrap().outcome, "joined");
}

#[tokio::test]
async fn unban_with_only_if_banned_leaves_a_member_in_place_and_lifts_a_ban() {
    let w = world().await;
    w.client.add_member(w.channel.id, w.alice.id).await.unwrap();
    w.ok("banChatMember", json!({ "chat_id": w.channel.id, "user_id": w.bob.id })).await;

    for user in [w.alice.id, w.bob.id] {
        w.ok("unbanChatMember", json!({ "chat_id": w.channel.id, "user_id": user, "only_if_banned": true })).await;
    }

    assert_eq!(w.status_of(w.alice.id).await, "member");
    assert_eq!(w.status_of(w.bob.id).await, "left");
}

#[tokio::test]
async fn a_ban_shorter_than_30_seconds_or_longer_than_366_days_is_permanent() {
    let w = world().await;
    let now = w.client.now().await.unwrap();

    for (user, until) in [(w.alice.id, now + 29), (w.bob.id, now + 367 * 86_400)] {
        w.ok("banChatMember", json!({ "chat_id": w.channel.id, "user_id": user, "until_date": until })).await;
        let m = w.ok("getChatMember", json!({ "chat_id": w.channel.id, "user_id": user })).await;
        assert_eq!(m["status"], "kicked");
        assert_eq!(m["until_date"], 0);
    }
    w.client.advance_clock(400 * 86_400).await.unwrap();
    assert_eq!(w.status_of(w.alice.id).await, "kicked");
    assert_eq!(w.status_of(w.bob.id).await, "kicked");
}

#[tokio::test]
async fn a_ban_within_range_lifts_at_until_date() {
    let w = world().await;
    let now = w.client.now().await.unwrap();
    let until = now + 3_600;
    w.ok("banChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id, "until_date": until })).await;

    let during = w.ok("getChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;
    w.client.advance_clock(3_601).await.unwrap();

    assert_eq!(during["until_date"], until);
    assert_eq!(w.status_of(w.alice.id).await, "left");
}

#[tokio::test]
async fn an_administrator_cannot_be_banned() {
    let w = world().await;
    w.client.add_admin(w.channel.id, w.alice.id, AdminRights::default()).await.unwrap();

    let (status, description) = w.err("banChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;

    assert_eq!(status, 400);
    assert_eq!(description, "Bad Request: user is an administrator of the chat");
}

#[tokio::test]
async fn neither_an_administrator_nor_the_owner_can_be_removed_by_an_unban() {
    let w = world().await;
    w.client.add_admin(w.channel.id, w.alice.id, AdminRights::default()).await.unwrap();

    let admin = w.err("unbanChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;
    let owner = w.err("unbanChatMember", json!({ "chat_id": w.channel.id, "user_id": w.owner.id })).await;
    for user in [w.alice.id, w.owner.id] {
        w.ok("unbanChatMember", json!({ "chat_id": w.channel.id, "user_id": user, "only_if_banned": true })).await;
    }

    assert_eq!(admin, (400, "Bad Request: user is an administrator of the chat".to_string()));
    assert_eq!(owner, (400, "Bad Request: can't remove chat owner".to_string()));
    assert_eq!(w.status_of(w.alice.id).await, "administrator");
    assert_eq!(w.status_of(w.owner.id).await, "creator");
}

#[tokio::test]
async fn a_bot_without_invite_rights_cannot_manage_links() {
    let w = world().await;
    let rights = AdminRights { can_invite_users: false, ..AdminRights::membership_bot() };
    let link = w.create_link(json!({})).await;
    w.client.add_admin(w.channel.id, w.bot.id, rights).await.unwrap();

    for (method, params) in [
        ("createChatInviteLink", json!({ "chat_id": w.channel.id })),
        ("revokeChatInviteLink", json!({ "chat_id": w.channel.id, "invite_link": link })),
    ] {
        let (status, description) = w.err(method, params).await;
        assert_eq!(status, 400);
        assert_eq!(description, "Bad Request: not enough rights to manage chat invite link");
    }
}

#[tokio::test]
async fn a_bot_without_restrict_rights_cannot_ban_or_unban() {
    let w = world().await;
    let rights = AdminRights { can_restrict_members: false, ..AdminRights::membership_bot() };
    w.client.add_admin(w.channel.id, w.bot.id, rights).await.unwrap();

    for method in ["banChatMember", "unbanChatMember"] {
        let (status, description) = w.err(method, json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;
        assert_eq!(status, 400);
        assert_eq!(description, "Bad Request: not enough rights to restrict/unrestrict chat member");
    }
}

#[tokio::test]
async fn a_bot_that_is_not_in_a_private_chat_gets_chat_not_found() {
    let w = world().await;
    w.client.set_member(w.channel.id, w.bot.id, MemberStatus::Left).await.unwrap();

    let (status, description) = w.err("getChatMember", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;

    assert_eq!((status, description.as_str()), (400, "Bad Request: chat not found"));
}

#[tokio::test]
async fn get_chat_member_count_matches_the_world() {
    let w = world().await;
    let link = w.create_link(json!({})).await;
    w.client.join_by_link(w.alice.id, &link).await.unwrap();
    w.client.join_by_link(w.bob.id, &link).await.unwrap();
    w.ok("banChatMember", json!({ "chat_id": w.channel.id, "user_id": w.bob.id })).await;

    let count = w.ok("getChatMemberCount", json!({ "chat_id": w.channel.id })).await;

    let state = w.client.chat(w.channel.id).await.unwrap();
    // Owner, bot and Alice.
    assert_eq!(count, 3);
    assert_eq!(state.member_count, 3);
    assert_eq!(state.members.len(), 3);
    assert_eq!(state.banned.len(), 1);
}

#[tokio::test]
async fn get_chat_administrators_omits_other_bots_but_lists_the_caller() {
    let w = world().await;
    let other = w.client.create_bot_named("other_bot").await.unwrap();
    w.client.add_admin(w.channel.id, other.id, AdminRights::all()).await.unwrap();
    w.client.add_admin(w.channel.id, w.alice.id, AdminRights::default()).await.unwrap();

    let admins = w.ok("getChatAdministrators", json!({ "chat_id": w.channel.id })).await;

    let mut ids: Vec<i64> = admins.as_array().unwrap().iter().map(|a| a["user"]["id"].as_i64().unwrap()).collect();
    ids.sort();
    let mut want = vec![w.owner.id, w.alice.id, w.bot.id];
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn editing_a_link_clears_every_field_left_out() {
    let w = world().await;
    let now = w.client.now().await.unwrap();
    let link = w.create_link(json!({ "name": "vip", "member_limit": 1, "expire_date": now + 600 })).await;

    let edited = w
        .ok("editChatInviteLink", json!({ "chat_id": w.channel.id, "invite_link": link, "expire_date": now + 1200 }))
        .await;

    assert_eq!(edited["expire_date"], now + 1200);
    assert!(edited.get("member_limit").is_none(), "{edited}");
    assert!(edited.get("name").is_none(), "{edited}");
    let usage = w.client.link(&link).await.unwrap();
    assert_eq!(usage.member_limit, None);
}

#[tokio::test]
async fn zero_and_empty_mean_none_and_are_omitted_from_the_link() {
    let w = world().await;

    let created = w
        .ok("createChatInviteLink", json!({ "chat_id": w.channel.id, "name": "", "member_limit": 0, "expire_date": 0 }))
        .await;

    let obj = created.as_object().unwrap();
    for field in ["name", "member_limit", "expire_date"] {
        assert!(!obj.contains_key(field), "{field} present in {created}");
    }
    assert_eq!(created["creator"]["id"], w.bot.id);
    assert_eq!(created["is_primary"], false);
    assert_eq!(created["creates_join_request"], false);
}

#[tokio::test]
async fn link_names_over_32_chars_and_limits_outside_1_to_99999_are_refused() {
    let w = world().await;

    let long_name = "x".repeat(33);
    let (s1, _) = w.err("createChatInviteLink", json!({ "chat_id": w.channel.id, "name": long_name })).await;
    let (s2, _) = w.err("createChatInviteLink", json!({ "chat_id": w.channel.id, "member_limit": 100_000 })).await;
    let ok = w
        .ok("createChatInviteLink", json!({ "chat_id": w.channel.id, "name": "x".repeat(32), "member_limit": 99_999 }))
        .await;

    assert_eq!((s1, s2), (400, 400));
    assert_eq!(ok["member_limit"], 99_999);
}

#[tokio::test]
async fn sending_to_a_user_who_blocked_the_bot_is_forbidden() {
    let w = world().await;
    w.client.send_text(w.alice.id, w.bot.id, "/start").await.unwrap();
    w.ok("sendMessage", json!({ "chat_id": w.alice.id, "text": "hello" })).await;

    w.client.block(w.alice.id, w.bot.id).await.unwrap();
    let (status, description) = w.err("sendMessage", json!({ "chat_id": w.alice.id, "text": "hello again" })).await;

    assert_eq!((status, description.as_str()), (403, "Forbidden: bot was blocked by the user"));
}

#[tokio::test]
async fn a_bot_cannot_message_a_user_who_never_started_it() {
    let w = world().await;

    let (status, description) = w.err("sendMessage", json!({ "chat_id": w.alice.id, "text": "hi" })).await;

    assert_eq!((status, description.as_str()), (403, "Forbidden: bot can't initiate conversation with a user"));
}

#[tokio::test]
async fn an_unknown_chat_is_chat_not_found() {
    let w = world().await;

    let (status, description) = w.err("getChat", json!({ "chat_id": -100_999 })).await;

    assert_eq!((status, description.as_str()), (400, "Bad Request: chat not found"));
}

#[tokio::test]
async fn a_join_request_link_queues_requests_until_approved() {
    let w = world().await;
    let link = w.create_link(json!({ "creates_join_request": true })).await;

    let outcome = w.client.join_by_link(w.alice.id, &link).await.unwrap();
    let pending = w.client.link(&link).await.unwrap().pending_join_requests;
    w.ok("approveChatJoinRequest", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;
    let (_, again) = w.err("declineChatJoinRequest", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;

    assert_eq!(outcome.outcome, "requested");
    assert_eq!(pending, 1);
    assert_eq!(w.status_of(w.alice.id).await, "member");
    assert_eq!(again, "Bad Request: HIDE_REQUESTER_MISSING");
}
