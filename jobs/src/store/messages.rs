//! `outbound_messages`: every message the bots send, recorded once under its dedupe
//! key before it is sent.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A message to send.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboundMessage {
    /// `outbound_messages.id`.
    pub id: Uuid,
    /// Project (its bot sends it).
    pub project_id: Uuid,
    /// Recipient.
    pub telegram_user_id: i64,
    /// Text.
    pub text: String,
    /// Inline keyboard.
    pub reply_markup: Option<serde_json::Value>,
    /// pending, sent, undeliverable.
    pub state: String,
}

/// Records a message under its dedupe key (on a pool, or in the caller's
/// transaction); returns its id, new or existing.
pub async fn put(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
    dedupe_key: &str,
    text: &str,
    reply_markup: Option<serde_json::Value>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "WITH new AS (
           INSERT INTO outbound_messages (id, project_id, telegram_user_id, dedupe_key, text, reply_markup)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (project_id, dedupe_key) DO NOTHING
           RETURNING id)
         SELECT id FROM new UNION ALL
         SELECT id FROM outbound_messages WHERE project_id = $2 AND dedupe_key = $4
         LIMIT 1",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(telegram_user_id)
    .bind(dedupe_key)
    .bind(text)
    .bind(reply_markup)
    .fetch_one(db)
    .await
}

/// Records a message under its dedupe key in the caller's transaction; `None` when
/// one is recorded under that key already (the caller rolls back what it reports).
pub async fn put_new(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
    dedupe_key: &str,
    text: &str,
    reply_markup: Option<serde_json::Value>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO outbound_messages (id, project_id, telegram_user_id, dedupe_key, text, reply_markup)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (project_id, dedupe_key) DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(telegram_user_id)
    .bind(dedupe_key)
    .bind(text)
    .bind(reply_markup)
    .fetch_optional(db)
    .await
}

/// The message recorded under a dedupe key.
pub async fn by_key(db: impl PgExecutor<'_>, project_id: Uuid, dedupe_key: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM outbound_messages WHERE project_id = $1 AND dedupe_key = $2")
        .bind(project_id)
        .bind(dedupe_key)
        .fetch_optional(db)
        .await
}

/// A message by id.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<OutboundMessage>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, telegram_user_id, text, reply_markup, state FROM outbound_messages WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Marks a message sent.
pub async fn sent(db: impl PgExecutor<'_>, id: Uuid, telegram_message_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbound_messages SET state = 'sent', telegram_message_id = $2, sent_at = now() WHERE id = $1")
        .bind(id)
        .bind(telegram_message_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks a message undeliverable, with the reason (its recipient is marked
/// unreachable apart: [`super::subscribers::unreachable`]).
pub async fn undeliverable(db: impl PgExecutor<'_>, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbound_messages SET state = 'undeliverable', error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// The Telegram id of a message once it was sent.
pub async fn telegram_id_of(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT telegram_message_id FROM outbound_messages WHERE id = $1 AND state = 'sent'")
        .bind(id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}
