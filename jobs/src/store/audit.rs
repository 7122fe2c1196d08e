//! `audit_log`: every action taken on a member, with its reason and job.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// One action to record.
pub struct Entry<'a> {
    /// Project.
    pub project_id: Uuid,
    /// The member acted on.
    pub telegram_user_id: Option<i64>,
    /// The chat, if the action was in one.
    pub chat_id: Option<Uuid>,
    /// link_issued, link_revoked, removed, approved, declined, unbanned, kept, failed, …
    pub action: &'a str,
    /// Why, in words.
    pub reason: &'a str,
    /// The job that acted.
    pub job_id: Option<&'a str>,
    /// Anything else worth keeping.
    pub details: serde_json::Value,
}

/// Appends an entry (on a pool, or in the caller's transaction with what it records).
pub async fn record(db: impl PgExecutor<'_>, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (project_id, telegram_user_id, chat_id, action, reason, job_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.project_id)
    .bind(entry.telegram_user_id)
    .bind(entry.chat_id)
    .bind(entry.action)
    .bind(entry.reason)
    .bind(entry.job_id)
    .bind(entry.details)
    .execute(db)
    .await?;
    Ok(())
}

/// One MCP tool call, for the audit trail (`action` `mcp_tool_call`): the key that
/// called, the tool and how it ended. No chat; a member only when the call named one.
#[derive(Debug, Clone)]
pub struct ToolCall<'a> {
    /// The key's project.
    pub project_id: Uuid,
    /// `api_keys.id`.
    pub key_id: Uuid,
    /// The tool's name.
    pub tool: &'a str,
    /// `ok`, or the error code answered.
    pub outcome: &'a str,
    /// The member the call named, if any.
    pub telegram_user_id: Option<i64>,
    /// Whether the answer was the replay of an earlier call with the same idempotency key.
    pub replayed: Option<bool>,
}

/// Records an MCP tool call.
pub async fn record_tool_call(db: impl PgExecutor<'_>, call: &ToolCall<'_>) -> Result<(), sqlx::Error> {
    let details = serde_json::json!({
        "tool": call.tool, "key_id": call.key_id, "outcome": call.outcome, "replayed": call.replayed,
    });
    record(
        db,
        Entry {
            project_id: call.project_id,
            telegram_user_id: call.telegram_user_id,
            chat_id: None,
            action: "mcp_tool_call",
            reason: call.tool,
            job_id: None,
            details,
        },
    )
    .await
}

/// The audit actions that are steps of removing or banning a member, as SQL.
pub const REMOVAL_STEPS: &str = "('ban_started', 'kick_started', 'removed', 'banned', 'unbanned')";

/// Gatehouse's own last step of removing or banning this user in this chat, if any:
/// `ban_started` (a removal between its ban and its unban), `kick_started` (a one-call
/// removal sent, its outcome maybe unknown), `removed`, `banned` (the owner's /ban) or
/// `unbanned`.
pub async fn last_removal_step(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT action FROM audit_log
         WHERE chat_id = $1 AND telegram_user_id = $2 AND action IN {REMOVAL_STEPS}
         ORDER BY id DESC LIMIT 1"
    )))
    .bind(chat_id)
    .bind(telegram_user_id)
    .fetch_optional(db)
    .await
}

/// Whether Gatehouse's own last action on this user in this chat may have left them
/// banned (a removal between its ban and its unban, or the owner's /ban). A ban Gatehouse did
/// not make is an administrator's, and Gatehouse never lifts it: a ban found after a
/// removal Gatehouse completed (its ban lifted, or no ban at all) is someone else's.
pub async fn banned_by_gatehouse(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    telegram_user_id: i64,
) -> Result<bool, sqlx::Error> {
    let last = last_removal_step(db, chat_id, telegram_user_id).await?;
    Ok(matches!(last.as_deref(), Some("ban_started") | Some("banned")))
}

/// One audit entry about a member.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// When.
    pub at: DateTime<Utc>,
    /// What was done.
    pub action: String,
    /// Why.
    pub reason: String,
    /// Telegram's id of the chat, when it was about one.
    pub telegram_chat_id: Option<i64>,
    /// The job that acted.
    pub job_id: Option<String>,
    /// More about it.
    pub details: serde_json::Value,
}

/// A member's audit trail, newest first, at most `limit` entries.
pub async fn of_member(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.at, a.action, a.reason, c.telegram_chat_id, a.job_id, a.details
         FROM audit_log a LEFT JOIN chats c ON c.id = a.chat_id
         WHERE a.project_id = $1 AND a.telegram_user_id = $2
         ORDER BY a.at DESC, a.id DESC
         LIMIT $3",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// An audit entry in the project's trail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    /// `audit_log.id`: the order of the trail.
    pub id: i64,
    /// The member acted on.
    pub telegram_user_id: Option<i64>,
    /// The entry.
    #[sqlx(flatten)]
    pub row: AuditRow,
}

/// One page of the project's audit trail, newest first, below `before` (an id),
/// optionally about one user or one action.
pub async fn page(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: Option<i64>,
    action: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.telegram_user_id, a.at, a.action, a.reason, c.telegram_chat_id, a.job_id, a.details
         FROM audit_log a LEFT JOIN chats c ON c.id = a.chat_id
         WHERE a.project_id = $1 AND ($2::bigint IS NULL OR a.telegram_user_id = $2)
           AND ($3::text IS NULL OR a.action = $3) AND ($4::bigint IS NULL OR a.id < $4)
         ORDER BY a.id DESC LIMIT $5",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .bind(action)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// An operator's action on the queue or a bot (retry, cancel, pause, resume): audited
/// like an action on a member, with no member, and with no project when the job or bot
/// is of none.
pub struct OperatorEntry<'a> {
    /// The project the job or bot is of, when known.
    pub project_id: Option<Uuid>,
    /// `job_retried`, `job_cancelled`, `bot_paused`, `bot_resumed`.
    pub action: &'a str,
    /// Why, in words (who did it, and how).
    pub reason: &'a str,
    /// The job acted on.
    pub job_id: Option<&'a str>,
    /// The actor, the kind, the bot …
    pub details: serde_json::Value,
}

/// The actions [`OperatorEntry`] records: left out of the members' latest actions.
pub const OPERATOR_ACTIONS: [&str; 4] = ["job_retried", "job_cancelled", "bot_paused", "bot_resumed"];

/// Appends an operator's action.
pub async fn record_operator(db: impl PgExecutor<'_>, entry: OperatorEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (project_id, action, reason, job_id, details)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(entry.project_id)
    .bind(entry.action)
    .bind(entry.reason)
    .bind(entry.job_id)
    .bind(entry.details)
    .execute(db)
    .await?;
    Ok(())
}

/// One line of the audit trail, with whom it was about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditLine {
    /// When.
    pub at: DateTime<Utc>,
    /// The project.
    pub project_id: Option<Uuid>,
    /// The member acted on.
    pub telegram_user_id: Option<i64>,
    /// Telegram's id of the chat, when it was about one.
    pub telegram_chat_id: Option<i64>,
    /// What was done.
    pub action: String,
    /// Why.
    pub reason: String,
    /// The job that acted.
    pub job_id: Option<String>,
    /// More about it.
    pub details: serde_json::Value,
}

/// The lines a job wrote, and the operators' actions on it, oldest first.
pub async fn of_job(db: impl PgExecutor<'_>, job_id: &str) -> Result<Vec<AuditLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.at, a.project_id, a.telegram_user_id, c.telegram_chat_id, a.action, a.reason, a.job_id, a.details
         FROM audit_log a LEFT JOIN chats c ON c.id = a.chat_id
         WHERE a.job_id = $1 ORDER BY a.id LIMIT 200",
    )
    .bind(job_id)
    .fetch_all(db)
    .await
}

/// The latest actions on members (of one project, or all), newest first, at most `limit`;
/// operators' actions left out.
pub async fn latest_member_actions(
    db: impl PgExecutor<'_>,
    project_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AuditLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.at, a.project_id, a.telegram_user_id, c.telegram_chat_id, a.action, a.reason, a.job_id, a.details
         FROM audit_log a LEFT JOIN chats c ON c.id = a.chat_id
         WHERE ($1::uuid IS NULL OR a.project_id = $1) AND a.action <> ALL($2)
         ORDER BY a.at DESC LIMIT $3",
    )
    .bind(project_id)
    .bind(&OPERATOR_ACTIONS[..])
    .bind(limit)
    .fetch_all(db)
    .await
}
