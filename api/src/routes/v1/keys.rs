//! `/v1/projects/{project_id}/keys` (`keys:manage`): `POST` makes a key (shown once,
//! stored as its SHA-256), `GET` lists the keys in force (never a secret), `DELETE
//! …/keys/{key_id}` revokes one: it is refused from the next request on.
//!
//! A key never makes a key with an ability it lacks itself.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use gatehouse_jobs::{
    access::{self, Ability},
    setup, store,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Data, JsonBody, Page, PageQuery, Params, parse_segment};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body of `POST …/keys`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    name: String,
    abilities: Vec<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// A key as listed (and as answered when made, with the secret beside it once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    key_id: Uuid,
    name: String,
    abilities: Vec<String>,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    /// Only in the answer to `POST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
}

impl From<store::api_keys::KeyView> for KeyView {
    fn from(k: store::api_keys::KeyView) -> Self {
        KeyView {
            key_id: k.id,
            name: k.name,
            abilities: k.abilities,
            prefix: k.key_prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            api_key: None,
        }
    }
}

/// `POST …/keys`.
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Data<KeyView>), ApiError> {
    key.require(Ability::KeysManage)?;
    let abilities = abilities(&body.abilities, &key)?;
    let now = state.clock.now();
    let created =
        setup::keys::create(&state.pool, key.project_id, &body.name, &abilities, body.expires_at, now).await?;
    let id = created.id;
    tracing::info!(project_id = %key.project_id, key_id = %id, by = %key.key_id, "api key created");
    let view = KeyView {
        key_id: id,
        name: created.name,
        abilities,
        prefix: created.minted.prefix.clone(),
        created_at: now,
        last_used_at: None,
        expires_at: body.expires_at,
        api_key: Some(created.minted.secret.expose().clone()),
    };
    Ok((StatusCode::CREATED, Data(view)))
}

/// The abilities asked for, checked: each one known, none the creating key lacks.
fn abilities(asked: &[String], key: &ProjectKey) -> Result<Vec<String>, ApiError> {
    if asked.is_empty() || asked.len() > Ability::EVERY.len() + 1 {
        return Err(ApiError::Unprocessable("abilities: expected a list of 1 to 16 abilities".into()));
    }
    let mut held = Vec::new();
    for name in asked {
        let wanted = if name == access::ALL {
            Ability::EVERY.to_vec()
        } else {
            vec![
                Ability::parse(name)
                    .ok_or_else(|| ApiError::Unprocessable(format!("abilities: unknown ability {name:?}")))?,
            ]
        };
        for ability in wanted {
            key.require(ability)?;
        }
        if !held.contains(name) {
            held.push(name.clone());
        }
    }
    Ok(held)
}

/// `GET …/keys`.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(page): Params<PageQuery>,
) -> Result<Page<KeyView>, ApiError> {
    key.require(Ability::KeysManage)?;
    // A project has a handful of keys: one read, paged in memory.
    let after: Option<Uuid> = page.after()?;
    let keys: Vec<_> = store::api_keys::of_project(&state.pool, key.project_id)
        .await?
        .into_iter()
        .filter(|k| after.is_none_or(|a| k.id < a))
        .collect();
    let limit = usize::try_from(page.limit()?).unwrap_or(100);
    page.page(keys.into_iter().take(limit + 1).collect(), |k| k.id, KeyView::from)
}

/// `DELETE …/keys/{key_id}`.
pub async fn revoke(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    key.require(Ability::KeysManage)?;
    let key_id: Uuid = parse_segment(&key_id, "api key")?;
    if !store::api_keys::revoke(&state.pool, key.project_id, key_id, state.clock.now()).await? {
        return Err(ApiError::NotFound("no such api key".into()));
    }
    tracing::info!(project_id = %key.project_id, %key_id, by = %key.key_id, "api key revoked");
    Ok(StatusCode::NO_CONTENT)
}
