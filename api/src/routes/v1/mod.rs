//! The integrator setup API, `/v1/projects/...`: one module per area.
//!
//! Every handler authenticates ([`crate::auth`]), validates, writes the intent and
//! its jobs in one transaction, and answers: 201 for what is created at once, 202
//! for what jobs carry out, 200 for reads. Nothing here calls Telegram.
//!
//! Bodies are JSON objects read with [`JsonBody`]: a body that is not a JSON object
//! is 400; a missing field or a value of the wrong type is 422 naming the field.
//! Unknown fields are ignored.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request},
    http::StatusCode,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub mod access_codes;
pub mod access_tokens;
pub mod admins;
pub mod bot;
pub mod chats;
pub mod checkout;
pub mod grants;
pub mod members;
pub mod plans;
pub mod projects;
pub mod stars;
pub mod stripe;

/// A JSON object body, deserialized into `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            _ => ApiError::BadRequest(e.body_text()),
        })?;
        parse(&bytes).map(JsonBody)
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let Json(value) = Json::<serde_json::Value>::from_bytes(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {}", reason(&e))))?;
    if !value.is_object() {
        return Err(ApiError::BadRequest("the body must be a JSON object".into()));
    }
    if let Some(path) = nul_path(&value) {
        return Err(ApiError::Unprocessable(format!(
            "{path}: contains a NUL character (U+0000), which cannot be stored"
        )));
    }
    // Deserialize from the bytes again (not the Value) so that the error names the
    // field: axum's `from_bytes` tracks the path.
    Json::<T>::from_bytes(bytes).map(|Json(t)| t).map_err(|e| ApiError::Unprocessable(reason(&e)))
}

/// The path (`name`, `chats[2]`, `a.b`) of the first string, or object key, that holds
/// a NUL character: Postgres cannot store one in text or JSON. Walked without recursion.
pub(crate) fn nul_path(value: &serde_json::Value) -> Option<String> {
    let mut stack: Vec<(&serde_json::Value, String)> = vec![(value, String::new())];
    let join = |path: &str, key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    while let Some((v, path)) = stack.pop() {
        match v {
            serde_json::Value::String(s) if s.contains('\0') => {
                return Some(if path.is_empty() { "body".into() } else { path });
            }
            serde_json::Value::Array(items) => {
                stack.extend(items.iter().enumerate().map(|(i, item)| (item, format!("{path}[{i}]"))))
            }
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    if key.contains('\0') {
                        return Some(join(&path, &key.replace('\0', "\\u0000")));
                    }
                    stack.push((item, join(&path, key)));
                }
            }
            _ => {}
        }
    }
    None
}

/// axum's rejection text without its generic prefix.
fn reason(e: &axum::extract::rejection::JsonRejection) -> String {
    let text = e.body_text();
    match text.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("Failed to ") => rest.to_string(),
        _ => text,
    }
}

/// A path segment that must parse, or the thing it names does not exist (404).
fn parse_segment<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, ApiError> {
    value.parse().map_err(|_| ApiError::NotFound(format!("no such {what}")))
}

/// A Telegram user id: a positive integer.
fn telegram_user_id(id: i64) -> Result<i64, ApiError> {
    if id > 0 {
        Ok(id)
    } else {
        Err(ApiError::Unprocessable("telegram_user_id: expected a positive Telegram user id".into()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[allow(dead_code)]
        handle: String,
        #[allow(dead_code)]
        count: i64,
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_a_bad_request() {
        for bad in [&b"{nope"[..], b"", b"[]", b"42", b"\"x\""] {
            assert!(matches!(parse::<Sample>(bad), Err(ApiError::BadRequest(_))), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_missing_or_mistyped_field_is_unprocessable_and_named() {
        let Err(ApiError::Unprocessable(m)) = parse::<Sample>(br#"{"count": 1}"#) else {
            panic!("expected 422");
        };
        assert!(m.contains("handle"), "{m}");
        let Err(ApiError::Unprocessable(m)) = parse::<Sample>(br#"{"handle": "a", "count": "x"}"#) else {
            panic!("expected 422");
        };
        assert!(m.contains("count"), "{m}");
    }

    #[test]
    fn a_nul_character_is_unprocessable_and_its_field_named() {
        let Err(ApiError::Unprocessable(m)) = parse::<Sample>(br#"{"handle": "a\u0000b", "count": 1}"#) else {
            panic!("expected 422");
        };
        assert!(m.starts_with("handle:"), "{m}");
        let value = serde_json::json!({"plan": {"chats": ["x", "y\u{0}"]}});
        assert_eq!(nul_path(&value).as_deref(), Some("plan.chats[1]"));
        assert_eq!(nul_path(&serde_json::json!({"a": "fine"})), None);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert!(parse::<Sample>(br#"{"handle": "a", "count": 1, "extra": true}"#).is_ok());
    }
}
