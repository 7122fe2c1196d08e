//! `bots`: each project's own bot, its sealed token, its webhook secret's digest,
//! and whether getMe verified the project's claim on the bot id.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A bot.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Bot {
    /// `bots.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Telegram's id of the bot.
    pub telegram_bot_id: i64,
    /// The token, sealed: `nonce || ciphertext`.
    pub token_ciphertext: Vec<u8>,
    /// Its @username, once `connect-bot` has seen it.
    pub username: Option<String>,
    /// `connecting`, `connected` or `failed`.
    pub status: String,
    /// Why it failed, when it did.
    pub status_reason: Option<String>,
    /// SHA-256 of the secret given to setWebhook; `None` until the bot is connected.
    pub webhook_secret_hash: Option<Vec<u8>>,
    /// When getMe confirmed the token for this bot id (`None`: not yet).
    pub verified_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, project_id, telegram_bot_id, token_ciphertext, username, status, status_reason, webhook_secret_hash, verified_at";

/// A bot by our id.
pub async fn get(db: impl PgExecutor<'_>, bot_id: Uuid) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM bots WHERE id = $1")))
        .bind(bot_id)
        .fetch_optional(db)
        .await
}

/// The bot of a project, if it has one (in any state).
pub async fn of_project(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM bots WHERE project_id = $1")))
        .bind(project_id)
        .fetch_optional(db)
        .await
}

/// The bot with this Telegram id, if Gatehouse manages it: the project whose claim
/// getMe verified (unverified claims of the same id are nobody's bot).
pub async fn by_telegram_id(db: impl PgExecutor<'_>, telegram_bot_id: i64) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM bots WHERE telegram_bot_id = $1 AND verified_at IS NOT NULL"
    )))
    .bind(telegram_bot_id)
    .fetch_optional(db)
    .await
}

/// Creates the project's bot, or replaces its token: either way it is
/// `connecting` again, with no username or reason until `connect-bot` runs. The
/// webhook secret hash is left as it is. Returns the bot's id (`new_id` when created).
pub async fn upsert(
    db: impl PgExecutor<'_>,
    new_id: Uuid,
    project_id: Uuid,
    telegram_bot_id: i64,
    token_ciphertext: &[u8],
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO bots (id, project_id, telegram_bot_id, token_ciphertext, status)
         VALUES ($1, $2, $3, $4, 'connecting')
         ON CONFLICT (project_id) DO UPDATE
         SET telegram_bot_id = EXCLUDED.telegram_bot_id,
             token_ciphertext = EXCLUDED.token_ciphertext,
             status = 'connecting',
             status_reason = NULL,
             username = NULL,
             -- Another bot: the old bot's webhook secret must not open the new bot's webhook,
             -- and the new bot id is this project's only once getMe confirms it.
             webhook_secret_hash = CASE WHEN bots.telegram_bot_id = EXCLUDED.telegram_bot_id
                                        THEN bots.webhook_secret_hash END,
             verified_at = CASE WHEN bots.telegram_bot_id = EXCLUDED.telegram_bot_id
                                THEN bots.verified_at END,
             updated_at = now()
         RETURNING id",
    )
    .bind(new_id)
    .bind(project_id)
    .bind(telegram_bot_id)
    .bind(token_ciphertext)
    .fetch_one(db)
    .await
}

/// Whether a project other than `project_id` holds the verified claim on this bot id.
pub async fn verified_elsewhere(
    db: impl PgExecutor<'_>,
    telegram_bot_id: i64,
    project_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM bots WHERE telegram_bot_id = $1 AND project_id <> $2 AND verified_at IS NOT NULL)",
    )
    .bind(telegram_bot_id)
    .bind(project_id)
    .fetch_one(db)
    .await
}

/// Why a bot's claim could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another project holds the verified claim on this bot id.
    #[error("this bot is connected to another project")]
    TakenElsewhere,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The unique index that lets one project at a time hold a verified claim on a bot id.
pub const VERIFIED_BOT_KEY: &str = "bots_verified_telegram_bot_id_key";

/// Records that getMe confirmed the bot's token: from now on the bot id belongs to this
/// project. Refused when another project's claim on the same id is verified.
pub async fn claim_verified(db: impl PgExecutor<'_>, bot_id: Uuid) -> Result<(), ClaimError> {
    let result = sqlx::query("UPDATE bots SET verified_at = COALESCE(verified_at, now()) WHERE id = $1")
        .bind(bot_id)
        .execute(db)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some(VERIFIED_BOT_KEY) => Err(ClaimError::TakenElsewhere),
        Err(e) => Err(e.into()),
    }
}

/// Marks a bot connected, with the digest of its new webhook secret.
pub async fn connected(
    db: impl PgExecutor<'_>,
    bot_id: Uuid,
    username: Option<&str>,
    secret_hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bots SET status = 'connected', status_reason = NULL, username = $2, webhook_secret_hash = $3, updated_at = now()
         WHERE id = $1",
    )
    .bind(bot_id)
    .bind(username)
    .bind(secret_hash)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a bot failed, with the reason shown to the integrator.
pub async fn failed(db: impl PgExecutor<'_>, bot_id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE bots SET status = 'failed', status_reason = $2, updated_at = now() WHERE id = $1")
        .bind(bot_id)
        .bind(reason)
        .execute(db)
        .await?;
    Ok(())
}
