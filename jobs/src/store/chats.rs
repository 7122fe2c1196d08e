//! `chats`: the channels and groups a project manages, their bot's rights, and
//! `member_counts`, the daily member count of each.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A managed chat.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Chat {
    /// `chats.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Telegram's id of the chat.
    pub telegram_chat_id: i64,
    /// Its title, once verified.
    pub title: Option<String>,
    /// `channel`, `supergroup` or `group`, once verified.
    pub kind: Option<String>,
    /// `single_use_link` or `join_request`.
    pub join_strategy: String,
    /// `pending`, `ready` or `not_ready`.
    pub status: String,
    /// Why it is not ready.
    pub status_reason: Option<String>,
    /// The bot may create invite links.
    pub can_invite_users: bool,
    /// The bot may remove members.
    pub can_restrict_members: bool,
}

impl Chat {
    /// What people read for it: its title, or its id until it has one.
    pub fn display_name(&self) -> String {
        self.title.clone().unwrap_or_else(|| self.telegram_chat_id.to_string())
    }
}

/// The columns of [`Chat`], for queries that read a chat beside other things.
pub(crate) const COLUMNS: &str = "c.id, c.project_id, c.telegram_chat_id, c.title, c.kind, c.join_strategy, c.status, \
                                  c.status_reason, c.can_invite_users, c.can_restrict_members";

/// A chat by our id.
pub async fn get(db: impl PgExecutor<'_>, chat_id: Uuid) -> Result<Option<Chat>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM chats c WHERE c.id = $1")))
        .bind(chat_id)
        .fetch_optional(db)
        .await
}

/// A project's chat by Telegram's id.
pub async fn by_telegram_id(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_chat_id: i64,
) -> Result<Option<Chat>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM chats c WHERE c.project_id = $1 AND c.telegram_chat_id = $2"
    )))
    .bind(project_id)
    .bind(telegram_chat_id)
    .fetch_optional(db)
    .await
}

/// Of these Telegram chat ids, the ones that are chats of the project.
pub async fn by_telegram_ids(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_chat_ids: &[i64],
) -> Result<Vec<Chat>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM chats c WHERE c.project_id = $1 AND c.telegram_chat_id = ANY($2)"
    )))
    .bind(project_id)
    .bind(telegram_chat_ids)
    .fetch_all(db)
    .await
}

/// The project's chats, oldest first.
pub async fn of_project(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<Chat>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM chats c WHERE c.project_id = $1 ORDER BY c.created_at, c.telegram_chat_id"
    )))
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// The chats a plan grants, by Telegram id.
pub async fn of_plan(db: impl PgExecutor<'_>, plan_id: Uuid) -> Result<Vec<Chat>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM chats c
         WHERE c.id IN (SELECT chat_id FROM plan_chats WHERE plan_id = $1) ORDER BY c.telegram_chat_id"
    )))
    .bind(plan_id)
    .fetch_all(db)
    .await
}

/// Every chat Gatehouse manages (for counts and sweeps).
pub async fn all(db: impl PgExecutor<'_>) -> Result<Vec<Chat>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM chats c ORDER BY c.id"))).fetch_all(db).await
}

/// Adds a managed chat, or asks for a managed chat to be verified again: either
/// way it is `pending` with no reason. `join_strategy` `None` keeps the current
/// strategy, or gives a new chat the column's default (`join_request` since
/// migration 0060). Returns the chat's id (`new_id` when added).
pub async fn upsert(
    db: impl PgExecutor<'_>,
    new_id: Uuid,
    project_id: Uuid,
    telegram_chat_id: i64,
    join_strategy: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    const AGAIN: &str = "status = 'pending', status_reason = NULL, updated_at = now()";
    let query = match join_strategy {
        Some(strategy) => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO chats (id, project_id, telegram_chat_id, join_strategy) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, telegram_chat_id) DO UPDATE SET join_strategy = $4, {AGAIN}
             RETURNING id"
        )))
        .bind(new_id)
        .bind(project_id)
        .bind(telegram_chat_id)
        .bind(strategy),
        None => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO chats (id, project_id, telegram_chat_id) VALUES ($1, $2, $3)
             ON CONFLICT (project_id, telegram_chat_id) DO UPDATE SET {AGAIN}
             RETURNING id"
        )))
        .bind(new_id)
        .bind(project_id)
        .bind(telegram_chat_id),
    };
    query.fetch_one(db).await
}

/// What verify-chat found.
pub struct ChatCheck<'a> {
    /// channel, supergroup, group.
    pub kind: Option<&'a str>,
    /// Title.
    pub title: Option<&'a str>,
    /// The bot's status in the chat.
    pub bot_status: &'a str,
    /// Right to invite.
    pub can_invite_users: bool,
    /// Right to ban.
    pub can_restrict_members: bool,
    /// `None` = ready; else why not.
    pub problem: Option<&'a str>,
}

/// Records what verify-chat found; returns the chat's status before (`None`: no such chat).
pub async fn checked(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    check: &ChatCheck<'_>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE chats c SET kind = COALESCE($2, c.kind), title = COALESCE($3, c.title), bot_status = $4,
                can_invite_users = $5, can_restrict_members = $6,
                status = CASE WHEN $7::text IS NULL THEN 'ready' ELSE 'not_ready' END,
                status_reason = $7, updated_at = now()
         FROM (SELECT id, status FROM chats WHERE id = $1 FOR UPDATE) before
         WHERE c.id = before.id
         RETURNING before.status",
    )
    .bind(chat_id)
    .bind(check.kind)
    .bind(check.title)
    .bind(check.bot_status)
    .bind(check.can_invite_users)
    .bind(check.can_restrict_members)
    .bind(check.problem)
    .fetch_optional(db)
    .await
}

/// Marks a chat not ready (the bot lost its rights), keeping everyone where they are;
/// returns its status before (`None`: no such chat).
pub async fn not_ready(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    bot_status: &str,
    reason: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE chats c SET status = 'not_ready', status_reason = $3, bot_status = $2, updated_at = now()
         FROM (SELECT id, status FROM chats WHERE id = $1 FOR UPDATE) before
         WHERE c.id = before.id
         RETURNING before.status",
    )
    .bind(chat_id)
    .bind(bot_status)
    .bind(reason)
    .fetch_optional(db)
    .await
}

/// Records how many members Telegram counts beyond those Gatehouse knows.
pub async fn set_unknown_members(db: impl PgExecutor<'_>, chat_id: Uuid, unknown: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chats SET unknown_members = $2 WHERE id = $1").bind(chat_id).bind(unknown).execute(db).await?;
    Ok(())
}

/// Stores the day's member count.
pub async fn record_member_count(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    day: NaiveDate,
    members: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO member_counts (chat_id, day, members) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id, day) DO UPDATE SET members = EXCLUDED.members, counted_at = now()",
    )
    .bind(chat_id)
    .bind(day)
    .bind(members as i32)
    .execute(db)
    .await?;
    Ok(())
}

/// One chat's figures for /stats.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatStats {
    /// Title.
    pub title: String,
    /// Latest daily count, if any.
    pub counted: Option<i32>,
    /// Members Gatehouse has seen inside.
    pub known: i64,
    /// Joins since `since`.
    pub joins: i64,
    /// Removals since `since`.
    pub removals: i64,
    /// People Telegram counted beyond those Gatehouse has seen, at the last sweep.
    pub unseen: Option<i32>,
}

/// Per-chat figures of a project: its latest count, the people seen inside, and the
/// joins and removals (from `audit_log`) since `since`.
pub async fn stats(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<ChatStats>, sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(c.title, c.telegram_chat_id::text) AS title,
                (SELECT members FROM member_counts mc WHERE mc.chat_id = c.id ORDER BY day DESC LIMIT 1) AS counted,
                (SELECT count(*) FROM memberships m WHERE m.chat_id = c.id
                   AND m.status IN ('creator', 'administrator', 'member', 'restricted')) AS known,
                (SELECT count(*) FROM audit_log a WHERE a.chat_id = c.id AND a.action = 'joined' AND a.at >= $2) AS joins,
                (SELECT count(*) FROM audit_log a WHERE a.chat_id = c.id AND a.action = 'removed' AND a.at >= $2) AS removals,
                c.unknown_members AS unseen
         FROM chats c WHERE c.project_id = $1 ORDER BY c.telegram_chat_id",
    )
    .bind(project_id)
    .bind(since)
    .fetch_all(db)
    .await
}
