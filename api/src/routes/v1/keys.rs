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
    Secret,
    access::{self, Ability},
    crypto, store,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Data, JsonBody, Page, PageQuery, Params, parse_segment};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// What a new api key starts with, so that one is recognisable in a leak scan.
pub const API_KEY_PREFIX: &str = "gh_";
/// How many characters of a key are stored in clear to tell keys apart.
const KEY_PREFIX_LEN: usize = 8;
/// How far ahead a key's expiry may be set.
const MAX_KEY_LIFETIME_DAYS: i64 = 3660;

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

/// A fresh key: its secret and what is stored of it.
pub struct Minted {
    /// The key, shown once.
    pub secret: Secret<String>,
    /// SHA-256 of it.
    pub hash: Vec<u8>,
    /// Its first characters.
    pub prefix: String,
}

/// Makes a new random key.
pub fn mint() -> Minted {
    let secret = Secret::new(format!("{API_KEY_PREFIX}{}", crypto::random_secret(32).expose()));
    let hash = crypto::digest(secret.expose());
    let prefix = secret.expose()[..KEY_PREFIX_LEN].to_string();
    Minted { secret, hash, prefix }
}

/// `POST …/keys`.
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Data<KeyView>), ApiError> {
    key.require(Ability::KeysManage)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Unprocessable("name: expected 1 to 100 characters".into()));
    }
    let abilities = abilities(&body.abilities, &key)?;
    let now = state.clock.now();
    if let Some(at) = body.expires_at
        && (at <= now || at > now + chrono::Duration::days(MAX_KEY_LIFETIME_DAYS))
    {
        return Err(ApiError::Unprocessable(format!(
            "expires_at: expected a time in the future, at most {MAX_KEY_LIFETIME_DAYS} days ahead"
        )));
    }
    let minted = mint();
    let id = Uuid::now_v7();
    store::api_keys::insert(
        &state.pool,
        &store::api_keys::NewKey {
            id,
            project_id: key.project_id,
            name,
            key_hash: &minted.hash,
            key_prefix: &minted.prefix,
            abilities: &abilities,
            expires_at: body.expires_at,
        },
    )
    .await?;
    tracing::info!(project_id = %key.project_id, key_id = %id, by = %key.key_id, "api key created");
    let view = KeyView {
        key_id: id,
        name: name.to_string(),
        abilities,
        prefix: minted.prefix,
        created_at: now,
        last_used_at: None,
        expires_at: body.expires_at,
        api_key: Some(minted.secret.expose().clone()),
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
