//! What the integrator setup API (`/v1/projects/...`) reads and writes: projects and
//! their api keys, the bot, chats, plans, subscribers, manual grants, request
//! idempotency keys, and a member's full picture.
//!
//! Writes take any executor so the api can run them, and the jobs they enqueue, in
//! one transaction. Constraint violations come back as `sqlx::Error::Database`
//! with their SQLSTATE and constraint name; the api maps them to answers.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Projects and api keys
// ---------------------------------------------------------------------------

/// The unique constraint on `projects.handle`.
pub const PROJECT_HANDLE_KEY: &str = "projects_handle_key";

/// Inserts a project.
pub async fn insert_project(
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

/// Inserts an api key of `project_id`, stored only as its digest and a short prefix.
pub async fn insert_api_key(
    db: impl PgExecutor<'_>,
    id: Uuid,
    project_id: Uuid,
    key_hash: &[u8],
    key_prefix: &str,
    abilities: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_keys (id, project_id, key_hash, key_prefix, abilities)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(project_id)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(abilities)
    .execute(db)
    .await?;
    Ok(())
}

/// An api key that is in force.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    /// `api_keys.id`.
    pub id: Uuid,
    /// The project it acts for.
    pub project_id: Uuid,
    /// What it may do (`*` = everything its project allows).
    pub abilities: Vec<String>,
}

/// The key whose SHA-256 is `key_hash`, unless it was revoked.
pub async fn find_api_key(db: impl PgExecutor<'_>, key_hash: &[u8]) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, abilities FROM api_keys
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(db)
    .await
}

// ---------------------------------------------------------------------------
// The bot
// ---------------------------------------------------------------------------

/// Creates the project's bot, or replaces its token: either way it is
/// `connecting` again, with no username or reason until `connect-bot` runs. The
/// webhook secret hash is left as it is. Returns the bot's id (`new_id` when created).
pub async fn upsert_bot(
    db: impl PgExecutor<'_>,
    new_id: Uuid,
    project_id: Uuid,
    telegram_bot_id: i64,
    token_ciphertext: &[u8],
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO bots (id, project_id, telegram_bot_id, token_ciphertext, status)
         VALUES ($1, $2, $3, $4, 'connecting')
         ON CONFLICT (project_id) DO UPDATE
         SET telegram_bot_id = EXCLUDED.telegram_bot_id,
             token_ciphertext = EXCLUDED.token_ciphertext,
             status = 'connecting',
             status_reason = NULL,
             username = NULL,
             -- Another bot: the old bot's webhook secret must not open the new bot's webhook,
             -- and the new bot id is this project's only once getMe confirms it.
             webhook_secret_hash = CASE WHEN bots.telegram_bot_id = EXCLUDED.telegram_bot_id
                                        THEN bots.webhook_secret_hash END,
             verified_at = CASE WHEN bots.telegram_bot_id = EXCLUDED.telegram_bot_id
                                THEN bots.verified_at END,
             updated_at = now()
         RETURNING id",
    )
    .bind(new_id)
    .bind(project_id)
    .bind(telegram_bot_id)
    .bind(token_ciphertext)
    .fetch_one(db)
    .await
}

/// The project's bot as the integrator sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BotStatus {
    /// `bots.id`.
    pub id: Uuid,
    /// Telegram's id of the bot.
    pub telegram_bot_id: i64,
    /// Its @username, once `connect-bot` has seen it.
    pub username: Option<String>,
    /// `connecting`, `connected` or `failed`.
    pub status: String,
    /// Why it failed, when it did.
    pub status_reason: Option<String>,
    /// When getMe confirmed the token for this bot id (`None`: not yet).
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The project's bot, if it has one.
pub async fn find_bot(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Option<BotStatus>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, telegram_bot_id, username, status, status_reason, verified_at
         FROM bots WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// Whether a project other than `project_id` holds the verified claim on this bot id.
pub async fn bot_verified_elsewhere(
    db: impl PgExecutor<'_>,
    telegram_bot_id: i64,
    project_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM bots WHERE telegram_bot_id = $1 AND project_id <> $2 AND verified_at IS NOT NULL)",
    )
    .bind(telegram_bot_id)
    .bind(project_id)
    .fetch_one(db)
    .await
}

/// Whether the project has a bot (in any state).
pub async fn project_has_bot(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bots WHERE project_id = $1)").bind(project_id).fetch_one(db).await
}

// ---------------------------------------------------------------------------
// Chats
// ---------------------------------------------------------------------------

/// Adds a managed chat, or asks for a managed chat to be verified again: either
/// way it is `pending` with no reason. `join_strategy` `None` keeps the current
/// strategy (or the default for a new chat). Returns the chat's id (`new_id` when added).
pub async fn upsert_chat(
    db: impl PgExecutor<'_>,
    new_id: Uuid,
    project_id: Uuid,
    telegram_chat_id: i64,
    join_strategy: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO chats (id, project_id, telegram_chat_id, join_strategy)
         VALUES ($1, $2, $3, COALESCE($4, 'single_use_link'))
         ON CONFLICT (project_id, telegram_chat_id) DO UPDATE
         SET join_strategy = COALESCE($4, chats.join_strategy),
             status = 'pending',
             status_reason = NULL,
             updated_at = now()
         RETURNING id",
    )
    .bind(new_id)
    .bind(project_id)
    .bind(telegram_chat_id)
    .bind(join_strategy)
    .fetch_one(db)
    .await
}

/// A managed chat as the integrator sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatRow {
    /// `chats.id`.
    pub id: Uuid,
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

/// The project's chats, oldest first.
pub async fn list_chats(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<ChatRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, telegram_chat_id, title, kind, join_strategy, status, status_reason,
                can_invite_users, can_restrict_members
         FROM chats WHERE project_id = $1
         ORDER BY created_at, telegram_chat_id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Of these Telegram chat ids, the ones that are chats of the project, with our ids:
/// `(chats.id, telegram_chat_id)`.
pub async fn find_chats_by_telegram_ids(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_chat_ids: &[i64],
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, telegram_chat_id FROM chats
         WHERE project_id = $1 AND telegram_chat_id = ANY($2)",
    )
    .bind(project_id)
    .bind(telegram_chat_ids)
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

/// A plan to insert.
#[derive(Debug, Clone)]
pub struct NewPlan<'a> {
    /// `plans.id`.
    pub id: Uuid,
    /// The project selling it.
    pub project_id: Uuid,
    /// Its name.
    pub name: &'a str,
    /// Price in the currency's minor unit.
    pub price_minor: i64,
    /// ISO 4217 code, or `XTR` for Stars.
    pub currency: &'a str,
    /// Price in Stars, when it can be paid with Stars.
    pub stars_price: Option<i32>,
    /// `None` = lifetime.
    pub duration_days: Option<i32>,
    /// Renews every `duration_days`.
    pub recurring: bool,
    /// Free days before the first payment.
    pub trial_days: i32,
}

/// Inserts a plan (without its chats: [`insert_plan_chats`]).
pub async fn insert_plan(db: impl PgExecutor<'_>, plan: &NewPlan<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO plans (id, project_id, name, price_minor, currency, stars_price,
                            duration_days, recurring, trial_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(plan.id)
    .bind(plan.project_id)
    .bind(plan.name)
    .bind(plan.price_minor)
    .bind(plan.currency)
    .bind(plan.stars_price)
    .bind(plan.duration_days)
    .bind(plan.recurring)
    .bind(plan.trial_days)
    .execute(db)
    .await?;
    Ok(())
}

/// Grants the chats `chat_ids` (`chats.id`) with the plan.
pub async fn insert_plan_chats(db: impl PgExecutor<'_>, plan_id: Uuid, chat_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO plan_chats (plan_id, chat_id)
         SELECT $1, chat_id FROM UNNEST($2::uuid[]) AS chat_id
         ON CONFLICT DO NOTHING",
    )
    .bind(plan_id)
    .bind(chat_ids)
    .execute(db)
    .await?;
    Ok(())
}

/// A plan as the integrator sees it: its terms and the chats it grants.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanRow {
    /// What is sold.
    #[sqlx(flatten)]
    pub terms: crate::store::payments::PlanTerms,
    /// Telegram ids of the chats it grants.
    pub telegram_chat_ids: Vec<i64>,
}

/// The project's plans, oldest first.
pub async fn list_plans(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<PlanRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.project_id, p.name, p.price_minor, p.currency, p.stars_price, p.duration_days,
                p.recurring, p.trial_days, p.on_sale,
                ARRAY(SELECT c.telegram_chat_id FROM plan_chats pc JOIN chats c ON c.id = pc.chat_id
                      WHERE pc.plan_id = p.id ORDER BY c.telegram_chat_id) AS telegram_chat_ids
         FROM plans p WHERE p.project_id = $1
         ORDER BY p.created_at, p.id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Whether `plan_id` is a plan of the project.
pub async fn plan_exists(db: impl PgExecutor<'_>, project_id: Uuid, plan_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM plans WHERE id = $1 AND project_id = $2)")
        .bind(plan_id)
        .bind(project_id)
        .fetch_one(db)
        .await
}

// ---------------------------------------------------------------------------
// Subscribers
// ---------------------------------------------------------------------------

/// A subscriber's id and standing.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriberRef {
    /// `subscribers.id`.
    pub id: Uuid,
    /// `active` or `banned`.
    pub status: String,
    /// Never removed from the project's chats.
    pub whitelisted: bool,
}

/// The project's subscriber for this Telegram user, created if new (with `new_id`).
/// The row stays locked until the transaction ends.
pub async fn upsert_subscriber(
    db: impl PgExecutor<'_>,
    new_id: Uuid,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<SubscriberRef, sqlx::Error> {
    // The no-op update makes RETURNING give the existing row, and locks it.
    sqlx::query_as(
        "INSERT INTO subscribers (id, project_id, telegram_user_id) VALUES ($1, $2, $3)
         ON CONFLICT (project_id, telegram_user_id) DO UPDATE SET telegram_user_id = EXCLUDED.telegram_user_id
         RETURNING id, status, whitelisted",
    )
    .bind(new_id)
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_one(db)
    .await
}

/// Marks the user as whitelisted (never removed), creating the subscriber if new.
pub async fn whitelist_subscriber(
    db: impl PgExecutor<'_>,
    new_id: Uuid,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<SubscriberRef, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, whitelisted) VALUES ($1, $2, $3, true)
         ON CONFLICT (project_id, telegram_user_id) DO UPDATE SET whitelisted = true
         RETURNING id, status, whitelisted",
    )
    .bind(new_id)
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_one(db)
    .await
}

/// Takes the user off the whitelist; `None` if the project does not know them.
pub async fn unwhitelist_subscriber(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<SubscriberRef>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE subscribers SET whitelisted = false
         WHERE project_id = $1 AND telegram_user_id = $2
         RETURNING id, status, whitelisted",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_optional(db)
    .await
}

/// The project's subscriber for this Telegram user, if known.
pub async fn find_subscriber(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<SubscriberRef>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status, whitelisted FROM subscribers
         WHERE project_id = $1 AND telegram_user_id = $2",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_optional(db)
    .await
}

// ---------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------

/// A manual grant to insert: `active`, starting now.
#[derive(Debug, Clone)]
pub struct NewManualGrant<'a> {
    /// `grants.id`.
    pub id: Uuid,
    /// The project.
    pub project_id: Uuid,
    /// Who is granted.
    pub subscriber_id: Uuid,
    /// What is granted.
    pub plan_id: Uuid,
    /// `None` = no end.
    pub ends_at: Option<DateTime<Utc>>,
    /// The integrator's note.
    pub note: Option<&'a str>,
}

/// Inserts a manual grant, active from now.
pub async fn insert_manual_grant(db: impl PgExecutor<'_>, grant: &NewManualGrant<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO grants (id, project_id, subscriber_id, plan_id, source, state, starts_at, ends_at, note)
         VALUES ($1, $2, $3, $4, 'manual', 'active', now(), $5, $6)",
    )
    .bind(grant.id)
    .bind(grant.project_id)
    .bind(grant.subscriber_id)
    .bind(grant.plan_id)
    .bind(grant.ends_at)
    .bind(grant.note)
    .execute(db)
    .await?;
    Ok(())
}

/// A grant's state and end.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantState {
    /// `trialing`, `active`, …, `revoked`.
    pub state: String,
    /// `None` = no end.
    pub ends_at: Option<DateTime<Utc>>,
}

/// The project's grant, locked until the transaction ends; `None` if it has no such grant.
pub async fn lock_grant(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    grant_id: Uuid,
) -> Result<Option<GrantState>, sqlx::Error> {
    sqlx::query_as("SELECT state, ends_at FROM grants WHERE id = $1 AND project_id = $2 FOR UPDATE")
        .bind(grant_id)
        .bind(project_id)
        .fetch_optional(db)
        .await
}

/// Revokes a grant: it ends now, or when it already ended if that was earlier.
/// Returns the end it now has.
pub async fn revoke_grant(db: impl PgExecutor<'_>, grant_id: Uuid) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE grants
         SET state = 'revoked',
             ends_at = CASE WHEN ends_at IS NULL OR ends_at > now() THEN now() ELSE ends_at END,
             updated_at = now()
         WHERE id = $1
         RETURNING ends_at",
    )
    .bind(grant_id)
    .fetch_one(db)
    .await
}

// ---------------------------------------------------------------------------
// Request idempotency keys
// ---------------------------------------------------------------------------

/// A stored answer to a request made with an idempotency key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredResponse {
    /// SHA-256 of the request the key was first used with.
    pub request_digest: Vec<u8>,
    /// The answer body given then.
    pub response: serde_json::Value,
}

/// Records `key` with the answer it gets, unless the key is already recorded
/// (then returns false). A concurrent first use waits here until the other
/// transaction ends. Call before acting, in the transaction that acts.
pub async fn claim_request_key(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope: &str,
    key: &str,
    request_digest: &[u8],
    response: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let claimed: Option<i32> = sqlx::query_scalar(
        "INSERT INTO request_keys (project_id, scope, key, request_digest, response)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (project_id, scope, key) DO NOTHING
         RETURNING 1",
    )
    .bind(project_id)
    .bind(scope)
    .bind(key)
    .bind(request_digest)
    .bind(response)
    .fetch_optional(db)
    .await?;
    Ok(claimed.is_some())
}

/// The answer recorded for `key`, if any.
pub async fn find_request_key(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope: &str,
    key: &str,
) -> Result<Option<StoredResponse>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_digest, response FROM request_keys
         WHERE project_id = $1 AND scope = $2 AND key = $3",
    )
    .bind(project_id)
    .bind(scope)
    .bind(key)
    .fetch_optional(db)
    .await
}

// ---------------------------------------------------------------------------
// A member's picture
// ---------------------------------------------------------------------------

/// One grant of a member, with whether it entitles them now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntitlementRow {
    /// `grants.id`.
    pub grant_id: Uuid,
    /// Its plan.
    pub plan_id: Uuid,
    /// The plan's name.
    pub plan_name: String,
    /// `manual`, `stripe`, `stars`, `access_code`, `trial`.
    pub source: String,
    /// The grant's state.
    pub state: String,
    /// When it started.
    pub starts_at: DateTime<Utc>,
    /// When it ends; `None` = never.
    pub ends_at: Option<DateTime<Utc>>,
    /// In an entitled state, not past its end, and the subscriber is not banned.
    pub entitled: bool,
    /// Telegram ids of the chats the plan grants.
    pub telegram_chat_ids: Vec<i64>,
}

/// Every grant of the subscriber, newest first.
pub async fn member_entitlements(
    db: impl PgExecutor<'_>,
    subscriber_id: Uuid,
) -> Result<Vec<EntitlementRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id AS grant_id, g.plan_id, p.name AS plan_name, g.source, g.state,
                g.starts_at, g.ends_at,
                (g.state IN ('trialing', 'active', 'past_due', 'canceled')
                 AND (g.ends_at IS NULL OR g.ends_at > now())
                 AND s.status <> 'banned') AS entitled,
                ARRAY(SELECT c.telegram_chat_id FROM plan_chats pc JOIN chats c ON c.id = pc.chat_id
                      WHERE pc.plan_id = g.plan_id ORDER BY c.telegram_chat_id) AS telegram_chat_ids
         FROM grants g
         JOIN plans p ON p.id = g.plan_id
         JOIN subscribers s ON s.id = g.subscriber_id
         WHERE g.subscriber_id = $1
         ORDER BY g.starts_at DESC, g.created_at DESC",
    )
    .bind(subscriber_id)
    .fetch_all(db)
    .await
}

/// An observed membership of a member in a chat of the project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipRow {
    /// Telegram's id of the chat.
    pub telegram_chat_id: i64,
    /// Telegram's ChatMember status.
    pub status: String,
    /// When they joined, if seen.
    pub joined_at: Option<DateTime<Utc>>,
    /// When they left, if seen.
    pub left_at: Option<DateTime<Utc>>,
    /// The invite link they joined with, if Telegram said.
    pub via_link: Option<String>,
}

/// The member's observed memberships in the project's chats.
pub async fn member_memberships(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Vec<MembershipRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.telegram_chat_id, m.status, m.joined_at, m.left_at, m.via_link
         FROM memberships m JOIN chats c ON c.id = m.chat_id
         WHERE c.project_id = $1 AND m.telegram_user_id = $2
         ORDER BY c.telegram_chat_id",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(db)
    .await
}

/// An invite link of the member that can still be used (or is being created).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenLinkRow {
    /// Telegram's id of the chat.
    pub telegram_chat_id: i64,
    /// The t.me link; `None` while pending.
    pub link: Option<String>,
    /// When it expires.
    pub expire_at: Option<DateTime<Utc>>,
    /// `pending` or `open`.
    pub state: String,
}

/// The subscriber's pending and open invite links, newest first.
pub async fn member_open_links(db: impl PgExecutor<'_>, subscriber_id: Uuid) -> Result<Vec<OpenLinkRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.telegram_chat_id, l.link, l.expire_at, l.state
         FROM invite_links l JOIN chats c ON c.id = l.chat_id
         WHERE l.subscriber_id = $1 AND l.state IN ('pending', 'open')
         ORDER BY l.created_at DESC",
    )
    .bind(subscriber_id)
    .fetch_all(db)
    .await
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

/// The member's audit trail, newest first, at most `limit` entries.
pub async fn member_audit(
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
