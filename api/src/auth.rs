//! Who is calling the integrator API, and what they may do.
//!
//! - [`Admin`]: `Authorization: Bearer $GATEHOUSE_ADMIN_TOKEN`, compared in constant
//!   time. Only creating a project needs it.
//! - [`ProjectKey`]: `Authorization: Bearer <api key>` of the project named by the
//!   route's `{project_id}`. The key is looked up by its SHA-256 (what is stored), so
//!   the lookup reveals nothing useful about the key. A valid key used on another
//!   project's route is answered 404, exactly like a project that does not exist.
//!   Each route then asks for the ability it needs ([`ProjectKey::require`]): 403
//!   `TOKEN_MISSING_ABILITY` naming it.
//! - [`use_key`]: the one way a key is checked, by the `/v1` routes, the
//!   TGmembership-compatible routes and the MCP tools alike: in force (not revoked,
//!   not expired), and under its per-minute request limit, counted in the database so
//!   that the limit holds across every api process.

use axum::{
    extract::{FromRequestParts, RawPathParams},
    http::{HeaderMap, header::AUTHORIZATION, request::Parts},
};
use gatehouse_jobs::{
    access::{self, Ability},
    crypto, store,
};
use uuid::Uuid;

use crate::{AppState, error::ApiError};

/// The operator, holding the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let given = bearer(&parts.headers)?;
        if is_admin(state, given)? { Ok(Admin) } else { Err(ApiError::Unauthorized("wrong admin token".into())) }
    }
}

/// Whether `given` is the admin token (constant-time).
pub fn is_admin(state: &AppState, given: &str) -> Result<bool, ApiError> {
    let expected = state.config.admin_token()?;
    Ok(crypto::secrets_equal(given.as_bytes(), expected.expose().as_bytes()))
}

/// An api key in force, acting for the project in the route's `{project_id}`.
#[derive(Debug, Clone)]
pub struct ProjectKey {
    /// The project the key belongs to (and the route names).
    pub project_id: Uuid,
    /// `api_keys.id`.
    pub key_id: Uuid,
    /// What the key may do (`*` = everything).
    pub abilities: Vec<String>,
}

impl ProjectKey {
    /// Ok if the key holds `ability`, else 403 `TOKEN_MISSING_ABILITY` naming it.
    pub fn require(&self, ability: Ability) -> Result<(), ApiError> {
        if self.holds(ability) { Ok(()) } else { Err(ApiError::MissingAbility(ability)) }
    }

    /// Whether the key holds `ability`.
    pub fn holds(&self, ability: Ability) -> bool {
        access::allows(&self.abilities, ability)
    }
}

/// Which request limit a call counts against.
#[derive(Debug, Clone, Copy)]
pub enum Bucket {
    /// The HTTP api (`/v1` and the TGmembership-compatible routes).
    Http,
    /// MCP tool calls.
    Mcp,
}

impl Bucket {
    fn as_str(self) -> &'static str {
        match self {
            Bucket::Http => "http",
            Bucket::Mcp => "mcp",
        }
    }
}

/// Checks the api key `given`: 401 unless it is in force, 429 (with the seconds to
/// wait) once it has made `limit` calls this minute in `bucket`.
pub async fn use_key(state: &AppState, given: &str, bucket: Bucket, limit: u32) -> Result<ProjectKey, ApiError> {
    let now = state.clock.now();
    let used = store::api_keys::use_key(&state.pool, &crypto::digest(given), bucket.as_str(), now)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown, revoked or expired api key".into()))?;
    if i64::from(used.calls) > i64::from(limit) {
        let wait = (used.window_ends - now).num_seconds().clamp(1, 60);
        return Err(ApiError::RateLimited(wait as u64));
    }
    Ok(ProjectKey { project_id: used.key.project_id, key_id: used.key.id, abilities: used.key.abilities })
}

impl FromRequestParts<AppState> for ProjectKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let given = bearer(&parts.headers)?;
        let key = use_key(state, given, Bucket::Http, state.config.http.key_rate_limit).await?;
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| no_such_project())?;
        let named = params
            .iter()
            .find(|(name, _)| *name == "project_id")
            .and_then(|(_, value)| Uuid::parse_str(value).ok())
            .ok_or_else(no_such_project)?;
        if named != key.project_id {
            return Err(no_such_project());
        }
        Ok(key)
    }
}

fn no_such_project() -> ApiError {
    ApiError::NotFound("no such project".into())
}

/// The credentials of `Authorization: Bearer <credentials>` (the scheme is
/// case-insensitive, as HTTP says).
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || ApiError::Unauthorized("expected the header Authorization: Bearer <credentials>".into());
    let value = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    let (scheme, credentials) = value.trim().split_once(' ').ok_or_else(missing)?;
    let credentials = credentials.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credentials.is_empty() {
        return Err(missing());
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        h
    }

    #[test]
    fn a_bearer_header_gives_its_credentials() {
        assert_eq!(bearer(&headers("Bearer gh_abc")).unwrap(), "gh_abc");
        assert_eq!(bearer(&headers("bearer  gh_abc ")).unwrap(), "gh_abc");
    }

    #[test]
    fn other_schemes_and_empty_credentials_are_refused() {
        for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer  ", "gh_abc"] {
            assert!(bearer(&headers(bad)).is_err(), "{bad}");
        }
        assert!(bearer(&HeaderMap::new()).is_err());
    }
}
