//! Bots as the webhook sees them.

use sqlx::PgPool;

/// What the webhook needs to authenticate a Telegram delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookBot {
    /// Our id of the bot.
    pub id: uuid::Uuid,
    /// The project it belongs to.
    pub project_id: uuid::Uuid,
    /// SHA-256 of the secret given to setWebhook; `None` until the bot is connected.
    pub webhook_secret_hash: Option<Vec<u8>>,
}

/// The bot with this Telegram id, if Gatehouse manages it (its claim is verified).
pub async fn find_for_webhook(pool: &PgPool, telegram_bot_id: i64) -> Result<Option<WebhookBot>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, webhook_secret_hash FROM bots WHERE telegram_bot_id = $1 AND verified_at IS NOT NULL",
    )
    .bind(telegram_bot_id)
    .fetch_optional(pool)
    .await
}
