//! Rate budgets (`rate_budgets`, `bot_rate_limits`): the slot schedule every worker
//! process takes its Bot API calls from. Each function is one short statement; the
//! process-side logic (leases spent locally, lanes, waits) is in
//! [`crate::telegram::budget`].
//!
//! Times come from the database clock (`clock_timestamp()`), the one clock every
//! worker shares; callers translate them to their own clock with the offset the same
//! answer carries.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// One lease: the slots granted, as the database's clock sees them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Lease {
    /// The database's time when the lease was taken.
    pub now: DateTime<Utc>,
    /// The slots granted, ascending (several may be at `now`: a window allows bursts).
    pub slots: Vec<DateTime<Utc>>,
    /// When fewer than wanted were granted: the first slot beyond the horizon.
    pub next_free: Option<DateTime<Utc>>,
}

/// What [`lease`] asks for.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRequest {
    /// The bot.
    pub telegram_bot_id: i64,
    /// Lifecycle or bulk work: bound by the background limit while the reserve is held.
    pub background: bool,
    /// How many slots the process would like.
    pub wanted: i32,
    /// Calls per window, any lane.
    pub limit: i32,
    /// Calls per window for background work while interactive work holds its reserve.
    pub background_limit: i32,
    /// The window, in seconds (a second, widened by the headroom).
    pub window: f64,
    /// How far ahead of now slots may be taken, in seconds.
    pub horizon: f64,
    /// How long after an interactive slot the reserve is held, in seconds.
    pub reserve_hold: f64,
}

/// Takes up to `wanted` of a bot's next slots, none later than `horizon` from now
/// (`gatehouse_lease_slots`, migration 0021). `None` when the bot has no budget row yet
/// ([`ensure`] creates it).
pub async fn lease(pool: &PgPool, request: LeaseRequest) -> Result<Option<Lease>, sqlx::Error> {
    sqlx::query_as("SELECT now, slots, next_free FROM gatehouse_lease_slots($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(request.telegram_bot_id)
        .bind(request.background)
        .bind(request.wanted)
        .bind(request.limit)
        .bind(request.background_limit)
        .bind(request.window)
        .bind(request.horizon)
        .bind(request.reserve_hold)
        .fetch_optional(pool)
        .await
}

/// Creates a budget row (bot: chat 0) if it does not exist.
pub async fn ensure(pool: &PgPool, telegram_bot_id: i64, telegram_chat_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rate_budgets (telegram_bot_id, telegram_chat_id) VALUES ($1, $2)
         ON CONFLICT (telegram_bot_id, telegram_chat_id) DO NOTHING",
    )
    .bind(telegram_bot_id)
    .bind(telegram_chat_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes a chat's message slot at `at` (database time) if the chat's previous message
/// was at least one chat interval before and the chat is not paused. Returns `None` if
/// it was taken, or `Some(time)` when the chat is free again.
pub async fn take_chat_slot(
    pool: &PgPool,
    telegram_bot_id: i64,
    telegram_chat_id: i64,
    at: DateTime<Utc>,
    chat_interval: f64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let taken: Option<bool> = sqlx::query_scalar(
        "INSERT INTO rate_budgets AS r (telegram_bot_id, telegram_chat_id, next_slot_at, updated_at)
         VALUES ($1, $2, $3 + $4 * interval '1 second', now())
         ON CONFLICT (telegram_bot_id, telegram_chat_id) DO UPDATE
         SET next_slot_at = EXCLUDED.next_slot_at, updated_at = now()
         WHERE r.next_slot_at <= $3 AND (r.paused_until IS NULL OR r.paused_until <= $3)
         RETURNING true",
    )
    .bind(telegram_bot_id)
    .bind(telegram_chat_id)
    .bind(at)
    .bind(chat_interval)
    .fetch_optional(pool)
    .await?;
    if taken.is_some() {
        return Ok(None);
    }
    sqlx::query_scalar(
        "SELECT greatest(next_slot_at, COALESCE(paused_until, next_slot_at)) FROM rate_budgets
         WHERE telegram_bot_id = $1 AND telegram_chat_id = $2",
    )
    .bind(telegram_bot_id)
    .bind(telegram_chat_id)
    .fetch_optional(pool)
    .await
    .map(|until| Some(until.unwrap_or(at)))
}

/// Pauses a bot (chat 0) or one chat for `seconds` from now, for every worker;
/// returns until when (a longer pause already in place is kept).
pub async fn pause(
    pool: &PgPool,
    telegram_bot_id: i64,
    telegram_chat_id: i64,
    seconds: f64,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO rate_budgets AS r (telegram_bot_id, telegram_chat_id, paused_until)
         VALUES ($1, $2, clock_timestamp() + $3 * interval '1 second')
         ON CONFLICT (telegram_bot_id, telegram_chat_id) DO UPDATE
         SET paused_until = greatest(r.paused_until, EXCLUDED.paused_until), updated_at = now()
         RETURNING paused_until",
    )
    .bind(telegram_bot_id)
    .bind(telegram_chat_id)
    .bind(seconds)
    .fetch_one(pool)
    .await
}

/// Plans when a background job that found the bot's budget full runs again: the next
/// free place in the bot's plan, which advances by `cost` seconds of budget per job.
/// Jobs of a mass expiry thus come due one after another at the budget's pace.
pub async fn plan(pool: &PgPool, telegram_bot_id: i64, cost: f64) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE rate_budgets
         SET next_planned_at = greatest(next_planned_at, next_background_slot_at, next_slot_at, clock_timestamp(),
                                        COALESCE(paused_until, '-infinity')) + $2 * interval '1 second'
         WHERE telegram_bot_id = $1 AND telegram_chat_id = 0
         RETURNING next_planned_at - $2 * interval '1 second'",
    )
    .bind(telegram_bot_id)
    .bind(cost)
    .fetch_optional(pool)
    .await
}

/// A bot's own limits; `None` fields take the process defaults. Also the JSON of
/// `PUT /v1/projects/{id}/bot/limits` and of the `limits` in `GET …/bot`.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct BotLimits {
    /// All methods together, per second.
    pub calls_per_second: Option<i32>,
    /// Messages to one chat, per second.
    pub chat_messages_per_second: Option<i32>,
    /// Messages to one group, per minute.
    pub group_messages_per_minute: Option<i32>,
    /// Calls per second left to interactive work.
    pub interactive_reserve: Option<i32>,
}

/// A bot's own limits, if it has any.
pub async fn limits(pool: &PgPool, telegram_bot_id: i64) -> Result<Option<BotLimits>, sqlx::Error> {
    sqlx::query_as(
        "SELECT calls_per_second, chat_messages_per_second, group_messages_per_minute, interactive_reserve
         FROM bot_rate_limits WHERE telegram_bot_id = $1",
    )
    .bind(telegram_bot_id)
    .fetch_optional(pool)
    .await
}

/// Sets a bot's own limits (workers pick them up within 30 s).
pub async fn set_limits(pool: &PgPool, telegram_bot_id: i64, limits: &BotLimits) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bot_rate_limits AS l (telegram_bot_id, calls_per_second, chat_messages_per_second,
                                           group_messages_per_minute, interactive_reserve)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (telegram_bot_id) DO UPDATE
         SET calls_per_second = EXCLUDED.calls_per_second,
             chat_messages_per_second = EXCLUDED.chat_messages_per_second,
             group_messages_per_minute = EXCLUDED.group_messages_per_minute,
             interactive_reserve = EXCLUDED.interactive_reserve,
             updated_at = now()",
    )
    .bind(telegram_bot_id)
    .bind(limits.calls_per_second)
    .bind(limits.chat_messages_per_second)
    .bind(limits.group_messages_per_minute)
    .bind(limits.interactive_reserve)
    .execute(pool)
    .await?;
    Ok(())
}

/// Drops a bot's own limits (its verified connection went away).
pub async fn forget_limits(db: impl sqlx::PgExecutor<'_>, telegram_bot_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM bot_rate_limits WHERE telegram_bot_id = $1").bind(telegram_bot_id).execute(db).await?;
    Ok(())
}

/// Deletes chat budgets nobody has used for a minute (one exists per chat messaged).
pub async fn prune_idle_chats(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM rate_budgets
         WHERE telegram_chat_id <> 0 AND next_slot_at < now() - interval '1 minute'
           AND (paused_until IS NULL OR paused_until < now())",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
