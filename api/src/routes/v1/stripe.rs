//! `PUT /v1/projects/{project_id}/stripe`: the project's Stripe account — its secret
//! API key and its webhook endpoint's signing secret, stored sealed; `GET` shows
//! what is set without any secret.
//!
//! Rotation: when the webhook secret changes, the one it replaces stays accepted
//! (two secrets in force, as while rolling a secret in Stripe's dashboard) until the
//! next change, or at once if `"keep_previous_webhook_secret": false`.

use super::Data;
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    crypto,
    store::{self, stripe_settings::StripeSettings},
};
use serde::{Deserialize, Serialize};

use super::JsonBody;
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body of `PUT .../stripe`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PutStripe {
    secret_key: String,
    webhook_secret: String,
    #[serde(default = "yes")]
    keep_previous_webhook_secret: bool,
}

fn yes() -> bool {
    true
}

/// What is set (no secret is ever shown).
#[derive(Serialize, utoipa::ToSchema)]
pub struct StripeView {
    secret_key_hint: String,
    webhook_url: String,
    previous_webhook_secret_accepted: bool,
    updated_at: DateTime<Utc>,
}

/// Stores the settings.
pub async fn put(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PutStripe>,
) -> Result<(StatusCode, Data<StripeView>), ApiError> {
    key.require(Ability::ProjectWrite)?;
    let secret_key = body.secret_key.trim();
    let webhook_secret = body.webhook_secret.trim();
    if !(secret_key.starts_with("sk_") || secret_key.starts_with("rk_")) || secret_key.len() < 8 {
        return Err(ApiError::Unprocessable("secret_key: expected a Stripe secret key (sk_… or rk_…)".into()));
    }
    if !webhook_secret.starts_with("whsec_") || webhook_secret.len() < 10 {
        return Err(ApiError::Unprocessable("webhook_secret: expected a webhook signing secret (whsec_…)".into()));
    }
    let sealing = state.config.encryption_key()?;
    let mut tx = state.pool.begin().await?;
    let current = store::stripe_settings::get(&mut *tx, key.project_id).await?;
    let previous = match (&current, body.keep_previous_webhook_secret) {
        (Some(current), true) => {
            let unchanged = crypto::open(sealing, &current.webhook_secret_sealed)
                .map(|s| crypto::secrets_equal(s.expose().as_bytes(), webhook_secret.as_bytes()))
                .unwrap_or(false);
            if unchanged {
                current.previous_webhook_secret_sealed.clone()
            } else {
                Some(current.webhook_secret_sealed.clone())
            }
        }
        _ => None,
    };
    let hint: String = secret_key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let settings = StripeSettings {
        secret_key_sealed: crypto::seal(sealing, secret_key),
        secret_key_hint: hint,
        webhook_secret_sealed: crypto::seal(sealing, webhook_secret),
        previous_webhook_secret_sealed: previous,
        updated_at: Utc::now(),
    };
    store::stripe_settings::put(&mut *tx, key.project_id, &settings).await?;
    tx.commit().await?;
    tracing::info!(project_id = %key.project_id, "Stripe settings stored");
    Ok((StatusCode::OK, Data(view(&state, key.project_id, &settings))))
}

/// Shows what is set.
pub async fn show(key: ProjectKey, State(state): State<AppState>) -> Result<Data<StripeView>, ApiError> {
    key.require(Ability::ProjectRead)?;
    let settings = store::stripe_settings::get(&state.pool, key.project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no Stripe settings for this project".into()))?;
    Ok(Data(view(&state, key.project_id, &settings)))
}

fn view(state: &AppState, project_id: uuid::Uuid, settings: &StripeSettings) -> StripeView {
    StripeView {
        secret_key_hint: format!("…{}", settings.secret_key_hint),
        webhook_url: format!("{}/hooks/stripe/{project_id}", state.config.public_url),
        previous_webhook_secret_accepted: settings.previous_webhook_secret_sealed.is_some(),
        updated_at: settings.updated_at,
    }
}
