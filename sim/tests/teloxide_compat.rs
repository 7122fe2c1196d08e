//! A teloxide `Bot` pointed at the simulator calls every method Gatehouse uses and parses
//! every answer.

mod common;

use chrono::{TimeZone, Utc};
use common::world;
use gatehouse_sim::PayRequest;
use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, BotCommand, BotCommandScope, CallbackQueryId, ChatMemberKind, InlineKeyboardButton,
    InlineKeyboardMarkup, LabeledPrice, PreCheckoutQueryId, Recipient, Seconds, TelegramTransactionId, UpdateKind,
};

#[tokio::test]
async fn teloxide_calls_every_method_against_the_simulator() {
    let w = world().await;
    let bot = Bot::new(&w.bot.token).set_api_url(w.sim.base_url().parse().unwrap());
    let channel = ChatId(w.channel.id);
    let alice = UserId(w.alice.id as u64);
    let bob = UserId(w.bob.id as u64);

    // getMe
    let me = bot.get_me().await.unwrap();
    assert_eq!(me.username(), "gate_bot");

    // setWebhook (multipart), getWebhookInfo, deleteWebhook
    let mut hook = common::Hook::start().await;
    bot.set_webhook(hook.url.parse().unwrap())
        .secret_token("s3cret".to_string())
        .allowed_updates(vec![
            AllowedUpdate::Message,
            AllowedUpdate::CallbackQuery,
            AllowedUpdate::PreCheckoutQuery,
            AllowedUpdate::ChatMember,
        ])
        .max_connections(10)
        .drop_pending_updates(true)
        .await
        .unwrap();
    let info = bot.get_webhook_info().await.unwrap();
    assert_eq!(info.url.as_ref().map(|u| u.as_str()), Some(hook.url.as_str()));
    assert_eq!(info.max_connections, Some(10));

    // setMyCommands with a scope
    bot.set_my_commands(vec![BotCommand::new("start", "Start"), BotCommand::new("status", "Your membership")])
        .scope(BotCommandScope::AllPrivateChats)
        .await
        .unwrap();

    // sendMessage with an inline keyboard, editMessageText, answerCallbackQuery
    w.client.send_text(w.alice.id, w.bot.id, "/start sub_42").await.unwrap();
    hook.next_of("message").await;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback("Monthly", "plan:m")]]);
    let sent = bot.send_message(ChatId(w.alice.id), "Pick a plan").reply_markup(keyboard.clone()).await.unwrap();
    let edited =
        bot.edit_message_text(ChatId(w.alice.id), sent.id, "Pick a plan, please").reply_markup(keyboard).await.unwrap();
    assert_eq!(edited.text(), Some("Pick a plan, please"));
    let qid = w.client.press_button(w.alice.id, w.bot.id, sent.id.0 as i64, "plan:m").await.unwrap();
    hook.next_of("callback_query").await;
    bot.answer_callback_query(CallbackQueryId(qid)).text("Noted").await.unwrap();

    // getChat, getChatMember, getChatMemberCount, getChatAdministrators
    let chat = bot.get_chat(channel).await.unwrap();
    assert_eq!(chat.title(), Some("Paid channel"));
    let owner = bot.get_chat_member(channel, UserId(w.owner.id as u64)).await.unwrap();
    assert!(matches!(owner.kind, ChatMemberKind::Owner(_)));
    let me_in_chat = bot.get_chat_member(channel, me.id).await.unwrap();
    assert!(matches!(&me_in_chat.kind, ChatMemberKind::Administrator(a) if a.can_invite_users));
    let private = bot.get_chat(ChatId(w.alice.id)).await.unwrap();
    assert!(private.is_private());

    // createChatInviteLink, editChatInviteLink, revokeChatInviteLink
    let expire = Utc.timestamp_opt(w.client.now().await.unwrap() + 3_600, 0).unwrap();
    let link =
        bot.create_chat_invite_link(channel).name("vip".to_string()).member_limit(1).expire_date(expire).await.unwrap();
    assert_eq!(link.member_limit, Some(1));
    let edited_link = bot.edit_chat_invite_link(channel, link.invite_link.clone()).expire_date(expire).await.unwrap();
    assert_eq!(edited_link.member_limit, None);
    w.client.join_by_link(w.alice.id, &link.invite_link).await.unwrap();
    let joined = hook.next_of("chat_member").await;
    assert_eq!(joined["chat_member"]["invite_link"]["invite_link"], link.invite_link.as_str());
    let parsed: Update = serde_json::from_str(&joined.to_string()).unwrap();
    assert!(matches!(parsed.kind, UpdateKind::ChatMember(_)), "{:?}", parsed.kind);
    assert_eq!(bot.get_chat_member_count(channel).await.unwrap(), 3);
    let admins = bot.get_chat_administrators(channel).await.unwrap();
    assert_eq!(admins.len(), 2);
    let revoked = bot.revoke_chat_invite_link(channel, link.invite_link.clone()).await.unwrap();
    assert!(revoked.is_revoked);

    // banChatMember, getChatMember (kicked), unbanChatMember
    let until = Utc.timestamp_opt(w.client.now().await.unwrap() + 86_400, 0).unwrap();
    bot.ban_chat_member(channel, alice).until_date(until).await.unwrap();
    let banned = bot.get_chat_member(channel, alice).await.unwrap();
    assert!(banned.kind.is_banned());
    bot.unban_chat_member(channel, alice).only_if_banned(true).await.unwrap();
    assert!(bot.get_chat_member(channel, alice).await.unwrap().kind.is_left());

    // approveChatJoinRequest, declineChatJoinRequest
    w.client.request_join(w.alice.id, w.channel.id).await.unwrap();
    w.client.request_join(w.bob.id, w.channel.id).await.unwrap();
    bot.approve_chat_join_request(channel, alice).await.unwrap();
    bot.decline_chat_join_request(channel, bob).await.unwrap();
    assert!(bot.get_chat_member(channel, alice).await.unwrap().kind.is_member());

    // sendInvoice, answerPreCheckoutQuery, createInvoiceLink (subscription)
    let invoice = bot
        .send_invoice(
            Recipient::Id(ChatId(w.alice.id)),
            "Monthly",
            "30 days of access",
            "plan-m",
            "XTR",
            vec![LabeledPrice::new("Access", 250)],
        )
        .await
        .unwrap();
    assert_eq!(invoice.invoice().map(|i| i.total_amount), Some(250));
    let sub_link = bot
        .create_invoice_link("Club", "Monthly club", "sub-1", "XTR", vec![LabeledPrice::new("Month", 100)])
        .subscription_period(Seconds::from_seconds(2_592_000))
        .await
        .unwrap();
    assert!(sub_link.starts_with("https://t.me/$"));
    let pay = w
        .client
        .pay(w.alice.id, PayRequest { bot_id: w.bot.id, message_id: None, invoice_link: Some(sub_link.clone()) });
    let answer = async {
        let q = hook.next_of("pre_checkout_query").await;
        let id = q["pre_checkout_query"]["id"].as_str().unwrap().to_string();
        bot.answer_pre_checkout_query(PreCheckoutQueryId(id), true).await.unwrap();
    };
    let (payment, ()) = tokio::join!(pay, answer);
    let payment = payment.unwrap();
    let paid: Update = serde_json::from_str(&hook.next_of("message").await.to_string()).unwrap();
    let UpdateKind::Message(paid) = &paid.kind else { panic!("not a message: {:?}", paid.kind) };
    let sp = paid.successful_payment().unwrap();
    assert_eq!(sp.telegram_payment_charge_id.0, payment.telegram_payment_charge_id);
    assert!(sp.is_recurring);

    // editUserStarSubscription, refundStarPayment
    let charge = TelegramTransactionId(payment.telegram_payment_charge_id.clone());
    bot.edit_user_star_subscription(alice, charge.clone(), true).await.unwrap();
    bot.refund_star_payment(alice, charge).await.unwrap();

    // deleteWebhook
    bot.delete_webhook().await.unwrap();
    assert!(bot.get_webhook_info().await.unwrap().url.is_none());

    // Errors parse into teloxide's error kinds.
    let err = bot.ban_chat_member(channel, UserId(w.owner.id as u64)).await.unwrap_err();
    assert!(matches!(err, teloxide::RequestError::Api(_)), "{err:?}");
    let calls = w.client.calls_of("setWebhook").await.unwrap();
    assert!(calls[0].params.get("secret_token").is_some());
}

#[tokio::test]
async fn a_429_reaches_teloxide_as_retry_after() {
    let w = world().await;
    w.client
        .add_fault(&gatehouse_sim::Fault {
            method: Some("getChatMember".into()),
            error_code: Some(429),
            retry_after: Some(3),
            times: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let bot = Bot::new(&w.bot.token).set_api_url(w.sim.base_url().parse().unwrap());

    let err = bot.get_chat_member(ChatId(w.channel.id), UserId(w.alice.id as u64)).await.unwrap_err();

    match err {
        teloxide::RequestError::RetryAfter(s) => assert_eq!(s.seconds(), 3),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
}
