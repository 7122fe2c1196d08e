//! The integrator setup API (`/v1/projects/...`): every route's answer, the rows and
//! jobs it leaves, and each error, against the real api and a database of its own.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use gatehouse_jobs::{Config, crypto};
use gatehouse_tests::{Running, TEST_ADMIN_TOKEN, TestDb, spawn_api, test_config};
use serde_json::{Value, json};
use sha2::Digest;
use uuid::Uuid;

const TOKEN_SECRET: &str = "AAE_abcdefghijklmnopqrstuvwxyz-0123456";
const BOT: i64 = 8_100_001;
const CHAT: i64 = -1_001_000_000_001;
const OTHER_CHAT: i64 = -1_001_000_000_002;
const USER: i64 = 5_550_001;

fn bot_token(telegram_bot_id: i64) -> String {
    format!("{telegram_bot_id}:{TOKEN_SECRET}")
}

struct Fixture {
    db: TestDb,
    config: Arc<Config>,
    api: Running,
    http: reqwest::Client,
}

/// An answer: status and JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    /// `body["data"]`: what a success carries.
    data: Value,
    text: String,
}

impl Answer {
    /// Asserts an error answer with this status and code, in the error envelope.
    fn assert_error(&self, status: u16, code: &str) -> &str {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body["error"]["code"], code, "{}", self.text);
        self.body["error"]["message"].as_str().unwrap_or_else(|| panic!("an error has a message: {}", self.text))
    }
}

/// A project as its integrator holds it.
struct Project {
    id: Uuid,
    key: String,
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    let config = Arc::new(test_config(&db.url, &[]));
    let api = spawn_api(config.clone(), db.pool.clone()).await;
    Fixture { db, config, api, http: reqwest::Client::new() }
}

impl Fixture {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, data: body["data"].clone(), body, text }
    }

    fn request(&self, method: reqwest::Method, path: &str, bearer: Option<&str>) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.api.url()));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request
    }

    async fn call(&self, method: reqwest::Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.request(method, path, bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    async fn post(&self, path: &str, bearer: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(bearer), Some(body)).await
    }

    async fn get(&self, path: &str, bearer: &str) -> Answer {
        self.call(reqwest::Method::GET, path, Some(bearer), None).await
    }

    async fn delete(&self, path: &str, bearer: &str) -> Answer {
        self.call(reqwest::Method::DELETE, path, Some(bearer), None).await
    }

    async fn put(&self, path: &str, bearer: &str, body: Value) -> Answer {
        self.call(reqwest::Method::PUT, path, Some(bearer), Some(body)).await
    }

    async fn create_project(&self, handle: &str) -> Project {
        let answer = self
            .post(
                "/v1/projects",
                TEST_ADMIN_TOKEN,
                json!({"handle": handle, "name": "The Club", "owner_telegram_id": 42}),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        Project {
            id: answer.data["project_id"].as_str().unwrap().parse().unwrap(),
            key: answer.data["api_key"].as_str().unwrap().to_string(),
        }
    }

    async fn connect_bot(&self, project: &Project, telegram_bot_id: i64) -> Uuid {
        let answer = self
            .put(
                &format!("/v1/projects/{}/bot", project.id),
                &project.key,
                json!({"token": bot_token(telegram_bot_id)}),
            )
            .await;
        assert_eq!(answer.status, 202, "{}", answer.text);
        answer.data["bot_id"].as_str().unwrap().parse().unwrap()
    }

    async fn add_chat(&self, project: &Project, chat_id: i64) -> Uuid {
        let answer =
            self.post(&format!("/v1/projects/{}/chats", project.id), &project.key, json!({"chat_id": chat_id})).await;
        assert_eq!(answer.status, 202, "{}", answer.text);
        answer.data["id"].as_str().unwrap().parse().unwrap()
    }

    /// A project with a bot, one chat and a monthly plan granting it.
    async fn project_with_plan(&self, handle: &str) -> (Project, Uuid) {
        let project = self.create_project(handle).await;
        self.connect_bot(&project, BOT).await;
        self.add_chat(&project, CHAT).await;
        let answer = self
            .post(
                &format!("/v1/projects/{}/plans", project.id),
                &project.key,
                json!({"name": "Monthly", "price": 500, "currency": "EUR", "duration_days": 30,
                       "recurring": true, "chat_ids": [CHAT]}),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        let plan = answer.data["plan_id"].as_str().unwrap().parse().unwrap();
        (project, plan)
    }

    async fn grant(&self, project: &Project, plan: Uuid, body: Value) -> Answer {
        let mut body = body;
        body["plan_id"] = json!(plan);
        self.post(&format!("/v1/projects/{}/grants", project.id), &project.key, body).await
    }

    /// `(kind, idempotency key)` of every job, oldest first.
    async fn jobs(&self) -> Vec<(String, String)> {
        self.db
            .jobs()
            .await
            .into_iter()
            .map(|j| (j.kind.unwrap_or_default(), j.idempotency_key.unwrap_or_default()))
            .collect()
    }

    /// The idempotency keys of the jobs of type `J`, oldest first.
    async fn jobs_of<J: gatehouse_jobs::queue::JobSpec>(&self) -> Vec<String> {
        self.db.enqueued::<J>().await.into_iter().map(|j| j.key.unwrap_or_default()).collect()
    }
}

fn uuid_of(value: &Value) -> Uuid {
    value.as_str().expect("a uuid string").parse().expect("a uuid")
}

// ---------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_project_is_created_with_an_api_key_shown_once_and_stored_as_a_digest() {
    let f = fixture().await;

    let answer = f
        .post(
            "/v1/projects",
            TEST_ADMIN_TOKEN,
            json!({"handle": "the-club", "name": "The Club", "owner_telegram_id": 42, "extra": 1}),
        )
        .await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    let project_id = uuid_of(&answer.data["project_id"]);
    let key = answer.data["api_key"].as_str().unwrap();
    assert!(key.starts_with("gh_") && key.len() > 40, "{key}");
    let (handle, name, owner): (String, String, i64) =
        sqlx::query_as("SELECT handle, name, owner_telegram_id FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
    assert_eq!((handle.as_str(), name.as_str(), owner), ("the-club", "The Club", 42));
    let (hash, prefix, abilities): (Vec<u8>, String, Vec<String>) =
        sqlx::query_as("SELECT key_hash, key_prefix, abilities FROM api_keys WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
    assert_eq!(hash, sha2::Sha256::digest(key.as_bytes()).to_vec());
    assert_eq!(prefix, key[..8]);
    assert_eq!(abilities, vec!["*".to_string()]);
    assert_eq!(hash.len(), 32, "only a SHA-256 of the key is stored");
    // The key works.
    let bot = f.get(&format!("/v1/projects/{project_id}/bot"), key).await;
    bot.assert_error(404, "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn creating_a_project_needs_the_admin_token() {
    let f = fixture().await;
    let project = f.create_project("first").await;
    let body = json!({"handle": "second", "name": "Second", "owner_telegram_id": 42});

    let none = f.call(reqwest::Method::POST, "/v1/projects", None, Some(body.clone())).await;
    let wrong = f.post("/v1/projects", "test-admin-token-0123456780", body.clone()).await;
    let with_project_key = f.post("/v1/projects", &project.key, body.clone()).await;
    let basic = f
        .send(
            f.request(reqwest::Method::POST, "/v1/projects", None)
                .header("authorization", format!("Basic {TEST_ADMIN_TOKEN}"))
                .json(&body),
        )
        .await;

    for answer in [none, wrong, with_project_key, basic] {
        answer.assert_error(401, "AUTHENTICATION_REQUIRED");
    }
    assert_eq!(f.db.count("SELECT count(*) FROM projects").await, 1);
}

#[tokio::test]
async fn a_taken_handle_is_a_conflict() {
    let f = fixture().await;
    f.create_project("the-club").await;

    let answer = f
        .post("/v1/projects", TEST_ADMIN_TOKEN, json!({"handle": "the-club", "name": "Again", "owner_telegram_id": 7}))
        .await;

    let message = answer.assert_error(409, "CONFLICT");
    assert!(message.contains("handle"), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM projects").await, 1);
    assert_eq!(f.db.count("SELECT count(*) FROM api_keys").await, 1);
}

#[tokio::test]
async fn a_handle_the_database_would_refuse_is_unprocessable() {
    let f = fixture().await;
    for handle in ["The-Club", "a", "-club", "club!", ""] {
        let answer = f
            .post("/v1/projects", TEST_ADMIN_TOKEN, json!({"handle": handle, "name": "x", "owner_telegram_id": 42}))
            .await;
        let message = answer.assert_error(422, "VALIDATION_FAILED");
        assert!(message.starts_with("handle"), "{handle:?}: {message}");
    }
    assert_eq!(f.db.count("SELECT count(*) FROM projects").await, 0);
}

#[tokio::test]
async fn a_malformed_body_is_a_bad_request_and_a_missing_field_is_named() {
    let f = fixture().await;
    for raw in ["{\"handle\": ", "", "[1, 2]", "not json"] {
        let answer = f
            .send(
                f.request(reqwest::Method::POST, "/v1/projects", Some(TEST_ADMIN_TOKEN))
                    .header("content-type", "application/json")
                    .body(raw),
            )
            .await;
        answer.assert_error(400, "VALIDATION_FAILED");
    }

    let missing = f.post("/v1/projects", TEST_ADMIN_TOKEN, json!({"handle": "the-club", "name": "x"})).await;
    let message = missing.assert_error(422, "VALIDATION_FAILED");
    assert!(message.contains("owner_telegram_id"), "{message}");

    let mistyped = f
        .post("/v1/projects", TEST_ADMIN_TOKEN, json!({"handle": "the-club", "name": "x", "owner_telegram_id": "42"}))
        .await;
    let message = mistyped.assert_error(422, "VALIDATION_FAILED");
    assert!(message.contains("owner_telegram_id"), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM projects").await, 0);
}

// ---------------------------------------------------------------------------
// Authentication of project routes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn project_routes_need_a_valid_api_key() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    let path = format!("/v1/projects/{}/chats", project.id);

    let none = f.call(reqwest::Method::GET, &path, None, None).await;
    let wrong = f.get(&path, &format!("{}x", project.key)).await;
    let admin = f.get(&path, TEST_ADMIN_TOKEN).await;
    sqlx::query("UPDATE api_keys SET revoked_at = now()").execute(&f.db.pool).await.unwrap();
    let revoked = f.get(&path, &project.key).await;

    for answer in [none, wrong, admin, revoked] {
        answer.assert_error(401, "AUTHENTICATION_REQUIRED");
    }
}

#[tokio::test]
async fn another_projects_id_is_not_found_even_with_a_valid_key() {
    let f = fixture().await;
    let mine = f.create_project("mine").await;
    let theirs = f.create_project("theirs").await;
    f.connect_bot(&theirs, BOT).await;
    let jobs_before = f.jobs().await.len();

    let read = f.get(&format!("/v1/projects/{}/bot", theirs.id), &mine.key).await;
    let write =
        f.put(&format!("/v1/projects/{}/bot", theirs.id), &mine.key, json!({"token": bot_token(BOT + 1)})).await;
    let unknown = f.get(&format!("/v1/projects/{}/chats", Uuid::new_v4()), &mine.key).await;
    let not_an_id = f.get("/v1/projects/the-club/chats", &mine.key).await;

    for answer in [read, write, unknown, not_an_id] {
        answer.assert_error(404, "RESOURCE_NOT_FOUND");
    }
    assert_eq!(f.jobs().await.len(), jobs_before, "nothing was enqueued");
    assert_eq!(f.db.count("SELECT count(*) FROM bots").await, 1);
}

// ---------------------------------------------------------------------------
// The bot
// ---------------------------------------------------------------------------

#[tokio::test]
async fn connecting_a_bot_stores_the_token_sealed_and_enqueues_connect_bot() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;

    let answer =
        f.put(&format!("/v1/projects/{}/bot", project.id), &project.key, json!({"token": bot_token(BOT)})).await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.data["status"], "connecting");
    assert!(!answer.text.contains(TOKEN_SECRET));
    let bot_id = uuid_of(&answer.data["bot_id"]);
    let (project_id, telegram_bot_id, status, ciphertext): (Uuid, i64, String, Vec<u8>) =
        sqlx::query_as("SELECT project_id, telegram_bot_id, status, token_ciphertext FROM bots WHERE id = $1")
            .bind(bot_id)
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
    assert_eq!((project_id, telegram_bot_id, status.as_str()), (project.id, BOT, "connecting"));
    assert!(
        !ciphertext.windows(TOKEN_SECRET.len()).any(|w| w == TOKEN_SECRET.as_bytes()),
        "the token is not stored in clear"
    );
    let opened = crypto::open(f.config.encryption_key().unwrap(), &ciphertext).unwrap();
    assert_eq!(opened.expose(), &bot_token(BOT));
    let jobs = f.jobs_of::<gatehouse_jobs::catalog::connect_bot::ConnectBot>().await;
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].starts_with(&format!("connect-bot:{bot_id}:")), "{}", jobs[0]);

    let shown = f.get(&format!("/v1/projects/{}/bot", project.id), &project.key).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(
        shown.data,
        json!({"bot_id": bot_id, "telegram_bot_id": BOT, "username": null,
               "status": "connecting", "reason": null,
               "limits": {"calls_per_second": null, "chat_messages_per_second": null,
                          "group_messages_per_minute": null, "interactive_reserve": null}})
    );
}

#[tokio::test]
async fn reconnecting_keeps_the_bot_id_and_starts_over_and_another_bot_does_not_inherit_the_webhook_secret() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    let bot_id = f.connect_bot(&project, BOT).await;
    sqlx::query(
        "UPDATE bots SET status = 'failed', status_reason = 'Unauthorized', username = 'club_bot',
                         webhook_secret_hash = '\\x0102'",
    )
    .execute(&f.db.pool)
    .await
    .unwrap();

    let again = f.connect_bot(&project, BOT + 5).await;

    assert_eq!(again, bot_id);
    let (telegram_bot_id, status, reason, username, secret): (
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
    ) = sqlx::query_as("SELECT telegram_bot_id, status, status_reason, username, webhook_secret_hash FROM bots")
        .fetch_one(&f.db.pool)
        .await
        .unwrap();
    assert_eq!(telegram_bot_id, BOT + 5);
    assert_eq!(status, "connecting");
    assert_eq!((reason, username), (None, None));
    assert_eq!(secret, None, "the old bot's webhook secret must not open the new bot's webhook");
    let jobs = f.jobs_of::<gatehouse_jobs::catalog::connect_bot::ConnectBot>().await;
    assert_eq!(jobs.len(), 2, "a new attempt is a new job");
    assert_ne!(jobs[0], jobs[1]);

    // The same bot again (a new token after a revoke): its secret stays until connect-bot sets a fresh one.
    sqlx::query("UPDATE bots SET webhook_secret_hash = '\\x0102'").execute(&f.db.pool).await.unwrap();
    f.connect_bot(&project, BOT + 5).await;
    let secret: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT webhook_secret_hash FROM bots").fetch_one(&f.db.pool).await.unwrap();
    assert_eq!(secret, Some(vec![1, 2]));
}

#[tokio::test]
async fn a_bot_connected_to_another_project_is_a_conflict() {
    let f = fixture().await;
    let first = f.create_project("first").await;
    let second = f.create_project("second").await;
    f.connect_bot(&first, BOT).await;
    // connect-bot's getMe confirmed the first project's token.
    sqlx::query("UPDATE bots SET verified_at = now()").execute(&f.db.pool).await.unwrap();

    let answer = f.put(&format!("/v1/projects/{}/bot", second.id), &second.key, json!({"token": bot_token(BOT)})).await;

    answer.assert_error(409, "CONFLICT");
    assert!(!answer.text.contains(TOKEN_SECRET));
    assert_eq!(f.db.count("SELECT count(*) FROM bots").await, 1);
    assert_eq!(f.jobs_of::<gatehouse_jobs::catalog::connect_bot::ConnectBot>().await.len(), 1);
}

#[tokio::test]
async fn an_unverified_claim_on_a_bot_blocks_no_other_project() {
    let f = fixture().await;
    let first = f.create_project("first").await;
    let second = f.create_project("second").await;
    f.connect_bot(&first, BOT).await;

    let answer = f.put(&format!("/v1/projects/{}/bot", second.id), &second.key, json!({"token": bot_token(BOT)})).await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(f.db.count("SELECT count(*) FROM bots").await, 2, "two claims, neither verified yet");
    assert_eq!(f.jobs_of::<gatehouse_jobs::catalog::connect_bot::ConnectBot>().await.len(), 2);
}

#[tokio::test]
async fn a_malformed_token_is_unprocessable_and_never_echoed() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    for token in [
        TOKEN_SECRET.to_string(),
        format!("abc:{TOKEN_SECRET}"),
        format!("123:{TOKEN_SECRET}!"),
        format!("123:{}", &TOKEN_SECRET[..20]),
        format!("99999999999999999999:{TOKEN_SECRET}"),
    ] {
        let answer = f.put(&format!("/v1/projects/{}/bot", project.id), &project.key, json!({"token": token})).await;
        let message = answer.assert_error(422, "VALIDATION_FAILED");
        assert!(message.starts_with("token"), "{message}");
        assert!(!answer.text.contains(&TOKEN_SECRET[..20]), "{}", answer.text);
    }
    assert_eq!(f.db.count("SELECT count(*) FROM bots").await, 0);
    assert!(f.jobs().await.is_empty());
}

#[tokio::test]
async fn a_project_without_a_bot_has_no_bot_to_show() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    f.get(&format!("/v1/projects/{}/bot", project.id), &project.key).await.assert_error(404, "RESOURCE_NOT_FOUND");
}

// ---------------------------------------------------------------------------
// Chats
// ---------------------------------------------------------------------------

#[tokio::test]
async fn adding_a_chat_before_a_bot_is_a_conflict() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;

    let answer = f.post(&format!("/v1/projects/{}/chats", project.id), &project.key, json!({"chat_id": CHAT})).await;

    let message = answer.assert_error(409, "CONFLICT");
    assert!(message.contains("connect a bot first"), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM chats").await, 0);
    assert!(f.jobs().await.is_empty());
}

#[tokio::test]
async fn adding_a_chat_enqueues_its_verification_and_lists_it_as_pending() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    f.connect_bot(&project, BOT).await;

    let answer = f.post(&format!("/v1/projects/{}/chats", project.id), &project.key, json!({"chat_id": CHAT})).await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = uuid_of(&answer.data["id"]);
    assert_eq!(answer.data["chat_id"], CHAT);
    assert_eq!(answer.data["status"], "pending");
    let jobs = f.jobs_of::<gatehouse_jobs::catalog::verify_chat::VerifyChat>().await;
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].starts_with(&format!("verify-chat:{id}:")), "{}", jobs[0]);

    let listed = f.get(&format!("/v1/projects/{}/chats", project.id), &project.key).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.body,
        json!({"next_cursor": null, "data": [{
            "id": id, "chat_id": CHAT, "title": null, "kind": null,
            "join_strategy": "join_request", "status": "pending", "reason": null,
            "can_invite_users": false, "can_restrict_members": false
        }]})
    );
}

#[tokio::test]
async fn adding_a_chat_again_verifies_it_again_with_the_new_strategy() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    f.connect_bot(&project, BOT).await;
    let id = f.add_chat(&project, CHAT).await;
    sqlx::query("UPDATE chats SET status = 'not_ready', status_reason = 'bot is not an admin'")
        .execute(&f.db.pool)
        .await
        .unwrap();

    let answer = f
        .post(
            &format!("/v1/projects/{}/chats", project.id),
            &project.key,
            json!({"chat_id": CHAT, "join_strategy": "join_request"}),
        )
        .await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(uuid_of(&answer.data["id"]), id);
    let (strategy, status, reason): (String, String, Option<String>) =
        sqlx::query_as("SELECT join_strategy, status, status_reason FROM chats").fetch_one(&f.db.pool).await.unwrap();
    assert_eq!((strategy.as_str(), status.as_str(), reason), ("join_request", "pending", None));
    let jobs = f.jobs_of::<gatehouse_jobs::catalog::verify_chat::VerifyChat>().await;
    assert_eq!(jobs.len(), 2, "a new attempt is a new job: {jobs:?}");
    assert_eq!(f.db.count("SELECT count(*) FROM chats").await, 1);
}

#[tokio::test]
async fn an_unknown_join_strategy_is_unprocessable() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    f.connect_bot(&project, BOT).await;

    let answer = f
        .post(
            &format!("/v1/projects/{}/chats", project.id),
            &project.key,
            json!({"chat_id": CHAT, "join_strategy": "open_door"}),
        )
        .await;

    let message = answer.assert_error(422, "VALIDATION_FAILED");
    assert!(message.starts_with("join_strategy"), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM chats").await, 0);
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_plan_is_created_with_its_chats_and_listed() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    f.connect_bot(&project, BOT).await;
    f.add_chat(&project, CHAT).await;
    f.add_chat(&project, OTHER_CHAT).await;

    let answer = f
        .post(
            &format!("/v1/projects/{}/plans", project.id),
            &project.key,
            json!({"name": "Yearly", "price": 5000, "currency": "EUR", "stars_price": 2500,
                   "duration_days": 365, "recurring": true, "trial_days": 7,
                   "chat_ids": [CHAT, OTHER_CHAT, CHAT]}),
        )
        .await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    let plan_id = uuid_of(&answer.data["plan_id"]);
    assert_eq!(f.db.count("SELECT count(*) FROM plan_chats").await, 2);
    let listed = f.get(&format!("/v1/projects/{}/plans", project.id), &project.key).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let mut chats = vec![CHAT, OTHER_CHAT];
    chats.sort();
    assert_eq!(
        listed.body,
        json!({"next_cursor": null, "data": [{
            "plan_id": plan_id, "name": "Yearly", "price": 5000, "currency": "EUR",
            "stars_price": 2500, "duration_days": 365, "recurring": true, "trial_days": 7,
            "chat_ids": chats, "on_sale": true
        }]})
    );
}

#[tokio::test]
async fn a_lifetime_plan_in_stars_costs_its_price_in_stars() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    f.connect_bot(&project, BOT).await;
    f.add_chat(&project, CHAT).await;

    let answer = f
        .post(
            &format!("/v1/projects/{}/plans", project.id),
            &project.key,
            json!({"name": "Forever", "price": 250, "currency": "XTR", "duration_days": null,
                   "chat_ids": [CHAT]}),
        )
        .await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    let (stars, duration, recurring, trial): (Option<i32>, Option<i32>, bool, i32) =
        sqlx::query_as("SELECT stars_price, duration_days, recurring, trial_days FROM plans")
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
    assert_eq!((stars, duration, recurring, trial), (Some(250), None, false, 0));
}

#[tokio::test]
async fn a_plan_with_chats_that_are_not_the_projects_is_unprocessable_and_names_them() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    f.connect_bot(&project, BOT).await;
    f.add_chat(&project, CHAT).await;
    let other = f.create_project("other").await;
    f.connect_bot(&other, BOT + 1).await;
    f.add_chat(&other, OTHER_CHAT).await;

    let answer = f
        .post(
            &format!("/v1/projects/{}/plans", project.id),
            &project.key,
            json!({"name": "Monthly", "price": 500, "currency": "EUR", "duration_days": 30,
                   "chat_ids": [CHAT, OTHER_CHAT, -42]}),
        )
        .await;

    let message = answer.assert_error(422, "VALIDATION_FAILED");
    assert!(message.starts_with("chat_ids"), "{message}");
    assert!(message.contains(&OTHER_CHAT.to_string()), "{message}");
    assert!(message.contains("-42"), "{message}");
    assert!(!message.contains(&CHAT.to_string()), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM plans").await, 0);
}

#[tokio::test]
async fn a_bad_currency_or_duration_is_unprocessable_and_named() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    f.connect_bot(&project, BOT).await;
    f.add_chat(&project, CHAT).await;
    let base = json!({"name": "Monthly", "price": 500, "currency": "EUR", "duration_days": 30,
                      "recurring": true, "chat_ids": [CHAT]});
    for (field, value) in [
        ("currency", json!("eur")),
        ("currency", json!("EURO")),
        ("price", json!(-1)),
        ("price", json!(4.99)),
        ("duration_days", json!(0)),
        ("chat_ids", json!([])),
    ] {
        let mut body = base.clone();
        body[field] = value.clone();
        let answer = f.post(&format!("/v1/projects/{}/plans", project.id), &project.key, body).await;
        let message = answer.assert_error(422, "VALIDATION_FAILED");
        assert!(message.contains(field), "{field}={value}: {message}");
    }
    let mut recurring_forever = base.clone();
    recurring_forever["duration_days"] = Value::Null;
    let answer = f.post(&format!("/v1/projects/{}/plans", project.id), &project.key, recurring_forever).await;
    let message = answer.assert_error(422, "VALIDATION_FAILED");
    assert!(message.starts_with("recurring"), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM plans").await, 0);
}

// ---------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_manual_grant_is_active_and_enqueues_grant_access() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    let expires_at = (Utc::now() + Duration::days(30)).to_rfc3339();

    let answer =
        f.grant(&project, plan, json!({"telegram_user_id": USER, "expires_at": expires_at, "note": "partner"})).await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    let grant_id = uuid_of(&answer.data["grant_id"]);
    let (plan_id, source, state, ends_at, note, user): (
        Uuid,
        String,
        String,
        Option<DateTime<Utc>>,
        Option<String>,
        i64,
    ) = sqlx::query_as(
        "SELECT g.plan_id, g.source, g.state, g.ends_at, g.note, s.telegram_user_id
         FROM grants g JOIN subscribers s ON s.id = g.subscriber_id WHERE g.id = $1",
    )
    .bind(grant_id)
    .fetch_one(&f.db.pool)
    .await
    .unwrap();
    assert_eq!(plan_id, plan);
    assert_eq!((source.as_str(), state.as_str()), ("manual", "active"));
    assert_eq!(ends_at.map(|t| t.timestamp()), Some(DateTime::parse_from_rfc3339(&expires_at).unwrap().timestamp()));
    assert_eq!(note.as_deref(), Some("partner"));
    assert_eq!(user, USER);
    assert_eq!(
        f.jobs_of::<gatehouse_jobs::catalog::grant_access::GrantAccess>().await,
        vec![format!("grant-access:{grant_id}")]
    );
}

#[tokio::test]
async fn a_lifetime_grant_for_a_known_subscriber_reuses_them() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    let first = f.grant(&project, plan, json!({"telegram_user_id": USER})).await;
    let second = f.grant(&project, plan, json!({"telegram_user_id": USER, "expires_at": null})).await;

    assert_eq!((first.status, second.status), (202, 202));
    assert_ne!(first.data["grant_id"], second.data["grant_id"]);
    assert_eq!(f.db.count("SELECT count(*) FROM subscribers").await, 1);
    assert_eq!(f.db.count("SELECT count(*) FROM grants WHERE ends_at IS NULL").await, 2);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_grant_without_a_second_one() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    let path = format!("/v1/projects/{}/grants", project.id);
    let body = json!({"telegram_user_id": USER, "plan_id": plan});
    let post = |key: &'static str, body: Value| {
        f.send(f.request(reqwest::Method::POST, &path, Some(&project.key)).header("Idempotency-Key", key).json(&body))
    };

    let first = post("order-1", body.clone()).await;
    let repeat = post("order-1", body.clone()).await;
    let other_key = post("order-2", body.clone()).await;
    let reused = post("order-1", json!({"telegram_user_id": USER + 1, "plan_id": plan})).await;

    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(repeat.status, 202, "{}", repeat.text);
    assert_eq!(repeat.body, first.body);
    assert_eq!(other_key.status, 202, "{}", other_key.text);
    assert_ne!(other_key.data["grant_id"], first.data["grant_id"]);
    let message = reused.assert_error(409, "CONFLICT");
    assert!(message.contains("Idempotency-Key"), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM grants").await, 2);
    assert_eq!(f.jobs_of::<gatehouse_jobs::catalog::grant_access::GrantAccess>().await.len(), 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_make_one_grant() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    let path = format!("/v1/projects/{}/grants", project.id);
    let body = json!({"telegram_user_id": USER, "plan_id": plan});

    let answers = futures::future::join_all((0..8).map(|_| {
        f.send(
            f.request(reqwest::Method::POST, &path, Some(&project.key))
                .header("Idempotency-Key", "same-click")
                .json(&body),
        )
    }))
    .await;

    for answer in &answers {
        assert_eq!(answer.status, 202, "{}", answer.text);
        assert_eq!(answer.body, answers[0].body);
    }
    assert_eq!(f.db.count("SELECT count(*) FROM grants").await, 1);
    assert_eq!(f.jobs_of::<gatehouse_jobs::catalog::grant_access::GrantAccess>().await.len(), 1);
}

#[tokio::test]
async fn a_grant_for_a_banned_subscriber_is_a_conflict() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    sqlx::query("INSERT INTO subscribers (id, project_id, telegram_user_id, status) VALUES ($1, $2, $3, 'banned')")
        .bind(Uuid::new_v4())
        .bind(project.id)
        .bind(USER)
        .execute(&f.db.pool)
        .await
        .unwrap();

    let answer = f.grant(&project, plan, json!({"telegram_user_id": USER})).await;

    let message = answer.assert_error(409, "CONFLICT");
    assert!(message.contains("banned"), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM grants").await, 0);
    assert!(f.jobs_of::<gatehouse_jobs::catalog::grant_access::GrantAccess>().await.is_empty());
}

#[tokio::test]
async fn a_grant_that_expires_in_the_past_is_unprocessable() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;

    let answer = f
        .grant(
            &project,
            plan,
            json!({"telegram_user_id": USER, "expires_at": (Utc::now() - Duration::minutes(1)).to_rfc3339()}),
        )
        .await;
    let message = answer.assert_error(422, "VALIDATION_FAILED");
    assert!(message.starts_with("expires_at"), "{message}");

    let not_a_time = f.grant(&project, plan, json!({"telegram_user_id": USER, "expires_at": "next tuesday"})).await;
    let message = not_a_time.assert_error(422, "VALIDATION_FAILED");
    assert!(message.contains("expires_at"), "{message}");
    assert_eq!(f.db.count("SELECT count(*) FROM grants").await, 0);
    assert_eq!(f.db.count("SELECT count(*) FROM subscribers").await, 0);
}

#[tokio::test]
async fn a_grant_of_a_plan_of_no_project_is_unprocessable() {
    let f = fixture().await;
    let (project, _) = f.project_with_plan("the-club").await;
    let (_, their_plan) = {
        let other = f.create_project("other").await;
        f.connect_bot(&other, BOT + 1).await;
        f.add_chat(&other, CHAT).await;
        let answer = f
            .post(
                &format!("/v1/projects/{}/plans", other.id),
                &other.key,
                json!({"name": "Theirs", "price": 1, "currency": "EUR", "chat_ids": [CHAT]}),
            )
            .await;
        (other, uuid_of(&answer.data["plan_id"]))
    };

    for plan in [their_plan, Uuid::new_v4()] {
        let answer = f.grant(&project, plan, json!({"telegram_user_id": USER})).await;
        let message = answer.assert_error(422, "VALIDATION_FAILED");
        assert!(message.starts_with("plan_id"), "{message}");
    }
    assert_eq!(f.db.count("SELECT count(*) FROM grants").await, 0);
}

#[tokio::test]
async fn revoking_a_grant_ends_it_now_and_deleting_twice_makes_one_kick() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    let answer = f.grant(&project, plan, json!({"telegram_user_id": USER})).await;
    let grant_id = uuid_of(&answer.data["grant_id"]);
    let path = format!("/v1/projects/{}/grants/{grant_id}", project.id);
    let before = Utc::now();

    let first = f.delete(&path, &project.key).await;
    let second = f.delete(&path, &project.key).await;

    for answer in [&first, &second] {
        assert_eq!(answer.status, 202, "{}", answer.text);
        assert_eq!(answer.data, json!({"grant_id": grant_id, "state": "revoked"}));
    }
    let (state, ends_at): (String, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT state, ends_at FROM grants WHERE id = $1")
            .bind(grant_id)
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
    assert_eq!(state, "revoked");
    let ends_at = ends_at.expect("a revoked grant has an end");
    assert!(ends_at >= before - Duration::seconds(5) && ends_at <= Utc::now(), "{ends_at}");
    assert_eq!(
        f.jobs_of::<gatehouse_jobs::catalog::kick_expired::KickExpired>().await,
        vec![format!("kick-expired:{grant_id}:{}", ends_at.timestamp_micros())]
    );
}

#[tokio::test]
async fn revoking_a_grant_that_ended_earlier_keeps_its_end() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    let answer = f.grant(&project, plan, json!({"telegram_user_id": USER})).await;
    let grant_id = uuid_of(&answer.data["grant_id"]);
    let ended: DateTime<Utc> = sqlx::query_scalar(
        "UPDATE grants SET state = 'expired', ends_at = now() - interval '2 days' RETURNING ends_at",
    )
    .fetch_one(&f.db.pool)
    .await
    .unwrap();

    let answer = f.delete(&format!("/v1/projects/{}/grants/{grant_id}", project.id), &project.key).await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    let ends_at: DateTime<Utc> = sqlx::query_scalar("SELECT ends_at FROM grants").fetch_one(&f.db.pool).await.unwrap();
    assert_eq!(ends_at, ended);
    assert_eq!(
        f.jobs_of::<gatehouse_jobs::catalog::kick_expired::KickExpired>().await,
        vec![format!("kick-expired:{grant_id}:{}", ended.timestamp_micros())]
    );
}

#[tokio::test]
async fn revoking_an_unknown_grant_is_not_found() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    let other = f.create_project("other").await;
    let answer = f.grant(&project, plan, json!({"telegram_user_id": USER})).await;
    let grant_id = uuid_of(&answer.data["grant_id"]);

    let unknown = f.delete(&format!("/v1/projects/{}/grants/{}", project.id, Uuid::new_v4()), &project.key).await;
    let not_an_id = f.delete(&format!("/v1/projects/{}/grants/nope", project.id), &project.key).await;
    let from_elsewhere = f.delete(&format!("/v1/projects/{}/grants/{grant_id}", other.id), &other.key).await;

    for answer in [unknown, not_an_id, from_elsewhere] {
        answer.assert_error(404, "RESOURCE_NOT_FOUND");
    }
    assert_eq!(f.db.count("SELECT count(*) FROM grants WHERE state = 'active'").await, 1);
    assert!(f.jobs_of::<gatehouse_jobs::catalog::kick_expired::KickExpired>().await.is_empty());
}

// ---------------------------------------------------------------------------
// Whitelist and members
// ---------------------------------------------------------------------------

#[tokio::test]
async fn whitelisting_sets_and_clears_the_flag() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    let whitelisted = || async {
        sqlx::query_scalar::<_, bool>("SELECT whitelisted FROM subscribers WHERE telegram_user_id = $1")
            .bind(USER)
            .fetch_one(&f.db.pool)
            .await
            .unwrap()
    };

    let on = f
        .post(&format!("/v1/projects/{}/whitelist", project.id), &project.key, json!({"telegram_user_id": USER}))
        .await;
    assert_eq!(on.status, 200, "{}", on.text);
    assert_eq!(on.data, json!({"telegram_user_id": USER, "whitelisted": true}));
    assert!(whitelisted().await);

    let off = f.delete(&format!("/v1/projects/{}/whitelist/{USER}", project.id), &project.key).await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.data, json!({"telegram_user_id": USER, "whitelisted": false}));
    assert!(!whitelisted().await);

    f.delete(&format!("/v1/projects/{}/whitelist/{}", project.id, USER + 1), &project.key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    assert_eq!(f.db.count("SELECT count(*) FROM subscribers").await, 1);
}

#[tokio::test]
async fn a_members_view_shows_grants_memberships_links_and_the_newest_audit() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    let active = uuid_of(&f.grant(&project, plan, json!({"telegram_user_id": USER})).await.data["grant_id"]);
    let revoked = uuid_of(&f.grant(&project, plan, json!({"telegram_user_id": USER})).await.data["grant_id"]);
    f.delete(&format!("/v1/projects/{}/grants/{revoked}", project.id), &project.key).await;
    let (chat, subscriber): (Uuid, Uuid) =
        sqlx::query_as("SELECT (SELECT id FROM chats), (SELECT id FROM subscribers WHERE telegram_user_id = $1)")
            .bind(USER)
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO memberships (chat_id, telegram_user_id, status, joined_at, via_link)
         VALUES ($1, $2, 'member', now(), 'https://t.me/+abc')",
    )
    .bind(chat)
    .bind(USER)
    .execute(&f.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO invite_links (id, project_id, chat_id, subscriber_id, grant_id, link, name, member_limit, expire_at, state)
         VALUES ($1, $2, $3, $4, $5, 'https://t.me/+open', 'g', 1, now() + interval '1 hour', 'open'),
                ($6, $2, $3, $4, $5, 'https://t.me/+used', 'g', 1, now() + interval '1 hour', 'used')",
    )
    .bind(Uuid::new_v4())
    .bind(project.id)
    .bind(chat)
    .bind(subscriber)
    .bind(active)
    .bind(Uuid::new_v4())
    .execute(&f.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO audit_log (project_id, telegram_user_id, chat_id, action, reason, job_id, at)
         SELECT $1, $2, $3, 'link_issued', 'entry ' || n, 'job-' || n, now() - make_interval(mins => 200 - n)
         FROM generate_series(1, 105) AS n",
    )
    .bind(project.id)
    .bind(USER)
    .bind(chat)
    .execute(&f.db.pool)
    .await
    .unwrap();

    let answer = f.get(&format!("/v1/projects/{}/members/{USER}", project.id), &project.key).await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    let view = &answer.data;
    assert_eq!(view["telegram_user_id"], USER);
    assert_eq!(view["status"], "active");
    assert_eq!(view["whitelisted"], false);
    let entitlements = view["entitlements"].as_array().unwrap();
    assert_eq!(entitlements.len(), 2);
    let by_id = |id: Uuid| entitlements.iter().find(|e| e["grant_id"] == json!(id)).unwrap();
    assert_eq!(by_id(active)["entitled"], true);
    assert_eq!(by_id(active)["state"], "active");
    assert_eq!(by_id(active)["source"], "manual");
    assert_eq!(by_id(active)["plan_id"], json!(plan));
    assert_eq!(by_id(active)["plan_name"], "Monthly");
    assert_eq!(by_id(active)["chat_ids"], json!([CHAT]));
    assert_eq!(by_id(active)["ends_at"], Value::Null);
    assert_eq!(by_id(revoked)["entitled"], false);
    assert_eq!(by_id(revoked)["state"], "revoked");
    assert_eq!(
        view["memberships"],
        json!([{"chat_id": CHAT, "status": "member", "joined_at": view["memberships"][0]["joined_at"],
                "left_at": null, "via_link": "https://t.me/+abc"}])
    );
    assert!(view["memberships"][0]["joined_at"].is_string());
    let links = view["open_links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["link"], "https://t.me/+open");
    assert_eq!(links[0]["chat_id"], CHAT);
    assert_eq!(links[0]["state"], "open");
    let audit = view["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 100);
    assert_eq!(audit[0]["reason"], "entry 105", "newest first");
    assert_eq!(audit[0]["job_id"], "job-105");
    assert_eq!(audit[0]["chat_id"], CHAT);
    assert_eq!(audit[0]["action"], "link_issued");
    assert_eq!(audit[99]["reason"], "entry 6");
}

#[tokio::test]
async fn a_banned_members_grants_do_not_entitle_them() {
    let f = fixture().await;
    let (project, plan) = f.project_with_plan("the-club").await;
    f.grant(&project, plan, json!({"telegram_user_id": USER})).await;
    sqlx::query("UPDATE subscribers SET status = 'banned'").execute(&f.db.pool).await.unwrap();

    let answer = f.get(&format!("/v1/projects/{}/members/{USER}", project.id), &project.key).await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.data["status"], "banned");
    assert_eq!(answer.data["entitlements"][0]["entitled"], false);
}

#[tokio::test]
async fn an_unknown_member_is_not_found() {
    let f = fixture().await;
    let project = f.create_project("the-club").await;
    for user in [USER.to_string(), "someone".to_string()] {
        f.get(&format!("/v1/projects/{}/members/{user}", project.id), &project.key)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
    }
}
