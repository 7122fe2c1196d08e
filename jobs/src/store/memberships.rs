//! `memberships`: who Gatehouse has seen in which chat (from `chat_member` updates and
//! getChatMember checks; Telegram cannot list a chat's members), and what a join into
//! a chat needs to know, in one read.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{chats, grants};

/// An observed membership.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Membership {
    /// Chat (ours).
    pub chat_id: Uuid,
    /// Telegram's id of the chat.
    pub telegram_chat_id: i64,
    /// The chat's title, once verified.
    pub chat_title: Option<String>,
    /// The user.
    pub telegram_user_id: i64,
    /// Telegram's ChatMember status: creator, administrator, member, restricted, left, kicked.
    pub status: String,
    /// When they joined, if seen.
    pub joined_at: Option<DateTime<Utc>>,
    /// When they left, if seen.
    pub left_at: Option<DateTime<Utc>>,
    /// The invite link they joined with, if Telegram said.
    pub via_link: Option<String>,
    /// When this was last observed.
    pub observed_at: DateTime<Utc>,
}

/// The statuses of someone inside a chat.
const INSIDE: &str = "('creator', 'administrator', 'member', 'restricted')";

/// Records an observed membership status (updates and checks arrive in the order
/// they are processed; Telegram's update dates have one-second resolution, too coarse
/// to order against Gatehouse's own checks, so the latest processed wins).
pub async fn observe(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    telegram_user_id: i64,
    status: &str,
    via_link: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let inside = matches!(status, "creator" | "administrator" | "member" | "restricted");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO memberships (chat_id, telegram_user_id, status, joined_at, left_at, via_link, observed_at)
         VALUES ($1, $2, $3, CASE WHEN $4 THEN $6 END, CASE WHEN NOT $4 THEN $6 END, $5, $6)
         ON CONFLICT (chat_id, telegram_user_id) DO UPDATE SET
           status = EXCLUDED.status,
           joined_at = CASE WHEN $4 AND memberships.status NOT IN {INSIDE} THEN $6 ELSE memberships.joined_at END,
           left_at = CASE WHEN NOT $4 THEN $6 ELSE memberships.left_at END,
           via_link = COALESCE($5, memberships.via_link),
           observed_at = $6"
    )))
    .bind(chat_id)
    .bind(telegram_user_id)
    .bind(status)
    .bind(inside)
    .bind(via_link)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

/// A user's observed memberships in the project's chats, by Telegram chat id.
pub async fn of_member(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Vec<Membership>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.chat_id, c.telegram_chat_id, c.title AS chat_title, m.telegram_user_id, m.status, m.joined_at,
                m.left_at, m.via_link, m.observed_at
         FROM memberships m JOIN chats c ON c.id = m.chat_id
         WHERE c.project_id = $1 AND m.telegram_user_id = $2
         ORDER BY c.telegram_chat_id",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(db)
    .await
}

/// Known members of a chat (observed inside, not administrators) whom nothing
/// entitles at `now` and who are not whitelisted, except those whose removal is still to
/// come: a `kick-expired` of an expired grant of theirs for this chat waiting in the
/// queue (a mass expiry's kicks, planned at the bot's pace). Once that kick has run,
/// whatever it left undone is here again.
pub async fn unentitled_in(
    db: impl PgExecutor<'_>,
    chat: &chats::Chat,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, sqlx::Error> {
    let sql = format!(
        "SELECT m.telegram_user_id FROM memberships m
         WHERE m.chat_id = $1 AND m.status IN ('member', 'restricted')
           AND NOT EXISTS (SELECT 1 FROM subscribers w WHERE w.project_id = $2 AND w.telegram_user_id = m.telegram_user_id AND w.whitelisted)
           AND NOT {}
           AND NOT EXISTS (
             SELECT 1 FROM grants kg
             JOIN subscribers ks ON ks.id = kg.subscriber_id
             JOIN plan_chats kpc ON kpc.plan_id = kg.plan_id AND kpc.chat_id = m.chat_id
             JOIN apalis.jobs kj ON kj.job_type = 'lifecycle'
              AND kj.idempotency_key = 'kick-expired:' || kg.id || ':' || (extract(epoch FROM kg.ends_at) * 1000000)::bigint
             WHERE ks.project_id = $2 AND ks.telegram_user_id = m.telegram_user_id
               AND kg.state = 'expired' AND {})
         ORDER BY m.telegram_user_id",
        grants::entitles_to_chat("m.chat_id", "m.telegram_user_id", "$3"),
        super::queue::still_to_run("kj")
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(chat.id).bind(chat.project_id).bind(now).fetch_all(db).await
}

/// How many people Gatehouse knows to be inside a chat (members and administrators).
pub async fn known_inside(db: impl PgExecutor<'_>, chat_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM memberships WHERE chat_id = $1 AND status IN {INSIDE}"
    )))
    .bind(chat_id)
    .fetch_one(db)
    .await
}

/// How many people Gatehouse knows to be inside a chat besides `listed` (the
/// administrators Telegram listed, who are counted apart).
pub async fn known_inside_besides(db: impl PgExecutor<'_>, chat_id: Uuid, listed: &[i64]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM memberships
         WHERE chat_id = $1 AND status IN {INSIDE} AND NOT (telegram_user_id = ANY($2))"
    )))
    .bind(chat_id)
    .bind(listed)
    .fetch_one(db)
    .await
}

/// Up to `limit` users entitled to a chat at `now` who were handed a link to it but
/// whom Gatehouse has not seen inside, longest unobserved first: their join may have
/// gone unreported. The sweep asks Telegram about them before it counts the unseen.
pub async fn entitled_unseen(
    db: impl PgExecutor<'_>,
    chat: &chats::Chat,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let sql = format!(
        "SELECT s.telegram_user_id FROM subscribers s
         LEFT JOIN memberships m ON m.chat_id = $1 AND m.telegram_user_id = s.telegram_user_id
         WHERE s.project_id = $2
           AND EXISTS (SELECT 1 FROM invite_links l WHERE l.chat_id = $1 AND l.subscriber_id = s.id AND l.link IS NOT NULL)
           AND (m.status IS NULL OR m.status NOT IN {INSIDE})
           AND {}
         ORDER BY m.observed_at NULLS FIRST, s.telegram_user_id
         LIMIT $4",
        grants::entitles_to_chat("$1", "s.telegram_user_id", "$3")
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(chat.id)
        .bind(chat.project_id)
        .bind(now)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Up to `limit` people Gatehouse believes inside a chat as plain members, the longest
/// unobserved first: a leave Telegram did not report would keep them counted. Only those
/// who stay: whitelisted, or entitled still at `until`. Anyone else is about to be
/// removed, in one call that works whether or not they are still inside, so reading them
/// first would spend a call of the bot's budget on nothing (a mass expiry's whole cohort).
pub async fn stalest_inside(
    db: impl PgExecutor<'_>,
    chat: &chats::Chat,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let sql = format!(
        "SELECT m.telegram_user_id FROM memberships m
         WHERE m.chat_id = $1 AND m.status IN ('member', 'restricted')
           AND (EXISTS (SELECT 1 FROM subscribers w WHERE w.project_id = $2 AND w.telegram_user_id = m.telegram_user_id AND w.whitelisted)
                OR {})
         ORDER BY m.observed_at, m.telegram_user_id LIMIT $4",
        grants::entitles_to_chat("m.chat_id", "m.telegram_user_id", "$3")
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(chat.id)
        .bind(chat.project_id)
        .bind(until)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// What a `chat_member` update into a chat needs to know, read at once.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JoinFacts {
    /// The chat.
    #[sqlx(flatten)]
    pub chat: chats::Chat,
    /// The Gatehouse link the user came with, if Telegram named one Gatehouse made.
    pub link_id: Option<Uuid>,
    /// That link's owner.
    pub link_owner: Option<i64>,
    /// Whether a grant entitles the user to the chat at `now`.
    pub entitled: bool,
    /// Whether the user is on the project's whitelist.
    pub whitelisted: bool,
}

/// The project's chat with Telegram id `telegram_chat_id` (`None` if it manages no such
/// chat), with what a join by `telegram_user_id` through the link `via` (its URL, if
/// Telegram gave one) needs to know at `now`.
pub async fn join_facts(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_chat_id: i64,
    telegram_user_id: i64,
    via: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<JoinFacts>, sqlx::Error> {
    let sql = format!(
        "SELECT {}, l.id AS link_id, o.telegram_user_id AS link_owner,
                {} AS entitled,
                EXISTS (SELECT 1 FROM subscribers w
                        WHERE w.project_id = c.project_id AND w.telegram_user_id = $3 AND w.whitelisted) AS whitelisted
         FROM chats c
         LEFT JOIN invite_links l ON l.chat_id = c.id AND l.link = $4
         LEFT JOIN subscribers o ON o.id = l.subscriber_id
         WHERE c.project_id = $1 AND c.telegram_chat_id = $2",
        chats::COLUMNS,
        grants::entitles_to_chat("c.id", "$3", "$5")
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(project_id)
        .bind(telegram_chat_id)
        .bind(telegram_user_id)
        .bind(via)
        .bind(now)
        .fetch_optional(db)
        .await
}

/// What removing a user from a chat needs to know, read at once.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RemovalFacts {
    /// The status Gatehouse last observed of the user in the chat (`None`: never seen).
    pub status: Option<String>,
    /// When it was observed (Gatehouse's time).
    pub observed_at: Option<DateTime<Utc>>,
    /// Whether the user is on the project's whitelist.
    pub whitelisted: bool,
    /// The chat's administrators as last listed ([`super::chat_administrators`];
    /// `None`: never read).
    pub administrators: Option<Vec<i64>>,
    /// Gatehouse's own last step of removing or banning the user there
    /// ([`super::audit::last_removal_step`]).
    pub last_step: Option<String>,
}

/// What removing `telegram_user_id` from `chat` needs to know: the record of them
/// there, the whitelist, the chat's administrators, the last removal step.
pub async fn removal_facts(
    db: impl PgExecutor<'_>,
    chat: &chats::Chat,
    telegram_user_id: i64,
) -> Result<RemovalFacts, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT m.status, m.observed_at,
                EXISTS (SELECT 1 FROM subscribers w
                        WHERE w.project_id = $2 AND w.telegram_user_id = $3 AND w.whitelisted) AS whitelisted,
                (SELECT user_ids FROM chat_administrators WHERE chat_id = $1) AS administrators,
                (SELECT action FROM audit_log
                 WHERE project_id = $2 AND telegram_user_id = $3 AND chat_id = $1
                   AND action IN {} ORDER BY id DESC LIMIT 1) AS last_step
         FROM (SELECT 1) one
         LEFT JOIN memberships m ON m.chat_id = $1 AND m.telegram_user_id = $3",
        super::audit::REMOVAL_STEPS
    )))
    .bind(chat.id)
    .bind(chat.project_id)
    .bind(telegram_user_id)
    .fetch_one(db)
    .await
}
