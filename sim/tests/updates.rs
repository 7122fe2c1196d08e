//! Update generation and webhook delivery.

mod common;

use std::time::Duration;

use common::world;
use gatehouse_sim::{AdminRights, MemberStatus, PayRequest, UpdateFaults};
use serde_json::json;

#[tokio::test]
async fn updates_reach_the_webhook_with_the_secret_header_and_sequential_ids() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;

    w.client.send_text(w.alice.id, w.bot.id, "/start abc_123").await.unwrap();
    w.client.send_text(w.alice.id, w.bot.id, "hello").await.unwrap();
    let first = hook.next_request().await;
    let second = hook.next().await;

    assert_eq!(first.headers["x-telegram-bot-api-secret-token"], "s3cret");
    let a = first.body["update_id"].as_i64().unwrap();
    assert_eq!(second["update_id"].as_i64().unwrap(), a + 1);
    assert_eq!(first.body["message"]["text"], "/start abc_123");
    assert_eq!(first.body["message"]["entities"], json!([{ "type": "bot_command", "offset": 0, "length": 6 }]));
    assert_eq!(first.body["message"]["chat"]["type"], "private");
    assert_eq!(second["message"]["text"], "hello");
}

#[tokio::test]
async fn a_refused_update_is_retried_and_order_is_kept() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    hook.fail_next(2);

    w.client.send_text(w.alice.id, w.bot.id, "one").await.unwrap();
    w.client.send_text(w.alice.id, w.bot.id, "two").await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = hook.next_request().await;
        seen.push((r.body["message"]["text"].as_str().unwrap().to_string(), r.answered));
    }

    assert_eq!(
        seen,
        vec![("one".to_string(), 500), ("one".to_string(), 500), ("one".to_string(), 200), ("two".to_string(), 200),]
    );
    let state = w.client.webhook_state(w.bot.id).await.unwrap();
    assert_eq!(state.failed_attempts, 2);
}

#[tokio::test]
async fn chat_member_updates_need_allowed_updates_and_admin_rights() {
    let w = world().await;
    let link = w.create_link(json!({})).await;
    let mut hook = w.hook(json!({})).await;

    // Default allowed_updates: no chat_member.
    w.client.join_by_link(w.alice.id, &link).await.unwrap();
    hook.assert_quiet(&w.client, w.bot.id).await;

    w.ok(
        "setWebhook",
        json!({ "url": hook.url, "secret_token": "s3cret", "allowed_updates": ["chat_member", "message"] }),
    )
    .await;
    w.client.join_by_link(w.bob.id, &link).await.unwrap();
    let update = hook.next_of("chat_member").await;
    assert_eq!(update["chat_member"]["new_chat_member"]["user"]["id"], w.bob.id);
    assert_eq!(update["chat_member"]["old_chat_member"]["status"], "left");
    assert_eq!(update["chat_member"]["new_chat_member"]["status"], "member");
    assert_eq!(update["chat_member"]["invite_link"]["invite_link"], link.as_str());

    // Demoted to a plain member: no more chat_member updates.
    w.client.set_member(w.channel.id, w.bot.id, MemberStatus::Member { until_date: None }).await.unwrap();
    w.client.leave(w.bob.id, w.channel.id).await.unwrap();
    hook.assert_quiet(&w.client, w.bot.id).await;
}

#[tokio::test]
async fn allowed_updates_stay_in_force_when_set_webhook_omits_them() {
    let w = world().await;
    let mut hook = w.hook(json!({ "allowed_updates": ["chat_member"] })).await;

    w.ok("setWebhook", json!({ "url": hook.url, "secret_token": "s3cret" })).await;
    let info = w.ok("getWebhookInfo", json!({})).await;
    w.client.add_member(w.channel.id, w.alice.id).await.unwrap();
    w.client.send_text(w.alice.id, w.bot.id, "filtered out").await.unwrap();

    assert_eq!(info["allowed_updates"], json!(["chat_member"]));
    assert!(hook.next().await.get("chat_member").is_some());
    hook.assert_quiet(&w.client, w.bot.id).await;
}

#[tokio::test]
async fn my_chat_member_is_sent_when_the_bots_own_status_changes() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    let group = w.client.create_channel("Another").await.unwrap();

    w.client.add_admin(group.id, w.bot.id, AdminRights::membership_bot()).await.unwrap();
    let update = hook.next_of("my_chat_member").await;

    let m = &update["my_chat_member"];
    assert_eq!(m["chat"]["id"], group.id);
    assert_eq!(m["old_chat_member"]["status"], "left");
    assert_eq!(m["new_chat_member"]["status"], "administrator");
    assert_eq!(m["new_chat_member"]["can_invite_users"], true);
    assert_eq!(m["new_chat_member"]["user"]["id"], w.bot.id);
}

#[tokio::test]
async fn blocking_the_bot_sends_my_chat_member_kicked() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;

    w.client.send_text(w.alice.id, w.bot.id, "/start").await.unwrap();
    w.client.block(w.alice.id, w.bot.id).await.unwrap();
    let update = hook.next_of("my_chat_member").await;

    assert_eq!(update["my_chat_member"]["chat"]["type"], "private");
    assert_eq!(update["my_chat_member"]["new_chat_member"]["status"], "kicked");
}

#[tokio::test]
async fn a_join_request_sends_chat_join_request_and_approval_is_via_join_request() {
    let w = world().await;
    let mut hook = w.hook(json!({ "allowed_updates": ["chat_member", "chat_join_request"] })).await;

    w.client.request_join(w.alice.id, w.channel.id).await.unwrap();
    let request = hook.next_of("chat_join_request").await;
    w.ok("approveChatJoinRequest", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;
    let joined = hook.next_of("chat_member").await;

    assert_eq!(request["chat_join_request"]["from"]["id"], w.alice.id);
    assert_eq!(request["chat_join_request"]["user_chat_id"], w.alice.id);
    assert_eq!(joined["chat_member"]["via_join_request"], true);
    assert!(joined["chat_member"].get("invite_link").is_none());
}

#[tokio::test]
async fn an_approved_request_made_with_a_link_carries_the_link_instead() {
    let w = world().await;
    let link = w.create_link(json!({ "creates_join_request": true, "name": "approval" })).await;
    let mut hook = w.hook(json!({ "allowed_updates": ["chat_member", "chat_join_request"] })).await;

    w.client.join_by_link(w.alice.id, &link).await.unwrap();
    let request = hook.next_of("chat_join_request").await;
    w.ok("approveChatJoinRequest", json!({ "chat_id": w.channel.id, "user_id": w.alice.id })).await;
    let joined = hook.next_of("chat_member").await;

    assert_eq!(request["chat_join_request"]["invite_link"]["invite_link"], link.as_str());
    assert_eq!(joined["chat_member"]["invite_link"]["name"], "approval");
    assert!(joined["chat_member"].get("via_join_request").is_none());
}

#[tokio::test]
async fn pressing_an_inline_button_sends_a_callback_query() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    w.client.send_text(w.alice.id, w.bot.id, "/start").await.unwrap();
    hook.next_of("message").await;
    let sent = w
        .ok(
            "sendMessage",
            json!({
                "chat_id": w.alice.id,
                "text": "Choose",
                "reply_markup": { "inline_keyboard": [[{ "text": "Monthly", "callback_data": "plan:m" }]] },
            }),
        )
        .await;

    let qid =
        w.client.press_button(w.alice.id, w.bot.id, sent["message_id"].as_i64().unwrap(), "plan:m").await.unwrap();
    let update = hook.next_of("callback_query").await;
    w.ok("answerCallbackQuery", json!({ "callback_query_id": qid, "text": "ok" })).await;

    assert_eq!(update["callback_query"]["data"], "plan:m");
    assert_eq!(update["callback_query"]["message"]["text"], "Choose");
    assert_eq!(w.client.callback_answer(&qid).await.unwrap().unwrap()["text"], "ok");
    let missing =
        w.client.press_button(w.alice.id, w.bot.id, sent["message_id"].as_i64().unwrap(), "plan:y").await.unwrap_err();
    assert_eq!(missing.code(), Some("BUTTON_NOT_FOUND"));
}

#[tokio::test]
async fn an_approved_pre_checkout_leads_to_a_successful_payment() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    w.client.send_text(w.alice.id, w.bot.id, "/start").await.unwrap();
    hook.next_of("message").await;
    let invoice = w
        .ok(
            "sendInvoice",
            json!({
                "chat_id": w.alice.id, "title": "Monthly", "description": "30 days",
                "payload": "plan-1", "currency": "XTR", "prices": [{ "label": "Access", "amount": 250 }],
            }),
        )
        .await;

    let pay = w.client.pay(
        w.alice.id,
        PayRequest { bot_id: w.bot.id, message_id: invoice["message_id"].as_i64(), invoice_link: None },
    );
    let answer = async {
        let q = hook.next_of("pre_checkout_query").await;
        assert_eq!(q["pre_checkout_query"]["total_amount"], 250);
        assert_eq!(q["pre_checkout_query"]["invoice_payload"], "plan-1");
        w.ok("answerPreCheckoutQuery", json!({ "pre_checkout_query_id": q["pre_checkout_query"]["id"], "ok": true }))
            .await;
    };
    let (payment, ()) = tokio::join!(pay, answer);
    let payment = payment.unwrap();
    let message = hook.next_of("message").await;

    let sp = &message["message"]["successful_payment"];
    assert_eq!(sp["telegram_payment_charge_id"], payment.telegram_payment_charge_id.as_str());
    assert_eq!(sp["currency"], "XTR");
    assert_eq!(sp["total_amount"], 250);
}

#[tokio::test]
async fn a_payment_not_approved_in_time_fails() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    let link = w
        .ok(
            "createInvoiceLink",
            json!({ "title": "Monthly", "description": "30 days", "payload": "p", "currency": "XTR",
                    "prices": [{ "label": "Access", "amount": 100 }] }),
        )
        .await;

    let refused = w
        .client
        .pay(
            w.alice.id,
            PayRequest { bot_id: w.bot.id, message_id: None, invoice_link: link.as_str().map(str::to_string) },
        )
        .await
        .unwrap_err();
    let q = hook.next_of("pre_checkout_query").await;
    let (status, _) = w
        .err("answerPreCheckoutQuery", json!({ "pre_checkout_query_id": q["pre_checkout_query"]["id"], "ok": true }))
        .await;

    assert_eq!(refused.code(), Some("PRE_CHECKOUT_TIMEOUT"));
    assert_eq!(status, 400);
    assert!(w.client.payments().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_subscription_renewal_is_a_new_recurring_payment() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    let link = w
        .ok(
            "createInvoiceLink",
            json!({ "title": "Club", "description": "Monthly club", "payload": "sub-1", "currency": "XTR",
                    "prices": [{ "label": "Month", "amount": 100 }], "subscription_period": 2_592_000 }),
        )
        .await;
    let pay = w.client.pay(
        w.alice.id,
        PayRequest { bot_id: w.bot.id, message_id: None, invoice_link: link.as_str().map(str::to_string) },
    );
    let answer = async {
        let q = hook.next_of("pre_checkout_query").await;
        w.ok("answerPreCheckoutQuery", json!({ "pre_checkout_query_id": q["pre_checkout_query"]["id"], "ok": true }))
            .await;
    };
    let (first, ()) = tokio::join!(pay, answer);
    let first = first.unwrap();
    let first_msg = hook.next_of("message").await;

    let renewal = w.client.renew_subscription(&first.telegram_payment_charge_id).await.unwrap();
    let renewal_msg = hook.next_of("message").await;

    let a = &first_msg["message"]["successful_payment"];
    let b = &renewal_msg["message"]["successful_payment"];
    assert_eq!(a["is_first_recurring"], true);
    assert_eq!(b["is_recurring"], true);
    assert!(b.get("is_first_recurring").is_none());
    assert_ne!(renewal.telegram_payment_charge_id, first.telegram_payment_charge_id);
    assert_eq!(
        b["subscription_expiration_date"].as_i64().unwrap(),
        a["subscription_expiration_date"].as_i64().unwrap() + 2_592_000
    );

    w.ok(
        "editUserStarSubscription",
        json!({ "user_id": w.alice.id, "telegram_payment_charge_id": first.telegram_payment_charge_id, "is_canceled": true }),
    )
    .await;
    let refused = w.client.renew_subscription(&renewal.telegram_payment_charge_id).await.unwrap_err();
    assert_eq!(refused.code(), Some("SUBSCRIPTION_CANCELED"));
}

#[tokio::test]
async fn a_star_payment_can_be_refunded_once() {
    let w = world().await;
    let mut hook = w.hook(json!({})).await;
    let link = w
        .ok(
            "createInvoiceLink",
            json!({ "title": "Once", "description": "One-off", "payload": "x", "currency": "XTR",
                    "prices": [{ "label": "Item", "amount": 5 }] }),
        )
        .await;
    let pay = w.client.pay(
        w.alice.id,
        PayRequest { bot_id: w.bot.id, message_id: None, invoice_link: link.as_str().map(str::to_string) },
    );
    let answer = async {
        let q = hook.next_of("pre_checkout_query").await;
        w.ok("answerPreCheckoutQuery", json!({ "pre_checkout_query_id": q["pre_checkout_query"]["id"], "ok": true }))
            .await;
    };
    let (payment, ()) = tokio::join!(pay, answer);
    let charge = payment.unwrap().telegram_payment_charge_id;

    w.ok("refundStarPayment", json!({ "user_id": w.alice.id, "telegram_payment_charge_id": charge })).await;
    let (_, again) =
        w.err("refundStarPayment", json!({ "user_id": w.alice.id, "telegram_payment_charge_id": charge })).await;

    assert_eq!(again, "Bad Request: CHARGE_ALREADY_REFUNDED");
}

#[tokio::test]
async fn without_a_webhook_updates_wait_for_get_updates() {
    let w = world().await;
    w.client.send_text(w.alice.id, w.bot.id, "one").await.unwrap();
    w.client.send_text(w.alice.id, w.bot.id, "two").await.unwrap();

    let all = w.ok("getUpdates", json!({})).await;
    let last = all.as_array().unwrap().last().unwrap()["update_id"].as_i64().unwrap();
    let after = w.ok("getUpdates", json!({ "offset": last + 1 })).await;
    let hook = common::Hook::start().await;
    w.ok("setWebhook", json!({ "url": hook.url })).await;
    let (status, _) = w.err("getUpdates", json!({})).await;

    let texts: Vec<_> = all.as_array().unwrap().iter().filter_map(|u| u["message"]["text"].as_str()).collect();
    assert_eq!(texts, vec!["one", "two"]);
    assert_eq!(after, json!([]));
    assert_eq!(status, 409);
}

#[tokio::test]
async fn get_updates_long_polls_until_an_update_arrives() {
    let w = world().await;
    // Confirm what is pending (the bot's own promotion in the fixture).
    let pending = w.ok("getUpdates", json!({})).await;
    let next = pending.as_array().unwrap().last().unwrap()["update_id"].as_i64().unwrap() + 1;
    let poll = w.ok("getUpdates", json!({ "offset": next, "timeout": 5 }));
    let send = async {
        // Whether the poll is already waiting or not, the update must come back.
        tokio::time::sleep(Duration::from_millis(50)).await;
        w.client.send_text(w.alice.id, w.bot.id, "late").await.unwrap();
    };

    let (updates, ()) = tokio::join!(poll, send);

    assert_eq!(updates[0]["message"]["text"], "late");
}

#[tokio::test]
async fn update_faults_can_be_cleared() {
    let w = world().await;
    w.client.set_update_faults(w.bot.id, &UpdateFaults { drop_next: 5, duplicate_next: 0 }).await.unwrap();
    w.client.clear_faults().await.unwrap();
    let mut hook = w.hook(json!({})).await;

    w.client.send_text(w.alice.id, w.bot.id, "kept").await.unwrap();

    assert_eq!(hook.next().await["message"]["text"], "kept");
}
