//! `POST /v1/projects/{project_id}/plans`: creates a plan granting some of the
//! project's chats; `GET` lists the project's plans.

use super::Data;
use axum::{extract::State, http::StatusCode};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    setup::{self, SetupError, plans::PlanTerms},
    store,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JsonBody, Page, PageQuery, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body of `POST .../plans`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreatePlan {
    name: String,
    price: i64,
    currency: String,
    #[serde(default)]
    stars_price: Option<i64>,
    #[serde(default)]
    duration_days: Option<i64>,
    #[serde(default)]
    recurring: bool,
    #[serde(default)]
    trial_days: Option<i64>,
    chat_ids: Vec<i64>,
}

/// The answer to `POST .../plans`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedPlan {
    plan_id: Uuid,
}

/// One plan in `GET .../plans`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanView {
    plan_id: Uuid,
    name: String,
    price: i64,
    currency: String,
    stars_price: Option<i32>,
    duration_days: Option<i32>,
    recurring: bool,
    trial_days: i32,
    chat_ids: Vec<i64>,
    on_sale: bool,
}

/// The route `POST .../plans`.
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreatePlan>,
) -> Result<(StatusCode, Data<CreatedPlan>), ApiError> {
    create_plan(&state, &key, body).await.map(|plan| (StatusCode::CREATED, Data(plan)))
}

/// Creates the plan and the list of chats it grants (`plans:write`): the route and
/// the `create_plan` MCP tool.
pub async fn create_plan(state: &AppState, key: &ProjectKey, body: CreatePlan) -> Result<CreatedPlan, ApiError> {
    key.require(Ability::PlansWrite)?;
    let terms = PlanTerms {
        name: body.name,
        price: body.price,
        currency: body.currency,
        stars_price: body.stars_price,
        duration_days: body.duration_days,
        recurring: body.recurring,
        trial_days: body.trial_days,
        chat_ids: body.chat_ids,
    };
    let mut tx = state.pool.begin().await?;
    let plan_id = setup::plans::create(&mut tx, key.project_id, &terms).await.map_err(|e| match e {
        SetupError::Invalid(m) if m.starts_with("chat_ids: not chats") => {
            ApiError::Unprocessable(format!("{m} (add them with POST /v1/projects/{}/chats first)", key.project_id))
        }
        other => other.into(),
    })?;
    tx.commit().await?;
    Ok(CreatedPlan { plan_id })
}

/// The route `GET .../plans`.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(page): Params<PageQuery>,
) -> Result<Page<PlanView>, ApiError> {
    list_plans(&state, &key, &page).await
}

/// The project's plans with the Telegram ids of the chats each grants, in the order
/// they were made (`plans:read`): the route and the `list_plans` MCP tool.
pub async fn list_plans(state: &AppState, key: &ProjectKey, page: &PageQuery) -> Result<Page<PlanView>, ApiError> {
    key.require(Ability::PlansRead)?;
    let rows =
        store::plans::page_of_project(&state.pool, key.project_id, page.after()?, None, page.limit()? + 1).await?;
    page.page(
        rows,
        |p| p.plan.number,
        |p| PlanView {
            plan_id: p.plan.id,
            name: p.plan.name,
            price: p.plan.price_minor,
            currency: p.plan.currency,
            stars_price: p.plan.stars_price,
            duration_days: p.plan.duration_days,
            recurring: p.plan.recurring,
            trial_days: p.plan.trial_days,
            chat_ids: p.telegram_chat_ids,
            on_sale: p.plan.on_sale,
        },
    )
}
