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
    /// 500: something went wrong on our side (the cause chain is logged, never sent).
    #[error("internal error")]
    Internal(#[source] sqlx::Error),
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
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        use gatehouse_jobs::db::{ErrorClass, classify};
        // A constraint the request broke is the client's to fix, not a retry: a
        // unique violation is a conflict with what exists, a missing reference or a
        // failed check is an invalid value. Handlers map the constraints they expect
        // to precise messages first (see `constraint`); these are the fallbacks.
        match classify(&e) {
            ErrorClass::Unavailable | ErrorClass::Contention => ApiError::Unavailable(e),
            ErrorClass::Unstorable => ApiError::Unprocessable(match &e {
                sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")) => {
                    "a text value contains a character that cannot be stored (U+0000)".into()
                }
                sqlx::Error::Database(db) if db.code().as_deref() == Some("22003") => "a number is out of range".into(),
                sqlx::Error::Encode(source) => format!("a value cannot be stored: {source}"),
                _ => "a value cannot be stored".into(),
            }),
            ErrorClass::Constraint => {
                let (code, constraint) = match &e {
                    sqlx::Error::Database(db) => {
                        (db.code().map(|c| c.into_owned()), db.constraint().map(str::to_owned))
                    }
                    _ => (None, None),
                };
                let constraint = constraint.unwrap_or_else(|| "a constraint".into());
                match code.as_deref() {
                    Some("23505") => ApiError::Conflict(format!("already exists ({constraint})")),
                    Some("23503") => {
                        ApiError::Unprocessable(format!("refers to something that does not exist ({constraint})"))
                    }
                    _ => ApiError::Unprocessable(format!("invalid value ({constraint})")),
                }
            }
            ErrorClass::Other => ApiError::Internal(e),
        }
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
        match &self {
            ApiError::Unavailable(e) => tracing::warn!(error = %e, "database unavailable"),
            ApiError::Internal(e) => tracing::error!(error = %cause_chain(e), "internal error answering a request"),
            _ => {}
        }
        (status, Json(json!({"error": {"code": code, "message": self.to_string()}}))).into_response()
    }
}

/// An error and every source under it, `: `-separated.
pub fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_error_is_503_only_when_the_database_is_unreachable() {
        let status = |e: sqlx::Error| ApiError::from(e).parts().0;
        assert_eq!(status(sqlx::Error::PoolTimedOut), StatusCode::SERVICE_UNAVAILABLE);
        let reset = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(status(reset), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(sqlx::Error::RowNotFound), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(sqlx::Error::Decode("bad".into())), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(sqlx::Error::ColumnNotFound("typo".into())), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
