//! `POST /hooks/stripe/{project_id}`: Stripe's webhook.
//!
//! Verifies `Stripe-Signature` against the raw body with the project's webhook
//! secret(s) (any `v1`, constant time, 300 s tolerance; during a rotation either
//! secret in force), stores the event once by `event.id` and enqueues
//! `process-stripe-event` in one transaction, and answers 200. A redelivery answers
//! 200 and enqueues nothing. A bad signature is 400 and stores nothing.

use std::time::Instant;

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
};
use gatehouse_jobs::{
    catalog::process_stripe_event::ProcessStripeEvent,
    crypto, metrics as m,
    payments::stripe,
    queue::{self, RunAt},
    store,
};
use uuid::Uuid;

use crate::{AppState, error::ApiError};

/// The header Stripe signs deliveries in.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// What became of a delivery.
enum Accepted {
    New,
    Duplicate,
}

/// The webhook handler.
pub async fn webhook(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let started = Instant::now();
    let result = accept(&state, &project_id, &headers, body).await;
    let outcome = match &result {
        Ok(Accepted::New) => "accepted",
        Ok(Accepted::Duplicate) => "duplicate",
        Err(ApiError::Unauthorized(_)) => "unauthorized",
        Err(ApiError::NotFound(_)) => "unknown_project",
        Err(ApiError::TooLarge) => "too_large",
        Err(ApiError::Unavailable(_)) => "unavailable",
        Err(_) => "bad_request",
    };
    metrics::counter!(m::WEBHOOKS, "source" => "stripe", "outcome" => outcome).increment(1);
    metrics::histogram!(m::WEBHOOK_LATENCY, "source" => "stripe").record(started.elapsed().as_secs_f64());
    // A wrong signature is answered 400, as Stripe's own libraries do.
    result.map(|_| StatusCode::OK).map_err(|e| match e {
        ApiError::Unauthorized(message) => ApiError::BadRequest(message),
        other => other,
    })
}

async fn accept(
    state: &AppState,
    project_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Accepted, ApiError> {
    let project_id: Uuid = project_id.parse().map_err(|_| ApiError::NotFound("no such project".into()))?;
    let settings = store::stripe_settings::get(&state.pool, project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no Stripe settings for this project".into()))?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => ApiError::BadRequest(e.body_text()),
    })?;
    let key = state.config.encryption_key()?;
    let mut secrets = Vec::with_capacity(2);
    for sealed in std::iter::once(&settings.webhook_secret_sealed).chain(&settings.previous_webhook_secret_sealed) {
        match crypto::open(key, sealed) {
            Ok(secret) => secrets.push(secret),
            Err(_) => tracing::error!(%project_id, "a Stripe webhook secret does not open with the encryption key"),
        }
    }
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    stripe::verify_signature(header, &body, &secrets, now).map_err(|e| ApiError::Unauthorized(e.to_string()))?;

    let event: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    let envelope = stripe::envelope(&event)
        .ok_or_else(|| ApiError::BadRequest("not a Stripe event (id, type, created)".into()))?;
    let mut tx = state.pool.begin().await?;
    let stored = store::payments::insert(
        &mut *tx,
        project_id,
        "stripe",
        &envelope.id,
        &envelope.kind,
        Some(envelope.created),
        &event,
    )
    .await?;
    let Some(event_id) = stored else {
        tracing::debug!(%project_id, event = %envelope.id, "duplicate Stripe delivery");
        return Ok(Accepted::Duplicate);
    };
    if stripe::HANDLED.contains(&envelope.kind.as_str()) {
        queue::enqueue(&mut tx, &ProcessStripeEvent { event_id }, RunAt::Now).await?;
    } else {
        store::payments::processed(&mut *tx, event_id, None, "ignored").await?;
    }
    tx.commit().await?;
    Ok(Accepted::New)
}
