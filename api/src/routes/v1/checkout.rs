//! `POST /v1/projects/{project_id}/checkout`: a user wants a plan. `provider`
//! `stripe` or `stars` records a checkout request and enqueues the job that sends
//! the user a Stripe Checkout URL or a Stars invoice (202); `trial` starts the plan's
//! free trial at once, once per user and plan (202, links follow).
//! `GET .../checkout/{checkout_id}` shows a request's state and, once made, the URL to
//! pay at (for a page that sends the user there itself).

use super::Data;
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    payments::checkout::{self, Provider},
    store::{self, subscribers::Profile},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JsonBody, parse_segment, telegram_user_id};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CheckoutBody {
    telegram_user_id: i64,
    plan_id: Uuid,
    provider: String,
}

/// The answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckoutAccepted {
    #[serde(skip_serializing_if = "Option::is_none")]
    checkout_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant_id: Option<Uuid>,
    provider: String,
}

/// Starts a checkout or a trial.
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CheckoutBody>,
) -> Result<(StatusCode, Data<CheckoutAccepted>), ApiError> {
    key.require(Ability::PaymentsWrite)?;
    let user = telegram_user_id(body.telegram_user_id)?;
    let mut tx = state.pool.begin().await?;
    let plan = store::plans::get(&mut *tx, key.project_id, body.plan_id)
        .await?
        .ok_or_else(|| ApiError::Unprocessable("plan_id: no such plan in this project".into()))?;
    if !plan.on_sale {
        return Err(ApiError::Conflict("plan_id: this plan is no longer on sale".into()));
    }
    let provider = match body.provider.as_str() {
        "stripe" => {
            if store::stripe_settings::get(&mut *tx, key.project_id).await?.is_none() {
                return Err(ApiError::Conflict(format!(
                    "provider: Stripe is not set up (PUT /v1/projects/{}/stripe first)",
                    key.project_id
                )));
            }
            if plan.price_minor <= 0 {
                return Err(ApiError::Conflict("plan_id: the plan has no price to pay with Stripe".into()));
            }
            Some(Provider::Stripe)
        }
        "stars" => {
            if plan.stars_price.is_none() {
                return Err(ApiError::Conflict("plan_id: the plan has no Stars price".into()));
            }
            Some(Provider::Stars)
        }
        "trial" => {
            if plan.trial_days <= 0 {
                return Err(ApiError::Conflict("plan_id: the plan has no free trial".into()));
            }
            None
        }
        _ => return Err(ApiError::Unprocessable("provider: expected \"stripe\", \"stars\" or \"trial\"".into())),
    };
    let payer = store::subscribers::upsert(&mut *tx, key.project_id, user, Profile::default()).await?;
    if payer.status == "banned" {
        return Err(ApiError::Conflict("telegram_user_id: this user is banned in this project".into()));
    }
    let answer = match provider {
        Some(provider) => {
            let id = checkout::begin(&mut tx, key.project_id, payer.id, plan.id, provider).await?;
            CheckoutAccepted { checkout_id: Some(id), grant_id: None, provider: body.provider }
        }
        None => {
            let grant =
                checkout::start_trial(&mut tx, key.project_id, payer.id, plan.id, plan.trial_days, state.clock.now())
                    .await?
                    .ok_or_else(|| {
                        ApiError::Conflict("telegram_user_id: this user has had this plan's trial".into())
                    })?;
            CheckoutAccepted { checkout_id: None, grant_id: Some(grant), provider: body.provider }
        }
    };
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Data(answer)))
}

/// A checkout request as the api shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckoutView {
    checkout_id: Uuid,
    provider: String,
    plan_id: Uuid,
    telegram_user_id: i64,
    state: String,
    url: Option<String>,
}

/// Shows a checkout request.
pub async fn show(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, checkout_id)): Path<(String, String)>,
) -> Result<Data<CheckoutView>, ApiError> {
    key.require(Ability::PaymentsRead)?;
    let checkout_id: Uuid = parse_segment(&checkout_id, "checkout")?;
    let request = store::checkouts::get(&state.pool, checkout_id)
        .await?
        .filter(|r| r.project_id == key.project_id)
        .ok_or_else(|| ApiError::NotFound("no such checkout".into()))?;
    Ok(Data(CheckoutView {
        checkout_id: request.id,
        provider: request.provider,
        plan_id: request.plan_id,
        telegram_user_id: request.telegram_user_id,
        state: request.state,
        url: request.url,
    }))
}
