//! `/broadcast` and the support relay, end to end against the simulator: what the owner
//! (or an admin) and subscribers send, what each receives (texts, formatting, buttons,
//! photos and documents), in English and Russian, and what a non-owner learns (nothing).

use gatehouse_sim::{Fault, MessageRecord, UserInfo, UserMessage};
use gatehouse_tests::app::{TestApp, World};
use serde_json::{Value, json};

struct Bot {
    app: TestApp,
    world: World,
}

async fn bot() -> Bot {
    let app = TestApp::start().await;
    let world = app.world().await;
    Bot { app, world }
}

impl Bot {
    /// A user who started the bot, in `language`.
    async fn user(&self, name: &str, language: Option<&str>) -> UserInfo {
        let user = self
            .app
            .tg
            .create_user(UserInfo {
                first_name: name.into(),
                language_code: language.map(str::to_string),
                ..UserInfo::default()
            })
            .await
            .unwrap();
        self.send(user.id, UserMessage { text: Some("/start".into()), ..UserMessage::default() }).await;
        user
    }

    /// Sends `message` as `user`; returns what `user` received since.
    async fn send(&self, user: i64, message: UserMessage) -> Vec<MessageRecord> {
        let bot = self.world.bot.id;
        let sent = self.app.tg.send_message(user, bot, &message);
        self.app.converse(bot, user, async { sent.await.map(drop).unwrap() }).await
    }

    async fn say(&self, user: i64, text: &str) -> Vec<MessageRecord> {
        self.send(user, UserMessage { text: Some(text.into()), ..UserMessage::default() }).await
    }

    async fn press(&self, user: i64, message: &MessageRecord, data: &str) -> Vec<MessageRecord> {
        self.app.press(self.world.bot.id, user, message, data).await
    }

    async fn received(&self, user: i64) -> Vec<MessageRecord> {
        self.app.tg.messages_to(user, self.world.bot.id).await.unwrap()
    }

    async fn grant(&self, user: i64, days: i64) -> String {
        let until = (self.app.clock.now() + chrono::Duration::days(days)).to_rfc3339();
        self.app.grant(&self.world, user, json!(until)).await
    }

    async fn set_grant(&self, grant: &str, state: &str, ends_in_days: i64) {
        sqlx::query("UPDATE grants SET state = $2, ends_at = now() + make_interval(days => $3) WHERE id = $1::uuid")
            .bind(grant)
            .bind(state)
            .bind(ends_in_days as i32)
            .execute(&self.app.db.pool)
            .await
            .unwrap();
    }

    async fn add_admin(&self, user: i64) {
        let (status, body) = self
            .app
            .post(
                &format!("/v1/projects/{}/admins", self.world.project_id),
                &self.world.key,
                json!({"telegram_user_id": user}),
            )
            .await;
        assert!((200..300).contains(&status), "{status} {body}");
    }

    /// The message of `user`'s chat with this id, as it is now (edits included).
    async fn message(&self, user: i64, message_id: i64) -> MessageRecord {
        self.received(user).await.into_iter().find(|m| m.message_id == message_id).expect("the message")
    }
}

/// The callback data of every button of a message.
fn buttons(message: &MessageRecord) -> Vec<String> {
    let Some(markup) = &message.reply_markup else { return vec![] };
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .collect()
}

fn only(messages: &[MessageRecord]) -> &MessageRecord {
    assert_eq!(messages.len(), 1, "{messages:?}");
    &messages[0]
}

fn text_of(m: &MessageRecord) -> &str {
    m.text.as_deref().unwrap_or_default()
}

fn broadcast_message(text: &str, entities: Value) -> UserMessage {
    UserMessage { text: Some(text.into()), entities: Some(entities), ..UserMessage::default() }
}

// ---------------------------------------------------------------- /broadcast

#[tokio::test]
async fn a_broadcast_reaches_the_segment_with_its_formatting_and_button_and_counts_who_blocked_the_bot() {
    let b = bot().await;
    let owner = b.world.owner.id;
    let (alice, bob, carol, dave) = (
        b.user("Alice", None).await,
        b.user("Bob", None).await,
        b.user("Carol", None).await,
        b.user("Dave", None).await,
    );
    for u in [&alice, &bob, &carol] {
        b.grant(u.id, 30).await;
    }
    b.app.settle(&[b.world.bot.id]).await;
    b.app.tg.block(carol.id, b.world.bot.id).await.unwrap();
    b.app.settle(&[b.world.bot.id]).await;

    // "/broadcast active\n" is 18 UTF-16 units: "sale" is bold at 18 + 10.
    let composed = "/broadcast active\nBig news: sale ends Friday\nbutton: Shop now | https://club.example/shop";
    let entities = json!([{"type": "bold", "offset": 28, "length": 4},
                          {"type": "text_link", "offset": 38, "length": 6, "url": "https://club.example/friday"}]);
    let answer = b.send(owner, broadcast_message(composed, entities)).await;
    let confirm = only(&answer);
    assert_eq!(text_of(confirm), "Broadcast to active subscribers: 3 subscribers will receive it. Send it?");
    let data = buttons(confirm);
    assert_eq!(data.len(), 2, "{data:?}");
    assert!(data[0].starts_with("bc:send:") && data[1].starts_with("bc:cancel:"), "{data:?}");
    assert!(b.received(alice.id).await.iter().all(|m| !text_of(m).contains("Big news")), "nothing before Send");

    let progress = b.press(owner, confirm, &data[0]).await;
    let progress = only(&progress).clone();

    for u in [&alice, &bob] {
        let got: Vec<MessageRecord> =
            b.received(u.id).await.into_iter().filter(|m| text_of(m).contains("Big news")).collect();
        let m = only(&got);
        assert_eq!(text_of(m), "Big news: sale ends Friday");
        assert_eq!(
            m.message["entities"],
            json!([{"type": "bold", "offset": 10, "length": 4},
                   {"type": "text_link", "offset": 20, "length": 6, "url": "https://club.example/friday"}])
        );
        assert_eq!(
            m.reply_markup,
            Some(json!({"inline_keyboard": [[{"text": "Shop now", "url": "https://club.example/shop"}]]}))
        );
    }
    assert!(b.received(dave.id).await.iter().all(|m| !text_of(m).contains("Big news")), "not in the segment");
    assert!(b.received(carol.id).await.iter().all(|m| !text_of(m).contains("Big news")), "blocked the bot");

    // The progress message was edited to the end, and lost its Cancel button.
    let shown = b.message(owner, progress.message_id).await;
    assert_eq!(text_of(&shown), "Broadcast to active subscribers done: sent 2 of 3 · 1 unreachable");
    assert!(buttons(&shown).is_empty(), "{shown:?}");
    assert!(!b.app.tg.calls_of("editMessageText").await.unwrap().is_empty());
    let unreachable = b
        .app
        .db
        .count("SELECT count(*) FROM subscribers WHERE unreachable_since IS NOT NULL AND first_name = 'Carol'")
        .await;
    assert_eq!(unreachable, 1, "the blocked user is marked unreachable");

    // Pressing Send again sends nothing more.
    b.press(owner, confirm, &data[0]).await;
    let sent = b.app.tg.calls_of("sendMessage").await.unwrap();
    assert_eq!(sent.iter().filter(|c| c.params["text"] == "Big news: sale ends Friday").count(), 3);
}

#[tokio::test]
async fn segments_choose_subscribers_by_the_state_of_their_subscription() {
    let b = bot().await;
    let owner = b.world.owner.id;
    let trial = b.user("Trial", None).await;
    let due = b.user("Due", None).await;
    let lapsed = b.user("Lapsed", None).await;
    let long_gone = b.user("LongGone", None).await;
    let paying = b.user("Paying", None).await;
    let g = b.grant(trial.id, 30).await;
    b.set_grant(&g, "trialing", 5).await;
    let g = b.grant(due.id, 30).await;
    b.set_grant(&g, "past_due", 2).await;
    let g = b.grant(lapsed.id, 30).await;
    b.set_grant(&g, "expired", -3).await;
    let g = b.grant(long_gone.id, 30).await;
    b.set_grant(&g, "expired", -40).await;
    let g = b.grant(paying.id, 30).await;
    b.set_grant(&g, "canceled", 10).await; // cancelled renewal, still inside its period: active
    b.app.settle(&[b.world.bot.id]).await;

    let ask = |segment: &'static str| {
        let b = &b;
        async move { text_of(only(&b.say(owner, &format!("/broadcast {segment}\nHello")).await)).to_string() }
    };
    assert_eq!(ask("trialing").await, "Broadcast to subscribers in a trial: 1 subscriber will receive it. Send it?");
    assert_eq!(
        ask("past_due").await,
        "Broadcast to subscribers whose payment is due: 1 subscriber will receive it. Send it?"
    );
    assert_eq!(ask("active").await, "Broadcast to active subscribers: 1 subscriber will receive it. Send it?");
    assert_eq!(
        ask("expired 7").await,
        "Broadcast to subscribers whose access ended within 7 days: 1 subscriber will receive it. Send it?"
    );
    assert_eq!(
        ask("expired 60").await,
        "Broadcast to subscribers whose access ended within 60 days: 2 subscribers will receive it. Send it?"
    );
    // Everyone not banned: the five, and the owner, who talks to the bot too.
    assert_eq!(ask("all").await, "Broadcast to every subscriber: 6 subscribers will receive it. Send it?");

    // Sending to "expired 7" reaches the one who lapsed 3 days ago, nobody else.
    let confirm = only(&b.say(owner, "/broadcast expired 7\nWe miss you").await).clone();
    b.press(owner, &confirm, &buttons(&confirm)[0]).await;
    let reached: Vec<i64> = b
        .app
        .tg
        .calls_of("sendMessage")
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.params["text"] == "We miss you")
        .map(|c| c.params["chat_id"].as_i64().unwrap())
        .collect();
    assert_eq!(reached, vec![lapsed.id]);

    // Wrong arguments: the usage.
    let usage = b.say(owner, "/broadcast everyone\nHi").await;
    assert!(text_of(only(&usage)).starts_with("Usage: /broadcast <active|trialing|past_due|expired <days>|all>"));
    let empty = b.say(owner, "/broadcast all").await;
    assert_eq!(text_of(only(&empty)), "Not sent: the message is empty: write it on the lines after the command.");
}

#[tokio::test]
async fn an_admin_speaking_russian_cancels_a_draft_and_a_broadcast_being_sent() {
    let b = bot().await;
    let admin = b.user("Админ", Some("ru")).await;
    b.add_admin(admin.id).await;
    let reader = b.user("Читатель", Some("ru")).await;
    b.grant(reader.id, 30).await;
    b.app.settle(&[b.world.bot.id]).await;

    // A draft cancelled: nothing sent.
    let confirm = only(&b.say(admin.id, "/broadcast active\nНовости клуба").await).clone();
    assert_eq!(text_of(&confirm), "Рассылка (активные подписчики): её получат 1 подписчик. Отправить?");
    let cancelled = b.press(admin.id, &confirm, &buttons(&confirm)[1]).await;
    assert_eq!(text_of(only(&cancelled)), "Рассылка отменена: ничего не отправлено.");
    b.press(admin.id, &confirm, &buttons(&confirm)[0]).await;
    assert!(b.received(reader.id).await.iter().all(|m| text_of(m) != "Новости клуба"), "a cancelled draft is not sent");

    // A broadcast whose recipient Telegram cannot take right now, cancelled meanwhile.
    b.app
        .tg
        .add_fault(&Fault {
            method: Some("sendMessage".into()),
            when: serde_json::from_value(json!({"chat_id": reader.id})).unwrap(),
            error_code: Some(502),
            ..Fault::default()
        })
        .await
        .unwrap();
    let confirm = only(&b.say(admin.id, "/broadcast active\nВторая новость").await).clone();
    let before = b.received(admin.id).await.len();
    b.app.tg.press_button(admin.id, b.world.bot.id, confirm.message_id, &buttons(&confirm)[0]).await.unwrap();
    gatehouse_tests::wait_until(std::time::Duration::from_secs(30), "the progress message", || async {
        b.received(admin.id).await.len() > before
    })
    .await;
    let progress = b.received(admin.id).await[before].clone();
    assert_eq!(text_of(&progress), "Рассылка (активные подписчики): отправлено 0 из 1 · недоступны: 0");
    assert_eq!(buttons(&progress).len(), 1);
    assert!(buttons(&progress)[0].starts_with("bc:cancel:"));
    b.app.tg.press_button(admin.id, b.world.bot.id, progress.message_id, &buttons(&progress)[0]).await.unwrap();
    b.app.settle(&[b.world.bot.id]).await;
    b.app.tg.clear_faults().await.unwrap();
    b.app.settle(&[b.world.bot.id]).await;
    let shown = b.message(admin.id, progress.message_id).await;
    assert_eq!(text_of(&shown), "Рассылка (активные подписчики) отменена: отправлено 0 из 1 · недоступны: 0");
    assert!(buttons(&shown).is_empty());
    assert!(b.received(reader.id).await.iter().all(|m| text_of(m) != "Вторая новость"));

    // /broadcast stop: nothing left to stop; a draft is stopped.
    assert_eq!(text_of(only(&b.say(admin.id, "/broadcast stop").await)), "Сейчас нет идущих рассылок.");
    b.say(admin.id, "/broadcast all\nТретья").await;
    assert_eq!(text_of(only(&b.say(admin.id, "/broadcast stop").await)), "Остановлено рассылок: 1.");
    let usage = b.say(admin.id, "/broadcast\nТекст").await;
    assert!(text_of(only(&usage)).starts_with("Формат: /broadcast <active|trialing|past_due|expired <дни>|all>"));
}

#[tokio::test]
async fn a_non_owner_learns_nothing_of_broadcast_and_support() {
    let b = bot().await;
    let en = b.user("Eve", None).await;
    let ru = b.user("Ева", Some("ru")).await;
    for text in ["/broadcast all\nfree stuff", "/broadcast stop", "/broadcast", "/support on", "/support"] {
        let answer = b.say(en.id, text).await;
        assert_eq!(text_of(only(&answer)), "I don't know that command. Send /help to see what I can do.", "{text}");
        let answer = b.say(ru.id, text).await;
        assert_eq!(
            text_of(only(&answer)),
            "Я не знаю такой команды. Отправьте /help, чтобы увидеть, что я умею.",
            "{text}"
        );
    }
    assert_eq!(b.app.db.count("SELECT count(*) FROM broadcasts").await, 0);
    assert_eq!(b.app.db.count("SELECT count(*) FROM support_settings").await, 0);
}

// ---------------------------------------------------------------- the support relay

#[tokio::test]
async fn the_support_relay_carries_texts_photos_and_documents_both_ways() {
    let b = bot().await;
    let owner = b.world.owner.id;
    let helper = b.user("Helper", None).await;
    b.add_admin(helper.id).await;
    let alice = b
        .app
        .tg
        .create_user(UserInfo { first_name: "Alice".into(), username: Some("alice".into()), ..UserInfo::default() })
        .await
        .unwrap();
    b.say(alice.id, "/start").await;
    b.grant(alice.id, 30).await;
    b.app.settle(&[b.world.bot.id]).await;

    // Off until the owner turns it on: a plain text gets the help.
    let before = b.say(alice.id, "Hello?").await;
    assert!(text_of(only(&before)).starts_with("This bot lets you into the channels of your plan."));
    let on = b.say(owner, "/support on").await;
    assert_eq!(
        text_of(only(&on)),
        "Support is on: subscribers' messages (other than commands) come to you and your admins. Reply to one to answer."
    );

    let owner_before = b.received(owner).await.len();
    let ack = b.say(alice.id, "I cannot get into the channel").await;
    assert_eq!(text_of(only(&ack)), "Your message was passed on to The Club. The answer will come here.");
    let ends = gatehouse_jobs::texts::ends_phrase(
        gatehouse_jobs::texts::Lang::En,
        b.app.clock.now(),
        Some(b.app.clock.now() + chrono::Duration::days(30)),
    );
    let header = format!(
        "Message from Alice (@alice, id {}):\n• Monthly: active, {ends}\nReply to this message or the next one to answer.",
        alice.id
    );
    for staff in [owner, helper.id] {
        let got: Vec<MessageRecord> = b.received(staff).await.into_iter().rev().take(2).rev().collect();
        assert_eq!(text_of(&got[0]), header, "staff {staff}");
        assert_eq!(text_of(&got[1]), "I cannot get into the channel");
        assert_eq!(got[1].message["reply_to_message"]["message_id"], json!(got[0].message_id));
    }
    let relayed = b.received(owner).await.split_off(owner_before);
    assert_eq!(relayed.len(), 2);

    // A photo passes through, caption and all.
    b.send(alice.id, UserMessage { photo: true, caption: Some("my screen".into()), ..UserMessage::default() }).await;
    let photo = b.received(owner).await.pop().unwrap();
    assert!(photo.message["photo"].as_array().is_some_and(|p| !p.is_empty()), "{:?}", photo.message);
    assert_eq!(photo.message["caption"], "my screen");

    // The owner answers the copy; Alice gets the answer, the owner a confirmation.
    let alice_before = b.received(alice.id).await.len();
    let sent = b
        .send(
            owner,
            UserMessage {
                text: Some("Send /links, it gives a fresh link".into()),
                reply_to_message_id: Some(relayed[1].message_id),
                ..UserMessage::default()
            },
        )
        .await;
    assert_eq!(text_of(only(&sent)), "Sent to Alice.");
    let answers = b.received(alice.id).await.split_off(alice_before);
    assert_eq!(text_of(only(&answers)), "Send /links, it gives a fresh link");

    // The helper answers the header with a document.
    let helper_header = b.received(helper.id).await.into_iter().find(|m| text_of(m) == header).unwrap();
    b.send(
        helper.id,
        UserMessage {
            document: Some("guide.pdf".into()),
            reply_to_message_id: Some(helper_header.message_id),
            ..UserMessage::default()
        },
    )
    .await;
    let doc = b.received(alice.id).await.pop().unwrap();
    assert_eq!(doc.message["document"]["file_name"], "guide.pdf");
    assert_eq!(b.app.tg.calls_of("copyMessage").await.unwrap().len(), 2 + 2 + 1 + 1);

    // A command is never relayed; with support off, nothing is.
    b.say(alice.id, "/status").await;
    let off = b.say(owner, "/support off").await;
    assert_eq!(text_of(only(&off)), "Support is off: subscribers' messages are no longer passed on.");
    let owner_count = b.received(owner).await.len();
    let help = b.say(alice.id, "Anyone there?").await;
    assert!(text_of(only(&help)).starts_with("This bot lets you into the channels of your plan."));
    assert_eq!(b.received(owner).await.len(), owner_count, "nothing relayed with support off");
    assert_eq!(b.app.tg.calls_of("copyMessage").await.unwrap().len(), 6);
}

#[tokio::test]
async fn the_support_relay_speaks_russian_to_russian_speakers() {
    let b = bot().await;
    let admin = b.user("Админ", Some("ru")).await;
    b.add_admin(admin.id).await;
    let on = b.say(admin.id, "/support on").await;
    assert_eq!(
        text_of(only(&on)),
        "Поддержка включена: сообщения подписчиков (кроме команд) приходят вам и вашим администраторам. Чтобы ответить, ответьте на сообщение."
    );
    let usage = b.say(admin.id, "/support").await;
    assert_eq!(text_of(only(&usage)), "Формат: /support on|off");
    let boris = b.user("Борис", Some("ru")).await;
    let ack = b.say(boris.id, "Здравствуйте").await;
    assert_eq!(text_of(only(&ack)), "Ваше сообщение передано The Club. Ответ придёт сюда.");
    let got: Vec<MessageRecord> = b.received(admin.id).await.into_iter().rev().take(2).rev().collect();
    assert_eq!(
        text_of(&got[0]),
        format!(
            "Сообщение от Борис (id {}):\nНет активной подписки.\nЧтобы ответить, ответьте на это или следующее сообщение.",
            boris.id
        )
    );
    assert_eq!(text_of(&got[1]), "Здравствуйте");
    let sent = b
        .send(
            admin.id,
            UserMessage {
                text: Some("Чем помочь?".into()),
                reply_to_message_id: Some(got[0].message_id),
                ..UserMessage::default()
            },
        )
        .await;
    assert_eq!(text_of(only(&sent)), "Отправлено: Борис.");
    assert_eq!(text_of(b.received(boris.id).await.last().unwrap()), "Чем помочь?");
    let off = b.say(admin.id, "/support off").await;
    assert_eq!(text_of(only(&off)), "Поддержка выключена: сообщения подписчиков больше не пересылаются.");
}
