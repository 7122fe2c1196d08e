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

/// Which subscribers a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `active` or `banned` (the subscriber), `entitled` (let in by a grant now) or
    /// `lapsed` (not banned, not entitled).
    pub status: Option<String>,
    /// Has (or had) a grant of this plan.
    pub plan_id: Option<Uuid>,
    /// Is inside this chat (Telegram id), as last observed.
    pub telegram_chat_id: Option<i64>,
    /// A Telegram user id, or the start of a username (`@` optional).
    pub search: Option<String>,
}

/// A subscriber as a list shows them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    /// `subscribers.id`.
    pub id: Uuid,
    /// Telegram user id.
    pub telegram_user_id: i64,
    /// @username, when known.
    pub username: Option<String>,
    /// First name, when known.
    pub first_name: Option<String>,
    /// Language, when known.
    pub language_code: Option<String>,
    /// `active` or `banned`.
    pub status: String,
    /// Never removed.
    pub whitelisted: bool,
    /// Let in by a grant now.
    pub entitled: bool,
    /// The latest end among the grants that entitle now (`None`: none ends, or none entitles).
    pub entitled_until: Option<DateTime<Utc>>,
    /// First seen.
    pub created_at: DateTime<Utc>,
}

const LISTED: &str =
    "SELECT s.id, s.telegram_user_id, s.username, s.first_name, s.language_code, s.status, s.whitelisted,
        EXISTS (SELECT 1 FROM grants g WHERE g.subscriber_id = s.id
                AND gatehouse_entitles(g.state, g.ends_at, s.status, $2)) AS entitled,
        (SELECT max(g.ends_at) FROM grants g WHERE g.subscriber_id = s.id
                AND gatehouse_entitles(g.state, g.ends_at, s.status, $2)) AS entitled_until,
        s.created_at
 FROM subscribers s
 WHERE s.project_id = $1
   AND ($3::text IS NULL
        OR ($3 IN ('active', 'banned') AND s.status = $3)
        OR ($3 = 'entitled' AND EXISTS (SELECT 1 FROM grants g WHERE g.subscriber_id = s.id
                                        AND gatehouse_entitles(g.state, g.ends_at, s.status, $2)))
        OR ($3 = 'lapsed' AND s.status = 'active'
            AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.subscriber_id = s.id
                            AND gatehouse_entitles(g.state, g.ends_at, s.status, $2))))
   AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM grants g WHERE g.subscriber_id = s.id AND g.plan_id = $4))
   AND ($5::bigint IS NULL OR EXISTS (
        SELECT 1 FROM memberships m JOIN chats c ON c.id = m.chat_id
        WHERE c.project_id = s.project_id AND c.telegram_chat_id = $5 AND m.telegram_user_id = s.telegram_user_id
          AND m.status IN ('creator', 'administrator', 'member', 'restricted')))
   AND ($6::bigint IS NULL OR s.telegram_user_id = $6)
   AND ($7::text IS NULL OR lower(s.username) LIKE $7 ESCAPE '\\')
   AND ($8::timestamptz IS NULL OR (s.created_at, s.id) > ($8, $9))
 ORDER BY s.created_at, s.id";

/// The binds of a [`Filter`]'s search: a user id, or a username prefix as a LIKE pattern.
fn search_binds(search: Option<&str>) -> (Option<i64>, Option<String>) {
    let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) else { return (None, None) };
    if let Ok(id) = search.parse::<i64>() {
        return (Some(id), None);
    }
    let prefix = search.trim_start_matches('@').to_lowercase();
    let escaped: String =
        prefix.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    (None, Some(format!("{escaped}%")))
}

/// One page of the project's subscribers, oldest first, after `(created_at, id)`.
pub async fn page(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    filter: &Filter,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    let (user, pattern) = search_binds(filter.search.as_deref());
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{LISTED} LIMIT $10")))
        .bind(project_id)
        .bind(now)
        .bind(filter.status.as_deref())
        .bind(filter.plan_id)
        .bind(filter.telegram_chat_id)
        .bind(user)
        .bind(pattern)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Every subscriber the filter matches, oldest first, as a stream (for exports of any
/// size: rows are read as they are sent).
pub fn all<'e>(
    db: impl PgExecutor<'e> + 'e,
    project_id: Uuid,
    filter: &Filter,
    now: DateTime<Utc>,
) -> futures::stream::BoxStream<'e, Result<Listed, sqlx::Error>> {
    let (user, pattern) = search_binds(filter.search.as_deref());
    sqlx::query_as(sqlx::AssertSqlSafe(LISTED))
        .bind(project_id)
        .bind(now)
        .bind(filter.status.clone())
        .bind(filter.plan_id)
        .bind(filter.telegram_chat_id)
        .bind(user)
        .bind(pattern)
        .bind(None::<DateTime<Utc>>)
        .bind(None::<Uuid>)
        .fetch(db)
}

/// Subscribers the filter matches, oldest first, skipping `offset` (the
/// TGmembership-compatible API pages by offset).
pub async fn page_at_offset(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    filter: &Filter,
    now: DateTime<Utc>,
    offset: i64,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    let (user, pattern) = search_binds(filter.search.as_deref());
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{LISTED} LIMIT $10 OFFSET $11")))
        .bind(project_id)
        .bind(now)
        .bind(filter.status.as_deref())
        .bind(filter.plan_id)
        .bind(filter.telegram_chat_id)
        .bind(user)
        .bind(pattern)
        .bind(None::<DateTime<Utc>>)
        .bind(None::<Uuid>)
        .bind(limit)
        .bind(offset)
        .fetch_all(db)
        .await
}
