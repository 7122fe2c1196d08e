//! [`TestApp`]: the whole system for one test — the simulator, a fresh database,
//! the real api and worker in-process, and a clock the test can move — plus
//! [`World`], a project with a connected bot, a ready channel and a plan.

use std::{sync::Arc, time::Duration};

use gatehouse_jobs::{Config, clock::Clock, queue::JobSpec};
use gatehouse_sim::{AdminRights, BotInfo, ChatInfo, ChatKind, Sim, SimClient, SimConfig, SimHandle, UserInfo};
use serde_json::{Value, json};

use crate::{Running, TEST_ADMIN_TOKEN, TestDb, test_config};

/// The whole system for one test.
pub struct TestApp {
    /// The simulator.
    pub sim: SimHandle,
    /// Its control client.
    pub tg: SimClient,
    /// The api.
    pub api: Running,
    /// The worker.
    pub worker: Option<Running>,
    /// Gatehouse's clock (the worker's jobs read it).
    pub clock: Clock,
    /// The configuration the api and worker run with.
    pub config: Arc<Config>,
    /// An HTTP client for requests the helpers do not cover.
    pub http: reqwest::Client,
    /// The platform bot for creators, when started with [`TestApp::start_with_manager`].
    pub manager: Option<BotInfo>,
    /// The database. Declared last, so it is dropped last: the api and the worker are
    /// told to stop first, and a worker never restarts its streams against a database
    /// that is gone (on a multi-threaded runtime that held the test's end for minutes).
    pub db: TestDb,
}

impl TestApp {
    /// Starts everything with the simulator's defaults (Telegram's rate limits on).
    pub async fn start() -> Self {
        Self::start_with(SimConfig::default(), &[]).await
    }

    /// Starts everything with this simulator configuration and extra settings.
    pub async fn start_with(sim_config: SimConfig, extra: &[(&str, &str)]) -> Self {
        Self::start_inner(sim_config, extra, false).await
    }

    /// Starts everything with a platform bot for creators (`GATEHOUSE_MANAGER_BOT_TOKEN`,
    /// the simulator's `gatehouse_bot`), whose webhook is set once this returns.
    pub async fn start_with_manager() -> Self {
        let app = Self::start_inner(SimConfig::default(), &[], true).await;
        let manager = app.manager.clone().expect("a platform bot");
        // The worker enqueues connect-manager-bot as it starts: wait for its setWebhook.
        let tg = app.tg.clone();
        crate::wait_until(Duration::from_secs(30), "the platform bot's webhook", || {
            let tg = tg.clone();
            async move { tg.webhook_state(manager.id).await.is_ok_and(|s| !s.url.is_empty()) }
        })
        .await;
        app.settle(&[manager.id]).await;
        app
    }

    async fn start_inner(sim_config: SimConfig, extra: &[(&str, &str)], with_manager: bool) -> Self {
        let sim = Sim::start(sim_config).await.expect("simulator");
        let manager = if with_manager {
            Some(sim.client().create_bot_named("gatehouse_bot").await.expect("platform bot"))
        } else {
            None
        };
        let db = TestDb::new().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let api_url = format!("http://{}", listener.local_addr().unwrap());
        let sim_url = sim.base_url().to_string();
        let stripe_url = format!("{sim_url}/stripe");
        let mut settings = vec![
            ("TELEGRAM_API_URL", sim_url.as_str()),
            ("STRIPE_API_URL", stripe_url.as_str()),
            ("GATEHOUSE_PUBLIC_URL", api_url.as_str()),
            ("GATEHOUSE_TELEGRAM_TIMEOUT_MS", "2000"),
        ];
        settings.extend_from_slice(extra);
        if let Some(manager) = &manager {
            settings.push(("GATEHOUSE_MANAGER_BOT_TOKEN", manager.token.as_str()));
        }
        let config = Arc::new(test_config(&db.url, &settings));
        // The api and the worker share one clock, which the test can move.
        let clock = Clock::system();
        let api = crate::serve_api_with(listener, config.clone(), db.pool.clone(), clock.clone()).await;
        let worker = crate::spawn_worker_with(config.clone(), clock.clone()).await;
        let tg = sim.client();
        Self { db, sim, tg, api, worker: Some(worker), clock, config, http: reqwest::Client::new(), manager }
    }

    /// Sends a request to the api; returns the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.api.url()));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api request");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(key), Some(body)).await
    }

    /// GET.
    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(key), None).await
    }

    /// Waits until the simulator has delivered every update of `bots` and no job is
    /// due or running, repeatedly (jobs make calls that make updates).
    pub async fn settle(&self, bots: &[i64]) {
        for _ in 0..20 {
            for bot in bots {
                self.tg.wait_idle(*bot, Duration::from_secs(20)).await.expect("updates delivered");
            }
            crate::drain_all(&self.db.pool, Duration::from_secs(60)).await;
            let mut idle = true;
            for bot in bots {
                let state = self.tg.webhook_state(*bot).await.expect("webhook state");
                idle &= state.pending == 0;
            }
            if idle && gatehouse_jobs::store::queue::unfinished(&self.db.pool).await.unwrap() == 0 {
                return;
            }
        }
        panic!("the system did not settle");
    }

    /// Queues every finished job whose kind `rerun` picks to run once more, as after a
    /// crash between its work and its acknowledgement. Returns how many.
    pub async fn rerun_finished_jobs(&self, rerun: impl Fn(&str) -> bool) -> usize {
        let rows: Vec<(String, Vec<u8>, i32)> =
            sqlx::query_as("SELECT job_type, job, max_attempts FROM apalis.jobs WHERE status = 'Done' ORDER BY id")
                .fetch_all(&self.db.pool)
                .await
                .unwrap();
        let mut queued = 0;
        for (queue, job, max_attempts) in rows {
            let kind = serde_json::from_slice::<Value>(&job).unwrap()["kind"].as_str().unwrap().to_string();
            if !rerun(&kind) {
                continue;
            }
            sqlx::query(
                "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata)
                 VALUES ($1, $2, $3, 'Pending', 0, $4, now(), 0, ''::hstore)",
            )
            // A valid ULID no real job has.
            .bind(format!("01JZ{queued:022}"))
            .bind(queue)
            .bind(job)
            .bind(max_attempts)
            .execute(&self.db.pool)
            .await
            .unwrap();
            queued += 1;
        }
        queued
    }

    /// Writes a job directly (as the scheduler would).
    pub async fn enqueue<J: JobSpec>(&self, job: &J) {
        let mut conn = self.db.pool.acquire().await.unwrap();
        gatehouse_jobs::queue::enqueue(&mut conn, job, gatehouse_jobs::queue::RunAt::Now).await.unwrap();
    }

    /// Builds a project with a connected bot, a ready channel whose owner is a user,
    /// and a 30-day plan on it.
    pub async fn world(&self) -> World {
        let owner = self.tg.create_user_named("Owner").await.unwrap();
        let (status, project) = self
            .post(
                "/v1/projects",
                TEST_ADMIN_TOKEN,
                json!({"handle": "club", "name": "The Club", "owner_telegram_id": owner.id}),
            )
            .await;
        assert_eq!(status, 201, "{project}");
        let project_id = project["data"]["project_id"].as_str().unwrap().to_string();
        let key = project["data"]["api_key"].as_str().unwrap().to_string();
        let bot = self.tg.create_bot_named("club_bot").await.unwrap();
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                &format!("/v1/projects/{project_id}/bot"),
                Some(&key),
                Some(json!({"token": bot.token})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        self.settle(&[]).await;
        let channel = self
            .tg
            .create_chat(ChatInfo {
                id: 0,
                kind: ChatKind::Channel,
                title: "Club Channel".into(),
                username: None,
                join_by_request: false,
                description: None,
                creator_id: Some(owner.id),
            })
            .await
            .unwrap();
        self.tg.add_admin(channel.id, bot.id, AdminRights::all()).await.unwrap();
        let chat_uuid = self.add_chat(&project_id, &key, channel.id, "single_use_link", &bot).await;
        let (status, plan) = self
            .post(
                &format!("/v1/projects/{project_id}/plans"),
                &key,
                json!({"name": "Monthly", "price": 500, "currency": "USD", "duration_days": 30,
                       "recurring": false, "trial_days": 0, "chat_ids": [channel.id]}),
            )
            .await;
        assert_eq!(status, 201, "{plan}");
        World {
            project_id,
            key,
            bot,
            owner,
            channel,
            chat_uuid,
            plan_id: plan["data"]["plan_id"].as_str().unwrap().to_string(),
        }
    }

    /// Adds a managed chat and waits for its verification; returns our id of it.
    pub async fn add_chat(&self, project_id: &str, key: &str, chat_id: i64, strategy: &str, bot: &BotInfo) -> String {
        let (status, body) = self
            .post(
                &format!("/v1/projects/{project_id}/chats"),
                key,
                json!({"chat_id": chat_id, "join_strategy": strategy}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        self.settle(&[bot.id]).await;
        body["data"]["id"].as_str().unwrap().to_string()
    }

    /// Grants `plan` to `user` until `expires_at` (RFC 3339 or null); returns the grant id.
    pub async fn grant(&self, world: &World, user: i64, expires_at: Value) -> String {
        let (status, body) = self
            .post(
                &format!("/v1/projects/{}/grants", world.project_id),
                &world.key,
                json!({"telegram_user_id": user, "plan_id": world.plan_id, "expires_at": expires_at, "note": "test"}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["data"]["grant_id"].as_str().unwrap().to_string()
    }
}

/// A project with a connected bot, a ready channel and a plan.
pub struct World {
    /// Project id.
    pub project_id: String,
    /// Its API key.
    pub key: String,
    /// The bot in the simulator.
    pub bot: BotInfo,
    /// The project owner (and channel creator).
    pub owner: UserInfo,
    /// The channel in the simulator.
    pub channel: ChatInfo,
    /// Our id of the channel.
    pub chat_uuid: String,
    /// The plan granting the channel.
    pub plan_id: String,
}

/// Payments: Stripe accounts, plans, paying users and what they were sent.
impl TestApp {
    /// Registers a Stripe account in the simulator whose webhook points at the project,
    /// and gives the project its keys; returns the secret key.
    pub async fn connect_stripe(&self, world: &World, webhook_secret: &str) -> String {
        let api_key = format!("sk_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{}/hooks/stripe/{}", self.api.url(), world.project_id);
        self.tg
            .add_stripe_account(&gatehouse_sim::stripe::StripeAccount {
                id: String::new(),
                api_key: api_key.clone(),
                webhook_url: Some(url),
                webhook_secret: Some(webhook_secret.to_string()),
            })
            .await
            .unwrap();
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                &format!("/v1/projects/{}/stripe", world.project_id),
                Some(&world.key),
                Some(json!({"secret_key": api_key, "webhook_secret": webhook_secret})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        api_key
    }

    /// Creates a plan granting the world's channel from `terms` (name, price, …); returns its id.
    pub async fn plan(&self, world: &World, mut terms: Value) -> String {
        terms["chat_ids"] = json!([world.channel.id]);
        let (status, plan) = self.post(&format!("/v1/projects/{}/plans", world.project_id), &world.key, terms).await;
        assert_eq!(status, 201, "{plan}");
        plan["data"]["plan_id"].as_str().unwrap().to_string()
    }

    /// A user who has started the bot (Telegram lets a bot message only those).
    pub async fn started_user(&self, world: &World, name: &str) -> UserInfo {
        let user = self.tg.create_user_named(name).await.unwrap();
        self.tg.send_text(user.id, world.bot.id, "/start").await.unwrap();
        user
    }

    /// Does `act` as `user` in their chat with `bot`, waits for the work it causes, and
    /// returns the messages `user` received from `bot` since.
    pub async fn converse<F: std::future::Future<Output = ()>>(
        &self,
        bot: i64,
        user: i64,
        act: F,
    ) -> Vec<gatehouse_sim::MessageRecord> {
        let before = self.tg.messages_to(user, bot).await.unwrap().len();
        act.await;
        self.settle(&[bot]).await;
        self.tg.messages_to(user, bot).await.unwrap().split_off(before)
    }

    /// `user` sends `text` to `bot`; returns what `bot` answered (see [`Self::converse`]).
    pub async fn say(&self, bot: i64, user: i64, text: &str) -> Vec<gatehouse_sim::MessageRecord> {
        self.converse(bot, user, async { self.tg.send_text(user, bot, text).await.map(drop).unwrap() }).await
    }

    /// `user` presses `data` under `message` in `bot`; returns what `bot` answered.
    pub async fn press(
        &self,
        bot: i64,
        user: i64,
        message: &gatehouse_sim::MessageRecord,
        data: &str,
    ) -> Vec<gatehouse_sim::MessageRecord> {
        let pressed = self.tg.press_button(user, bot, message.message_id, data);
        self.converse(bot, user, async { pressed.await.map(drop).unwrap() }).await
    }

    /// Texts the bot sent `user`, in order.
    pub async fn texts_to(&self, world: &World, user: i64) -> Vec<String> {
        let messages = self.tg.messages_to(user, world.bot.id).await.unwrap();
        messages.into_iter().filter_map(|m| m.text).collect()
    }

    /// Personal invite links the bot sent `user` (`https://t.me/+…`), in order.
    pub async fn invite_links_to(&self, world: &World, user: i64) -> Vec<String> {
        self.texts_to(world, user)
            .await
            .iter()
            .filter_map(|t| t.split_whitespace().find(|w| w.starts_with("https://t.me/+")).map(str::to_string))
            .collect()
    }

    /// Asks for a checkout (`stripe`, `stars` or `trial`) and waits for its job; returns the answer.
    pub async fn checkout(&self, world: &World, user: i64, plan_id: &str, provider: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/v1/projects/{}/checkout", world.project_id),
                &world.key,
                json!({"telegram_user_id": user, "plan_id": plan_id, "provider": provider}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        self.settle(&[world.bot.id]).await;
        body["data"].clone()
    }
}
