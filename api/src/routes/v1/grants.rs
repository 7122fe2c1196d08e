//! `POST /v1/projects/{project_id}/grants`: gives a user a plan by hand and enqueues
//! `grant-access`; `DELETE .../grants/{grant_id}`: revokes it and enqueues
//! `kick-expired` for the end it now has.
//!
//! `POST` honours an `Idempotency-Key` header: the first request with a key records
//! its answer in the same transaction as the grant; a repeat with the same key and
//! the same body gets that answer back and creates nothing; the same key with a
//! different body is a 409.

use super::Data;
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use chrono::{DateTime, Utc};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    catalog::{grant_access::GrantAccess, kick_expired::KickExpired},
    crypto,
    queue::{self, RunAt},
    store::{self, grants::NewGrant, subscribers::Profile},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{JsonBody, parse_segment, telegram_user_id};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The scope of idempotency keys used to create grants.
const SCOPE: &str = "grants.create";

/// The body of `POST .../grants`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateGrant {
    telegram_user_id: i64,
    plan_id: Uuid,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    note: Option<String>,
}

/// The answer to `DELETE .../grants/{grant_id}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Revoked {
    grant_id: Uuid,
    state: &'static str,
}

/// The route `POST .../grants`.
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateGrant>,
) -> Result<(StatusCode, Data<serde_json::Value>), ApiError> {
    key.require(Ability::MembersWrite)?;
    let idempotency_key = crate::idempotency::key_of(&headers)?;
    grant(&state, &key, idempotency_key, body).await.map(|answer| (StatusCode::ACCEPTED, Data(answer)))
}

/// Creates an active manual grant from now to `expires_at` (or forever) and enqueues
/// `grant-access` (`members:write`); answers `{"grant_id","job_id"}` (`job_id` null
/// when a repeat found the job already enqueued). The route and the `grant_access` MCP tool.
pub async fn grant(
    state: &AppState,
    key: &ProjectKey,
    idempotency_key: Option<&str>,
    body: CreateGrant,
) -> Result<serde_json::Value, ApiError> {
    key.require(Ability::MembersWrite)?;
    let telegram_user_id = telegram_user_id(body.telegram_user_id)?;
    let now = state.clock.now();
    if body.expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::Unprocessable(
            "expires_at: is in the past (expected a future RFC 3339 time, or null for no end)".into(),
        ));
    }
    let note = body.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 1000) {
        return Err(ApiError::Unprocessable("note: expected at most 1000 characters".into()));
    }

    let grant_id = Uuid::new_v4();
    let mut answer = json!({ "grant_id": grant_id });
    let mut tx = state.pool.begin().await?;
    if let Some(idempotency_key) = idempotency_key {
        let digest = request_digest(&body);
        let claimed =
            store::request_keys::claim(&mut *tx, key.project_id, SCOPE, idempotency_key, &digest, &answer).await?;
        if !claimed {
            let stored = store::request_keys::find(&mut *tx, key.project_id, SCOPE, idempotency_key)
                .await?
                .ok_or_else(|| {
                    ApiError::Conflict("Idempotency-Key: a request with this key is being handled, try again".into())
                })?;
            if stored.request_digest != digest {
                return Err(ApiError::Conflict("Idempotency-Key: already used with a different request".into()));
            }
            return Ok(stored.response);
        }
    }
    let manual =
        Manual { grant_id, telegram_user_id, plan_id: body.plan_id, starts_at: now, ends_at: body.expires_at, note };
    let job = insert_manual(&mut tx, key.project_id, &manual).await?;
    answer["job_id"] = json!(super::job_id(&job));
    if let Some(idempotency_key) = idempotency_key {
        store::request_keys::set_response(&mut *tx, key.project_id, SCOPE, idempotency_key, &answer).await?;
    }
    tx.commit().await?;
    Ok(answer)
}

/// A manual grant to make.
pub struct Manual<'a> {
    /// Its id.
    pub grant_id: Uuid,
    /// Who.
    pub telegram_user_id: i64,
    /// Which plan of the project.
    pub plan_id: Uuid,
    /// From when.
    pub starts_at: DateTime<Utc>,
    /// Until when (`None`: for ever).
    pub ends_at: Option<DateTime<Utc>>,
    /// The integrator's note.
    pub note: Option<&'a str>,
}

/// Writes an active manual grant and its `grant-access` job in the caller's
/// transaction: 409 for a banned user, 422 for a plan of another project. The one way
/// a manual grant is made (this route, the TGmembership-compatible `extendMember`).
pub async fn insert_manual(
    tx: &mut sqlx::PgConnection,
    project_id: Uuid,
    manual: &Manual<'_>,
) -> Result<queue::Enqueued, ApiError> {
    let subscriber =
        store::subscribers::upsert(&mut *tx, project_id, manual.telegram_user_id, Profile::default()).await?;
    if subscriber.status == "banned" {
        return Err(ApiError::Conflict("telegram_user_id: this user is banned in this project".into()));
    }
    if store::plans::get(&mut *tx, project_id, manual.plan_id).await?.is_none() {
        return Err(ApiError::Unprocessable("plan_id: no such plan in this project".into()));
    }
    let grant = NewGrant::manual(
        manual.grant_id,
        project_id,
        subscriber.id,
        manual.plan_id,
        manual.starts_at,
        manual.ends_at,
        manual.note,
    );
    store::grants::insert(&mut *tx, &grant).await?;
    Ok(queue::enqueue(&mut *tx, &GrantAccess { grant_id: manual.grant_id }, RunAt::Now).await?)
}

/// Revokes the grant (it ends now, unless it ended earlier) and enqueues the kick.
/// Revoking a revoked grant answers the same and enqueues nothing.
pub async fn revoke(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, grant_id)): Path<(String, String)>,
) -> Result<(StatusCode, Data<Revoked>), ApiError> {
    key.require(Ability::MembersWrite)?;
    let grant_id: Uuid = parse_segment(&grant_id, "grant")?;
    revoke_grant(&state, key.project_id, grant_id).await?;
    Ok((StatusCode::ACCEPTED, Data(Revoked { grant_id, state: "revoked" })))
}

/// Ends the project's grant now (unless it ended earlier) and enqueues the kick; a
/// revoked grant is left as it is. 404 for a grant of no such project.
pub async fn revoke_grant(state: &AppState, project_id: Uuid, grant_id: Uuid) -> Result<(), ApiError> {
    let mut tx = state.pool.begin().await?;
    let grant = store::grants::lock(&mut tx, project_id, grant_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such grant".into()))?;
    if grant.state != "revoked" {
        let ends_at = store::grants::end_now(&mut *tx, grant_id, "revoked", state.clock.now()).await?;
        queue::enqueue(&mut tx, &KickExpired { grant_id, ends_at }, RunAt::Now).await?;
        tx.commit().await?;
        tracing::info!(%project_id, %grant_id, "grant revoked");
    }
    Ok(())
}

/// What identifies a request to create a grant, whatever the JSON looked like.
fn request_digest(body: &CreateGrant) -> Vec<u8> {
    let canonical = json!({
        "telegram_user_id": body.telegram_user_id,
        "plan_id": body.plan_id,
        "expires_at": body.expires_at,
        "note": body.note,
    });
    crypto::digest(&canonical.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(body: serde_json::Value) -> CreateGrant {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn the_same_request_written_differently_has_one_digest() {
        let plan = Uuid::new_v4();
        let a = grant(json!({"telegram_user_id": 5, "plan_id": plan, "expires_at": "2030-01-01T01:00:00+01:00"}));
        let b = grant(json!({"plan_id": plan, "expires_at": "2030-01-01T00:00:00Z", "telegram_user_id": 5, "x": 1}));
        let c = grant(json!({"telegram_user_id": 6, "plan_id": plan, "expires_at": "2030-01-01T00:00:00Z"}));
        assert_eq!(request_digest(&a), request_digest(&b));
        assert_ne!(request_digest(&a), request_digest(&c));
    }
}
