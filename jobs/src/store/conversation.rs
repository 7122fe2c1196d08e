//! What the membership bot reads and writes.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// A project as the bot needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Project {
    /// `projects.id`.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The owner.
    pub owner_telegram_id: i64,
}

/// A project by id.
pub async fn project(pool: &PgPool, project_id: Uuid) -> Result<Option<Project>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, owner_telegram_id FROM projects WHERE id = $1")
        .bind(project_id)
        .fetch_optional(pool)
        .await
}

/// The owner and the admins the owner added.
pub async fn staff(pool: &PgPool, project_id: Uuid) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT owner_telegram_id FROM projects WHERE id = $1
         UNION SELECT telegram_user_id FROM project_admins WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await
}

/// Adds an admin who may run owner commands.
pub async fn add_admin(db: impl PgExecutor<'_>, project_id: Uuid, telegram_user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO project_admins (project_id, telegram_user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(project_id)
        .bind(telegram_user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Removes an admin; whether there was one.
pub async fn remove_admin(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM project_admins WHERE project_id = $1 AND telegram_user_id = $2")
        .bind(project_id)
        .bind(telegram_user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A subscriber's standing.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscriber {
    /// `subscribers.id`.
    pub id: Uuid,
    /// active or banned.
    pub status: String,
    /// Never removed.
    pub whitelisted: bool,
    /// Set when the bot cannot reach them.
    pub unreachable_since: Option<DateTime<Utc>>,
}

/// A project's subscriber by Telegram id.
pub async fn subscriber(
    pool: &PgPool,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<Subscriber>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status, whitelisted, unreachable_since FROM subscribers WHERE project_id = $1 AND telegram_user_id = $2",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_optional(pool)
    .await
}

/// A grant as the bot shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantView {
    /// `grants.id`.
    pub id: Uuid,
    /// Plan.
    pub plan_id: Uuid,
    /// Plan name.
    pub plan_name: String,
    /// Whether the plan renews.
    pub recurring: bool,
    /// Source.
    pub source: String,
    /// State.
    pub state: String,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
}

impl GrantView {
    /// Whether it entitles at `now` (the subscriber not banned is checked apart).
    pub fn entitles(&self, now: DateTime<Utc>) -> bool {
        matches!(self.state.as_str(), "trialing" | "active" | "past_due" | "canceled")
            && self.ends_at.is_none_or(|e| e > now)
    }
}

/// Every grant of a user in a project, newest first.
pub async fn grants_of(pool: &PgPool, project_id: Uuid, telegram_user_id: i64) -> Result<Vec<GrantView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, g.plan_id, p.name AS plan_name, p.recurring, g.source, g.state, g.ends_at
         FROM grants g JOIN subscribers s ON s.id = g.subscriber_id JOIN plans p ON p.id = g.plan_id
         WHERE s.project_id = $1 AND s.telegram_user_id = $2
         ORDER BY g.created_at DESC",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(pool)
    .await
}

/// A plan by name (case-insensitive) or id.
pub async fn plan_by_name_or_id(
    pool: &PgPool,
    project_id: Uuid,
    name_or_id: &str,
) -> Result<Option<(Uuid, String, Option<i32>)>, sqlx::Error> {
    let id = Uuid::parse_str(name_or_id).ok();
    sqlx::query_as(
        "SELECT id, name, duration_days FROM plans
         WHERE project_id = $1 AND (id = $2 OR lower(name) = lower($3))
         ORDER BY created_at LIMIT 1",
    )
    .bind(project_id)
    .bind(id)
    .bind(name_or_id)
    .fetch_optional(pool)
    .await
}

/// Titles of the chats a plan grants.
pub async fn chat_titles(pool: &PgPool, plan_id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(c.title, c.telegram_chat_id::text) FROM plan_chats pc JOIN chats c ON c.id = pc.chat_id
         WHERE pc.plan_id = $1 ORDER BY c.telegram_chat_id",
    )
    .bind(plan_id)
    .fetch_all(pool)
    .await
}

/// Records a `/start` payload for attribution.
pub async fn record_start_payload(
    pool: &PgPool,
    project_id: Uuid,
    telegram_user_id: i64,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO start_payloads (project_id, telegram_user_id, payload) VALUES ($1, $2, $3)")
        .bind(project_id)
        .bind(telegram_user_id)
        .bind(payload)
        .execute(pool)
        .await?;
    Ok(())
}

/// An access token taken by a user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TakenToken {
    /// `access_tokens.id`.
    pub id: Uuid,
    /// Plan it activates.
    pub plan_id: Uuid,
    /// Days of access (`None` = the plan's).
    pub duration_days: Option<i32>,
}

/// Takes an unused, unexpired token for `user`, once: the first taker wins.
pub async fn take_access_token(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    token_hash: &[u8],
    user: i64,
    now: DateTime<Utc>,
) -> Result<Option<TakenToken>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE access_tokens t SET used_by = $3, used_at = $4
         FROM plans p
         WHERE t.project_id = $1 AND t.token_hash = $2 AND t.used_by IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > $4) AND p.id = t.plan_id
         RETURNING t.id, t.plan_id, COALESCE(t.duration_days, p.duration_days) AS duration_days",
    )
    .bind(project_id)
    .bind(token_hash)
    .bind(user)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Links a used token to the grant it made.
pub async fn token_granted(db: impl PgExecutor<'_>, token_id: Uuid, grant_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE access_tokens SET grant_id = $2 WHERE id = $1")
        .bind(token_id)
        .bind(grant_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Creates an access token (stored hashed).
pub async fn insert_access_token(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    plan_id: Uuid,
    token_hash: &[u8],
    duration_days: Option<i32>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO access_tokens (id, project_id, plan_id, token_hash, duration_days, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(plan_id)
    .bind(token_hash)
    .bind(duration_days)
    .bind(expires_at)
    .fetch_one(db)
    .await
}

/// Marks a subscriber banned (creating them if unknown).
pub async fn mark_banned(db: impl PgExecutor<'_>, project_id: Uuid, telegram_user_id: i64) -> Result<(), sqlx::Error> {
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

/// A user's grants in an entitling state, locked: (id, state).
pub async fn live_grants_for_update(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, g.state FROM grants g JOIN subscribers s ON s.id = g.subscriber_id
         WHERE s.project_id = $1 AND s.telegram_user_id = $2 AND g.state IN ('trialing', 'active', 'past_due', 'canceled')
         FOR UPDATE OF g",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(db)
    .await
}

/// Sets a grant's state and ends it now (or keeps an earlier end).
pub async fn end_grant(
    db: impl PgExecutor<'_>,
    grant_id: Uuid,
    state: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE grants SET state = $2, ends_at = LEAST(COALESCE(ends_at, $3), $3), updated_at = now() WHERE id = $1",
    )
    .bind(grant_id)
    .bind(state)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The Stripe subscription a grant was paid through, from its stored events.
pub async fn stripe_subscription_of(pool: &PgPool, grant_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(payload #>> '{data,object,subscription}',
                         payload #>> '{data,object,parent,subscription_details,subscription}')
         FROM payment_events
         WHERE grant_id = $1 AND provider = 'stripe'
           AND COALESCE(payload #>> '{data,object,subscription}',
                        payload #>> '{data,object,parent,subscription_details,subscription}') IS NOT NULL
         ORDER BY received_at LIMIT 1",
    )
    .bind(grant_id)
    .fetch_optional(pool)
    .await
}

/// The first Stars charge of a grant (it names the Stars subscription).
pub async fn stars_charge_of(pool: &PgPool, grant_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT external_id FROM payment_events WHERE grant_id = $1 AND provider = 'stars' ORDER BY received_at LIMIT 1",
    )
    .bind(grant_id)
    .fetch_optional(pool)
    .await
}

/// Lifts a Gatehouse ban on a subscriber; whether they were banned.
pub async fn unban(pool: &PgPool, project_id: Uuid, telegram_user_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE subscribers SET status = 'active' WHERE project_id = $1 AND telegram_user_id = $2 AND status = 'banned'")
        .bind(project_id)
        .bind(telegram_user_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
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
    /// Joins in the last 24 h.
    pub joins: i64,
    /// Removals in the last 24 h.
    pub removals: i64,
}

/// Per-chat figures of a project.
pub async fn chat_stats(pool: &PgPool, project_id: Uuid, since: DateTime<Utc>) -> Result<Vec<ChatStats>, sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(c.title, c.telegram_chat_id::text) AS title,
                (SELECT members FROM member_counts mc WHERE mc.chat_id = c.id ORDER BY day DESC LIMIT 1) AS counted,
                (SELECT count(*) FROM memberships m WHERE m.chat_id = c.id
                   AND m.status IN ('creator', 'administrator', 'member', 'restricted')) AS known,
                (SELECT count(*) FROM audit_log a WHERE a.chat_id = c.id AND a.action = 'joined' AND a.at >= $2) AS joins,
                (SELECT count(*) FROM audit_log a WHERE a.chat_id = c.id AND a.action = 'removed' AND a.at >= $2) AS removals
         FROM chats c WHERE c.project_id = $1 ORDER BY c.telegram_chat_id",
    )
    .bind(project_id)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Grants that entitle now, per project.
pub async fn active_subscriptions(pool: &PgPool, project_id: Uuid, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM grants g JOIN subscribers s ON s.id = g.subscriber_id
         WHERE g.project_id = $1 AND g.state IN ('trialing', 'active', 'past_due', 'canceled')
           AND (g.ends_at IS NULL OR g.ends_at > $2) AND s.status = 'active'",
    )
    .bind(project_id)
    .bind(now)
    .fetch_one(pool)
    .await
}

/// A user's memberships in the project's chats: (chat title, status).
pub async fn memberships_of(
    pool: &PgPool,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(c.title, c.telegram_chat_id::text), m.status FROM memberships m JOIN chats c ON c.id = m.chat_id
         WHERE c.project_id = $1 AND m.telegram_user_id = $2 ORDER BY c.telegram_chat_id",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(pool)
    .await
}

/// A user's open links: (chat title, link).
pub async fn open_links_of(
    pool: &PgPool,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(c.title, c.telegram_chat_id::text), l.link FROM invite_links l
         JOIN chats c ON c.id = l.chat_id JOIN subscribers s ON s.id = l.subscriber_id
         WHERE l.project_id = $1 AND s.telegram_user_id = $2 AND l.state = 'open' AND l.link IS NOT NULL",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(pool)
    .await
}

/// A user's last audit entries: (at, action, reason).
pub async fn last_actions(
    pool: &PgPool,
    project_id: Uuid,
    telegram_user_id: i64,
    limit: i64,
) -> Result<Vec<(DateTime<Utc>, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, action, reason FROM audit_log WHERE project_id = $1 AND telegram_user_id = $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The project's chats: (our id, Telegram id).
pub async fn chats_of_project(pool: &PgPool, project_id: Uuid) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT id, telegram_chat_id FROM chats WHERE project_id = $1 ORDER BY telegram_chat_id")
        .bind(project_id)
        .fetch_all(pool)
        .await
}

/// A user's payments: "<provider> <kind> <date>" (newest first, at most 10).
pub async fn payments_of(pool: &PgPool, project_id: Uuid, telegram_user_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT g.source || ' ' || g.state || ' since ' || to_char(g.starts_at, 'DD Mon YYYY')
         FROM grants g JOIN subscribers s ON s.id = g.subscriber_id
         WHERE s.project_id = $1 AND s.telegram_user_id = $2 AND g.source IN ('stripe', 'stars')
         ORDER BY g.created_at DESC LIMIT 10",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(pool)
    .await
}
