//! `GET /v1/projects/{project_id}/subscriptions` (`members:read`): the project's grants
//! (manual, trial, Stripe, Stars, access code) as they stand now, oldest first,
//! optionally in one `state` or of one `plan_id`; paged.

use axum::extract::State;
use chrono::{DateTime, Utc};
use gatehouse_jobs::{access::Ability, payments::subscription::State as GrantState, store};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Page, PageQuery, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The filters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionQuery {
    /// One state of the subscription state machine.
    pub state: Option<String>,
    /// One plan.
    pub plan_id: Option<Uuid>,
    /// Page size.
    pub limit: Option<i64>,
    /// Where to start.
    pub cursor: Option<String>,
}

/// One subscription.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    /// The grant.
    pub grant_id: Uuid,
    /// Its subscriber.
    pub telegram_user_id: i64,
    /// Its plan.
    pub plan_id: Uuid,
    /// The plan's name.
    pub plan_name: String,
    /// manual, stripe, stars, access_code, trial.
    pub source: String,
    /// Its state.
    pub state: String,
    /// Lets its subscriber in now.
    pub entitled: bool,
    /// Started.
    pub starts_at: DateTime<Utc>,
    /// Ends (null: never).
    pub ends_at: Option<DateTime<Utc>>,
    /// Renews by itself.
    pub recurring: bool,
}

/// The route.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(query): Params<SubscriptionQuery>,
) -> Result<Page<SubscriptionView>, ApiError> {
    key.require(Ability::MembersRead)?;
    if let Some(s) = &query.state
        && GrantState::parse(s).is_none()
    {
        return Err(ApiError::Unprocessable(format!(
            "state: expected one of {}",
            GrantState::ALL.map(GrantState::as_str).join(", ")
        )));
    }
    let page = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
    let rows = store::grants::page(
        &state.pool,
        key.project_id,
        query.state.as_deref(),
        query.plan_id,
        state.clock.now(),
        page.after()?,
        page.limit()? + 1,
    )
    .await?;
    page.page(
        rows,
        |g| (g.listed_at, g.view.grant.id),
        |g| SubscriptionView {
            grant_id: g.view.grant.id,
            telegram_user_id: g.view.telegram_user_id,
            plan_id: g.view.grant.plan_id,
            plan_name: g.view.plan_name,
            source: g.view.grant.source,
            state: g.view.grant.state,
            entitled: g.view.entitled,
            starts_at: g.view.grant.starts_at,
            ends_at: g.view.grant.ends_at,
            recurring: g.view.recurring,
        },
    )
}
