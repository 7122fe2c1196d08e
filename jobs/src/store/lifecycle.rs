//! What the lifecycle jobs read and write: bots, chats, entitlements, observed
//! memberships, invite links, member counts.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A bot with its sealed token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BotRow {
    /// `bots.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Telegram's id of the bot.
    pub telegram_bot_id: i64,
    /// `nonce || ciphertext`.
    pub token_ciphertext: Vec<u8>,
}

/// A bot by our id.
pub async fn bot(pool: &PgPool, bot_id: Uuid) -> Result<Option<BotRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, project_id, telegram_bot_id, token_ciphertext FROM bots WHERE id = $1")
        .bind(bot_id)
        .fetch_optional(pool)
        .await
}

/// The bot of a project.
pub async fn bot_of_project(pool: &PgPool, project_id: Uuid) -> Result<Option<BotRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, project_id, telegram_bot_id, token_ciphertext FROM bots WHERE project_id = $1")
        .bind(project_id)
        .fetch_optional(pool)
        .await
}

/// The bot with this Telegram id: the project whose claim getMe verified (unverified
/// claims of the same id are nobody's bot).
pub async fn bot_by_telegram_id(pool: &PgPool, telegram_bot_id: i64) -> Result<Option<BotRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, telegram_bot_id, token_ciphertext FROM bots
         WHERE telegram_bot_id = $1 AND verified_at IS NOT NULL",
    )
    .bind(telegram_bot_id)
    .fetch_optional(pool)
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

/// Records that getMe confirmed the bot's token: from now on the bot id belongs to this
/// project. Refused when another project's claim on the same id is verified.
pub async fn claim_verified(pool: &PgPool, bot_id: Uuid) -> Result<(), ClaimError> {
    let result = sqlx::query("UPDATE bots SET verified_at = COALESCE(verified_at, now()) WHERE id = $1")
        .bind(bot_id)
        .execute(pool)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some(VERIFIED_BOT_KEY) => Err(ClaimError::TakenElsewhere),
        Err(e) => Err(e.into()),
    }
}

/// The unique index that lets one project at a time hold a verified claim on a bot id.
pub const VERIFIED_BOT_KEY: &str = "bots_verified_telegram_bot_id_key";

/// Marks a bot connected, with the digest of its new webhook secret.
pub async fn bot_connected(
    pool: &PgPool,
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
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a bot failed, with the reason shown to the integrator.
pub async fn bot_failed(pool: &PgPool, bot_id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE bots SET status = 'failed', status_reason = $2, updated_at = now() WHERE id = $1")
        .bind(bot_id)
        .bind(reason)
        .execute(pool)
        .await?;
    Ok(())
}

/// A managed chat.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatRow {
    /// `chats.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Telegram's chat id.
    pub telegram_chat_id: i64,
    /// Title, once verified.
    pub title: Option<String>,
    /// `single_use_link` or `join_request`.
    pub join_strategy: String,
    /// pending, ready, not_ready.
    pub status: String,
}

const CHAT_COLUMNS: &str = "id, project_id, telegram_chat_id, title, join_strategy, status";

/// A chat by our id.
pub async fn chat(pool: &PgPool, chat_id: Uuid) -> Result<Option<ChatRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = $1")))
        .bind(chat_id)
        .fetch_optional(pool)
        .await
}

/// A project's chat by Telegram's id.
pub async fn chat_by_telegram_id(
    pool: &PgPool,
    project_id: Uuid,
    telegram_chat_id: i64,
) -> Result<Option<ChatRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHAT_COLUMNS} FROM chats WHERE project_id = $1 AND telegram_chat_id = $2"
    )))
    .bind(project_id)
    .bind(telegram_chat_id)
    .fetch_optional(pool)
    .await
}

/// The chats a plan grants.
pub async fn chats_of_plan(pool: &PgPool, plan_id: Uuid) -> Result<Vec<ChatRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHAT_COLUMNS} FROM chats WHERE id IN (SELECT chat_id FROM plan_chats WHERE plan_id = $1) ORDER BY telegram_chat_id"
    )))
    .bind(plan_id)
    .fetch_all(pool)
    .await
}

/// Every chat Gatehouse manages (for counts and sweeps).
pub async fn all_chats(pool: &PgPool) -> Result<Vec<ChatRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CHAT_COLUMNS} FROM chats ORDER BY id"))).fetch_all(pool).await
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

/// Records what verify-chat found.
pub async fn chat_checked(pool: &PgPool, chat_id: Uuid, check: &ChatCheck<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE chats SET kind = COALESCE($2, kind), title = COALESCE($3, title), bot_status = $4,
                can_invite_users = $5, can_restrict_members = $6,
                status = CASE WHEN $7::text IS NULL THEN 'ready' ELSE 'not_ready' END,
                status_reason = $7, updated_at = now()
         WHERE id = $1",
    )
    .bind(chat_id)
    .bind(check.kind)
    .bind(check.title)
    .bind(check.bot_status)
    .bind(check.can_invite_users)
    .bind(check.can_restrict_members)
    .bind(check.problem)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a chat not ready (the bot lost its rights), keeping everyone where they are.
pub async fn chat_not_ready(pool: &PgPool, chat_id: Uuid, bot_status: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE chats SET status = 'not_ready', status_reason = $3, bot_status = $2, updated_at = now() WHERE id = $1",
    )
    .bind(chat_id)
    .bind(bot_status)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records how many members Telegram counts beyond those Gatehouse knows.
pub async fn chat_unknown_members(pool: &PgPool, chat_id: Uuid, unknown: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chats SET unknown_members = $2 WHERE id = $1")
        .bind(chat_id)
        .bind(unknown)
        .execute(pool)
        .await?;
    Ok(())
}

/// A grant with what the jobs need about its subscriber.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    /// `grants.id`.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Plan.
    pub plan_id: Uuid,
    /// Plan name.
    pub plan_name: String,
    /// State.
    pub state: String,
    /// End, if any.
    pub ends_at: Option<DateTime<Utc>>,
    /// `subscribers.id`.
    pub subscriber_id: Uuid,
    /// The user.
    pub telegram_user_id: i64,
    /// active or banned.
    pub subscriber_status: String,
    /// The user's language.
    pub language_code: Option<String>,
    /// Whether the entitlement holds now.
    pub entitled: bool,
}

/// The SQL condition "grant g entitles its subscriber s now ($now)".
pub const ENTITLED: &str = "g.state IN ('trialing', 'active', 'past_due', 'canceled') AND (g.ends_at IS NULL OR g.ends_at > $now) AND s.status = 'active'";

/// A grant by id.
pub async fn grant(pool: &PgPool, grant_id: Uuid, now: DateTime<Utc>) -> Result<Option<GrantRow>, sqlx::Error> {
    let sql = format!(
        "SELECT g.id, g.project_id, g.plan_id, p.name AS plan_name, g.state, g.ends_at, s.id AS subscriber_id,
                s.telegram_user_id, s.status AS subscriber_status, s.language_code, ({}) AS entitled
         FROM grants g JOIN subscribers s ON s.id = g.subscriber_id JOIN plans p ON p.id = g.plan_id
         WHERE g.id = $1",
        ENTITLED.replace("$now", "$2")
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(grant_id).bind(now).fetch_optional(pool).await
}

/// Whether any grant entitles this user to this chat now.
pub async fn is_entitled(
    pool: &PgPool,
    chat_id: Uuid,
    telegram_user_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "SELECT EXISTS (
           SELECT 1 FROM grants g
           JOIN subscribers s ON s.id = g.subscriber_id
           JOIN plan_chats pc ON pc.plan_id = g.plan_id
           JOIN chats c ON c.id = pc.chat_id AND c.project_id = s.project_id
           WHERE pc.chat_id = $1 AND s.telegram_user_id = $2 AND {})",
        ENTITLED.replace("$now", "$3")
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(chat_id).bind(telegram_user_id).bind(now).fetch_one(pool).await
}

/// Whether the user is on the project's whitelist.
pub async fn is_whitelisted(pool: &PgPool, project_id: Uuid, telegram_user_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<bool> =
        sqlx::query_scalar("SELECT whitelisted FROM subscribers WHERE project_id = $1 AND telegram_user_id = $2")
            .bind(project_id)
            .bind(telegram_user_id)
            .fetch_optional(pool)
            .await?;
    Ok(found.unwrap_or(false))
}

/// Grants whose end has passed while they still count as entitled: the expiry scan's work.
pub async fn due_expiries(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, ends_at FROM grants
         WHERE state IN ('trialing', 'active', 'past_due', 'canceled') AND ends_at <= $1
         ORDER BY ends_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Marks a grant expired, in the transaction that enqueues its kick.
pub async fn grant_expired(
    tx: &mut Transaction<'_, Postgres>,
    grant_id: Uuid,
    ends_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE grants SET state = 'expired', updated_at = now()
         WHERE id = $1 AND ends_at = $2 AND state IN ('trialing', 'active', 'past_due', 'canceled')",
    )
    .bind(grant_id)
    .bind(ends_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records an observed membership status (updates and checks arrive in the order
/// they are processed; Telegram's update dates have one-second resolution, too coarse
/// to order against Gatehouse's own checks, so the latest processed wins).
pub async fn observe_membership(
    pool: &PgPool,
    chat_id: Uuid,
    telegram_user_id: i64,
    status: &str,
    via_link: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let inside = matches!(status, "creator" | "administrator" | "member" | "restricted");
    sqlx::query(
        "INSERT INTO memberships (chat_id, telegram_user_id, status, joined_at, left_at, via_link, observed_at)
         VALUES ($1, $2, $3, CASE WHEN $4 THEN $6 END, CASE WHEN NOT $4 THEN $6 END, $5, $6)
         ON CONFLICT (chat_id, telegram_user_id) DO UPDATE SET
           status = EXCLUDED.status,
           joined_at = CASE WHEN $4 AND memberships.status NOT IN ('creator', 'administrator', 'member', 'restricted')
                            THEN $6 ELSE memberships.joined_at END,
           left_at = CASE WHEN NOT $4 THEN $6 ELSE memberships.left_at END,
           via_link = COALESCE($5, memberships.via_link),
           observed_at = $6",
    )
    .bind(chat_id)
    .bind(telegram_user_id)
    .bind(status)
    .bind(inside)
    .bind(via_link)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The last observed status of a user in a chat.
pub async fn membership_status(
    pool: &PgPool,
    chat_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM memberships WHERE chat_id = $1 AND telegram_user_id = $2")
        .bind(chat_id)
        .bind(telegram_user_id)
        .fetch_optional(pool)
        .await
}

/// Known members of a chat (observed inside, not administrators) whom nothing entitles now.
pub async fn unentitled_members(pool: &PgPool, chat: &ChatRow, now: DateTime<Utc>) -> Result<Vec<i64>, sqlx::Error> {
    let sql = format!(
        "SELECT m.telegram_user_id FROM memberships m
         WHERE m.chat_id = $1 AND m.status IN ('member', 'restricted')
           AND NOT EXISTS (SELECT 1 FROM subscribers w WHERE w.project_id = $2 AND w.telegram_user_id = m.telegram_user_id AND w.whitelisted)
           AND NOT EXISTS (
             SELECT 1 FROM grants g JOIN subscribers s ON s.id = g.subscriber_id JOIN plan_chats pc ON pc.plan_id = g.plan_id
             WHERE pc.chat_id = m.chat_id AND s.telegram_user_id = m.telegram_user_id AND {})
         ORDER BY m.telegram_user_id",
        ENTITLED.replace("$now", "$3")
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(chat.id).bind(chat.project_id).bind(now).fetch_all(pool).await
}

/// How many people Gatehouse knows to be inside a chat (members and administrators).
pub async fn known_inside(pool: &PgPool, chat_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM memberships WHERE chat_id = $1 AND status IN ('creator', 'administrator', 'member', 'restricted')",
    )
    .bind(chat_id)
    .fetch_one(pool)
    .await
}

/// An invite link row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    /// `invite_links.id`.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Chat (ours).
    pub chat_id: Uuid,
    /// Grant it was made for.
    pub grant_id: Option<Uuid>,
    /// The link.
    pub link: Option<String>,
    /// pending, open, used, revoked, expired.
    pub state: String,
    /// Expiry.
    pub expire_at: Option<DateTime<Utc>>,
    /// The owner.
    pub owner_telegram_user_id: i64,
}

const LINK_COLUMNS: &str = "l.id, l.project_id, l.chat_id, l.grant_id, l.link, l.state, l.expire_at, s.telegram_user_id AS owner_telegram_user_id";

/// The link a job action made, whatever its state now.
pub async fn link_by_issue_key(
    pool: &PgPool,
    project_id: Uuid,
    issue_key: &str,
) -> Result<Option<LinkRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN subscribers s ON s.id = l.subscriber_id
         WHERE l.project_id = $1 AND l.issue_key = $2"
    )))
    .bind(project_id)
    .bind(issue_key)
    .fetch_optional(pool)
    .await
}

/// The open, unexpired link made for this grant and chat, if any.
pub async fn open_link(
    pool: &PgPool,
    grant_id: Uuid,
    chat_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<LinkRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN subscribers s ON s.id = l.subscriber_id
         WHERE l.grant_id = $1 AND l.chat_id = $2 AND l.state = 'open' AND (l.expire_at IS NULL OR l.expire_at > $3)
         ORDER BY l.created_at DESC LIMIT 1"
    )))
    .bind(grant_id)
    .bind(chat_id)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// The link Gatehouse made that Telegram reports in a join, by its URL.
pub async fn link_by_url(pool: &PgPool, chat_id: Uuid, link: &str) -> Result<Option<LinkRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN subscribers s ON s.id = l.subscriber_id
         WHERE l.chat_id = $1 AND l.link = $2"
    )))
    .bind(chat_id)
    .bind(link)
    .fetch_optional(pool)
    .await
}

/// A link by id.
pub async fn link(pool: &PgPool, link_id: Uuid) -> Result<Option<LinkRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN subscribers s ON s.id = l.subscriber_id WHERE l.id = $1"
    )))
    .bind(link_id)
    .fetch_optional(pool)
    .await
}

/// Open links of a user in a chat.
pub async fn open_links_of(pool: &PgPool, chat_id: Uuid, telegram_user_id: i64) -> Result<Vec<LinkRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN subscribers s ON s.id = l.subscriber_id
         WHERE l.chat_id = $1 AND s.telegram_user_id = $2 AND l.state = 'open'"
    )))
    .bind(chat_id)
    .bind(telegram_user_id)
    .fetch_all(pool)
    .await
}

/// Open links of a chat whose grant no longer entitles its owner, or that have expired.
pub async fn stale_open_links(pool: &PgPool, chat_id: Uuid, now: DateTime<Utc>) -> Result<Vec<LinkRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN subscribers s ON s.id = l.subscriber_id
         LEFT JOIN grants g ON g.id = l.grant_id
         WHERE l.chat_id = $1 AND l.state = 'open'
           AND (l.expire_at <= $2 OR g.id IS NULL OR NOT ({}))",
        ENTITLED.replace("$now", "$2")
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(chat_id).bind(now).fetch_all(pool).await
}

/// Writes the row of a link about to be created at Telegram, `pending` with no URL yet:
/// the row exists before the link does, so a crash in between leaves a row that says
/// so ([`link_created`] fills it in; the sweep expires it with [`expire_pending_links`]).
/// A second writer of the same `issue_key` writes nothing. Returns the row's id.
pub async fn insert_pending_link(
    pool: &PgPool,
    chat: &ChatRow,
    grant: &GrantRow,
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
    .bind(grant.subscriber_id)
    .bind(grant.id)
    .bind(name)
    .bind(expire_at)
    .bind(issue_key)
    .fetch_optional(pool)
    .await
}

/// Records the URL Telegram gave a `pending` link, and its expiry: the link is `open`.
pub async fn link_created(
    pool: &PgPool,
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
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends the `pending` links of a chat whose expiry has passed: whatever Telegram made for
/// them (if a crash came between the call and [`link_created`]) has expired too.
pub async fn expire_pending_links(pool: &PgPool, chat_id: Uuid, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE invite_links SET state = 'expired' WHERE chat_id = $1 AND state = 'pending' AND expire_at <= $2",
    )
    .bind(chat_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Marks a link used by `user`.
pub async fn link_used(pool: &PgPool, link_id: Uuid, user: i64, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE invite_links SET state = CASE WHEN state = 'open' THEN 'used' ELSE state END,
                used_at = COALESCE(used_at, $3), used_by_telegram_user_id = COALESCE(used_by_telegram_user_id, $2)
         WHERE id = $1",
    )
    .bind(link_id)
    .bind(user)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a link revoked (or expired, when Telegram says it already was).
pub async fn link_revoked(pool: &PgPool, link_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invite_links SET state = 'revoked', revoked_at = COALESCE(revoked_at, now()) WHERE id = $1")
        .bind(link_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Stores the day's member count.
pub async fn store_member_count(pool: &PgPool, chat_id: Uuid, day: NaiveDate, members: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO member_counts (chat_id, day, members) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id, day) DO UPDATE SET members = EXCLUDED.members, counted_at = now()",
    )
    .bind(chat_id)
    .bind(day)
    .bind(members as i32)
    .execute(pool)
    .await?;
    Ok(())
}

/// Upserts a subscriber seen in an update (name, language), returning its id.
pub async fn remember_user(pool: &PgPool, project_id: Uuid, user: &crate::telegram::User) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, username, first_name, language_code)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (project_id, telegram_user_id) DO UPDATE SET
           username = COALESCE(EXCLUDED.username, subscribers.username),
           first_name = COALESCE(EXCLUDED.first_name, subscribers.first_name),
           language_code = COALESCE(EXCLUDED.language_code, subscribers.language_code)
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(user.id)
    .bind(&user.username)
    .bind(&user.first_name)
    .bind(&user.language_code)
    .fetch_one(pool)
    .await
}
