//! `POST /v1/projects/{project_id}/stars/refunds`: the owner refunds a Telegram
//! Stars payment. Enqueues `refund-stars-payment` (refundStarPayment, then the access
//! it paid for ends) and answers 202.

use super::Data;
use axum::{extract::State, http::StatusCode};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    catalog::refund_stars_payment::RefundStarsPayment,
    queue::{self, RunAt},
    store,
};
use serde::{Deserialize, Serialize};

use super::{JsonBody, telegram_user_id};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefundBody {
    telegram_user_id: i64,
    telegram_payment_charge_id: String,
}

/// The answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RefundAccepted {
    telegram_payment_charge_id: String,
    state: &'static str,
}

/// Accepts a refund.
pub async fn refund(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefundBody>,
) -> Result<(StatusCode, Data<RefundAccepted>), ApiError> {
    key.require(Ability::PaymentsWrite)?;
    let user = telegram_user_id(body.telegram_user_id)?;
    let charge = body.telegram_payment_charge_id.trim();
    if charge.is_empty() || charge.len() > 256 {
        return Err(ApiError::Unprocessable("telegram_payment_charge_id: expected a charge id".into()));
    }
    let mut tx = state.pool.begin().await?;
    match store::payments::stars_charge_payer(&mut *tx, key.project_id, charge).await? {
        None => return Err(ApiError::NotFound("no such Stars payment in this project".into())),
        Some(payer) if payer != user => {
            return Err(ApiError::Unprocessable("telegram_user_id: this payment was made by another user".into()));
        }
        Some(_) => {}
    }
    let job = RefundStarsPayment { project_id: key.project_id, telegram_user_id: user, charge_id: charge.to_string() };
    queue::enqueue(&mut tx, &job, RunAt::Now).await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Data(RefundAccepted { telegram_payment_charge_id: charge.to_string(), state: "refunding" }),
    ))
}
