//! [`ApiError`]: every error the api answers with, mapped to HTTP here and only here.
//! The body is always `{"error":{"code":"…","message":"…"}}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 404: no such thing.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("request body is larger than {} bytes", crate::MAX_BODY)]
    TooLarge,
    /// 422: well-formed but invalid.
    #[error("{0}")]
    Unprocessable(String),
    /// 500: the server is not configured for this request (names the setting, never
    /// its value).
    #[error("the server is misconfigured: {0}")]
    Misconfigured(String),
    /// 503: the database is unavailable; the caller should retry.
    #[error("the database is unavailable, try again")]
    Unavailable(#[source] sqlx::Error),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::Misconfigured(_) => (StatusCode::INTERNAL_SERVER_ERROR, "misconfigured"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        // A constraint the request broke is the client's to fix, not a retry: a
        // unique violation is a conflict with what exists, a missing reference or a
        // failed check is an invalid value. Handlers map the constraints they expect
        // to precise messages first (see `constraint`); these are the fallbacks.
        if let sqlx::Error::Database(db) = &e {
            let constraint = db.constraint().unwrap_or("a constraint");
            match db.code().as_deref() {
                Some("23505") => {
                    return ApiError::Conflict(format!("already exists ({constraint})"));
                }
                Some("23503") => {
                    return ApiError::Unprocessable(format!("refers to something that does not exist ({constraint})"));
                }
                Some("23514") | Some("23502") => {
                    return ApiError::Unprocessable(format!("invalid value ({constraint})"));
                }
                Some("22003") => {
                    return ApiError::Unprocessable("a number is out of range".into());
                }
                _ => {}
            }
        }
        // Every other database error is treated as the database being unavailable:
        // the caller retries, nothing is half-written because writes are transactional.
        ApiError::Unavailable(e)
    }
}

impl From<gatehouse_jobs::config::ConfigError> for ApiError {
    fn from(e: gatehouse_jobs::config::ConfigError) -> Self {
        tracing::error!(variable = e.variable, "configuration needed by a request is missing");
        ApiError::Misconfigured(format!("{} is not set or invalid", e.variable))
    }
}

/// The name of the constraint `e` violated, if it is a constraint violation.
pub fn constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let ApiError::Unavailable(e) = &self {
            tracing::warn!(error = %e, "database unavailable");
        }
        (status, Json(json!({"error": {"code": code, "message": self.to_string()}}))).into_response()
    }
}
