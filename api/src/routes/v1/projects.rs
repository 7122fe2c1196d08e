//! `POST /v1/projects` (admin token): creates a project and its first api key;
//! `GET /v1/projects/{project_id}` (`project:read`): the project.

use super::Data;
use axum::{extract::State, http::StatusCode};
use gatehouse_jobs::{setup, store};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonBody;
use crate::{
    AppState,
    auth::{Admin, ProjectKey},
    error::ApiError,
};

/// The body of `POST /v1/projects`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewProject {
    handle: String,
    name: String,
    owner_telegram_id: i64,
}

/// The answer: the key is shown here once and never again.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedProject {
    project_id: Uuid,
    api_key: String,
}

/// Creates the project and an api key with every ability of that project.
pub async fn create(
    _admin: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewProject>,
) -> Result<(StatusCode, Data<CreatedProject>), ApiError> {
    let mut tx = state.pool.begin().await?;
    let project_id = setup::projects::create(&mut tx, &body.handle, &body.name, body.owner_telegram_id).await?;
    let all = [gatehouse_jobs::access::ALL.to_string()];
    let key = setup::keys::create(&mut *tx, project_id, "default", &all, None, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Data(CreatedProject { project_id, api_key: key.minted.secret.expose().clone() })))
}

/// The answer to `GET /v1/projects/{project_id}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    project_id: Uuid,
    handle: String,
    name: String,
    owner_telegram_id: i64,
    bot_username: Option<String>,
    grace_period_secs: i64,
    reminder_days: Vec<i32>,
}

/// The route `GET /v1/projects/{project_id}`.
pub async fn show(key: ProjectKey, State(state): State<AppState>) -> Result<Data<ProjectView>, ApiError> {
    project(&state, &key).await.map(Data)
}

/// The key's project (`project:read`): the route and the `get_project` MCP tool.
pub async fn project(state: &AppState, key: &ProjectKey) -> Result<ProjectView, ApiError> {
    key.require(gatehouse_jobs::access::Ability::ProjectRead)?;
    let p = store::projects::get(&state.pool, key.project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such project".into()))?;
    Ok(ProjectView {
        project_id: p.id,
        handle: p.handle,
        name: p.name,
        owner_telegram_id: p.owner_telegram_id,
        bot_username: p.bot_username,
        grace_period_secs: p.grace_secs,
        reminder_days: p.reminder_days,
    })
}
