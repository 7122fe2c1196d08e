//! `PUT /v1/projects/{project_id}/bot`: connects (or reconnects) the project's bot;
//! `GET` shows how that went, and the bot's own rate limits.
//! `PUT /v1/projects/{project_id}/bot/limits`: sets the bot's own rate limits (every
//! worker takes them up within 30 s); a null or missing field takes the workers' default.
//!
//! The token is sealed before it is stored and never logged or echoed: every error
//! about it describes the expected format, not the value. `connect-bot` does the
//! talking to Telegram.

use super::Data;
use axum::{extract::State, http::StatusCode};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    setup::{self, bot::BotToken},
    store::{self, budget::BotLimits},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonBody;
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body of `PUT .../bot`. No `Debug`: it holds the token.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConnectRequest {
    token: String,
}

/// The answer to `PUT .../bot`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Connecting {
    bot_id: Uuid,
    status: &'static str,
}

/// The answer to `GET .../bot`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BotView {
    bot_id: Uuid,
    telegram_bot_id: i64,
    username: Option<String>,
    status: String,
    reason: Option<String>,
    /// The bot's own limits (null: the workers' defaults).
    limits: BotLimits,
}

/// Telegram's documented limits are 30 calls/s (up to 1,000 with paid broadcasts), 1
/// message/s per chat, 20/min per group: values far above are typing errors. A `None`
/// takes the workers' default (`GATEHOUSE_TG_*`).
fn check_limits(limits: &BotLimits, default_calls: u32) -> Result<(), ApiError> {
    let within = |field: &str, value: Option<i32>, range: std::ops::RangeInclusive<i32>| match value {
        Some(v) if !range.contains(&v) => Err(ApiError::Unprocessable(format!(
            "{field}: expected a whole number from {} to {}, or null for the default",
            range.start(),
            range.end()
        ))),
        _ => Ok(()),
    };
    within("calls_per_second", limits.calls_per_second, 1..=1_000)?;
    within("chat_messages_per_second", limits.chat_messages_per_second, 1..=100)?;
    within("group_messages_per_minute", limits.group_messages_per_minute, 1..=6_000)?;
    within("interactive_reserve", limits.interactive_reserve, 0..=999)?;
    let calls = limits.calls_per_second.unwrap_or(default_calls as i32);
    if limits.interactive_reserve.is_some_and(|r| r >= calls) {
        return Err(ApiError::Unprocessable(format!(
            "interactive_reserve: must be lower than calls_per_second ({calls}): lifecycle and bulk work would get no budget"
        )));
    }
    Ok(())
}

/// Stores the sealed token, marks the bot `connecting` and enqueues `connect-bot`
/// ([`setup::bot::connect`], as for a token pasted to the platform bot).
pub async fn connect(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ConnectRequest>,
) -> Result<(StatusCode, Data<Connecting>), ApiError> {
    key.require(Ability::ProjectWrite)?;
    let token = BotToken::parse(body.token)?;
    let mut tx = state.pool.begin().await?;
    state.config.encryption_key()?;
    let bot_id = setup::bot::connect(&mut tx, &state.config, key.project_id, &token, None).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Data(Connecting { bot_id, status: "connecting" })))
}

/// The route `GET .../bot`.
pub async fn show(key: ProjectKey, State(state): State<AppState>) -> Result<Data<BotView>, ApiError> {
    status(&state, &key).await.map(Data)
}

/// The project's bot and its connection status (`project:read`): the route and the
/// `get_bot_status` MCP tool.
pub async fn status(state: &AppState, key: &ProjectKey) -> Result<BotView, ApiError> {
    key.require(Ability::ProjectRead)?;
    let bot = store::bots::of_project(&state.pool, key.project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("this project has no bot yet".into()))?;
    let limits = match bot.verified_at {
        Some(_) => store::budget::limits(&state.pool, bot.telegram_bot_id).await?.unwrap_or_default(),
        None => BotLimits::default(),
    };
    Ok(BotView {
        bot_id: bot.id,
        telegram_bot_id: bot.telegram_bot_id,
        username: bot.username,
        status: bot.status,
        reason: bot.status_reason,
        limits,
    })
}

/// Sets the bot's own rate limits; answers them as stored.
pub async fn set_limits(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(limits): JsonBody<BotLimits>,
) -> Result<Data<BotLimits>, ApiError> {
    key.require(Ability::ProjectWrite)?;
    check_limits(&limits, state.config.telegram_budget.calls_per_second)?;
    let bot = store::bots::of_project(&state.pool, key.project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("this project has no bot yet".into()))?;
    if bot.verified_at.is_none() {
        return Err(ApiError::Conflict(
            "the bot's token is not verified yet: limits can be set once its connection is confirmed".into(),
        ));
    }
    store::budget::set_limits(&state.pool, bot.telegram_bot_id, &limits).await?;
    tracing::info!(project_id = %key.project_id, telegram_bot_id = bot.telegram_bot_id, ?limits, "bot rate limits set");
    Ok(Data(limits))
}
