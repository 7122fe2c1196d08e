//! The membership bot, end to end: what a simulated user sends, what they get back
//! (texts and buttons), and the state that results.

use gatehouse_sim::{MemberStatus, MessageRecord, UserInfo};
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
    async fn user(&self, name: &str, language: Option<&str>) -> UserInfo {
        self.app
            .tg
            .create_user(UserInfo {
                first_name: name.into(),
                language_code: language.map(str::to_string),
                ..UserInfo::default()
            })
            .await
            .unwrap()
    }

    /// Sends `text` as `user`, waits for the answers, returns the messages received since.
    async fn say(&self, user: i64, text: &str) -> Vec<MessageRecord> {
        self.app.say(self.world.bot.id, user, text).await
    }

    /// Presses `data` under `message` as `user`; returns the messages received since.
    async fn press(&self, user: i64, message: &MessageRecord, data: &str) -> Vec<MessageRecord> {
        self.app.press(self.world.bot.id, user, message, data).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) =
            self.app.post(&format!("/v1/projects/{}{path}", self.world.project_id), &self.world.key, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer["data"].clone()
    }

    async fn grant(&self, user: i64, days: i64) -> String {
        let until = (self.app.clock.now() + chrono::Duration::days(days)).to_rfc3339();
        self.app.grant(&self.world, user, json!(until)).await
    }

    async fn status(&self, user: i64) -> MemberStatus {
        self.app.tg.member(self.world.channel.id, user).await.unwrap().status
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

fn text(messages: &[MessageRecord]) -> String {
    messages.iter().filter_map(|m| m.text.clone()).collect::<Vec<_>>().join("\n---\n")
}

// ---------------------------------------------------------------- /start payloads

#[tokio::test]
async fn start_without_payload_shows_the_plans_on_sale_as_buttons() {
    let b = bot().await;
    let alice = b.user("Alice", Some("en")).await;
    let answer = b.say(alice.id, "/start").await;
    assert_eq!(answer.len(), 1, "{}", text(&answer));
    assert!(text(&answer).contains("Welcome to The Club"), "{}", text(&answer));
    assert_eq!(buttons(&answer[0]), [format!("plan:{}", b.world.plan_id)]);
    let project = b.say(alice.id, &format!("/start project_{}", b.world.project_id.replace('-', ""))).await;
    assert!(text(&project).contains("Welcome to The Club"));
}

#[tokio::test]
async fn a_plan_deep_link_opens_that_plans_payment_options() {
    let b = bot().await;
    let stars = b
        .app
        .plan(
            &b.world,
            json!({"name": "Stars month", "price": 250, "currency": "XTR", "duration_days": 30, "recurring": true}),
        )
        .await;
    let alice = b.user("Alice", None).await;
    let answer = b.say(alice.id, &format!("/start plan_{}", stars.replace('-', ""))).await;
    let shown = text(&answer);
    assert!(shown.contains("Stars month: 250 Stars, 30 days, renews automatically"), "{shown}");
    assert_eq!(buttons(&answer[0]), [format!("pay:stars:{stars}"), "home".to_string()]);

    // Pressing "Pay with Stars" sends a Stars invoice (a subscription: renews every 30 days).
    let sent = b.press(alice.id, &answer[0], &format!("pay:stars:{stars}")).await;
    let invoices = b.app.tg.calls_of("createInvoiceLink").await.unwrap();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].params["currency"], "XTR");
    assert_eq!(invoices[0].params["subscription_period"], json!(2592000));
    let link = invoices[0].response["result"].as_str().unwrap().to_string();
    assert!(text(&sent).contains(&link), "the invoice reached the user: {}", text(&sent));
    assert_eq!(b.app.tg.calls_of("answerCallbackQuery").await.unwrap().len(), 1, "the button's spinner stops");
}

#[tokio::test]
async fn a_plan_with_no_way_to_pay_says_so() {
    let b = bot().await;
    let alice = b.user("Alice", None).await;
    let answer = b.say(alice.id, &format!("/start plan_{}", b.world.plan_id)).await;
    assert!(text(&answer).contains("not set up yet"), "{}", text(&answer));
}

#[tokio::test]
async fn an_access_code_deep_link_redeems_the_code_and_sends_links() {
    let b = bot().await;
    b.post("/access-codes", json!({"code": "WELCOME2026", "plan_id": b.world.plan_id, "max_uses": 1})).await;
    let (alice, bob) = (b.user("Alice", None).await, b.user("Bob", None).await);
    let answer = b.say(alice.id, "/start WELCOME2026").await;
    assert!(b.app.invite_links_to(&b.world, alice.id).await.len() == 1, "{}", text(&answer));
    let refused = b.say(bob.id, "/start WELCOME2026").await;
    assert!(!text(&refused).is_empty(), "a used-up code gets an answer, not silence");
    assert!(b.app.invite_links_to(&b.world, bob.id).await.is_empty());
}

#[tokio::test]
async fn an_access_token_activates_its_plan_for_the_first_user_only() {
    let b = bot().await;
    let token = b.post("/access-tokens", json!({"plan_id": b.world.plan_id, "duration_days": 7})).await;
    let payload = token["deep_link_payload"].as_str().unwrap().to_string();
    let (alice, bob) = (b.user("Alice", None).await, b.user("Bob", None).await);
    let answer = b.say(alice.id, &format!("/start {payload}")).await;
    assert!(text(&answer).contains("You have access: Monthly, ends in 7 days"), "{}", text(&answer));
    assert_eq!(b.app.invite_links_to(&b.world, alice.id).await.len(), 1);
    let second = b.say(bob.id, &format!("/start {payload}")).await;
    assert!(text(&second).contains("not valid, or it has been used already"), "{}", text(&second));
    assert!(b.app.invite_links_to(&b.world, bob.id).await.is_empty());
}

#[tokio::test]
async fn an_unknown_payload_is_kept_for_attribution_and_the_user_sees_the_plans() {
    let b = bot().await;
    let alice = b.user("Alice", None).await;
    let answer = b.say(alice.id, "/start from_newsletter_42").await;
    assert!(text(&answer).contains("Welcome to The Club"));
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT payload FROM start_payloads").fetch_all(&b.app.db.pool).await.unwrap();
    assert_eq!(kept, ["from_newsletter_42"]);
}

// ---------------------------------------------------------------- subscriber commands

#[tokio::test]
async fn status_lists_each_subscription_with_its_time_left_in_the_users_terms() {
    let b = bot().await;
    let (alice, ivan) = (b.user("Alice", Some("en")).await, b.user("Ivan", Some("ru")).await);
    b.say(alice.id, "/start").await;
    b.say(ivan.id, "/start").await;
    let none = b.say(alice.id, "/status").await;
    assert!(text(&none).contains("no active access"), "{}", text(&none));
    b.grant(alice.id, 3).await;
    b.grant(ivan.id, 3).await;
    b.app.settle(&[b.world.bot.id]).await;
    let ends = (b.app.clock.now() + chrono::Duration::days(3)).format("%-d %b").to_string();
    let status = b.say(alice.id, "/status").await;
    assert!(
        text(&status).contains(&format!("• Monthly: active, ends in 2 days, on {ends}"))
            || text(&status).contains(&format!("• Monthly: active, ends in 3 days, on {ends}")),
        "{}",
        text(&status)
    );
    assert_eq!(buttons(&status[0]), [format!("plan:{}", b.world.plan_id)], "a renew button");
    let russian = b.say(ivan.id, "/status").await;
    assert!(
        text(&russian).contains("Ваш доступ:") && text(&russian).contains("закончится через"),
        "{}",
        text(&russian)
    );
}

#[tokio::test]
async fn links_resends_a_personal_link_for_every_entitled_chat_unbanning_first() {
    let b = bot().await;
    let alice = b.user("Alice", None).await;
    b.say(alice.id, "/start").await;
    b.grant(alice.id, 30).await;
    b.app.settle(&[b.world.bot.id]).await;
    assert_eq!(b.app.invite_links_to(&b.world, alice.id).await.len(), 1);
    let unbans_before = b.app.tg.calls_of("unbanChatMember").await.unwrap().len();
    let answer = b.say(alice.id, "/links").await;
    assert!(text(&answer).contains("Sending your personal links again (1)"), "{}", text(&answer));
    let links = b.app.invite_links_to(&b.world, alice.id).await;
    assert_eq!(links.len(), 2, "the link is sent again");
    assert!(b.app.tg.calls_of("unbanChatMember").await.unwrap().len() > unbans_before, "unban first");
    // Once inside, /links has nothing to send.
    b.app.tg.join_by_link(alice.id, &links[1]).await.unwrap();
    b.app.settle(&[b.world.bot.id]).await;
    b.say(alice.id, "/links").await;
    assert_eq!(b.app.invite_links_to(&b.world, alice.id).await.len(), 2);
}

#[tokio::test]
async fn cancel_with_nothing_renewing_says_so_and_help_and_unknown_commands_answer() {
    let b = bot().await;
    let alice = b.user("Alice", None).await;
    assert!(text(&b.say(alice.id, "/cancel").await).contains("no renewing subscription"));
    assert!(text(&b.say(alice.id, "/help").await).contains("/links — your personal invite links again"));
    assert!(text(&b.say(alice.id, "/frobnicate").await).contains("I don't know that command"));
}

// ---------------------------------------------------------------- owner commands

#[tokio::test]
async fn owner_commands_from_anyone_else_get_the_unknown_command_answer() {
    let b = bot().await;
    let mallory = b.user("Mallory", None).await;
    b.say(mallory.id, "/start").await;
    for command in ["/check 1", "/ban 1", "/unban 1", "/grant 1 Monthly 30", "/stats", "/ban"] {
        let answer = b.say(mallory.id, command).await;
        assert_eq!(text(&answer), "I don't know that command. Send /help to see what I can do.", "{command}");
    }
    assert!(b.app.tg.calls_of("banChatMember").await.unwrap().is_empty());
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM grants").fetch_one(&b.app.db.pool).await.unwrap();
    assert_eq!(grants, 0);
}

#[tokio::test]
async fn the_owner_grants_checks_and_sees_stats() {
    let b = bot().await;
    let owner = b.world.owner.id;
    let alice = b.user("Alice", None).await;
    b.say(alice.id, "/start").await;
    let granted = b.say(owner, &format!("/grant {} Monthly 10", alice.id)).await;
    assert!(text(&granted).contains("Granted Monthly"), "{}", text(&granted));
    b.app.settle(&[b.world.bot.id]).await;
    let link = b.app.invite_links_to(&b.world, alice.id).await.remove(0);
    b.app.tg.join_by_link(alice.id, &link).await.unwrap();
    b.app.settle(&[b.world.bot.id]).await;

    let check = text(&b.say(owner, &format!("/check {}", alice.id)).await);
    assert!(check.contains(&format!("User {}: active", alice.id)), "{check}");
    assert!(check.contains("Monthly (manual, active): ends in"), "{check}");
    assert!(check.contains("Club Channel (member)"), "{check}");
    assert!(check.contains("link_issued"), "{check}");

    let stats = text(&b.say(owner, "/stats").await);
    assert!(stats.contains("1 active subscriptions"), "{stats}");
    assert!(stats.contains("Club Channel: 3 seen; last 24 h: 1 joined, 0 removed"), "{stats}");
    let usage = text(&b.say(owner, "/grant me").await);
    assert_eq!(usage, "Usage: /grant <user_id> <plan> <days>");
}

#[tokio::test]
async fn ban_removes_the_user_everywhere_revokes_links_ends_subscriptions_and_refuses_them_later() {
    let b = bot().await;
    let owner = b.world.owner.id;
    let alice = b.user("Alice", None).await;
    b.say(alice.id, "/start").await;
    b.grant(alice.id, 30).await;
    b.app.settle(&[b.world.bot.id]).await;
    let first = b.app.invite_links_to(&b.world, alice.id).await.remove(0);
    b.app.tg.join_by_link(alice.id, &first).await.unwrap();
    b.app.settle(&[b.world.bot.id]).await;
    b.say(alice.id, "/links").await; // inside: nothing new
    b.grant(alice.id, 60).await; // a second grant, whose link she has not used
    b.app.settle(&[b.world.bot.id]).await;

    let answer = b.say(owner, &format!("/ban {}", alice.id)).await;
    assert!(text(&answer).contains("Banning"), "{}", text(&answer));
    b.app.settle(&[b.world.bot.id]).await;

    assert!(matches!(b.status(alice.id).await, MemberStatus::Kicked { .. }), "removed and left banned");
    let chat = b.app.tg.chat(b.world.channel.id).await.unwrap();
    assert!(
        chat.links
            .iter()
            .filter(|l| !l.is_primary && l.name.as_deref().is_some_and(|n| n.starts_with("gh ")))
            .all(|l| l.is_revoked),
        "every link revoked"
    );
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM grants WHERE state IN ('trialing', 'active', 'past_due', 'canceled')")
            .fetch_one(&b.app.db.pool)
            .await
            .unwrap();
    assert_eq!(live, 0, "no active subscription left");
    let later = b.say(alice.id, "/start").await;
    assert_eq!(text(&later), "Sorry, you cannot use this bot.");
    assert!(buttons(&later[0]).is_empty(), "no plans, no invoices");

    // Unban: the ban is lifted in the chat; she may come back when entitled.
    b.say(owner, &format!("/unban {}", alice.id)).await;
    b.app.settle(&[b.world.bot.id]).await;
    assert!(!matches!(b.status(alice.id).await, MemberStatus::Kicked { .. }));
    assert!(text(&b.say(alice.id, "/start").await).contains("Welcome"));
}

#[tokio::test]
async fn an_admin_the_owner_adds_may_run_owner_commands_and_sees_them_in_the_command_list() {
    let b = bot().await;
    let helper = b.user("Helper", None).await;
    b.say(helper.id, "/start").await;
    assert!(text(&b.say(helper.id, "/stats").await).contains("I don't know that command"));
    b.post("/admins", json!({"telegram_user_id": helper.id})).await;
    b.app.settle(&[b.world.bot.id]).await;
    assert!(text(&b.say(helper.id, "/stats").await).contains("active subscriptions"));
    let scoped = b.app.tg.calls_of("setMyCommands").await.unwrap();
    assert!(
        scoped.iter().any(|c| c.params["scope"]["chat_id"] == json!(helper.id)
            && ["\"ban\"", "\"addplan\"", "\"broadcast\"", "\"support\""]
                .iter()
                .all(|name| c.params["commands"].to_string().contains(name))),
        "the admin's chat lists the owner commands, setup, /broadcast and /support among them"
    );
    let public: Vec<_> = scoped.iter().filter(|c| c.params.get("scope").is_none_or(Value::is_null)).collect();
    assert!(
        public.iter().all(|c| !c.params["commands"].to_string().contains("\"ban\"")),
        "hidden from the public list"
    );
}

#[tokio::test]
async fn replies_are_sent_once_when_telegram_delivers_an_update_twice() {
    let b = bot().await;
    let alice = b.user("Alice", None).await;
    b.app
        .tg
        .set_update_faults(b.world.bot.id, &gatehouse_sim::UpdateFaults { drop_next: 0, duplicate_next: 10 })
        .await
        .unwrap();
    let answer = b.say(alice.id, "/help").await;
    assert_eq!(answer.len(), 1, "{}", text(&answer));
    let delivered = b.app.tg.webhook_state(b.world.bot.id).await.unwrap().delivered;
    assert!(delivered >= 2, "the update was delivered twice");
}

#[tokio::test]
async fn cancel_asks_to_confirm_then_stops_the_stars_subscription_keeping_access_to_the_end() {
    let b = bot().await;
    let monthly = b
        .app
        .plan(&b.world, json!({"name": "Stars Monthly", "price": 500, "currency": "USD", "stars_price": 250, "duration_days": 30, "recurring": true}))
        .await;
    let alice = b.user("Alice", None).await;
    b.say(alice.id, "/start").await;
    b.app.checkout(&b.world, alice.id, &monthly, "stars").await;
    let link = b
        .app
        .texts_to(&b.world, alice.id)
        .await
        .iter()
        .rev()
        .find_map(|t| t.split_whitespace().find(|w| w.starts_with("https://t.me/$")).map(str::to_string))
        .expect("an invoice link");
    let request = gatehouse_sim::PayRequest { bot_id: b.world.bot.id, message_id: None, invoice_link: Some(link) };
    b.app.tg.pay(alice.id, request).await.unwrap();
    b.app.settle(&[b.world.bot.id]).await;

    let status = b.say(alice.id, "/status").await;
    assert!(buttons(&status[0]).contains(&"cancel:ask".to_string()), "{:?}", buttons(&status[0]));
    let ask = b.say(alice.id, "/cancel").await;
    assert!(text(&ask).contains("Cancel the renewal of Stars Monthly?"), "{}", text(&ask));
    assert_eq!(buttons(&ask[0]), ["cancel:yes", "cancel:no"]);
    let done = b.press(alice.id, &ask[0], "cancel:yes").await;
    assert!(text(&done).contains("it will not renew"), "{}", text(&done));

    let edits = b.app.tg.calls_of("editUserStarSubscription").await.unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].params["is_canceled"], json!(true));
    let state: String =
        sqlx::query_scalar("SELECT state FROM grants WHERE source = 'stars'").fetch_one(&b.app.db.pool).await.unwrap();
    assert_eq!(state, "canceled", "access until the period ends");
    assert!(text(&b.say(alice.id, "/status").await).contains("canceled, access until the end"));
}
