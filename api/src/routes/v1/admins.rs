//! The owner's admins in the bot: `POST /v1/projects/{project_id}/admins
//! {"telegram_user_id"}` lets that user run the owner commands (`/check`, `/ban`,
//! …); `DELETE …/admins/{telegram_user_id}` takes it back. A job sets the bot's
//! command list for that user's chat (owner commands stay out of the public list).

use super::Data;
use axum::extract::{Path, State};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    catalog::set_owner_commands::SetOwnerCommands,
    queue::{self, RunAt},
    store,
};
use serde::{Deserialize, Serialize};

use super::{JsonBody, parse_segment, telegram_user_id};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body of `POST …/admins`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AdminRequest {
    telegram_user_id: i64,
}

/// The answer of both routes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Admin {
    telegram_user_id: i64,
    admin: bool,
}

/// Adds an admin (idempotent).
pub async fn add(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AdminRequest>,
) -> Result<Data<Admin>, ApiError> {
    key.require(Ability::ProjectWrite)?;
    let telegram_user_id = telegram_user_id(body.telegram_user_id)?;
    let mut tx = state.pool.begin().await?;
    store::admins::add(&mut *tx, key.project_id, telegram_user_id).await?;
    let job = SetOwnerCommands { project_id: key.project_id, telegram_user_id, admin: true };
    queue::enqueue(&mut tx, &job, RunAt::Now).await?;
    tx.commit().await?;
    Ok(Data(Admin { telegram_user_id, admin: true }))
}

/// Removes an admin; 404 if they were not one.
pub async fn remove(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
) -> Result<Data<Admin>, ApiError> {
    key.require(Ability::ProjectWrite)?;
    let telegram_user_id: i64 = parse_segment(&user, "admin")?;
    let mut tx = state.pool.begin().await?;
    if !store::admins::remove(&mut *tx, key.project_id, telegram_user_id).await? {
        return Err(ApiError::NotFound("no such admin".into()));
    }
    let job = SetOwnerCommands { project_id: key.project_id, telegram_user_id, admin: false };
    queue::enqueue(&mut tx, &job, RunAt::Now).await?;
    tx.commit().await?;
    Ok(Data(Admin { telegram_user_id, admin: false }))
}
