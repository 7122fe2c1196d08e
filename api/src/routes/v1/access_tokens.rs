//! `POST /v1/projects/{project_id}/access-tokens {"plan_id","duration_days"?,"expires_at"?}`
//! → 201 `{"token","deep_link_payload"}`: a single-use activation token. The
//! integrator hands `https://t.me/<bot>?start=accesstoken_<token>` to one person;
//! whoever opens it first gets the plan. Only a SHA-256 of the token is stored.

use super::Data;
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{clock::MAX_PERIOD_DAYS, crypto, store};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonBody;
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    plan_id: Uuid,
    #[serde(default)]
    duration_days: Option<i32>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// The answer (the token is shown once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Token {
    /// The token (shown once).
    pub token: String,
    /// `accesstoken_<token>`.
    pub deep_link_payload: String,
}

/// Creates a token.
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Data<Token>), ApiError> {
    key.require(Ability::AccessCodesWrite)?;
    if body.duration_days.is_some_and(|d| !(1..=MAX_PERIOD_DAYS).contains(&i64::from(d))) {
        return Err(ApiError::Unprocessable(format!(
            "duration_days: expected 1 to {MAX_PERIOD_DAYS} days, or null for the plan's"
        )));
    }
    if body.expires_at.is_some_and(|e| e <= state.clock.now()) {
        return Err(ApiError::Unprocessable("expires_at: must be in the future".into()));
    }
    if store::plans::get(&state.pool, key.project_id, body.plan_id).await?.is_none() {
        return Err(ApiError::Unprocessable("plan_id: no such plan in this project".into()));
    }
    let token = issue(&state, key.project_id, body.plan_id, body.duration_days, body.expires_at).await?;
    Ok((StatusCode::CREATED, Data(token)))
}

/// Makes a single-use activation token for the project's plan (already checked to be
/// the project's): the one way a token is made (this route, the
/// TGmembership-compatible `addMember`).
pub async fn issue(
    state: &AppState,
    project_id: Uuid,
    plan_id: Uuid,
    duration_days: Option<i32>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Token, ApiError> {
    // 24 random bytes in URL-safe base64: 32 characters, within a deep link's 64.
    let token = crypto::random_secret(24);
    store::access_codes::insert_token(
        &state.pool,
        project_id,
        plan_id,
        &crypto::digest(token.expose()),
        duration_days,
        expires_at,
    )
    .await?;
    let payload = format!("accesstoken_{}", token.expose());
    Ok(Token { token: token.expose().clone(), deep_link_payload: payload })
}
