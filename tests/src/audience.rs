//! [`Audience`]: a bot with thousands of subscribers for broadcasts run by `gatehouse
//! worker` processes (the process test that kills a worker mid-broadcast, and the
//! broadcast benchmark): the simulator's world (the bot, its owner, every user started,
//! some who blocked the bot), Gatehouse's database (the project, the bot's sealed token,
//! the subscribers, active grants), and the broadcast started as the owner's Send
//! button starts it.

use std::collections::HashMap;

use gatehouse_jobs::{
    conversation::broadcast,
    kinds::send_message::SendMessage,
    queue::{RunAt, enqueue},
    store::broadcasts::{Draft, Segment},
};
use gatehouse_sim::{CallFilter, Seed, SimClient};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// The owner of the audience's project.
pub const OWNER: i64 = 999;

/// A bot and its subscribers.
pub struct Audience {
    /// The bot's Telegram id.
    pub bot: i64,
    /// Its token.
    pub token: String,
    /// Subscribers with an active grant: the broadcast's recipients.
    pub recipients: Vec<i64>,
    /// Those of them who blocked the bot.
    pub blocked: Vec<i64>,
    /// Subscribers without a grant (they write to the bot meanwhile).
    pub others: Vec<i64>,
    /// The project, once in the database.
    pub project_id: Uuid,
}

impl Audience {
    /// `recipients` subscribers from `first_user` on, the last `blocked` of whom blocked
    /// the bot, and `others` more without a grant.
    pub fn new(bot: i64, first_user: i64, recipients: usize, blocked: usize, others: usize) -> Self {
        let ids = |from: i64, n: usize| (from..from + n as i64).collect::<Vec<_>>();
        let list = ids(first_user, recipients);
        let blocked = list[recipients.saturating_sub(blocked)..].to_vec();
        Self {
            bot,
            token: format!("{bot}:AUDIENCE-audience-audience-audience12"),
            others: ids(first_user + recipients as i64, others),
            recipients: list,
            blocked,
            project_id: Uuid::new_v4(),
        }
    }

    /// Recipients who can be reached.
    pub fn reachable(&self) -> usize {
        self.recipients.len() - self.blocked.len()
    }

    /// The simulator's world: the bot, the owner and every user, all started with the bot.
    pub fn seed(&self) -> Seed {
        let everyone: Vec<i64> =
            std::iter::once(OWNER).chain(self.recipients.iter().chain(&self.others).copied()).collect();
        let users: Vec<_> = everyone
            .iter()
            .map(|u| json!({"id": u, "first_name": format!("User{u}"), "language_code": "en"}))
            .collect();
        let started: Vec<_> = everyone.iter().map(|u| json!({"user_id": u, "bot_id": self.bot})).collect();
        let seed = json!({
            "bots": [{"id": self.bot, "token": self.token, "username": "audience_bot"}],
            "users": users,
            "started": started,
        });
        Seed::parse(&seed.to_string()).expect("seed")
    }

    /// The blocked users block the bot.
    pub async fn block(&self, tg: &SimClient) {
        for user in &self.blocked {
            tg.block(*user, self.bot).await.expect("block");
        }
    }

    /// Gatehouse's database: the project, its bot (token sealed with `encryption_key`),
    /// the subscribers, a plan and an active grant per recipient.
    pub async fn seed_db(&self, pool: &PgPool, config: &gatehouse_jobs::Config) {
        let sealed = gatehouse_jobs::crypto::seal(config.encryption_key().expect("key"), &self.token);
        let project = self.project_id;
        sqlx::query(
            "INSERT INTO projects (id, handle, name, owner_telegram_id) VALUES ($1, 'audience', 'Audience', $2)",
        )
        .bind(project)
        .bind(OWNER)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO bots (id, project_id, telegram_bot_id, username, token_ciphertext, status, verified_at)
             VALUES ($1, $2, $3, 'audience_bot', $4, 'connected', now())",
        )
        .bind(Uuid::new_v4())
        .bind(project)
        .bind(self.bot)
        .bind(sealed)
        .execute(pool)
        .await
        .unwrap();
        let everyone: Vec<i64> =
            std::iter::once(OWNER).chain(self.recipients.iter().chain(&self.others).copied()).collect();
        sqlx::query(
            "INSERT INTO subscribers (id, project_id, telegram_user_id, first_name, language_code)
             SELECT gen_random_uuid(), $1, u, 'User', 'en' FROM unnest($2::bigint[]) u",
        )
        .bind(project)
        .bind(&everyone)
        .execute(pool)
        .await
        .unwrap();
        let plan = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO plans (id, project_id, name, price_minor, currency, duration_days)
             VALUES ($1, $2, 'Monthly', 500, 'USD', 30)",
        )
        .bind(plan)
        .bind(project)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO grants (id, project_id, subscriber_id, plan_id, source, state, starts_at, ends_at)
             SELECT gen_random_uuid(), $1, s.id, $2, 'manual', 'active', now(), now() + interval '30 days'
             FROM subscribers s WHERE s.project_id = $1 AND s.telegram_user_id = ANY($3)",
        )
        .bind(project)
        .bind(plan)
        .bind(&self.recipients)
        .execute(pool)
        .await
        .unwrap();
    }

    /// A broadcast of `text` to the active subscribers, composed and confirmed as the
    /// owner does it (`broadcast::launch`, what the Send button runs), its progress
    /// message left to a `send-message` job. Returns the broadcast's id.
    pub async fn launch(&self, pool: &PgPool, text: &str) -> Uuid {
        let draft = Draft {
            project_id: self.project_id,
            cause: "bench",
            owner_telegram_id: OWNER,
            lang: "en",
            segment: Segment::Active,
            text,
            entities: Some(json!([{"type": "bold", "offset": 0, "length": 4}])),
            button: Some(("Open", "https://audience.example/")),
        };
        let created = gatehouse_jobs::store::broadcasts::insert_draft(pool, &draft).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        let locked =
            gatehouse_jobs::store::broadcasts::lock(&mut tx, self.project_id, created.id).await.unwrap().unwrap();
        let message_id = broadcast::launch(&mut tx, &locked, chrono::Utc::now()).await.expect("launch");
        enqueue(&mut tx, &SendMessage { message_id }, RunAt::Now).await.unwrap();
        tx.commit().await.unwrap();
        created.id
    }

    /// Successful sends of `text` per user, from the simulator's call log.
    pub async fn sends(&self, tg: &SimClient, text: &str) -> HashMap<i64, usize> {
        let calls = tg.calls(&CallFilter { bot: Some(self.bot), ..CallFilter::default() }).await.unwrap();
        let mut per_user = HashMap::new();
        for c in calls.iter().filter(|c| c.method == "sendMessage" && c.status == 200 && c.params["text"] == text) {
            if let Some(user) = c.params["chat_id"].as_i64() {
                *per_user.entry(user).or_insert(0) += 1;
            }
        }
        per_user
    }
}
