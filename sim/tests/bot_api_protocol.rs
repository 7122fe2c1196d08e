//! The Bot API transport: envelopes, status codes, tokens, method names, parameter encodings.

mod common;

use common::world;
use serde_json::{Value, json};

#[tokio::test]
async fn an_unknown_token_is_401_unauthorized() {
    let w = world().await;

    let resp = w.http.get(format!("{}/bot123:nope/getMe", w.sim.base_url())).send().await.unwrap();

    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "ok": false, "error_code": 401, "description": "Unauthorized" }));
}

#[tokio::test]
async fn an_unknown_method_is_404_not_found() {
    let w = world().await;

    let (status, body) = w.api("sendTelepathy", json!({})).await;

    assert_eq!(status, 404);
    assert_eq!(body["description"], "Not Found");
}

#[tokio::test]
async fn method_names_are_case_insensitive() {
    let w = world().await;

    let (status, body) = w.api("GetMe", json!({})).await;

    assert_eq!(status, 200);
    assert_eq!(body["result"]["username"], "gate_bot");
    let calls = w.client.calls_of("getMe").await.unwrap();
    assert_eq!(calls.len(), 1);
}

#[tokio::test]
async fn get_me_carries_every_field_teloxide_requires() {
    let w = world().await;

    let me = w.ok("getMe", json!({})).await;

    for field in [
        "id",
        "is_bot",
        "first_name",
        "username",
        "can_join_groups",
        "can_read_all_group_messages",
        "supports_inline_queries",
        "has_main_web_app",
    ] {
        assert!(me.get(field).is_some(), "{field} missing");
    }
}

#[tokio::test]
async fn query_form_multipart_and_json_parameters_are_all_understood() {
    let w = world().await;
    let base = format!("{}/bot{}/getChatMember", w.sim.base_url(), w.bot.token);
    let chat = w.channel.id.to_string();
    let user = w.owner.id.to_string();

    let by_query = w.http.get(format!("{base}?chat_id={chat}&user_id={user}")).send().await.unwrap();
    let by_form = w
        .http
        .post(&base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("chat_id={chat}&user_id={user}"))
        .send()
        .await
        .unwrap();
    let boundary = "XyZ";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n{chat}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"user_id\"\r\n\r\n{user}\r\n--{boundary}--\r\n"
    );
    let by_multipart = w
        .http
        .post(&base)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(multipart)
        .send()
        .await
        .unwrap();
    let by_json =
        w.http.post(&base).json(&json!({ "chat_id": w.channel.id, "user_id": w.owner.id })).send().await.unwrap();

    for resp in [by_query, by_form, by_multipart, by_json] {
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["result"]["status"], "creator", "{body}");
    }
}

#[tokio::test]
async fn nested_objects_in_form_bodies_arrive_as_json_strings() {
    let w = world().await;
    w.client.send_text(w.alice.id, w.bot.id, "/start").await.unwrap();
    let markup = r#"{"inline_keyboard":[[{"text":"Buy","callback_data":"buy:1"}]]}"#;

    let resp = w
        .http
        .post(format!("{}/bot{}/sendMessage", w.sim.base_url(), w.bot.token))
        .form(&[
            ("chat_id", w.alice.id.to_string()),
            ("text", "Pick a plan".to_string()),
            ("reply_markup", markup.to_string()),
        ])
        .send()
        .await
        .unwrap();

    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "buy:1");
    let received = w.client.messages_to(w.alice.id, w.bot.id).await.unwrap();
    assert_eq!(received.len(), 1);
    assert!(received[0].reply_markup.is_some());
}

#[tokio::test]
async fn a_public_chat_can_be_addressed_by_username() {
    let w = world().await;
    let public = w
        .client
        .create_chat(gatehouse_sim::ChatInfo {
            id: 0,
            kind: gatehouse_sim::ChatKind::Supergroup,
            title: "Open group".into(),
            username: Some("opengroup".into()),
            join_by_request: false,
            description: None,
            creator_id: None,
        })
        .await
        .unwrap();

    let chat = w.ok("getChat", json!({ "chat_id": "@opengroup" })).await;

    assert_eq!(chat["id"], public.id);
    assert_eq!(chat["type"], "supergroup");
}
