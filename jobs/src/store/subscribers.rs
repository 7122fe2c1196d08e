//! `subscribers`: each Telegram user as one project knows them (profile, standing,
//! whitelist, reachability), and `start_payloads`, the `/start` payloads they came with.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A subscriber.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscriber {
    /// `subscribers.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// The Telegram user.
    pub telegram_user_id: i64,
    /// Their @username, when Telegram told.
    pub username: Option<String>,
    /// Their first name, when Telegram told.
    pub first_name: Option<String>,
    /// Their language, when Telegram told.
    pub language_code: Option<String>,
    /// `active` or `banned` (by the owner).
    pub status: String,
    /// Never removed from the project's chats.
    pub whitelisted: bool,
    /// Set when the bot cannot reach them.
    pub unreachable_since: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, project_id, telegram_user_id, username, first_name, language_code, status, whitelisted, unreachable_since";

/// What an update or a request told about a user. A field left `None` keeps what is stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Profile<'a> {
    /// @username.
    pub username: Option<&'a str>,
    /// First name.
    pub first_name: Option<&'a str>,
    /// Language code.
    pub language_code: Option<&'a str>,
}

impl<'a> Profile<'a> {
    /// Everything a Telegram user object tells.
    pub fn of(user: &'a crate::telegram::User) -> Self {
        Self {
            username: user.username.as_deref(),
            first_name: Some(user.first_name.as_str()),
            language_code: user.language_code.as_deref(),
        }
    }
}

/// The project's subscriber for this Telegram user, created if new, with what
/// `profile` tells stored over what was known. The row stays locked until the
/// caller's transaction ends.
pub async fn upsert(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
    profile: Profile<'_>,
) -> Result<Subscriber, sqlx::Error> {
    // With nothing to tell, the update is a no-op that still makes RETURNING give the
    // existing row, and locks it.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, username, first_name, language_code)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (project_id, telegram_user_id) DO UPDATE SET
           username = COALESCE(EXCLUDED.username, subscribers.username),
           first_name = COALESCE(EXCLUDED.first_name, subscribers.first_name),
           language_code = COALESCE(EXCLUDED.language_code, subscribers.language_code)
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(telegram_user_id)
    .bind(profile.username)
    .bind(profile.first_name)
    .bind(profile.language_code)
    .fetch_one(db)
    .await
}

/// The project's subscriber for this Telegram user, if known.
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<Subscriber>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscribers WHERE project_id = $1 AND telegram_user_id = $2"
    )))
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_optional(db)
    .await
}

/// Whether the user is on the project's whitelist (never removed).
pub async fn is_whitelisted(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<bool, sqlx::Error> {
    Ok(find(db, project_id, telegram_user_id).await?.is_some_and(|s| s.whitelisted))
}

/// Puts the user on the whitelist (never removed), creating the subscriber if new.
pub async fn whitelist(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Subscriber, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, whitelisted) VALUES ($1, $2, $3, true)
         ON CONFLICT (project_id, telegram_user_id) DO UPDATE SET whitelisted = true
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_one(db)
    .await
}

/// Takes the user off the whitelist; `None` if the project does not know them.
pub async fn unwhitelist(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<Subscriber>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE subscribers SET whitelisted = false
         WHERE project_id = $1 AND telegram_user_id = $2
         RETURNING {COLUMNS}"
    )))
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_optional(db)
    .await
}

/// Marks a subscriber banned by the owner (creating them if unknown).
pub async fn ban(db: impl PgExecutor<'_>, project_id: Uuid, telegram_user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, status) VALUES ($1, $2, $3, 'banned')
         ON CONFLICT (project_id, telegram_user_id) DO UPDATE SET status = 'banned'",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(telegram_user_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Lifts the owner's ban on a subscriber; whether they were banned.
pub async fn unban(db: impl PgExecutor<'_>, project_id: Uuid, telegram_user_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE subscribers SET status = 'active' WHERE project_id = $1 AND telegram_user_id = $2 AND status = 'banned'",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the bot cannot reach the user (they blocked it), from the first time.
pub async fn unreachable(db: impl PgExecutor<'_>, project_id: Uuid, telegram_user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE subscribers SET unreachable_since = COALESCE(unreachable_since, now())
         WHERE project_id = $1 AND telegram_user_id = $2",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a `/start` payload for attribution.
pub async fn record_start_payload(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO start_payloads (project_id, telegram_user_id, payload) VALUES ($1, $2, $3)")
        .bind(project_id)
        .bind(telegram_user_id)
        .bind(payload)
        .execute(db)
        .await?;
    Ok(())
}

/// The Telegram user of a subscriber row.
pub async fn telegram_id_of(db: impl PgExecutor<'_>, subscriber_id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT telegram_user_id FROM subscribers WHERE id = $1")
        .bind(subscriber_id)
        .fetch_optional(db)
        .await
}
