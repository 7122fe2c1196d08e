//! `POST /hooks/telegram/{bot_id}`: every answer, and how many jobs exist after it.

use std::sync::Arc;

use gatehouse_tests::{PgProxy, TestDb, insert_connected_bot, spawn_api, test_config};
use serde_json::json;

const BOT: i64 = 7_000_001;
const SECRET: &str = "webhook-secret-abc";

struct Fixture {
    db: TestDb,
    api: gatehouse_tests::Running,
    http: reqwest::Client,
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    insert_connected_bot(&db.pool, BOT, SECRET).await;
    let config = Arc::new(test_config(&db.url, &[]));
    let api = spawn_api(config, db.pool.clone()).await;
    Fixture { db, api, http: reqwest::Client::new() }
}

impl Fixture {
    async fn post(&self, bot: &str, secret: Option<&str>, body: impl Into<reqwest::Body>) -> u16 {
        let mut request = self
            .http
            .post(format!("{}/hooks/telegram/{bot}", self.api.url()))
            .header("content-type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        request.send().await.expect("request").status().as_u16()
    }

    async fn jobs(&self) -> usize {
        self.db.jobs().await.len()
    }
}

fn update(update_id: i64) -> String {
    json!({
        "update_id": update_id,
        "message": {"message_id": 1, "date": 1_700_000_000, "chat": {"id": 42, "type": "private"}, "text": "/start"}
    })
    .to_string()
}

#[tokio::test]
async fn a_valid_update_is_answered_200_and_enqueued_as_one_job() {
    let f = fixture().await;
    assert_eq!(f.post(&BOT.to_string(), Some(SECRET), update(10)).await, 200);
    let jobs = f.db.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_type, "interactive");
    assert_eq!(jobs[0].kind.as_deref(), Some("process-telegram-update"));
    assert_eq!(jobs[0].idempotency_key.as_deref(), Some("process-telegram-update:tg:7000001:10"));
}

#[tokio::test]
async fn a_redelivered_update_is_answered_200_and_enqueues_nothing_new() {
    let f = fixture().await;
    assert_eq!(f.post(&BOT.to_string(), Some(SECRET), update(11)).await, 200);
    assert_eq!(f.post(&BOT.to_string(), Some(SECRET), update(11)).await, 200);
    assert_eq!(f.jobs().await, 1);
}

#[tokio::test]
async fn the_same_update_id_from_two_bots_makes_two_jobs() {
    let f = fixture().await;
    insert_connected_bot(&f.db.pool, BOT + 1, "other-secret").await;
    assert_eq!(f.post(&BOT.to_string(), Some(SECRET), update(12)).await, 200);
    assert_eq!(f.post(&(BOT + 1).to_string(), Some("other-secret"), update(12)).await, 200);
    assert_eq!(f.jobs().await, 2);
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_answered_401_and_enqueues_nothing() {
    let f = fixture().await;
    assert_eq!(f.post(&BOT.to_string(), Some("webhook-secret-abd"), update(13)).await, 401);
    assert_eq!(f.post(&BOT.to_string(), None, update(13)).await, 401);
    assert_eq!(f.post(&BOT.to_string(), Some(""), update(13)).await, 401);
    assert_eq!(f.jobs().await, 0);
}

#[tokio::test]
async fn an_unknown_bot_is_answered_404_and_enqueues_nothing() {
    let f = fixture().await;
    assert_eq!(f.post("7000999", Some(SECRET), update(14)).await, 404);
    assert_eq!(f.post("not-a-bot", Some(SECRET), update(14)).await, 404);
    assert_eq!(f.jobs().await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_an_update_is_answered_400_and_enqueues_nothing() {
    let f = fixture().await;
    for body in ["{not json", "[]", r#"{"message": {}}"#, r#"{"update_id": "15"}"#, r#"{"update_id": -1}"#] {
        assert_eq!(f.post(&BOT.to_string(), Some(SECRET), body.to_string()).await, 400, "{body}");
    }
    assert_eq!(f.jobs().await, 0);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_answered_413_and_enqueues_nothing() {
    let f = fixture().await;
    let padding = "x".repeat(1024 * 1024);
    let body = json!({"update_id": 16, "message": {"text": padding}}).to_string();
    assert_eq!(f.post(&BOT.to_string(), Some(SECRET), body).await, 413);
    assert_eq!(f.jobs().await, 0);
}

#[tokio::test]
async fn an_unreachable_database_is_answered_503_and_the_redelivery_is_enqueued() {
    let db = TestDb::new().await;
    insert_connected_bot(&db.pool, BOT, SECRET).await;
    let proxy = PgProxy::start().await;
    let config = Arc::new(test_config(&proxy.url(&db.name), &[]));
    let pool = gatehouse_jobs::db::pool(&proxy.url(&db.name), 4).unwrap();
    let api = spawn_api(config, pool).await;
    let http = reqwest::Client::new();
    let post = |update_id| {
        http.post(format!("{}/hooks/telegram/{BOT}", api.url()))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .body(update(update_id))
            .send()
    };
    assert_eq!(post(20).await.unwrap().status().as_u16(), 200);

    proxy.cut();
    assert_eq!(post(21).await.unwrap().status().as_u16(), 503);
    let ready = reqwest::get(format!("{}/readyz", api.url())).await.unwrap().status().as_u16();
    assert_eq!(ready, 503);
    assert_eq!(db.jobs().await.len(), 1, "nothing enqueued while the database is unreachable");

    // Telegram delivers again; the update is not lost.
    proxy.restore();
    gatehouse_tests::wait_until(std::time::Duration::from_secs(10), "the api to reach the database again", || async {
        post(21).await.map(|r| r.status().as_u16() == 200).unwrap_or(false)
    })
    .await;
    assert_eq!(db.jobs().await.len(), 2);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let f = fixture().await;
    let healthz = reqwest::get(format!("{}/healthz", f.api.url())).await.unwrap();
    assert_eq!(healthz.status().as_u16(), 200);
    let readyz = reqwest::get(format!("{}/readyz", f.api.url())).await.unwrap();
    assert_eq!(readyz.status().as_u16(), 200);
}

#[tokio::test]
async fn readiness_is_503_until_the_migrations_are_applied() {
    let db = TestDb::new().await;
    sqlx::query("DELETE FROM _sqlx_migrations").execute(&db.pool).await.unwrap();
    let api = spawn_api(Arc::new(test_config(&db.url, &[])), db.pool.clone()).await;
    let readyz = reqwest::get(format!("{}/readyz", api.url())).await.unwrap();
    assert_eq!(readyz.status().as_u16(), 503);
}

/// The webhook remembers a bot's secret for a moment instead of reading `bots` on every
/// update; a new secret is accepted at once, and an old one, or a bot that is gone, is
/// refused once the moment has passed.
#[tokio::test]
async fn a_replaced_secret_works_at_once_and_the_old_one_and_a_removed_bot_stop_within_the_ttl() {
    use sha2::Digest;
    let f = fixture().await;
    let bot = BOT.to_string();
    assert_eq!(f.post(&bot, Some(SECRET), update(30)).await, 200, "remembered from here on");
    sqlx::query("UPDATE bots SET webhook_secret_hash = $2 WHERE telegram_bot_id = $1")
        .bind(BOT)
        .bind(sha2::Sha256::digest(b"the-new-secret").to_vec())
        .execute(&f.db.pool)
        .await
        .unwrap();
    assert_eq!(f.post(&bot, Some("the-new-secret"), update(31)).await, 200, "the new secret, at once");
    assert_eq!(f.post(&bot, Some(SECRET), update(32)).await, 401, "the old one, once read again");
    assert_eq!(f.post(&bot, Some("the-new-secret"), update(33)).await, 200);

    sqlx::query("DELETE FROM bots WHERE telegram_bot_id = $1").bind(BOT).execute(&f.db.pool).await.unwrap();
    tokio::time::sleep(gatehouse_api::WEBHOOK_SECRET_TTL + std::time::Duration::from_millis(100)).await;
    assert_eq!(f.post(&bot, Some("the-new-secret"), update(34)).await, 404, "a bot that is gone");
    assert_eq!(f.jobs().await, 3, "updates 30, 31 and 33");
}
