//! `dialogs`: the guided flow a Telegram user is in with a bot (the platform bot's
//! sign-up, an owner's `/addplan`), so that it resumes after a pause or a restart.

use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

/// A flow in progress.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Dialog {
    /// Which flow (`signup`, `connect`, `addplan`).
    pub flow: String,
    /// Its step.
    pub step: String,
    /// What was answered so far.
    pub data: Value,
    /// The update that moved it last.
    pub last_cause: Option<String>,
}

/// The user's flow with the bot, locked until the caller's transaction ends (two
/// updates of one user are then taken one after the other).
pub async fn lock(
    conn: &mut PgConnection,
    telegram_bot_id: i64,
    telegram_user_id: i64,
) -> Result<Option<Dialog>, sqlx::Error> {
    sqlx::query_as(
        "SELECT flow, step, data, last_cause FROM dialogs
         WHERE telegram_bot_id = $1 AND telegram_user_id = $2 FOR UPDATE",
    )
    .bind(telegram_bot_id)
    .bind(telegram_user_id)
    .fetch_optional(conn)
    .await
}

/// Sets the user's flow (replacing any other), moved by `cause`.
pub async fn set(
    db: impl PgExecutor<'_>,
    telegram_bot_id: i64,
    telegram_user_id: i64,
    flow: &str,
    step: &str,
    data: &Value,
    cause: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dialogs (telegram_bot_id, telegram_user_id, flow, step, data, last_cause)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (telegram_bot_id, telegram_user_id) DO UPDATE
         SET flow = EXCLUDED.flow, step = EXCLUDED.step, data = EXCLUDED.data,
             last_cause = EXCLUDED.last_cause, updated_at = now()",
    )
    .bind(telegram_bot_id)
    .bind(telegram_user_id)
    .bind(flow)
    .bind(step)
    .bind(data)
    .bind(cause)
    .execute(db)
    .await?;
    Ok(())
}

/// Ends the user's flow with the bot, if any.
pub async fn clear(db: impl PgExecutor<'_>, telegram_bot_id: i64, telegram_user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM dialogs WHERE telegram_bot_id = $1 AND telegram_user_id = $2")
        .bind(telegram_bot_id)
        .bind(telegram_user_id)
        .execute(db)
        .await?;
    Ok(())
}
