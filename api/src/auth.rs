//! Who is calling the integrator API.
//!
//! - [`Admin`]: `Authorization: Bearer $GATEHOUSE_ADMIN_TOKEN`, compared in constant
//!   time. Only creating a project needs it.
//! - [`ProjectKey`]: `Authorization: Bearer <api key>` of the project named by the
//!   route's `{project_id}`. The key is looked up by its SHA-256 (what is stored), so
//!   the lookup reveals nothing useful about the key. A valid key used on another
//!   project's route is answered 404, exactly like a project that does not exist.

use axum::{
    extract::{FromRequestParts, RawPathParams},
    http::{HeaderMap, header::AUTHORIZATION, request::Parts},
};
use gatehouse_jobs::{crypto, store};
use uuid::Uuid;

use crate::{AppState, error::ApiError};

/// The operator, holding the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.config.admin_token()?;
        let given = bearer(&parts.headers)?;
        if crypto::secrets_equal(given.as_bytes(), expected.expose().as_bytes()) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized("wrong admin token".into()))
        }
    }
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

impl FromRequestParts<AppState> for ProjectKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let given = bearer(&parts.headers)?;
        let key = store::api_keys::find(&state.pool, &crypto::digest(given))
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked api key".into()))?;
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| no_such_project())?;
        let named = params
            .iter()
            .find(|(name, _)| *name == "project_id")
            .and_then(|(_, value)| Uuid::parse_str(value).ok())
            .ok_or_else(no_such_project)?;
        if named != key.project_id {
            return Err(no_such_project());
        }
        Ok(ProjectKey { project_id: key.project_id, key_id: key.id, abilities: key.abilities })
    }
}

fn no_such_project() -> ApiError {
    ApiError::NotFound("no such project".into())
}

/// The credentials of `Authorization: Bearer <credentials>` (the scheme is
/// case-insensitive, as HTTP says).
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
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
