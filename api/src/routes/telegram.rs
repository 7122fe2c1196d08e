//! `POST /hooks/telegram/{bot_id}`: Telegram's webhook.
//!
//! Authenticates the delivery with the bot's secret, checks the body is an Update,
//! and enqueues `process-telegram-update` keyed by `tg:<bot_id>:<update_id>` in one
//! statement. A redelivery answers 200 and enqueues nothing. Any answer but 2xx
//! makes Telegram deliver again later, so a 503 loses nothing.
//!
//! The bot's secret is read from `bots` once per bot and [`SECRET_TTL`]
//! ([`WebhookSecrets`]), not on every update: a delivery whose secret differs from the
//! one remembered is checked against the table before it is refused.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
};
use gatehouse_jobs::{
    catalog::process_telegram_update::ProcessTelegramUpdate,
    metrics as m,
    queue::{self, Enqueued, RunAt},
    store,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{AppState, error::ApiError};

/// The header Telegram sends the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The webhook handler.
pub async fn webhook(
    State(state): State<AppState>,
    Path(bot_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let started = Instant::now();
    let result = match project_bot(&state, &bot_id, &headers).await {
        Ok((bot_id, secret_hash)) => accept(&state, bot_id, secret_hash.as_deref(), &headers, body).await,
        Err(e) => Err(e),
    };
    answer(started, result)
}

/// `POST /hooks/manager`: the platform bot's webhook (`GATEHOUSE_MANAGER_BOT_TOKEN`),
/// authenticated the same way with the secret derived from its token, and handled by
/// the same `process-telegram-update`. Without the setting there is no such route.
pub async fn manager_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let started = Instant::now();
    let result = match state.config.manager_bot.as_ref() {
        Some(manager) => {
            let secret_hash = Sha256::digest(manager.webhook_secret().expose().as_bytes()).to_vec();
            accept(&state, manager.telegram_bot_id, Some(&secret_hash), &headers, body).await
        }
        None => Err(ApiError::NotFound("no such bot".into())),
    };
    answer(started, result)
}

/// A project's bot by the id in the path, with its secret's digest: the one remembered
/// when the delivery's secret matches it, else the table's.
async fn project_bot(state: &AppState, bot_id: &str, headers: &HeaderMap) -> Result<(i64, Option<Vec<u8>>), ApiError> {
    let bot_id: i64 = bot_id.parse().map_err(|_| ApiError::NotFound("no such bot".into()))?;
    if let Some(hash) = state.webhook_secrets.get(bot_id)
        && secret_matches(given_secret(headers), hash.as_deref())
    {
        return Ok((bot_id, hash));
    }
    // Not remembered, or the secret differs from the one remembered (it may be new).
    let bot = store::bots::by_telegram_id(&state.pool, bot_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such bot".into()))?;
    state.webhook_secrets.put(bot_id, bot.webhook_secret_hash.clone());
    Ok((bot_id, bot.webhook_secret_hash))
}

/// How long a bot's webhook secret is remembered. A bot that is disconnected, or whose
/// secret is replaced, has its old secret accepted for at most this long; a new secret is
/// accepted at once.
pub const SECRET_TTL: Duration = Duration::from_secs(2);

/// At most this many bots' secrets are remembered; beyond it, the expired ones are
/// forgotten, and all of them if none has expired.
const SECRETS_REMEMBERED: usize = 100_000;

/// The webhook secrets (their SHA-256 digests) of the project bots whose updates arrived
/// in the last [`SECRET_TTL`], by Telegram bot id. Only bots found in `bots` are
/// remembered, so unknown ids cannot fill it.
#[derive(Default)]
pub struct WebhookSecrets {
    bots: Mutex<HashMap<i64, Remembered>>,
}

/// A bot's secret digest (`None`: it has none yet) and when it was read.
type Remembered = (Option<Vec<u8>>, Instant);

impl WebhookSecrets {
    /// The digest remembered for `bot_id`, if read less than [`SECRET_TTL`] ago.
    fn get(&self, bot_id: i64) -> Option<Option<Vec<u8>>> {
        let bots = self.bots.lock().ok()?;
        bots.get(&bot_id).filter(|(_, read)| read.elapsed() < SECRET_TTL).map(|(hash, _)| hash.clone())
    }

    fn put(&self, bot_id: i64, hash: Option<Vec<u8>>) {
        let Ok(mut bots) = self.bots.lock() else { return };
        if bots.len() >= SECRETS_REMEMBERED && !bots.contains_key(&bot_id) {
            bots.retain(|_, (_, read)| read.elapsed() < SECRET_TTL);
            if bots.len() >= SECRETS_REMEMBERED {
                bots.clear();
            }
        }
        bots.insert(bot_id, (hash, Instant::now()));
    }
}

/// The secret the delivery carries (empty when none).
fn given_secret(headers: &HeaderMap) -> &[u8] {
    headers.get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default()
}

fn answer(started: Instant, result: Result<Enqueued, ApiError>) -> Result<StatusCode, ApiError> {
    let outcome = match &result {
        Ok(Enqueued::New(_)) => "accepted",
        Ok(Enqueued::Duplicate) => "duplicate",
        Err(ApiError::Unauthorized(_)) => "unauthorized",
        Err(ApiError::NotFound(_)) => "unknown_bot",
        Err(ApiError::TooLarge) => "too_large",
        Err(ApiError::Unavailable(_)) => "unavailable",
        Err(_) => "bad_request",
    };
    metrics::counter!(m::WEBHOOKS, "source" => "telegram", "outcome" => outcome).increment(1);
    metrics::histogram!(m::WEBHOOK_LATENCY, "source" => "telegram").record(started.elapsed().as_secs_f64());
    result.map(|_| StatusCode::OK)
}

async fn accept(
    state: &AppState,
    bot_id: i64,
    secret_hash: Option<&[u8]>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Enqueued, ApiError> {
    if !secret_matches(given_secret(headers), secret_hash) {
        return Err(ApiError::Unauthorized("wrong or missing secret token".into()));
    }
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => ApiError::BadRequest(e.body_text()),
    })?;
    let job = parse_update(bot_id, &body)?;
    // One statement, so no transaction around it: a BEGIN and a COMMIT fewer per update.
    let mut conn = state.pool.acquire().await?;
    let enqueued = queue::enqueue(&mut conn, &job, RunAt::Now).await?;
    drop(conn);
    if enqueued == Enqueued::Duplicate {
        tracing::debug!(bot_id, update_id = job.update_id, "duplicate update delivery");
    }
    Ok(enqueued)
}

/// Compares the header's secret with the stored hash in constant time. A bot with
/// no secret yet (not connected) accepts nothing.
fn secret_matches(given: &[u8], stored_hash: Option<&[u8]>) -> bool {
    let Some(stored) = stored_hash else {
        return false;
    };
    if given.is_empty() {
        return false;
    }
    let digest = Sha256::digest(given);
    digest.as_slice().ct_eq(stored).into()
}

/// How deeply an Update may nest. Telegram's nest about ten levels; the bound keeps
/// every accepted update readable by a worker once wrapped in its job (see
/// [`queue::MAX_ARGS_DEPTH`]).
pub const MAX_UPDATE_DEPTH: usize = 64;

/// An Update is a JSON object with an integer `update_id` and at most one payload.
fn parse_update(bot_id: i64, body: &[u8]) -> Result<ProcessTelegramUpdate, ApiError> {
    let update: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    let depth = queue::json_depth(&update);
    if depth > MAX_UPDATE_DEPTH {
        return Err(ApiError::BadRequest(format!(
            "an Update nests {depth} levels deep, more than the {MAX_UPDATE_DEPTH} Gatehouse reads"
        )));
    }
    let object = update.as_object().ok_or_else(|| ApiError::BadRequest("an Update is a JSON object".into()))?;
    let update_id = object
        .get("update_id")
        .and_then(serde_json::Value::as_i64)
        .filter(|id| *id >= 0)
        .ok_or_else(|| ApiError::BadRequest("an Update has a non-negative integer update_id".into()))?;
    let payloads = gatehouse_jobs::catalog::process_telegram_update::UPDATE_TYPES
        .iter()
        .filter(|t| object.contains_key(**t))
        .count();
    if payloads > 1 {
        return Err(ApiError::BadRequest("an Update carries at most one payload".into()));
    }
    Ok(ProcessTelegramUpdate { bot_id, update_id, update })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_its_own_hash() {
        let stored = Sha256::digest(b"s3cret").to_vec();
        assert!(secret_matches(b"s3cret", Some(&stored)));
        assert!(!secret_matches(b"s3cres", Some(&stored)));
        assert!(!secret_matches(b"", Some(&stored)));
        assert!(!secret_matches(b"s3cret", None));
    }

    #[test]
    fn an_update_nested_deeper_than_a_worker_reads_is_refused() {
        let nested = |depth: usize| {
            format!(r#"{{"update_id": 7, "message": {}1{}}}"#, "[".repeat(depth), "]".repeat(depth)).into_bytes()
        };
        // 126 levels passes serde_json's own limit (128) but not ours.
        let Err(ApiError::BadRequest(m)) = parse_update(1, &nested(125)) else { panic!("accepted") };
        assert!(m.contains("nests"), "{m}");
        let job = parse_update(1, &nested(MAX_UPDATE_DEPTH - 3)).expect("within the bound");
        assert!(queue::json_depth(&serde_json::to_value(&job).unwrap()) < queue::MAX_ARGS_DEPTH);
    }

    #[test]
    fn a_body_must_be_an_update() {
        assert!(parse_update(1, br#"{"update_id": 5, "message": {}}"#).is_ok());
        assert!(parse_update(1, br#"{"update_id": 6}"#).is_ok());
        for bad in [
            &br#"[1]"#[..],
            br#"{"message": {}}"#,
            br#"{"update_id": "x"}"#,
            b"not json",
            br#"{"update_id": 1, "message": {}, "chat_member": {}}"#,
        ] {
            assert!(parse_update(1, bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
