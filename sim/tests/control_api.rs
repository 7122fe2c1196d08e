//! Control API: call log filters, counters, reset to the seed world.

mod common;

use gatehouse_sim::{CallFilter, Seed, Sim, SimConfig};
use serde_json::json;

const SEED: &str = r#"{
  "bots": [{ "id": 7000000001, "token": "7000000001:TESTTOKEN", "username": "gate_bot" }],
  "users": [{ "id": 501, "first_name": "Alice" }, { "id": 502, "first_name": "Owner" }],
  "chats": [{
    "id": -1001000000001, "type": "channel", "title": "Paid channel", "creator_id": 502,
    "members": [
      { "user_id": 7000000001, "status": "administrator",
        "rights": { "can_manage_chat": true, "can_invite_users": true, "can_restrict_members": true } },
      { "user_id": 501, "status": "member" }
    ]
  }],
  "started": [{ "user_id": 501, "bot_id": 7000000001 }]
}"#;

#[tokio::test]
async fn the_seed_world_is_served_and_restored_by_reset() {
    let sim = Sim::start(SimConfig {
        seed: Some(Seed::parse(SEED).unwrap()),
        rate_limits_enabled: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client();
    let http = reqwest::Client::new();
    let token = "7000000001:TESTTOKEN";

    let (_, sent) =
        common::call(&http, sim.base_url(), token, "sendMessage", json!({ "chat_id": 501, "text": "hi" })).await;
    common::call(
        &http,
        sim.base_url(),
        token,
        "banChatMember",
        json!({ "chat_id": -1001000000001i64, "user_id": 501 }),
    )
    .await;
    let before = client.chat(-1001000000001).await.unwrap();
    let pending = client.webhook_state(7000000001).await.unwrap().pending;
    client.reset().await.unwrap();
    let after = client.chat(-1001000000001).await.unwrap();

    assert_eq!(sent["ok"], true);
    assert_eq!(before.banned.len(), 1);
    assert_eq!(pending, 0, "seeding makes no updates");
    assert_eq!(after.member_count, 3);
    assert!(after.banned.is_empty());
    assert!(client.calls(&CallFilter::default()).await.unwrap().is_empty());
    assert_eq!(client.counters().await.unwrap().calls, 0);
}

#[tokio::test]
async fn the_call_log_filters_by_method_bot_chat_and_time() {
    let w = common::world().await;
    let other = w.client.create_channel("Other").await.unwrap();
    w.client.add_admin(other.id, w.bot.id, gatehouse_sim::AdminRights::membership_bot()).await.unwrap();
    let start = w.client.calls(&CallFilter::default()).await.unwrap().len();
    assert_eq!(start, 0);

    w.ok("getChatMemberCount", json!({ "chat_id": w.channel.id })).await;
    w.ok("getChatMemberCount", json!({ "chat_id": other.id })).await;
    w.err("banChatMember", json!({ "chat_id": w.channel.id, "user_id": w.owner.id })).await;
    let all = w.client.calls(&CallFilter::default()).await.unwrap();

    let in_channel =
        w.client.calls(&CallFilter { chat: Some(w.channel.id.to_string()), ..CallFilter::default() }).await.unwrap();
    let bans = w.client.calls_of("BANCHATMEMBER").await.unwrap();
    let after_first = w
        .client
        .calls(&CallFilter { after_seq: Some(all[0].seq), bot: Some(w.bot.id), ..CallFilter::default() })
        .await
        .unwrap();
    let since = w.client.calls(&CallFilter { since: Some(all[2].time_ms), ..CallFilter::default() }).await.unwrap();
    let counters = w.client.counters().await.unwrap();

    assert_eq!(in_channel.len(), 2);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].status, 400);
    assert_eq!(bans[0].response["description"], "Bad Request: can't remove chat owner");
    assert_eq!(after_first.len(), 2);
    assert!(since.iter().any(|c| c.method == "banChatMember"));
    assert_eq!(counters.calls_per_method["getChatMemberCount"], 2);
    assert_eq!(counters.per_bot[&w.bot.id].calls, 3);
}
