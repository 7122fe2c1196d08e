//! `support_settings`, `support_relays` and `support_copies`: the support relay between
//! subscribers and the project's staff (the owner and their admins).

use sqlx::PgExecutor;
use uuid::Uuid;

/// Whether the project relays subscribers' messages to its staff (off until turned on).
pub async fn enabled(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<bool, sqlx::Error> {
    let on: Option<bool> = sqlx::query_scalar("SELECT enabled FROM support_settings WHERE project_id = $1")
        .bind(project_id)
        .fetch_optional(db)
        .await?;
    Ok(on.unwrap_or(false))
}

/// Turns the relay on or off.
pub async fn set_enabled(db: impl PgExecutor<'_>, project_id: Uuid, enabled: bool, by: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO support_settings (project_id, enabled, changed_by) VALUES ($1, $2, $3)
         ON CONFLICT (project_id) DO UPDATE SET enabled = $2, changed_by = $3, changed_at = now()",
    )
    .bind(project_id)
    .bind(enabled)
    .bind(by)
    .execute(db)
    .await?;
    Ok(())
}

/// Records that the message `telegram_message_id` in a staff member's chat stands for
/// the subscriber `subscriber` (a reply to it goes to them).
pub async fn record_relay(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    staff: i64,
    telegram_message_id: i64,
    subscriber: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO support_relays (project_id, staff_telegram_id, telegram_message_id, subscriber_telegram_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(project_id)
    .bind(staff)
    .bind(telegram_message_id)
    .bind(subscriber)
    .execute(db)
    .await?;
    Ok(())
}

/// The subscriber a message in a staff member's chat stands for, if it was relayed.
pub async fn subscriber_of(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    staff: i64,
    telegram_message_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT subscriber_telegram_id FROM support_relays
         WHERE project_id = $1 AND staff_telegram_id = $2 AND telegram_message_id = $3",
    )
    .bind(project_id)
    .bind(staff)
    .bind(telegram_message_id)
    .fetch_optional(db)
    .await
}

/// The copy already made under `key`, if any (its message id).
pub async fn copy_made(db: impl PgExecutor<'_>, project_id: Uuid, key: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT telegram_message_id FROM support_copies WHERE project_id = $1 AND dedupe_key = $2")
        .bind(project_id)
        .bind(key)
        .fetch_optional(db)
        .await
}

/// Records a copy made under `key`.
pub async fn record_copy(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    key: &str,
    telegram_message_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO support_copies (project_id, dedupe_key, telegram_message_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(project_id)
    .bind(key)
    .bind(telegram_message_id)
    .execute(db)
    .await?;
    Ok(())
}
