//! `Idempotency-Key` on every `/v1` write (`POST`, `PUT`, `PATCH`, `DELETE`).
//!
//! The first request with a key (per credential) is handled and its answer recorded;
//! the same key with the same method, path, query and body within 24 hours gets that
//! answer again (with `Idempotent-Replayed: true`) and does nothing again; the same
//! key with another request is 409 `CONFLICT`. A repeat that arrives while the first
//! is still being handled waits for its answer (up to 5 s, then 409). An answer of ours that is a 5xx is not recorded:
//! a retry runs again. A request abandoned mid-way (its process died) frees its key
//! after a minute. Routes that must never act twice even across such a death (grants)
//! also record their key in the transaction that acts.

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, header::CONTENT_TYPE},
    middleware::Next,
    response::{IntoResponse, Response},
};
use gatehouse_jobs::{crypto, store};
use sha2::{Digest, Sha256};

use crate::{AppState, MAX_BODY, auth::bearer, error::ApiError};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long an answer is replayed.
const KEPT: chrono::Duration = chrono::Duration::hours(24);
/// How long a request being handled holds its key before it counts as abandoned.
const ABANDONED_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// How long a repeat waits for the answer to the first request still being handled.
const WAIT_FOR_FIRST: std::time::Duration = std::time::Duration::from_secs(5);
const POLL: std::time::Duration = std::time::Duration::from_millis(25);
/// The largest answer recorded.
const MAX_ANSWER: usize = 1024 * 1024;

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
pub fn key_of(headers: &axum::http::HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(HEADER) else { return Ok(None) };
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(Some)
        .ok_or_else(|| ApiError::Unprocessable("Idempotency-Key: expected 1 to 255 visible ASCII characters".into()))
}

/// The middleware.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let write = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if !write || !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let key = match key_of(request.headers()) {
        Ok(Some(key)) => key.to_string(),
        Ok(None) => return next.run(request).await,
        Err(e) => return e.into_response(),
    };
    // Without credentials the route answers 401 by itself; nothing to record.
    let Ok(credential) = bearer(request.headers()) else { return next.run(request).await };
    let owner = crypto::digest(credential);
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else { return ApiError::TooLarge.into_response() };
    let digest = {
        let mut h = Sha256::new();
        h.update(parts.method.as_str().as_bytes());
        h.update([0]);
        h.update(parts.uri.path_and_query().map_or("", |p| p.as_str()).as_bytes());
        h.update([0]);
        h.update(&body);
        h.finalize().to_vec()
    };
    match claim_or_replay(&state, &owner, &key, &digest).await {
        Err(e) => return e.into_response(),
        Ok(Claimed::Recorded(recorded)) => return recorded.into_response(),
        Ok(Claimed::First) => {}
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if response.status().is_server_error() {
        release(&state, &owner, &key).await;
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ANSWER).await else {
        release(&state, &owner, &key).await;
        return ApiError::Internal(sqlx::Error::Protocol("an answer too large to record".into())).into_response();
    };
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    record(&state, &owner, &key, parts.status.as_u16(), &bytes, content_type.as_deref()).await;
    parts.headers.remove(REPLAYED);
    Response::from_parts(parts, Body::from(bytes))
}

/// What [`claim_or_replay`] found.
pub(crate) enum Claimed {
    /// The first use of the key: handle the request, then [`record`] (or [`release`]).
    First,
    /// A repeat of a request already answered: this answer.
    Recorded(Answer),
}

/// An answer recorded for a key.
pub(crate) struct Answer {
    /// The HTTP status it had.
    pub status: u16,
    /// Its body.
    pub body: Vec<u8>,
    /// Its content type.
    pub content_type: Option<String>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status =
            axum::http::StatusCode::from_u16(self.status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body).into_response();
        if let Some(ct) = self.content_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
            response.headers_mut().insert(CONTENT_TYPE, ct);
        }
        response.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
        response
    }
}

/// Claims `key` for `owner` (a credential's digest) and a request of `digest`: the
/// first use is [`Claimed::First`]; a repeat of the same request gets its recorded
/// answer (waiting a few seconds for the first to finish); the key used with another
/// request is 409. The `/v1` middleware and the MCP write tools share it.
pub(crate) async fn claim_or_replay(
    state: &AppState,
    owner: &[u8],
    key: &str,
    digest: &[u8],
) -> Result<Claimed, ApiError> {
    let now = state.clock.now();
    if store::idempotent_requests::claim(&state.pool, owner, key, digest, now, now - KEPT, now - ABANDONED_AFTER)
        .await?
    {
        return Ok(Claimed::First);
    }
    replay(state, owner, key, digest).await.map(Claimed::Recorded)
}

/// Records the answer to the first use of `key`. A failure to record is logged: the
/// request was handled; a retry within a minute is told to wait, after that it runs again.
pub(crate) async fn record(
    state: &AppState,
    owner: &[u8],
    key: &str,
    status: u16,
    body: &[u8],
    content_type: Option<&str>,
) {
    let status = i16::try_from(status).unwrap_or(500);
    if let Err(e) = store::idempotent_requests::answer(&state.pool, owner, key, status, body, content_type).await {
        tracing::warn!(error = %e, "could not record the answer to an Idempotency-Key");
    }
}

/// Frees `key` after a failure of ours (a 5xx): a retry runs again.
pub(crate) async fn release(state: &AppState, owner: &[u8], key: &str) {
    if let Err(e) = store::idempotent_requests::release(&state.pool, owner, key).await {
        tracing::warn!(error = %e, "could not release an Idempotency-Key after a failed request");
    }
}

async fn replay(state: &AppState, owner: &[u8], key: &str, digest: &[u8]) -> Result<Answer, ApiError> {
    // A repeat that arrives while the first request is being handled waits for its
    // answer (a few seconds at most), then gets it like any later repeat.
    let mut waited = std::time::Duration::ZERO;
    let recorded = loop {
        let Some(recorded) = store::idempotent_requests::find(&state.pool, owner, key).await? else {
            return Err(ApiError::Conflict(
                "Idempotency-Key: a request with this key was just handled, try again".into(),
            ));
        };
        if recorded.response_status.is_some() || waited >= WAIT_FOR_FIRST || recorded.request_digest != digest {
            break recorded;
        }
        tokio::time::sleep(POLL).await;
        waited += POLL;
    };
    if !crypto::secrets_equal(&recorded.request_digest, digest) {
        return Err(ApiError::Conflict("Idempotency-Key: already used with a different request".into()));
    }
    let Some(status) = recorded.response_status else {
        return Err(ApiError::Conflict("Idempotency-Key: a request with this key is being handled, try again".into()));
    };
    Ok(Answer {
        status: u16::try_from(status).unwrap_or(500),
        body: recorded.response_body.unwrap_or_default(),
        content_type: recorded.response_type,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn an_idempotency_key_is_short_visible_ascii() {
        let mut headers = HeaderMap::new();
        assert_eq!(key_of(&headers).unwrap(), None);
        headers.insert(HEADER, HeaderValue::from_static("order-42"));
        assert_eq!(key_of(&headers).unwrap(), Some("order-42"));
        headers.insert(HEADER, HeaderValue::from_static("a b"));
        assert!(key_of(&headers).is_err());
        headers.insert(HEADER, HeaderValue::from_str(&"k".repeat(256)).unwrap());
        assert!(key_of(&headers).is_err());
    }
}
