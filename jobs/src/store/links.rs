//! `invite_links`: the personal invite links Gatehouse makes, from the row written
//! before Telegram is asked (`pending`) to `open`, `used`, `revoked` or `expired`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{chats::Chat, grants::GrantView};

/// An invite link.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Link {
    /// `invite_links.id`.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Chat (ours).
    pub chat_id: Uuid,
    /// Telegram's id of the chat.
    pub telegram_chat_id: i64,
    /// The owner (`subscribers.id`).
    pub subscriber_id: Uuid,
    /// The owner.
    pub owner_telegram_user_id: i64,
    /// Grant it was made for.
    pub grant_id: Option<Uuid>,
    /// The t.me link; `None` while pending.
    pub link: Option<String>,
    /// pending, open, used, revoked, expired.
    pub state: String,
    /// Expiry.
    pub expire_at: Option<DateTime<Utc>>,
}

/// `SELECT … FROM invite_links l …` of a [`Link`].
const SELECT: &str = "SELECT l.id, l.project_id, l.chat_id, c.telegram_chat_id, l.subscriber_id, \
                      s.telegram_user_id AS owner_telegram_user_id, l.grant_id, l.link, l.state, l.expire_at \
                      FROM invite_links l JOIN subscribers s ON s.id = l.subscriber_id JOIN chats c ON c.id = l.chat_id";

/// A link by id.
pub async fn get(db: impl PgExecutor<'_>, link_id: Uuid) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE l.id = $1"))).bind(link_id).fetch_optional(db).await
}

/// The link a job action made, whatever its state now.
pub async fn by_issue_key(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    issue_key: &str,
) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE l.project_id = $1 AND l.issue_key = $2")))
        .bind(project_id)
        .bind(issue_key)
        .fetch_optional(db)
        .await
}

/// The newest link made for this grant and chat that is open and unexpired at `now`.
pub async fn open_of_grant(
    db: impl PgExecutor<'_>,
    grant_id: Uuid,
    chat_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE l.grant_id = $1 AND l.chat_id = $2 AND l.state = 'open' AND (l.expire_at IS NULL OR l.expire_at > $3)
         ORDER BY l.created_at DESC LIMIT 1"
    )))
    .bind(grant_id)
    .bind(chat_id)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Whether Gatehouse ever made (or began) a link for this grant and chat.
pub async fn any_of_grant(db: impl PgExecutor<'_>, grant_id: Uuid, chat_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM invite_links WHERE grant_id = $1 AND chat_id = $2)")
        .bind(grant_id)
        .bind(chat_id)
        .fetch_one(db)
        .await
}

/// A user's links in the project that can still be used or are being made (`open`
/// and `pending`), newest first.
pub async fn open_links_of(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Vec<Link>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE l.project_id = $1 AND s.telegram_user_id = $2 AND l.state IN ('pending', 'open')
         ORDER BY l.created_at DESC"
    )))
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(db)
    .await
}

/// Open links of a chat that have expired at `now`, or whose grant no longer entitles its owner.
pub async fn stale_open(db: impl PgExecutor<'_>, chat_id: Uuid, now: DateTime<Utc>) -> Result<Vec<Link>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} LEFT JOIN grants g ON g.id = l.grant_id
         WHERE l.chat_id = $1 AND l.state = 'open'
           AND (l.expire_at <= $2 OR g.id IS NULL OR NOT gatehouse_entitles(g.state, g.ends_at, s.status, $2))"
    )))
    .bind(chat_id)
    .bind(now)
    .fetch_all(db)
    .await
}

/// Writes the row of a link about to be created at Telegram, `pending` with no URL yet:
/// the row exists before the link does, so a crash in between leaves a row that says
/// so ([`created`] fills it in; the sweep expires it with [`expire_pending`]).
/// A second writer of the same `issue_key` writes nothing. Returns the row's id.
pub async fn insert_pending(
    db: impl PgExecutor<'_>,
    chat: &Chat,
    grant: &GrantView,
    issue_key: &str,
    name: &str,
    expire_at: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO invite_links (id, project_id, chat_id, subscriber_id, grant_id, link, name, member_limit, expire_at, state, issue_key)
         VALUES ($1, $2, $3, $4, $5, NULL, $6, 1, $7, 'pending', $8)
         ON CONFLICT (project_id, issue_key) WHERE issue_key IS NOT NULL DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(chat.project_id)
    .bind(chat.id)
    .bind(grant.grant.subscriber_id)
    .bind(grant.grant.id)
    .bind(name)
    .bind(expire_at)
    .bind(issue_key)
    .fetch_optional(db)
    .await
}

/// Records the URL Telegram gave a `pending` link, and its expiry: the link is `open`.
pub async fn created(
    db: impl PgExecutor<'_>,
    link_id: Uuid,
    link: &str,
    expire_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE invite_links SET link = $2, expire_at = $3, state = 'open' WHERE id = $1 AND state = 'pending'",
    )
    .bind(link_id)
    .bind(link)
    .bind(expire_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Ends the `pending` links of a chat whose expiry has passed at `now`: whatever
/// Telegram made for them (if a crash came between the call and [`created`]) has
/// expired too. Returns how many.
pub async fn expire_pending(db: impl PgExecutor<'_>, chat_id: Uuid, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE invite_links SET state = 'expired' WHERE chat_id = $1 AND state = 'pending' AND expire_at <= $2",
    )
    .bind(chat_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Marks a link used by `user`.
pub async fn used(db: impl PgExecutor<'_>, link_id: Uuid, user: i64, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE invite_links SET state = CASE WHEN state = 'open' THEN 'used' ELSE state END,
                used_at = COALESCE(used_at, $3), used_by_telegram_user_id = COALESCE(used_by_telegram_user_id, $2)
         WHERE id = $1",
    )
    .bind(link_id)
    .bind(user)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a link revoked (also when Telegram says it already was).
pub async fn revoked(db: impl PgExecutor<'_>, link_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invite_links SET state = 'revoked', revoked_at = COALESCE(revoked_at, now()) WHERE id = $1")
        .bind(link_id)
        .execute(db)
        .await?;
    Ok(())
}
