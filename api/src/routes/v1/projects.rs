//! `POST /v1/projects` (admin token): creates a project and its first api key;
//! `GET /v1/projects/{project_id}` (`project:read`): the project.

use super::Data;
use axum::{extract::State, http::StatusCode};
use gatehouse_jobs::store;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonBody;
use crate::{
    AppState,
    auth::{Admin, ProjectKey},
    error::{ApiError, constraint},
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
    let handle = parse_handle(&body.handle)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::Unprocessable("name: expected 1 to 200 characters".into()));
    }
    if body.owner_telegram_id <= 0 {
        return Err(ApiError::Unprocessable("owner_telegram_id: expected a positive Telegram user id".into()));
    }

    let project_id = Uuid::new_v4();
    let minted = super::keys::mint();
    let mut tx = state.pool.begin().await?;
    store::projects::insert(&mut *tx, project_id, handle, name, body.owner_telegram_id).await.map_err(|e| {
        match constraint(&e) {
            Some(store::projects::PROJECT_HANDLE_KEY) => ApiError::Conflict(format!("handle: {handle:?} is taken")),
            _ => e.into(),
        }
    })?;
    store::api_keys::insert(
        &mut *tx,
        &store::api_keys::NewKey {
            id: Uuid::now_v7(),
            project_id,
            name: "default",
            key_hash: &minted.hash,
            key_prefix: &minted.prefix,
            abilities: &[gatehouse_jobs::access::ALL.to_string()],
            expires_at: None,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%project_id, handle, "project created");
    Ok((StatusCode::CREATED, Data(CreatedProject { project_id, api_key: minted.secret.expose().clone() })))
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

/// A handle as the database allows it: `^[a-z0-9][a-z0-9_-]{1,62}$`.
fn parse_handle(handle: &str) -> Result<&str, ApiError> {
    let bytes = handle.as_bytes();
    let valid = (2..=63).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes[1..].iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
    if valid {
        Ok(handle)
    } else {
        Err(ApiError::Unprocessable(
            "handle: expected 2 to 63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_follow_the_database_rule() {
        for good in ["ab", "a1", "0-club", "my_club-2", &"a".repeat(63)] {
            assert!(parse_handle(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "-ab", "_ab", "Ab", "a b", "añb", "a.b", &"a".repeat(64)] {
            assert!(parse_handle(bad).is_err(), "{bad}");
        }
    }
}
