//! `projects`: the tenants. A project is read with its bot's username (from `bots`),
//! which every message linking back to the bot needs.

use sqlx::PgExecutor;
use uuid::Uuid;

/// The unique constraint on `projects.handle`.
pub const PROJECT_HANDLE_KEY: &str = "projects_handle_key";

/// A project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Project {
    /// `projects.id`.
    pub id: Uuid,
    /// URL-safe short name.
    pub handle: String,
    /// Display name.
    pub name: String,
    /// The Telegram user who may run owner commands.
    pub owner_telegram_id: i64,
    /// `projects.grace_period` in seconds.
    pub grace_secs: i64,
    /// Days before an end when subscribers are reminded.
    pub reminder_days: Vec<i32>,
    /// The bot's @username (without @), once connected.
    pub bot_username: Option<String>,
}

/// Inserts a project.
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    handle: &str,
    name: &str,
    owner_telegram_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO projects (id, handle, name, owner_telegram_id) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(handle)
        .bind(name)
        .bind(owner_telegram_id)
        .execute(db)
        .await?;
    Ok(())
}

/// A project by id.
pub async fn get(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Option<Project>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.handle, p.name, p.owner_telegram_id, extract(epoch FROM p.grace_period)::bigint AS grace_secs,
                p.reminder_days, b.username AS bot_username
         FROM projects p LEFT JOIN bots b ON b.project_id = p.id WHERE p.id = $1",
    )
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// A project by its handle (the membership page's `/p/{handle}`).
pub async fn by_handle(db: impl PgExecutor<'_>, handle: &str) -> Result<Option<Project>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.handle, p.name, p.owner_telegram_id, extract(epoch FROM p.grace_period)::bigint AS grace_secs,
                p.reminder_days, b.username AS bot_username
         FROM projects p LEFT JOIN bots b ON b.project_id = p.id WHERE p.handle = $1",
    )
    .bind(handle)
    .fetch_optional(db)
    .await
}

/// The projects a Telegram user owns, oldest first (the platform bot's list).
pub async fn of_owner(db: impl PgExecutor<'_>, owner_telegram_id: i64) -> Result<Vec<Project>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.handle, p.name, p.owner_telegram_id, extract(epoch FROM p.grace_period)::bigint AS grace_secs,
                p.reminder_days, b.username AS bot_username
         FROM projects p LEFT JOIN bots b ON b.project_id = p.id WHERE p.owner_telegram_id = $1
         ORDER BY p.created_at, p.id",
    )
    .bind(owner_telegram_id)
    .fetch_all(db)
    .await
}
