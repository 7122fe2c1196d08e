//! `manager_messages`: what the platform bot says to creators, recorded once under
//! its dedupe key before it is sent.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A message to send.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManagerMessage {
    /// `manager_messages.id`.
    pub id: Uuid,
    /// Recipient.
    pub telegram_user_id: i64,
    /// Text.
    pub text: String,
    /// Inline keyboard.
    pub reply_markup: Option<serde_json::Value>,
    /// pending, sent, undeliverable.
    pub state: String,
}

/// Records a message under its dedupe key; returns its id, new or existing.
pub async fn put(
    db: impl PgExecutor<'_>,
    telegram_user_id: i64,
    dedupe_key: &str,
    text: &str,
    reply_markup: Option<serde_json::Value>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "WITH new AS (
           INSERT INTO manager_messages (id, telegram_user_id, dedupe_key, text, reply_markup)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (dedupe_key) DO NOTHING
           RETURNING id)
         SELECT id FROM new UNION ALL
         SELECT id FROM manager_messages WHERE dedupe_key = $3
         LIMIT 1",
    )
    .bind(Uuid::now_v7())
    .bind(telegram_user_id)
    .bind(dedupe_key)
    .bind(text)
    .bind(reply_markup)
    .fetch_one(db)
    .await
}

/// A message by id.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<ManagerMessage>, sqlx::Error> {
    sqlx::query_as("SELECT id, telegram_user_id, text, reply_markup, state FROM manager_messages WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Marks a message sent.
pub async fn sent(db: impl PgExecutor<'_>, id: Uuid, telegram_message_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE manager_messages SET state = 'sent', telegram_message_id = $2, sent_at = now() WHERE id = $1")
        .bind(id)
        .bind(telegram_message_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks a message undeliverable, with the reason.
pub async fn undeliverable(db: impl PgExecutor<'_>, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE manager_messages SET state = 'undeliverable', error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether a message to the same creator, recorded before message `id` in the last
/// minute, is still waiting to be sent (messages to one creator go out in order; one
/// stuck for longer holds nothing up).
pub async fn earlier_pending(db: impl PgExecutor<'_>, telegram_user_id: i64, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM manager_messages
                        WHERE telegram_user_id = $1 AND id < $2 AND state = 'pending'
                          AND created_at > now() - interval '1 minute')",
    )
    .bind(telegram_user_id)
    .bind(id)
    .fetch_one(db)
    .await
}
