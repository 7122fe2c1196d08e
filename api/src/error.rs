//! [`ApiError`]: every error the api answers with, mapped to HTTP here and only here.
//!
//! The body is always `{"error":{"code":"…","message":"…","fields"?:[…],"reason"?:"…"}}`
//! with one of the stable codes of [`Code`]: clients branch on the code, people read the
//! message. The TGmembership-compatible routes and the MCP tools answer the same errors
//! in their own envelopes, from [`ApiError::status`], [`ApiError::code`] and the message.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use gatehouse_jobs::access::Ability;
use serde_json::json;

/// The stable error codes of `/v1` (and of the MCP tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 401: no credentials, or wrong ones.
    AuthenticationRequired,
    /// 403: the key lacks the ability the route needs (named in the message).
    TokenMissingAbility,
    /// 404: no such thing, or a thing of another project (existence is never leaked).
    ResourceNotFound,
    /// 400, 413 or 422: the request is malformed or a value is invalid (see `fields`).
    ValidationFailed,
    /// 409: conflicts with what exists.
    Conflict,
    /// 429: too many requests; `Retry-After` says when to try again.
    RateLimited,
    /// 503: the database is unavailable; try again.
    Unavailable,
    /// 500: something went wrong on our side.
    Internal,
}

impl Code {
    /// Every code, in the documented order.
    pub const EVERY: [Code; 8] = [
        Code::AuthenticationRequired,
        Code::TokenMissingAbility,
        Code::ResourceNotFound,
        Code::ValidationFailed,
        Code::Conflict,
        Code::RateLimited,
        Code::Unavailable,
        Code::Internal,
    ];

    /// The code as sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::AuthenticationRequired => "AUTHENTICATION_REQUIRED",
            Code::TokenMissingAbility => "TOKEN_MISSING_ABILITY",
            Code::ResourceNotFound => "RESOURCE_NOT_FOUND",
            Code::ValidationFailed => "VALIDATION_FAILED",
            Code::Conflict => "CONFLICT",
            Code::RateLimited => "RATE_LIMITED",
            Code::Unavailable => "UNAVAILABLE",
            Code::Internal => "INTERNAL",
        }
    }
}

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the key lacks an ability.
    #[error("this api key lacks the ability {0}")]
    MissingAbility(Ability),
    /// 404: no such thing.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("request body is larger than {} bytes", crate::MAX_BODY)]
    TooLarge,
    /// 422: well-formed but invalid; a message starting `field: ` names the field.
    #[error("{0}")]
    Unprocessable(String),
    /// 422 with a machine-readable reason, e.g. `no_bot_attached`.
    #[error("{message}")]
    Refused {
        /// What is wrong, for people.
        message: String,
        /// The fields at fault.
        fields: Vec<String>,
        /// Why, for programs.
        reason: &'static str,
    },
    /// 429: over the key's request limit; try again after this many seconds.
    #[error("too many requests for this api key: try again in {0} s")]
    RateLimited(u64),
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
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::MissingAbility(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) | ApiError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Misconfigured(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code.
    pub fn code(&self) -> Code {
        match self {
            ApiError::BadRequest(_) | ApiError::TooLarge | ApiError::Unprocessable(_) | ApiError::Refused { .. } => {
                Code::ValidationFailed
            }
            ApiError::Unauthorized(_) => Code::AuthenticationRequired,
            ApiError::MissingAbility(_) => Code::TokenMissingAbility,
            ApiError::NotFound(_) => Code::ResourceNotFound,
            ApiError::Conflict(_) => Code::Conflict,
            ApiError::RateLimited(_) => Code::RateLimited,
            ApiError::Misconfigured(_) | ApiError::Internal(_) => Code::Internal,
            ApiError::Unavailable(_) => Code::Unavailable,
        }
    }

    /// The fields at fault, when the error is about some.
    pub fn fields(&self) -> Vec<String> {
        match self {
            ApiError::Refused { fields, .. } => fields.clone(),
            ApiError::Unprocessable(message) | ApiError::BadRequest(message) => {
                leading_field(message).map(|f| vec![f.to_string()]).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// The machine-readable reason, when there is one.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            ApiError::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The `{"code","message","fields"?,"reason"?}` object.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({"code": self.code().as_str(), "message": self.to_string()});
        let fields = self.fields();
        if !fields.is_empty() {
            error["fields"] = json!(fields);
        }
        if let Some(reason) = self.reason() {
            error["reason"] = json!(reason);
        }
        error
    }
}

/// The field a message like `chat_ids: not chats of this project` (or serde's
/// ``missing field `price` ``) is about.
fn leading_field(message: &str) -> Option<&str> {
    if let Some(rest) = message.strip_prefix("missing field `") {
        return rest.split_once('`').map(|(field, _)| field);
    }
    let (field, _) = message.split_once(": ")?;
    let plausible = !field.is_empty()
        && field.len() <= 64
        && field.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b));
    plausible.then_some(field)
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

impl From<gatehouse_jobs::setup::SetupError> for ApiError {
    fn from(e: gatehouse_jobs::setup::SetupError) -> Self {
        use gatehouse_jobs::setup::SetupError;
        match e {
            SetupError::Invalid(m) => ApiError::Unprocessable(m),
            SetupError::Conflict(m) => ApiError::Conflict(m),
            SetupError::Misconfigured(m) => ApiError::Misconfigured(m),
            SetupError::Db(e) => e.into(),
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
        match &self {
            ApiError::Unavailable(e) => tracing::warn!(error = %e, "database unavailable"),
            ApiError::Internal(e) => tracing::error!(error = %cause_chain(e), "internal error answering a request"),
            _ => {}
        }
        let mut response = (self.status(), Json(json!({"error": self.body()}))).into_response();
        if let ApiError::RateLimited(seconds) = self {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
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
        let status = |e: sqlx::Error| ApiError::from(e).status();
        assert_eq!(status(sqlx::Error::PoolTimedOut), StatusCode::SERVICE_UNAVAILABLE);
        let reset = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(status(reset), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(sqlx::Error::RowNotFound), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(sqlx::Error::Decode("bad".into())), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(sqlx::Error::ColumnNotFound("typo".into())), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_message_naming_a_field_gives_the_field() {
        let e = ApiError::Unprocessable("chat_ids: not chats of this project: 5".into());
        assert_eq!(e.fields(), vec!["chat_ids".to_string()]);
        assert_eq!(e.body()["code"], "VALIDATION_FAILED");
        assert!(ApiError::Unprocessable("a number is out of range".into()).fields().is_empty());
        let missing = ApiError::Unprocessable("missing field `price` at line 1 column 12".into());
        assert_eq!(missing.fields(), vec!["price".to_string()]);
        assert_eq!(
            ApiError::MissingAbility(Ability::PlansWrite).body()["message"],
            "this api key lacks the ability plans:write"
        );
    }
}
