//! Errors: [`SimError`] at the library boundary, [`ApiError`] for Bot API answers.

use serde_json::{Value, json};

/// Errors returned by the simulator's library functions and its control client.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be bound or served.
    #[error("simulator I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The seed world file could not be read or is invalid.
    #[error("invalid seed world: {0}")]
    Seed(String),
    /// An HTTP request of the control client failed before an answer arrived.
    #[error("HTTP error talking to the simulator: {0}")]
    Http(#[from] reqwest::Error),
    /// The control API refused an action (`status` is the HTTP status, `code` a stable
    /// machine-readable reason such as `LINK_EXPIRED`).
    #[error("control API refused ({status} {code}): {message}")]
    Control {
        /// HTTP status of the answer.
        status: u16,
        /// Stable reason code.
        code: String,
        /// Human-readable explanation.
        message: String,
    },
}

impl SimError {
    /// The control API reason code, if this is a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            SimError::Control { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A Bot API error answer: `{"ok":false,"error_code":N,"description":"…","parameters":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) description: String,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(code: u16, description: impl Into<String>) -> Self {
        Self { code, description: description.into(), retry_after: None }
    }

    pub(crate) fn bad_request(what: impl AsRef<str>) -> Self {
        Self::new(400, format!("Bad Request: {}", what.as_ref()))
    }

    pub(crate) fn forbidden(what: impl AsRef<str>) -> Self {
        Self::new(403, format!("Forbidden: {}", what.as_ref()))
    }

    pub(crate) fn missing(name: &str) -> Self {
        match name {
            "text" => Self::bad_request("message text is empty"),
            _ => Self::bad_request(format!("{name} is empty")),
        }
    }

    pub(crate) fn chat_not_found() -> Self {
        Self::bad_request("chat not found")
    }

    pub(crate) fn too_many_requests(retry_after: u64) -> Self {
        Self {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    pub(crate) fn not_found() -> Self {
        Self::new(404, "Not Found")
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut body = json!({
            "ok": false,
            "error_code": self.code,
            "description": self.description,
        });
        if let Some(retry_after) = self.retry_after {
            body["parameters"] = json!({ "retry_after": retry_after });
        }
        body
    }
}

/// A control API refusal: HTTP status plus a stable reason code.
#[derive(Debug, Clone)]
pub(crate) struct ControlError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl ControlError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_string(), message: message.into() }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", what)
    }

    pub(crate) fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "INVALID", message)
    }
}
