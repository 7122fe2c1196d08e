//! An independent client library against the simulator: python-telegram-bot (pinned in
//! `.ci/run`) calls every method Gatehouse uses, meets its errors and parses the updates
//! Gatehouse receives. A field the library needs and the simulator leaves out is found
//! here. A missing library or Python fails the test; it is never skipped.

use std::time::Duration;

use gatehouse_sim::{AdminRights, ChatInfo, ChatKind, MemberStatus, Sim, SimConfig};
use serde_json::json;

#[tokio::test]
async fn python_telegram_bot_parses_every_call_error_and_update_of_the_simulator() {
    let sim = Sim::start(SimConfig { rate_limits_enabled: false, ..SimConfig::default() }).await.expect("simulator");
    let tg = sim.client();
    let bot = tg.create_bot_named("conformance_bot").await.unwrap();
    // allowed_updates first: the simulator filters updates as it makes them.
    let allowed = json!(["message", "chat_member", "my_chat_member", "chat_join_request"]).to_string();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/bot{}/getUpdates", sim.base_url(), bot.token))
        .json(&json!({"allowed_updates": serde_json::from_str::<serde_json::Value>(&allowed).unwrap(), "timeout": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    let owner = tg.create_user_named("Owner").await.unwrap();
    let member = tg.create_user_named("Member").await.unwrap();
    let restricted = tg.create_user_named("Restricted").await.unwrap();
    let requester = tg.create_user_named("Requester").await.unwrap();
    let stranger = tg.create_user_named("Stranger").await.unwrap();
    tg.send_text(owner.id, bot.id, "/start").await.unwrap();
    // A photo with a caption, as the support relay receives them.
    let photo = gatehouse_sim::UserMessage { photo: true, caption: Some("a photo".into()), ..Default::default() };
    tg.send_message(owner.id, bot.id, &photo).await.unwrap();
    let mut chats = Vec::new();
    for (kind, title) in [(ChatKind::Supergroup, "Group"), (ChatKind::Channel, "Channel")] {
        let chat = tg
            .create_chat(ChatInfo {
                id: 0,
                kind,
                title: title.into(),
                username: None,
                join_by_request: false,
                description: None,
                creator_id: Some(owner.id),
            })
            .await
            .unwrap();
        // The bot's own promotion (my_chat_member), then a member joining (chat_member).
        tg.add_admin(chat.id, bot.id, AdminRights::all()).await.unwrap();
        tg.add_member(chat.id, member.id).await.unwrap();
        chats.push(chat);
    }
    let (group, channel) = (&chats[0], &chats[1]);
    tg.set_member(group.id, restricted.id, MemberStatus::Restricted { is_member: true, until_date: 0 }).await.unwrap();
    tg.request_join(requester.id, group.id).await.unwrap();

    let env = json!({
        "sim": sim.base_url().trim_end_matches('/'),
        "token": bot.token,
        "group": group.id,
        "channel": channel.id,
        "owner": owner.id,
        "member": member.id,
        "restricted": restricted.id,
        "requester": requester.id,
        "stranger": stranger.id,
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/ptb_against_sim.py");
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .env("GATEHOUSE_CONFORMANCE", env.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the conformance script finished within 120 s")
        .expect("python3 runs (install it, and python-telegram-bot, as .ci/run does)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "the library found gaps:\n{stdout}\n{stderr}");
    assert!(stdout.contains("0 gaps"), "{stdout}");
}
