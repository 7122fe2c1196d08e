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
    Secret,
    catalog::connect_bot::ConnectBot,
    crypto,
    queue::{self, RunAt},
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

/// A bot token in the form BotFather gives: `<bot id>:<secret>`.
struct BotToken {
    telegram_bot_id: i64,
    token: Secret<String>,
}

impl BotToken {
    /// Checks `^[0-9]{1,20}:[A-Za-z0-9_-]{30,64}$` and that the bot id is a positive
    /// 64-bit number. The error never contains the token.
    fn parse(token: String) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::Unprocessable(
                "token: expected a bot token as BotFather gives it: <bot id>:<30 to 64 characters of A-Z, a-z, 0-9, '_' and '-'>".into(),
            )
        };
        let token = Secret::new(token);
        let (id, secret) = token.expose().split_once(':').ok_or_else(invalid)?;
        let id_ok = (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
        let secret_ok = (30..=64).contains(&secret.len())
            && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok || !secret_ok {
            return Err(invalid());
        }
        let telegram_bot_id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(invalid)?;
        Ok(BotToken { telegram_bot_id, token })
    }
}

/// Stores the sealed token, marks the bot `connecting` and enqueues `connect-bot`.
pub async fn connect(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ConnectRequest>,
) -> Result<(StatusCode, Data<Connecting>), ApiError> {
    key.require(Ability::ProjectWrite)?;
    let token = BotToken::parse(body.token)?;
    let sealed = crypto::seal(state.config.encryption_key()?, token.token.expose());

    let mut tx = state.pool.begin().await?;
    // A bot id is taken only by a claim getMe verified; an unverified claim blocks nobody.
    if store::bots::verified_elsewhere(&mut *tx, token.telegram_bot_id, key.project_id).await? {
        return Err(ApiError::Conflict("token: this bot is connected to another project".into()));
    }
    // A bot's own limits belong to its verified connection: moving to another bot id
    // leaves none behind on the old one.
    if let Some(old) = store::bots::of_project(&mut *tx, key.project_id).await?
        && old.telegram_bot_id != token.telegram_bot_id
        && old.verified_at.is_some()
    {
        store::budget::forget_limits(&mut *tx, old.telegram_bot_id).await?;
    }
    let bot_id = store::bots::upsert(&mut *tx, Uuid::new_v4(), key.project_id, token.telegram_bot_id, &sealed).await?;
    let job = ConnectBot { bot_id, attempt: Uuid::new_v4() };
    queue::enqueue(&mut tx, &job, RunAt::Now).await?;
    tx.commit().await?;
    tracing::info!(project_id = %key.project_id, %bot_id, telegram_bot_id = token.telegram_bot_id, "bot connecting");
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAE_abcdefghijklmnopqrstuvwxyz-0123";

    #[test]
    fn a_token_gives_its_bot_id() {
        let t = BotToken::parse(format!("123456:{SECRET}")).unwrap();
        assert_eq!(t.telegram_bot_id, 123456);
        assert_eq!(t.token.expose(), &format!("123456:{SECRET}"));
    }

    #[test]
    fn a_malformed_token_is_refused_without_being_echoed() {
        for bad in [
            String::new(),
            SECRET.to_string(),
            format!(":{SECRET}"),
            format!("12a:{SECRET}"),
            format!("123:{}", &SECRET[..29]),
            format!("123:{}", "a".repeat(65)),
            format!("123:{SECRET}!"),
            format!("99999999999999999999:{SECRET}"),
            format!("0:{SECRET}"),
            format!("123:{SECRET}:x"),
        ] {
            let Err(ApiError::Unprocessable(message)) = BotToken::parse(bad.clone()) else {
                panic!("accepted {bad:?}");
            };
            assert!(message.starts_with("token:"));
            assert!(!message.contains(SECRET));
        }
    }
}
