//! The owner's setup from Telegram, end to end against the simulator: a creator signs
//! up in the platform bot (`GATEHOUSE_MANAGER_BOT_TOKEN`), connects their bot, and sets
//! the project up with the owner commands (`/addchat`, `/chats`, `/addplan`, `/plans`,
//! `/apikey`, `/apikeys`, `/codes`, `/stats`), in English and Russian; anyone else
//! gets the unknown-command answer; an update handled twice adds nothing twice.

use gatehouse_jobs::{
    catalog::connect_manager_bot::ConnectManagerBot,
    texts::{self, Lang},
};
use gatehouse_sim::{AdminRights, ChatInfo, ChatKind, MessageRecord, PayRequest, UserInfo};
use gatehouse_tests::app::{TestApp, World};
use serde_json::json;

/// Sends `text` as `user` to `bot`, waits, and returns what the bot answered since.
async fn say(app: &TestApp, bot: i64, user: i64, text: &str) -> Vec<MessageRecord> {
    app.say(bot, user, text).await
}

/// Presses `data` under `message` as `user`; returns what the bot answered since.
async fn press(app: &TestApp, bot: i64, user: i64, message: &MessageRecord, data: &str) -> Vec<MessageRecord> {
    app.press(bot, user, message, data).await
}

fn text(messages: &[MessageRecord]) -> String {
    messages.iter().filter_map(|m| m.text.clone()).collect::<Vec<_>>().join("\n---\n")
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

async fn user(app: &TestApp, name: &str, language: Option<&str>) -> UserInfo {
    app.tg
        .create_user(UserInfo {
            first_name: name.into(),
            language_code: language.map(str::to_string),
            ..UserInfo::default()
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------- the platform bot

#[tokio::test]
async fn a_creator_signs_up_connects_a_bot_adds_a_chat_and_a_plan_and_a_subscriber_pays_all_in_telegram() {
    let app = TestApp::start_with_manager().await;
    let manager = app.manager.clone().unwrap();
    let webhook = app.tg.webhook_state(manager.id).await.unwrap();
    assert!(webhook.url.ends_with("/hooks/manager"), "{webhook:?}");
    let creator = user(&app, "Creator", Some("en")).await;

    // Sign up: /start, a name, a handle.
    let answer = say(&app, manager.id, creator.id, "/start").await;
    assert_eq!(text(&answer), texts::manager_ask_name(Lang::En));
    let answer = say(&app, manager.id, creator.id, "Night Owls").await;
    assert_eq!(text(&answer), texts::manager_ask_handle(Lang::En, "Night Owls"));
    let answer = say(&app, manager.id, creator.id, "night-owls").await;
    assert_eq!(text(&answer), texts::manager_project_created(Lang::En, "Night Owls"));
    let (project_id, owner): (uuid::Uuid, i64) =
        sqlx::query_as("SELECT id, owner_telegram_id FROM projects WHERE handle = 'night-owls'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(owner, creator.id);

    // Connect the bot: the message with the token is deleted at once.
    let bot = app.tg.create_bot_named("night_owls_bot").await.unwrap();
    let answer = say(&app, manager.id, creator.id, &bot.token).await;
    assert_eq!(
        text(&answer),
        [texts::manager_checking(Lang::En), texts::manager_bot_connected(Lang::En, "night_owls_bot")].join("\n---\n")
    );
    let everything = app.tg.messages(Some(manager.id), Some(creator.id)).await.unwrap();
    assert!(everything.iter().all(|m| m.text.as_deref() != Some(bot.token.as_str())), "the token stays in the chat");
    assert_eq!(app.tg.calls_of("deleteMessage").await.unwrap().len(), 1);
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT token_ciphertext FROM bots WHERE project_id = $1")
        .bind(project_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(&bot.token), "the token is sealed");
    let in_jobs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE position(convert_to($1, 'UTF8') IN job) > 0")
            .bind(&bot.token)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(in_jobs, 0, "the token does not stay in the queue");
    assert!(app.tg.webhook_state(bot.id).await.unwrap().url.ends_with(&format!("/hooks/telegram/{}", bot.id)));

    // /start again lists the project with its bot, and offers another project.
    let answer = say(&app, manager.id, creator.id, "/start").await;
    assert!(text(&answer).contains("• Night Owls (night-owls): @night_owls_bot"), "{}", text(&answer));
    assert_eq!(buttons(&answer[0]), [format!("connect:{project_id}"), "new".to_string()]);

    // In their own bot: /addchat, then the bot is made an administrator of a channel.
    let answer = say(&app, bot.id, creator.id, "/addchat").await;
    let howto = text(&answer);
    assert!(howto.contains("https://t.me/night_owls_bot?startchannel&admin="), "{howto}");
    assert!(howto.contains("https://t.me/night_owls_bot?startgroup&admin="), "{howto}");
    let channel = app
        .tg
        .create_chat(ChatInfo {
            id: 0,
            kind: ChatKind::Channel,
            title: "Owls Den".into(),
            username: None,
            join_by_request: false,
            description: None,
            creator_id: Some(creator.id),
        })
        .await
        .unwrap();
    let before = app.tg.messages_to(creator.id, bot.id).await.unwrap().len();
    app.tg.add_admin(channel.id, bot.id, AdminRights::all()).await.unwrap();
    app.settle(&[bot.id]).await;
    let answer = app.tg.messages_to(creator.id, bot.id).await.unwrap().split_off(before);
    assert_eq!(text(&answer), texts::chat_ready(Lang::En, "Owls Den"));

    // A plan, in one line, priced in Stars.
    let answer = say(&app, bot.id, creator.id, "/addplan Fans 250 XTR 30").await;
    assert_eq!(text(&answer), texts::plan_created(Lang::En, "Fans", "250 Stars", "30 days", "Owls Den"));

    // A subscriber pays in Stars and gets the chat's link.
    let fan = user(&app, "Fan", Some("en")).await;
    let home = say(&app, bot.id, fan.id, "/start").await;
    let plan = buttons(&home[0]).into_iter().next().expect("the plan's button");
    let details = press(&app, bot.id, fan.id, &home[0], &plan).await;
    let pay = buttons(&details[0]).into_iter().find(|b| b.starts_with("pay:stars:")).expect("pay with Stars");
    let invoice = press(&app, bot.id, fan.id, &details[0], &pay).await;
    let link =
        text(&invoice).split_whitespace().find(|w| w.starts_with("https://")).expect("an invoice link").to_string();
    app.tg.pay(fan.id, PayRequest { bot_id: bot.id, message_id: None, invoice_link: Some(link) }).await.unwrap();
    app.settle(&[bot.id]).await;
    let texts_to_fan: Vec<String> =
        app.tg.messages_to(fan.id, bot.id).await.unwrap().into_iter().filter_map(|m| m.text).collect();
    let invite = texts_to_fan
        .iter()
        .find_map(|t| t.split_whitespace().find(|w| w.starts_with("https://t.me/+")))
        .expect("the chat's link");
    app.tg.join_by_link(fan.id, invite).await.unwrap();
    app.settle(&[bot.id]).await;
    let member = app.tg.member(channel.id, fan.id).await.unwrap();
    assert!(matches!(member.status, gatehouse_sim::MemberStatus::Member { .. }), "{member:?}");
}

#[tokio::test]
async fn the_platform_bot_speaks_russian_refuses_bad_answers_and_lets_one_creator_have_two_projects() {
    let app = TestApp::start_with_manager().await;
    let manager = app.manager.clone().unwrap();
    let creator = user(&app, "Создатель", Some("ru")).await;
    assert_eq!(text(&say(&app, manager.id, creator.id, "/start").await), texts::manager_ask_name(Lang::Ru));
    say(&app, manager.id, creator.id, "Совы").await;
    let answer = say(&app, manager.id, creator.id, "Not A Handle!").await;
    assert!(text(&answer).starts_with("Не выполнено: handle: expected 2 to 63"), "{}", text(&answer));
    let answer = say(&app, manager.id, creator.id, "sovy").await;
    assert_eq!(text(&answer), texts::manager_project_created(Lang::Ru, "Совы"));

    // A malformed token: its message is deleted all the same, and nothing is stored.
    let answer = say(&app, manager.id, creator.id, "123:not-a-token").await;
    assert!(text(&answer).starts_with("Не выполнено: token: expected a bot token"), "{}", text(&answer));
    assert!(!text(&answer).contains("not-a-token"));
    assert_eq!(app.tg.calls_of("deleteMessage").await.unwrap().len(), 1);
    assert_eq!(app.db.count("SELECT count(*) FROM bots").await, 0);

    // A second project: /new, and the list shows both, each with a connect button.
    assert_eq!(text(&say(&app, manager.id, creator.id, "/new").await), texts::manager_ask_name(Lang::Ru));
    say(&app, manager.id, creator.id, "Совы 2").await;
    say(&app, manager.id, creator.id, "sovy-2").await;
    let list = say(&app, manager.id, creator.id, "/start").await;
    assert!(
        text(&list).starts_with("Ваши проекты:\n• Совы (sovy): бот не подключён\n• Совы 2 (sovy-2)"),
        "{}",
        text(&list)
    );
    let connect = buttons(&list[0]);
    assert_eq!(connect.len(), 3, "{connect:?}");

    // "Connect bot" under the first project, after a pause: the flow waits for its token.
    let answer = press(&app, manager.id, creator.id, &list[0], &connect[0]).await;
    assert_eq!(text(&answer), texts::manager_paste_token(Lang::Ru, "Совы"));
    let bot = app.tg.create_bot_named("sovy_bot").await.unwrap();
    let answer = say(&app, manager.id, creator.id, &bot.token).await;
    assert_eq!(
        text(&answer),
        [texts::manager_checking(Lang::Ru), texts::manager_bot_connected(Lang::Ru, "sovy_bot")].join("\n---\n")
    );
    // Another creator cannot connect to someone else's project with its button.
    let stranger = user(&app, "Stranger", None).await;
    assert!(app.tg.press_button(stranger.id, manager.id, list[0].message_id, &connect[0]).await.is_err());
}

#[tokio::test]
async fn without_the_setting_there_is_no_platform_bot() {
    let app = TestApp::start().await;
    let (status, _) = app.call(reqwest::Method::POST, "/hooks/manager", None, Some(json!({"update_id": 1}))).await;
    assert_eq!(status, 404);
    assert!(app.db.enqueued::<ConnectManagerBot>().await.is_empty());
}

#[tokio::test]
async fn the_platform_bots_webhook_wants_its_secret() {
    let app = TestApp::start_with_manager().await;
    let (status, _) = app.call(reqwest::Method::POST, "/hooks/manager", None, Some(json!({"update_id": 1}))).await;
    assert_eq!(status, 401);
}

// ---------------------------------------------------------------- owner commands

struct Club {
    app: TestApp,
    world: World,
}

async fn club() -> Club {
    let app = TestApp::start().await;
    let world = app.world().await;
    Club { app, world }
}

impl Club {
    async fn say(&self, user: i64, text: &str) -> Vec<MessageRecord> {
        say(&self.app, self.world.bot.id, user, text).await
    }

    async fn press(&self, user: i64, message: &MessageRecord, data: &str) -> Vec<MessageRecord> {
        press(&self.app, self.world.bot.id, user, message, data).await
    }

    /// A chat the owner created, without the bot in it yet.
    async fn chat(&self, kind: ChatKind, title: &str, username: Option<&str>) -> ChatInfo {
        let chat = ChatInfo {
            id: 0,
            kind,
            title: title.into(),
            username: username.map(Into::into),
            join_by_request: false,
            description: None,
            creator_id: Some(self.world.owner.id),
        };
        self.app.tg.create_chat(chat).await.unwrap()
    }

    /// A Russian-speaking admin of the project (staff: runs owner commands).
    async fn russian_admin(&self) -> UserInfo {
        let admin = user(&self.app, "Админ", Some("ru")).await;
        let (status, body) = self
            .app
            .post(
                &format!("/v1/projects/{}/admins", self.world.project_id),
                &self.world.key,
                json!({"telegram_user_id": admin.id}),
            )
            .await;
        assert!((200..300).contains(&status), "{status} {body}");
        admin
    }
}

#[tokio::test]
async fn a_non_owner_gets_the_unknown_command_answer_to_every_setup_command() {
    let c = club().await;
    for language in [None, Some("ru")] {
        let stranger = user(&c.app, "Stranger", language).await;
        let lang = Lang::from_code(language);
        for command in [
            "/addplan Gold 15.00 EUR 30",
            "/addplan",
            "/plans",
            "/addchat",
            "/addchat -100123",
            "/chats",
            "/apikey",
            "/apikeys",
            "/codes 3",
            "/codes 0",
            "/stats",
        ] {
            let answer = c.say(stranger.id, command).await;
            assert_eq!(text(&answer), texts::unknown_command(lang), "{command}");
        }
    }
    assert_eq!(c.app.db.count("SELECT count(*) FROM plans").await, 1);
    assert_eq!(c.app.db.count("SELECT count(*) FROM api_keys").await, 1);
    assert_eq!(c.app.db.count("SELECT count(*) FROM access_codes").await, 0);
}

#[tokio::test]
async fn the_owner_adds_plans_and_takes_one_off_sale_and_back() {
    let c = club().await;
    let owner = c.world.owner.id;
    let answer = c.say(owner, "/addplan Gold 15.00 EUR 30").await;
    assert_eq!(text(&answer), texts::plan_created(Lang::En, "Gold", "15.00 EUR", "30 days", "Club Channel"));
    let (price, currency, days): (i64, String, Option<i32>) =
        sqlx::query_as("SELECT price_minor, currency, duration_days FROM plans WHERE name = 'Gold'")
            .fetch_one(&c.app.db.pool)
            .await
            .unwrap();
    assert_eq!((price, currency.as_str(), days), (1500, "EUR", Some(30)));
    let answer = c.say(owner, "/addplan Forever 9,99 usd lifetime").await;
    assert_eq!(text(&answer), texts::plan_created(Lang::En, "Forever", "9.99 USD", "lifetime", "Club Channel"));
    // The plan rule refuses what the parser lets through (a price the currency forbids).
    let answer = c.say(owner, "/addplan Free 0 XTR 30").await;
    assert_eq!(text(&answer), "Not done: price: a price in Stars (XTR) is from 1 to 2147483647");
    let answer = c.say(owner, "/addplan Gold 15.001 EUR 30").await;
    assert_eq!(text(&answer), "Usage: /addplan <name> <price> <currency> <days|lifetime>");

    let list = c.say(owner, "/plans").await;
    assert_eq!(
        text(&list),
        "Your plans:\n• Monthly: 5.00 USD, 30 days — on sale\n• Gold: 15.00 EUR, 30 days — on sale\n• Forever: 9.99 USD, lifetime — on sale"
    );
    let off = format!("plansale:{}:off", c.world.plan_id);
    assert!(buttons(&list[0]).contains(&off));
    let answer = c.press(owner, &list[0], &off).await;
    assert_eq!(text(&answer), texts::plan_sale_changed(Lang::En, "Monthly", false));
    // Off sale: subscribers no longer see it.
    let fan = user(&c.app, "Fan", None).await;
    let home = c.say(fan.id, "/start").await;
    assert!(!buttons(&home[0]).contains(&format!("plan:{}", c.world.plan_id)));
    let list = c.say(owner, "/plans").await;
    assert!(text(&list).contains("• Monthly: 5.00 USD, 30 days — off sale"), "{}", text(&list));
    let on = format!("plansale:{}:on", c.world.plan_id);
    let answer = c.press(owner, &list[0], &on).await;
    assert_eq!(text(&answer), texts::plan_sale_changed(Lang::En, "Monthly", true));
    let home = c.say(fan.id, "/start").await;
    assert!(buttons(&home[0]).contains(&format!("plan:{}", c.world.plan_id)));
}

#[tokio::test]
async fn the_owner_adds_a_chat_by_id_and_is_told_what_is_missing() {
    let c = club().await;
    let owner = c.world.owner.id;
    let group = c.chat(ChatKind::Supergroup, "Club Talk", None).await;
    // An administrator without the right to ban.
    let rights = AdminRights { can_restrict_members: false, ..AdminRights::all() };
    c.app.tg.add_admin(group.id, c.world.bot.id, rights).await.unwrap();
    c.app.settle(&[c.world.bot.id]).await;
    assert_eq!(c.app.db.count("SELECT count(*) FROM chats").await, 1, "not asked for: not added");
    let answer = c.say(owner, &format!("/addchat {}", group.id)).await;
    let told = text(&answer);
    assert!(told.starts_with(&texts::chat_checking(Lang::En, &group.id.to_string())), "{told}");
    assert!(told.contains("Club Talk is not ready: "), "{told}");
    let list = c.say(owner, "/chats").await;
    let listed = text(&list);
    assert!(listed.starts_with("Your chats:\n"), "{listed}");
    assert!(listed.contains(&format!("• Club Channel ({}): ready", c.world.channel.id)), "{listed}");
    assert!(listed.contains(&format!("• Club Talk ({}): not ready — ", group.id)), "{listed}");
    let answer = c.say(owner, "/addchat 0").await;
    assert_eq!(text(&answer), "Usage: /addchat <chat_id or @username>");

    // Or a public chat by its @username (looked up with getChat), or one unknown.
    let public = c.chat(ChatKind::Channel, "Club Public", Some("club_public")).await;
    c.app.tg.add_admin(public.id, c.world.bot.id, AdminRights::all()).await.unwrap();
    c.app.settle(&[c.world.bot.id]).await;
    let answer = c.say(owner, "/addchat @club_public").await;
    assert_eq!(
        text(&answer),
        [texts::chat_checking(Lang::En, &public.id.to_string()), texts::chat_ready(Lang::En, "Club Public")]
            .join("\n---\n")
    );
    let answer = c.say(owner, "/addchat @nobody_here").await;
    assert_eq!(text(&answer), texts::chat_unknown(Lang::En, "@nobody_here"));

    // Or a post forwarded from a channel the bot administers.
    let news = c.app.tg.create_channel("Club News").await.unwrap();
    c.app.tg.add_admin(news.id, c.world.bot.id, AdminRights::all()).await.unwrap();
    c.app.settle(&[c.world.bot.id]).await;
    let before = c.app.tg.messages_to(owner, c.world.bot.id).await.unwrap().len();
    c.app.tg.forward_from_chat(owner, c.world.bot.id, news.id, "a post").await.unwrap();
    c.app.settle(&[c.world.bot.id]).await;
    let answer = c.app.tg.messages_to(owner, c.world.bot.id).await.unwrap().split_off(before);
    assert_eq!(
        text(&answer),
        [texts::chat_checking(Lang::En, &news.id.to_string()), texts::chat_ready(Lang::En, "Club News")]
            .join("\n---\n")
    );
    // A forward from anyone else adds nothing.
    let stranger = user(&c.app, "Stranger", None).await;
    let other = c.app.tg.create_channel("Elsewhere").await.unwrap();
    c.app.tg.forward_from_chat(stranger.id, c.world.bot.id, other.id, "a post").await.unwrap();
    c.app.settle(&[c.world.bot.id]).await;
    assert_eq!(c.app.db.count("SELECT count(*) FROM chats").await, 4);
}

#[tokio::test]
async fn the_owner_gets_an_api_key_once_and_revokes_it() {
    let c = club().await;
    let owner = c.world.owner.id;
    let answer = c.say(owner, "/apikey zapier").await;
    let shown = text(&answer);
    let key = shown.split_whitespace().find(|w| w.starts_with("gh_")).expect("the key").to_string();
    let compat = format!("/bot{}/{key}/", c.world.bot.id);
    assert!(shown.contains(&compat), "{shown}");
    assert!(shown.starts_with("New API key zapier (shown once"), "{shown}");
    assert_eq!(c.app.db.count("SELECT count(*) FROM outbound_messages WHERE text LIKE '%gh_%'").await, 0);
    // The key works on the integrator API and on the compatible one.
    let (status, _) = c.app.get(&format!("/v1/projects/{}", c.world.project_id), &key).await;
    assert_eq!(status, 200);
    let (status, body) = c.app.call(reqwest::Method::GET, &format!("{compat}getPlans"), None, None).await;
    assert_eq!(status, 200, "{body}");

    let list = c.say(owner, "/apikeys").await;
    assert!(text(&list).starts_with("API keys in force:\n• zapier (gh_"), "{}", text(&list));
    let revoke = buttons(&list[0]).into_iter().find(|b| b.starts_with("keyrevoke:")).unwrap();
    // Only staff's presses count.
    let stranger = user(&c.app, "Stranger", None).await;
    let pressed = c.app.tg.press_button(stranger.id, c.world.bot.id, list[0].message_id, &revoke).await;
    assert!(pressed.is_err(), "the button is under the owner's message only");
    let answer = c.press(owner, &list[0], &revoke).await;
    assert_eq!(text(&answer), texts::apikey_revoked(Lang::En, "zapier", true));
    let (status, _) = c.app.get(&format!("/v1/projects/{}", c.world.project_id), &key).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_owner_makes_access_codes_as_deep_links_within_bounds() {
    let c = club().await;
    let owner = c.world.owner.id;
    let answer = c.say(owner, "/codes 3 Monthly 7 2").await;
    let shown = text(&answer);
    let links: Vec<&str> = shown.lines().filter(|l| l.starts_with("https://t.me/club_bot?start=")).collect();
    assert_eq!(links.len(), 3, "{shown}");
    assert!(shown.starts_with("3 access codes for Monthly:"), "{shown}");
    let (uses, days): (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT max_uses, duration_days FROM access_codes LIMIT 1")
            .fetch_one(&c.app.db.pool)
            .await
            .unwrap();
    assert_eq!((uses, days), (Some(2), Some(7)));
    // A code from the list gives access.
    let code = links[0].rsplit('=').next().unwrap();
    let fan = user(&c.app, "Fan", None).await;
    c.say(fan.id, &format!("/start {code}")).await;
    assert_eq!(c.app.invite_links_to(&c.world, fan.id).await.len(), 1);

    for bad in ["/codes 0", "/codes 101", "/codes 5 Monthly 0", "/codes 5 Monthly 7 0", "/codes x"] {
        let answer = c.say(owner, bad).await;
        assert_eq!(text(&answer), "Usage: /codes <n 1-100> [plan] [days 1-3650] [uses 1-100000]", "{bad}");
    }
    let answer = c.say(owner, "/codes 2 Nonesuch").await;
    assert_eq!(text(&answer), texts::codes_which_plan(Lang::En, &["Monthly".to_string()]));
    // 100 codes arrive in messages Telegram accepts (40 links each).
    let answer = c.say(owner, "/codes 100").await;
    assert_eq!(answer.len(), 3);
    assert!(answer.iter().all(|m| m.text.as_ref().is_some_and(|t| t.chars().count() < 4096)));
    assert_eq!(c.app.db.count("SELECT count(*) FROM access_codes").await, 103);
}

#[tokio::test]
async fn stats_show_the_integrator_apis_analytics() {
    let c = club().await;
    let owner = c.world.owner.id;
    let fan = c.app.started_user(&c.world, "Fan").await;
    let until = (c.app.clock.now() + chrono::Duration::days(10)).to_rfc3339();
    c.app.grant(&c.world, fan.id, json!(until)).await;
    c.app.settle(&[c.world.bot.id]).await;
    let answer = c.say(owner, "/stats").await;
    let shown = text(&answer);
    assert!(shown.ends_with(&texts::stats_analytics(Lang::En, 1, 1, 0, "0")), "{shown}");
}

#[tokio::test]
async fn a_russian_speaking_admin_runs_every_setup_command_in_russian() {
    let c = club().await;
    let admin = c.russian_admin().await;
    let answer = c.say(admin.id, "/addplan Золото 15.00 EUR 30").await;
    assert_eq!(
        text(&answer),
        texts::plan_created(Lang::Ru, "Золото", "15.00 EUR", &texts::duration(Lang::Ru, Some(30)), "Club Channel")
    );
    let list = c.say(admin.id, "/plans").await;
    let monthly = texts::plan_line(Lang::Ru, "Monthly", "5.00 USD", &texts::duration(Lang::Ru, Some(30)), true);
    assert!(text(&list).starts_with(&format!("Ваши тарифы:\n{monthly}")), "{}", text(&list));
    let off = format!("plansale:{}:off", c.world.plan_id);
    assert_eq!(text(&c.press(admin.id, &list[0], &off).await), texts::plan_sale_changed(Lang::Ru, "Monthly", false));

    let howto = text(&c.say(admin.id, "/addchat").await);
    assert!(howto.starts_with("Добавьте меня администратором"), "{howto}");
    let chats = text(&c.say(admin.id, "/chats").await);
    assert_eq!(chats, format!("Ваши чаты:\n• Club Channel ({}): готов", c.world.channel.id));

    let shown = text(&c.say(admin.id, "/apikey").await);
    assert!(shown.starts_with("Новый API-ключ telegram (показывается один раз"), "{shown}");
    let keys = c.say(admin.id, "/apikeys").await;
    assert!(text(&keys).starts_with("Действующие API-ключи:\n"), "{}", text(&keys));

    let codes = text(&c.say(admin.id, "/codes 2 Monthly").await);
    assert!(codes.starts_with("Коды доступа к Monthly (2 шт.):\nhttps://t.me/club_bot?start="), "{codes}");
    assert_eq!(
        text(&c.say(admin.id, "/codes 0").await),
        "Формат: /codes <n 1-100> [plan] [days 1-3650] [uses 1-100000]"
    );

    let stats = text(&c.say(admin.id, "/stats").await);
    assert!(stats.ends_with(&texts::stats_analytics(Lang::Ru, 0, 0, 0, "0")), "{stats}");
}

#[tokio::test]
async fn the_guided_addplan_asks_step_by_step_with_buttons_and_resumes_after_a_restart() {
    let mut c = club().await;
    let owner = c.world.owner.id;
    let answer = c.say(owner, "/addplan").await;
    assert_eq!(text(&answer), texts::addplan_question(Lang::En, "name"));
    c.say(owner, "Gold Club").await;
    let answer = c.say(owner, "15 euros").await;
    assert_eq!(
        text(&answer),
        texts::addplan_other(Lang::En, "again") + &texts::addplan_question(Lang::En, "price"),
        "an answer it cannot read is asked again"
    );
    let duration = c.say(owner, "15.00 EUR").await;
    assert_eq!(text(&duration), texts::addplan_question(Lang::En, "duration"));
    assert_eq!(
        buttons(&duration[0]),
        ["ap:duration:7", "ap:duration:30", "ap:duration:90", "ap:duration:365", "ap:duration:lifetime"]
    );

    // A pause: the worker stops and another starts; the flow is where it was.
    c.app.worker.take().unwrap().stop().await;
    c.app.worker = Some(gatehouse_tests::spawn_worker_with(c.app.config.clone(), c.app.clock.clone()).await);

    let recurring = c.press(owner, &duration[0], "ap:duration:30").await;
    assert_eq!(buttons(&recurring[0]), ["ap:recurring:yes", "ap:recurring:no"]);
    // A press under an older question does nothing.
    let stale = c.press(owner, &duration[0], "ap:duration:7").await;
    assert!(stale.is_empty(), "{}", text(&stale));
    let trial = c.press(owner, &recurring[0], "ap:recurring:yes").await;
    assert_eq!(buttons(&trial[0]), ["ap:trial:0", "ap:trial:3", "ap:trial:7", "ap:trial:14"]);
    let chats = c.press(owner, &trial[0], "ap:trial:7").await;
    let channel = format!("ap:chats:{}", c.world.channel.id);
    assert_eq!(buttons(&chats[0]), [channel.clone(), "ap:chats:done".to_string()]);
    let none = c.press(owner, &chats[0], "ap:chats:done").await;
    assert!(text(&none).starts_with(&texts::addplan_other(Lang::En, "no_chat")), "{}", text(&none));
    let marked = c.press(owner, &chats[0], &channel).await;
    assert!(marked[0].reply_markup.as_ref().unwrap().to_string().contains("✓ Club Channel"));
    let methods = c.press(owner, &marked[0], "ap:chats:done").await;
    assert_eq!(buttons(&methods[0]), ["ap:methods:card", "ap:methods:card_stars"]);
    let stars = c.press(owner, &methods[0], "ap:methods:card_stars").await;
    assert_eq!(text(&stars), texts::addplan_question(Lang::En, "stars"));
    let confirm = c.say(owner, "700").await;
    assert_eq!(
        text(&confirm),
        "Gold Club: 15.00 EUR, 30 days, renews automatically, 7-day trial; grants Club Channel; paid by card or 700 Stars. Create it?"
    );
    let created = c.press(owner, &confirm[0], "ap:confirm:create").await;
    assert_eq!(text(&created), texts::plan_created(Lang::En, "Gold Club", "15.00 EUR", "30 days", "Club Channel"));
    let plan: (i64, String, Option<i32>, Option<i32>, bool, i32) = sqlx::query_as(
        "SELECT price_minor, currency, stars_price, duration_days, recurring, trial_days FROM plans WHERE name = 'Gold Club'",
    )
    .fetch_one(&c.app.db.pool)
    .await
    .unwrap();
    assert_eq!(plan, (1500, "EUR".to_string(), Some(700), Some(30), true, 7));
    // The flow is over: a text is no longer an answer.
    let after = c.say(owner, "hello").await;
    assert_eq!(text(&after), texts::help(Lang::En));
}

#[tokio::test]
async fn the_guided_addplan_in_russian_makes_a_stars_plan_and_can_be_cancelled() {
    let c = club().await;
    let admin = c.russian_admin().await;
    assert_eq!(text(&c.say(admin.id, "/addplan").await), texts::addplan_question(Lang::Ru, "name"));
    c.say(admin.id, "Звёзды").await;
    let duration = c.say(admin.id, "250 XTR").await;
    let lifetime = c.press(admin.id, &duration[0], "ap:duration:lifetime").await;
    // Lifetime: no renewal question.
    assert_eq!(text(&lifetime), texts::addplan_question(Lang::Ru, "trial"));
    let chats = c.press(admin.id, &lifetime[0], "ap:trial:0").await;
    assert_eq!(text(&chats), texts::addplan_question(Lang::Ru, "chats"));
    let marked = c.press(admin.id, &chats[0], &format!("ap:chats:{}", c.world.channel.id)).await;
    // Stars: paid in Stars only, no methods question.
    let confirm = c.press(admin.id, &marked[0], "ap:chats:done").await;
    assert_eq!(
        text(&confirm),
        "Звёзды: 250 Stars, навсегда, один платёж, без пробного периода; доступ к Club Channel; оплата: Telegram Stars. Создать?"
    );
    let cancelled = c.press(admin.id, &confirm[0], "ap:confirm:cancel").await;
    assert_eq!(text(&cancelled), texts::addplan_other(Lang::Ru, "cancelled"));
    assert_eq!(c.app.db.count("SELECT count(*) FROM plans").await, 1);
    // A stranger's "/addplan" is an unknown command, and their text no answer.
    let stranger = user(&c.app, "Чужой", Some("ru")).await;
    assert_eq!(text(&c.say(stranger.id, "/addplan").await), texts::unknown_command(Lang::Ru));
}

#[tokio::test]
async fn setup_commands_run_again_add_nothing_twice_and_lose_no_answer() {
    let c = club().await;
    let owner = c.world.owner.id;
    c.say(owner, "/addplan Gold 15.00 EUR 30").await;
    let codes = c.say(owner, "/codes 3 Monthly").await;
    assert_eq!(codes.len(), 1);
    let key = c.say(owner, "/apikey zapier").await;
    assert!(text(&key).starts_with("New API key zapier"), "{}", text(&key));
    // The guided flow, to its end.
    c.say(owner, "/addplan").await;
    c.say(owner, "Silver").await;
    let duration = c.say(owner, "250 XTR").await;
    let trial = c.press(owner, &duration[0], "ap:duration:lifetime").await;
    let chats = c.press(owner, &trial[0], "ap:trial:0").await;
    let marked = c.press(owner, &chats[0], &format!("ap:chats:{}", c.world.channel.id)).await;
    let confirm = c.press(owner, &marked[0], "ap:chats:done").await;
    let created = text(&c.press(owner, &confirm[0], "ap:confirm:create").await);
    assert!(created.starts_with("Plan Silver created"), "{created}");
    let counts = || async {
        (
            c.app.db.count("SELECT count(*) FROM plans").await,
            c.app.db.count("SELECT count(*) FROM access_codes").await,
            c.app.db.count("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").await,
        )
    };
    let before = counts().await;
    assert_eq!(before, (3, 3, 2));
    // The last turn crashed after its commit, before its answer went out.
    let lost = sqlx::query("UPDATE outbound_messages SET state = 'pending', sent_at = NULL WHERE text = $1")
        .bind(&created)
        .execute(&c.app.db.pool)
        .await
        .unwrap();
    assert_eq!(lost.rows_affected(), 1);
    let seen = c.app.tg.messages_to(owner, c.world.bot.id).await.unwrap().len();

    // Every update the bot handled is handled once more.
    let rerun = c.app.rerun_finished_jobs(|kind| kind == "process-telegram-update").await;
    assert!(rerun >= 10, "{rerun} updates");
    c.app.settle(&[c.world.bot.id]).await;

    assert_eq!(counts().await, before, "no second plan, code or key");
    let since = c.app.tg.messages_to(owner, c.world.bot.id).await.unwrap().split_off(seen);
    assert_eq!(text(&since), created, "only the lost answer is sent, once");
    // And the flow is over.
    assert_eq!(text(&c.say(owner, "hello").await), texts::help(Lang::En));
}

#[tokio::test]
async fn a_russian_speaking_admin_adds_chats_by_id_username_and_forward_in_russian() {
    let c = club().await;
    let admin = c.russian_admin().await;
    let group = c.chat(ChatKind::Supergroup, "Club Talk", None).await;
    let rights = AdminRights { can_restrict_members: false, ..AdminRights::all() };
    c.app.tg.add_admin(group.id, c.world.bot.id, rights).await.unwrap();
    let public = c.chat(ChatKind::Channel, "Club Public", Some("club_public")).await;
    c.app.tg.add_admin(public.id, c.world.bot.id, AdminRights::all()).await.unwrap();
    let news = c.app.tg.create_channel("Club News").await.unwrap();
    c.app.tg.add_admin(news.id, c.world.bot.id, AdminRights::all()).await.unwrap();
    c.app.settle(&[c.world.bot.id]).await;

    let told = text(&c.say(admin.id, &format!("/addchat {}", group.id)).await);
    assert!(told.starts_with(&texts::chat_checking(Lang::Ru, &group.id.to_string())), "{told}");
    assert!(told.contains("Club Talk"), "{told}");
    assert!(told.contains("Club Talk не готов: "), "in Russian: {told}");
    assert_eq!(
        text(&c.say(admin.id, "/addchat @club_public").await),
        [texts::chat_checking(Lang::Ru, &public.id.to_string()), texts::chat_ready(Lang::Ru, "Club Public")]
            .join("\n---\n")
    );
    assert_eq!(text(&c.say(admin.id, "/addchat @nobody_here").await), texts::chat_unknown(Lang::Ru, "@nobody_here"));
    assert_eq!(text(&c.say(admin.id, "/addchat 0").await), "Формат: /addchat <chat_id or @username>");

    let before = c.app.tg.messages_to(admin.id, c.world.bot.id).await.unwrap().len();
    c.app.tg.forward_from_chat(admin.id, c.world.bot.id, news.id, "a post").await.unwrap();
    c.app.settle(&[c.world.bot.id]).await;
    let answer = c.app.tg.messages_to(admin.id, c.world.bot.id).await.unwrap().split_off(before);
    assert_eq!(
        text(&answer),
        [texts::chat_checking(Lang::Ru, &news.id.to_string()), texts::chat_ready(Lang::Ru, "Club News")]
            .join("\n---\n")
    );
    let chats = text(&c.say(admin.id, "/chats").await);
    assert!(chats.starts_with("Ваши чаты:\n"), "{chats}");
    assert!(chats.contains(&format!("• Club News ({}): готов", news.id)), "{chats}");
    assert!(chats.contains(&format!("• Club Talk ({}): не готов", group.id)), "{chats}");
}
