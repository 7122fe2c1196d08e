//! `gatehouse demo`: the whole system against the simulator and the local Postgres,
//! playing the membership story step by step, then checking and summing it up.
//!
//! It uses a database of its own (the `DATABASE_URL` database name with `_demo`
//! appended, created afresh), the simulator on a random port, and the real api and
//! worker in this process. Time moves by the demo's clock (so the month-long plan
//! ends in seconds); everything else is what production runs.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail, ensure};
use gatehouse_jobs::{
    Config,
    catalog::{daily_member_count::CountMembers, expiry_scan::ExpiryScan},
    clock::Clock,
    queue::{JobSpec, RunAt, enqueue},
};
use gatehouse_sim::{AdminRights, ChatInfo, ChatKind, MemberStatus, Sim, SimClient, SimConfig};
use serde_json::{Value, json};
use sqlx::PgPool;

struct Demo {
    api: String,
    http: reqwest::Client,
    tg: SimClient,
    pool: PgPool,
    clock: Clock,
    bot_id: i64,
    /// The platform bot for creators (`GATEHOUSE_MANAGER_BOT_TOKEN`).
    manager_id: i64,
    step: usize,
}

/// Runs the demo; fails if the story does not end as it must.
pub async fn run(config: Arc<Config>) -> anyhow::Result<()> {
    let (database_url, database) = demo_database(config.database_url.expose())?;
    reset_database(&database_url, &database).await?;
    gatehouse_jobs::db::migrate(&database_url).await.context("migrating the demo database")?;
    let pool = gatehouse_jobs::db::pool(&database_url, 8)?;

    let sim = Sim::start(SimConfig::default()).await.context("starting the simulator")?;
    let manager = sim.client().create_bot_named("gatehouse_bot").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let admin_token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let mut key = [0u8; 32];
    key.iter_mut().enumerate().for_each(|(i, b)| *b = (i as u8).wrapping_mul(37).wrapping_add(11));
    let mut demo_config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "TELEGRAM_API_URL" => Some(sim.base_url().to_string()),
        "GATEHOUSE_PUBLIC_URL" => Some(api_url.clone()),
        "GATEHOUSE_POLL_INTERVAL_MS" => Some("50".into()),
        "GATEHOUSE_RESCUE_AFTER_SECS" => Some("10".into()),
        "GATEHOUSE_SHUTDOWN_GRACE_SECS" => Some("5".into()),
        "GATEHOUSE_MANAGER_BOT_TOKEN" => Some(manager.token.clone()),
        _ => None,
    })?;
    demo_config = demo_config.with_secrets(admin_token.clone(), key);
    let demo_config = Arc::new(demo_config);

    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let state = gatehouse_api::AppState {
        pool: pool.clone(),
        config: demo_config.clone(),
        metrics: gatehouse_jobs::metrics::prometheus(),
        clock: gatehouse_jobs::clock::Clock::system(),
        webhook_secrets: Default::default(),
    };
    let mut api_stop = stop.subscribe();
    let api_task = tokio::spawn(gatehouse_api::serve(listener, state, async move {
        let _ = api_stop.recv().await;
    }));
    let clock = Clock::system();
    let worker_pool = gatehouse_jobs::db::pool(&database_url, gatehouse_worker::pool_size(&demo_config))?;
    let options = gatehouse_worker::WorkerOptions { clock: clock.clone(), ..Default::default() };
    let mut worker_stop = stop.subscribe();
    let worker_task = tokio::spawn(gatehouse_worker::run(demo_config.clone(), worker_pool, options, async move {
        let _ = worker_stop.recv().await;
    }));

    println!("Gatehouse demo");
    println!("  database   {database} (fresh)");
    println!("  simulator  {} (Telegram Bot API, rate limits on)", sim.base_url());
    println!("  api        {api_url}");
    println!("  worker     in this process, queues interactive / lifecycle / bulk\n");

    let mut demo = Demo {
        api: api_url,
        http: reqwest::Client::new(),
        tg: sim.client(),
        pool: pool.clone(),
        clock,
        bot_id: 0,
        manager_id: manager.id,
        step: 0,
    };
    let result = demo.story(&admin_token).await;
    let _ = stop.send(());
    let _ = worker_task.await;
    let _ = api_task.await;
    sim.shutdown().await;
    result
}

impl Demo {
    async fn story(&mut self, admin_token: &str) -> anyhow::Result<()> {
        let tg = self.tg.clone();
        self.say("A creator signs up");
        let owner = tg.create_user_named("Olga").await?;
        let project = self
            .call(
                "POST",
                "/v1/projects",
                admin_token,
                json!({"handle": "club", "name": "The Club", "owner_telegram_id": owner.id}),
            )
            .await?;
        let (project_id, key) = (text(&project, "project_id")?, text(&project, "api_key")?);
        println!("     project {project_id}, API key {}… (shown once, stored hashed)", &key[..8]);

        self.say("She connects her bot");
        let bot = tg.create_bot_named("club_bot").await?;
        self.bot_id = bot.id;
        self.call("PUT", &format!("/v1/projects/{project_id}/bot"), &key, json!({"token": bot.token})).await?;
        self.settle().await?;
        let status = self.call("GET", &format!("/v1/projects/{project_id}/bot"), &key, Value::Null).await?;
        ensure!(status["status"] == "connected", "the bot did not connect: {status}");
        let hook = tg.webhook_state(bot.id).await?;
        println!("     @{} connected; Telegram now posts its updates to {}", bot.username, hook.url);

        self.say("She adds her private channel, with the bot as administrator");
        let channel = tg
            .create_chat(ChatInfo {
                id: 0,
                kind: ChatKind::Channel,
                title: "Club Channel".into(),
                username: None,
                join_by_request: false,
                description: None,
                creator_id: Some(owner.id),
            })
            .await?;
        tg.add_admin(channel.id, bot.id, AdminRights::all()).await?;
        // Personal single-use links (new chats default to join requests): the story below
        // shows how a shared link is caught.
        let chat = json!({"chat_id": channel.id, "join_strategy": "single_use_link"});
        self.call("POST", &format!("/v1/projects/{project_id}/chats"), &key, chat).await?;
        self.settle().await?;
        let chats = self.call("GET", &format!("/v1/projects/{project_id}/chats"), &key, Value::Null).await?;
        ensure!(chats[0]["status"] == "ready", "the channel is not ready: {chats}");
        println!("     \"{}\" ({}) is ready: the bot may invite and ban", channel.title, channel.id);

        self.say("She sells a monthly plan");
        let plan = self
            .call(
                "POST",
                &format!("/v1/projects/{project_id}/plans"),
                &key,
                json!({"name": "Monthly", "price": 500, "currency": "USD", "duration_days": 30, "recurring": false, "trial_days": 0, "chat_ids": [channel.id]}),
            )
            .await?;
        let plan_id = text(&plan, "plan_id")?;
        println!("     plan {plan_id}: Monthly, 5.00 USD, 30 days");

        self.say("Her website asks the integrator API for the plan's deep link, with a key that may only do that");
        let shop = self
            .call(
                "POST",
                &format!("/v1/projects/{project_id}/keys"),
                &key,
                json!({"name": "website", "abilities": ["distribution:read"]}),
            )
            .await?;
        let shop_key = text(&shop, "api_key")?;
        let link = self
            .call("GET", &format!("/v1/projects/{project_id}/deep-link?plan_id={plan_id}"), &shop_key, Value::Null)
            .await?;
        let deep_link = text(&link, "deep_link")?;
        let username = bot.username.clone();
        ensure!(deep_link == format!("https://t.me/{username}?start=plan_{plan_id}"), "wrong deep link: {link}");
        println!("     {deep_link}");
        let refused =
            self.http.get(format!("{}/v1/projects/{project_id}/plans", self.api)).bearer_auth(&shop_key).send().await?;
        ensure!(refused.status() == 403, "the website's key could list plans: {}", refused.status());
        println!("     the same key is refused anything else (403 TOKEN_MISSING_ABILITY)");

        self.say("Her membership page shows the plan to visitors from the web");
        let page_url = format!("{}/p/club", self.api);
        let page = self.http.get(&page_url).header("accept-language", "en").send().await?;
        ensure!(page.status() == 200, "{page_url} answered {}", page.status());
        let csp = page.headers().get("content-security-policy").is_some();
        let html = page.text().await?;
        let deep_link = format!("https://t.me/{}?start=plan_{plan_id}", bot.username);
        ensure!(
            html.contains("Monthly")
                && html.contains("5.00 USD")
                && html.contains("Club Channel")
                && html.contains(&deep_link),
            "the membership page does not show the plan"
        );
        ensure!(csp, "the membership page has no Content-Security-Policy");
        println!(
            "     {page_url}: \"Monthly\", 5.00 USD, includes Club Channel, \"Continue in Telegram\" → {deep_link}"
        );

        self.say("Alice and Bob subscribe (granted for 30 days)");
        let (alice, bob, mallory) = (
            tg.create_user_named("Alice").await?,
            tg.create_user_named("Bob").await?,
            tg.create_user_named("Mallory").await?,
        );
        for u in [&alice, &bob, &mallory] {
            tg.send_text(u.id, bot.id, "/start").await?;
        }
        let until = (self.clock.now() + chrono::Duration::days(30)).to_rfc3339();
        for u in [&alice, &bob] {
            self.call(
                "POST",
                &format!("/v1/projects/{project_id}/grants"),
                &key,
                json!({"telegram_user_id": u.id, "plan_id": plan_id, "expires_at": until, "note": "demo"}),
            )
            .await?;
        }
        self.settle().await?;
        let alice_link = self.last_link(alice.id).await?;
        let bob_link = self.last_link(bob.id).await?;
        println!("     Alice got her personal link {alice_link} (single use, expires in 24 h)");
        println!("     Bob got his own link too");

        self.say("Alice joins with her link");
        tg.join_by_link(alice.id, &alice_link).await?;
        self.settle().await?;
        ensure!(self.is_member(channel.id, alice.id).await?, "Alice is not in the channel");
        ensure!(tg.link(&alice_link).await?.is_revoked, "Alice's link was not revoked after she joined");
        println!("     Alice is in; her link is revoked now that it has served");

        self.say("Bob shares his link with Mallory, who joins with it");
        tg.join_by_link(mallory.id, &bob_link).await?;
        self.settle().await?;
        ensure!(!self.is_member(channel.id, mallory.id).await?, "Mallory is still in the channel");
        ensure!(tg.link(&bob_link).await?.is_revoked, "the shared link is still valid");
        let fresh = self.last_link(bob.id).await?;
        ensure!(fresh != bob_link, "Bob did not get a fresh link");
        println!("     Mallory was removed (a kick, not a ban), the shared link revoked,");
        println!("     and Bob got a fresh personal link {fresh}");
        tg.join_by_link(bob.id, &fresh).await?;
        self.settle().await?;
        ensure!(self.is_member(channel.id, bob.id).await?, "Bob is not in the channel");
        println!("     Bob joins with it");

        self.say("Olga announces a live session to her members with /broadcast");
        let news = "Live Q&A tonight at 20:00 in the channel";
        tg.send_text(owner.id, bot.id, &format!("/broadcast active\n{news}")).await?;
        self.settle().await?;
        let confirm = tg.messages_to(owner.id, bot.id).await?.pop().context("no answer to /broadcast")?;
        let asked = "Broadcast to active subscribers: 2 subscribers will receive it. Send it?";
        ensure!(confirm.text.as_deref() == Some(asked), "/broadcast answered {:?}", confirm.text);
        let send = confirm.reply_markup.as_ref().and_then(|m| m["inline_keyboard"][0][0]["callback_data"].as_str());
        tg.press_button(owner.id, bot.id, confirm.message_id, send.context("no Send button")?).await?;
        self.settle().await?;
        for (name, u) in [("Alice", &alice), ("Bob", &bob)] {
            let got = tg.messages_to(u.id, bot.id).await?.iter().any(|m| m.text.as_deref() == Some(news));
            ensure!(got, "{name} did not get the broadcast");
        }
        let progress = tg.messages_to(owner.id, bot.id).await?.pop().context("no progress message")?;
        let done = "Broadcast to active subscribers done: sent 2 of 2 · 0 unreachable";
        ensure!(progress.text.as_deref() == Some(done), "the progress message reads {:?}", progress.text);
        println!("     \"{asked}\" — Send: Alice and Bob got it, in the bulk lane under the bot's limits;");
        println!("     her progress message now reads \"{done}\"");

        self.say("31 days pass (demo clock); the scheduler's expiry scan runs");
        self.clock.advance(chrono::Duration::days(31));
        self.enqueue(&ExpiryScan { tick: self.clock.now() }).await?;
        self.settle().await?;
        for (name, u) in [("Alice", &alice), ("Bob", &bob)] {
            let member = tg.member(channel.id, u.id).await?;
            ensure!(matches!(member.status, MemberStatus::Left), "{name} is still inside: {:?}", member.status);
        }
        // Both seen joining: each removal is one unbanChatMember without only_if_banned.
        ensure!(tg.calls_of("banChatMember").await?.is_empty(), "a removal banned someone");
        println!("     Alice and Bob were removed, one call each (an unban that removes: no ban, free to");
        println!("     come back after paying)");
        println!("     and told their access ended");

        self.say("The daily member count runs");
        self.enqueue(&CountMembers { tick: self.clock.now() }).await?;
        self.settle().await?;
        let counted: i32 = sqlx::query_scalar("SELECT members FROM member_counts").fetch_one(&self.pool).await?;
        let expected = tg.chat(channel.id).await?.member_count as i32;
        ensure!(counted == expected, "counted {counted}, Telegram says {expected}");
        println!("     {counted} members today (the owner and the bot)");

        self.set_up_in_telegram().await?;
        self.summary(channel.id).await
    }

    /// A second creator who never touches the HTTP API: the platform bot signs her up
    /// and connects her bot; her own bot's owner commands add a channel and a plan.
    async fn set_up_in_telegram(&mut self) -> anyhow::Result<()> {
        let tg = self.tg.clone();
        self.say("Another creator sets up from Telegram alone, in the platform bot");
        let manager = self.manager_id;
        let hook = tg.webhook_state(manager).await?;
        ensure!(hook.url.ends_with("/hooks/manager"), "the platform bot's webhook is {:?}", hook.url);
        let ivy = tg.create_user_named("Ivy").await?;
        for answer in ["/start", "Ivy's Studio", "ivy-studio"] {
            tg.send_text(ivy.id, manager, answer).await?;
            self.settle_on(manager).await?;
        }
        let studio = tg.create_bot_named("ivy_studio_bot").await?;
        tg.send_text(ivy.id, manager, &studio.token).await?;
        self.settle_on(manager).await?;
        let seen = tg.messages(Some(manager), Some(ivy.id)).await?;
        ensure!(seen.iter().all(|m| m.text.as_deref() != Some(studio.token.as_str())), "the token stayed in the chat");
        let told = self.last_text(ivy.id, manager).await?;
        ensure!(told.contains("@ivy_studio_bot is connected"), "the platform bot said {told:?}");
        println!("     /start, a name, a handle, the token from BotFather (its message deleted at once)");
        println!("     \"{}\"", told.lines().next().unwrap_or_default());

        let channel = tg
            .create_chat(ChatInfo {
                id: 0,
                kind: ChatKind::Channel,
                title: "Studio Channel".into(),
                username: None,
                join_by_request: false,
                description: None,
                creator_id: Some(ivy.id),
            })
            .await?;
        tg.send_text(ivy.id, studio.id, "/addchat").await?;
        self.settle_on(studio.id).await?;
        tg.add_admin(channel.id, studio.id, AdminRights::all()).await?;
        self.settle_on(studio.id).await?;
        let told = self.last_text(ivy.id, studio.id).await?;
        ensure!(told.starts_with("Studio Channel is ready"), "her bot said {told:?}");
        println!("     in @ivy_studio_bot: /addchat, then the bot made an admin of her channel: \"{told}\"");
        tg.send_text(ivy.id, studio.id, "/addplan Supporters 100 XTR 30").await?;
        self.settle_on(studio.id).await?;
        let told = self.last_text(ivy.id, studio.id).await?;
        ensure!(told.starts_with("Plan Supporters created: 100 Stars, 30 days"), "her bot said {told:?}");
        println!("     /addplan Supporters 100 XTR 30: \"{}\"", told.lines().next().unwrap_or_default());
        Ok(())
    }

    /// The last text `bot` sent `user`.
    async fn last_text(&self, user: i64, bot: i64) -> anyhow::Result<String> {
        let messages = self.tg.messages_to(user, bot).await?;
        messages.iter().rev().find_map(|m| m.text.clone()).context("nothing was said")
    }

    async fn summary(&self, channel: i64) -> anyhow::Result<()> {
        let counters = self.tg.counters().await?;
        let jobs: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM apalis.jobs GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await?;
        let actions: Vec<(String, i64)> =
            sqlx::query_as("SELECT action, count(*) FROM audit_log GROUP BY action ORDER BY action")
                .fetch_all(&self.pool)
                .await?;
        let inside = self.tg.chat(channel).await?.members.len();
        println!("\nSummary");
        println!("  channel members now     {inside} (owner and bot)");
        println!(
            "  member actions          {}",
            actions.iter().map(|(a, n)| format!("{a} {n}")).collect::<Vec<_>>().join(", ")
        );
        println!(
            "  jobs                    {}",
            jobs.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", ")
        );
        let mut methods: Vec<_> = counters.calls_per_method.iter().collect();
        methods.sort_by(|a, b| b.1.cmp(a.1));
        println!(
            "  Bot API calls           {} ({})",
            counters.calls,
            methods.iter().map(|(m, n)| format!("{m} {n}")).collect::<Vec<_>>().join(", ")
        );
        println!("  429s from Telegram      {}", counters.too_many_requests);
        let failed = jobs.iter().filter(|(s, _)| s == "Failed" || s == "Killed").map(|(_, n)| n).sum::<i64>();
        ensure!(failed == 0, "{failed} jobs failed");
        ensure!(inside == 2, "expected only the owner and the bot inside, found {inside}");
        println!("\nThe story ended as it must: every step checked.");
        Ok(())
    }

    fn say(&mut self, what: &str) {
        self.step += 1;
        println!("{:>2}. {what}", self.step);
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Value) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request = self.http.request(method, format!("{}{path}", self.api)).bearer_auth(key);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path} answered {status}: {body}");
        }
        // Every /v1 success is {"data": …}.
        Ok(body["data"].clone())
    }

    async fn enqueue<J: JobSpec>(&self, job: &J) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await?;
        enqueue(&mut conn, job, RunAt::Now).await?;
        Ok(())
    }

    /// Waits until Telegram has delivered every update and no job is left to run.
    async fn settle(&self) -> anyhow::Result<()> {
        self.settle_on(self.bot_id).await
    }

    /// [`Demo::settle`], for the updates of `bot` (0: none).
    async fn settle_on(&self, bot: i64) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if bot != 0 {
                self.tg.wait_idle(bot, Duration::from_secs(30)).await?;
            }
            let unfinished = gatehouse_jobs::store::queue::unfinished(&self.pool).await?;
            let pending = if bot != 0 { self.tg.webhook_state(bot).await?.pending } else { 0 };
            if unfinished == 0 && pending == 0 {
                return Ok(());
            }
            ensure!(tokio::time::Instant::now() < deadline, "the system did not settle");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn last_link(&self, user: i64) -> anyhow::Result<String> {
        let messages = self.tg.messages_to(user, self.bot_id).await?;
        messages
            .iter()
            .rev()
            .filter_map(|m| m.text.as_deref())
            .find_map(|t| t.split_whitespace().find(|w| w.starts_with("https://t.me/+")))
            .map(str::to_string)
            .context("no link was sent")
    }

    async fn is_member(&self, chat: i64, user: i64) -> anyhow::Result<bool> {
        Ok(matches!(self.tg.member(chat, user).await?.status, MemberStatus::Member { .. }))
    }
}

fn text(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field].as_str().map(str::to_string).with_context(|| format!("no {field} in {value}"))
}

/// The demo's own database: `DATABASE_URL`'s database name + `_demo`.
fn demo_database(url: &str) -> anyhow::Result<(String, String)> {
    let (server, name) = url.rsplit_once('/').context("DATABASE_URL has no database name")?;
    let name = name.split('?').next().unwrap_or(name);
    let database = format!("{name}_demo");
    Ok((format!("{server}/{database}"), database))
}

async fn reset_database(url: &str, database: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let (server, _) = url.rsplit_once('/').context("DATABASE_URL has no database name")?;
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .context("connecting to PostgreSQL (is it running on DATABASE_URL?)")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)")))
        .execute(&mut admin)
        .await?;
    Ok(())
}
