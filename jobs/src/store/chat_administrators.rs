//! `chat_administrators`: each managed chat's administrators as Telegram last listed
//! them (`getChatAdministrators`), kept current by the promotions and demotions
//! `chat_member` updates report. A removal reads it instead of asking about each member.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Replaces a chat's list with the one Telegram gave at `at`.
pub async fn replace(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    user_ids: &[i64],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO chat_administrators (chat_id, user_ids, read_at) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id) DO UPDATE SET user_ids = EXCLUDED.user_ids, read_at = EXCLUDED.read_at",
    )
    .bind(chat_id)
    .bind(user_ids)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a promotion (`admin`) or a demotion (or an administrator leaving) seen in
/// an update. A chat whose list was never read keeps having none: the first read
/// gives the whole list.
pub async fn observe(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    telegram_user_id: i64,
    admin: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE chat_administrators SET user_ids = CASE
             WHEN $3 THEN array_append(array_remove(user_ids, $2), $2)
             ELSE array_remove(user_ids, $2) END
         WHERE chat_id = $1",
    )
    .bind(chat_id)
    .bind(telegram_user_id)
    .bind(admin)
    .execute(db)
    .await?;
    Ok(())
}

/// A chat's administrators, if they were ever read.
pub async fn of(db: impl PgExecutor<'_>, chat_id: Uuid) -> Result<Option<Vec<i64>>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_ids FROM chat_administrators WHERE chat_id = $1")
        .bind(chat_id)
        .fetch_optional(db)
        .await
}
