//! The integrator API, `/v1/projects/...`: one module per area.
//!
//! Every handler authenticates ([`crate::auth`]), asks for the ability it needs,
//! validates, writes the intent and its jobs in one transaction, and answers: 201 for
//! what is created at once, 202 for what jobs carry out, 200 for reads. Nothing here
//! calls Telegram or Stripe.
//!
//! One contract: a success is `{"data": …}` ([`Data`]); a list is
//! `{"data":[…],"next_cursor":…}` ([`Page`], read with [`PageQuery`]: `limit` 1–100,
//! an opaque `cursor`); an error is [`ApiError`]'s `{"error":{"code",…}}`.
//!
//! Bodies are JSON objects read with [`JsonBody`]: a body that is not a JSON object
//! is 400; a missing field or a value of the wrong type is 422 naming the field.
//! Unknown fields are ignored. Query strings are read with [`Params`], with the same
//! errors.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::ApiError;

pub mod access_codes;
pub mod access_tokens;
pub mod admins;
pub mod analytics;
pub mod audit;
pub mod bot;
pub mod chats;
pub mod checkout;
pub mod deep_link;
pub mod events;
pub mod export;
pub mod grants;
pub mod jobs;
pub mod keys;
pub mod member_actions;
pub mod members;
pub mod payments;
pub mod plans;
pub mod projects;
pub mod stars;
pub mod stripe;
pub mod subscribers;
pub mod subscriptions;
pub mod webhooks;

/// A success: `{"data": T}`.
#[derive(Debug, Clone)]
pub struct Data<T>(pub T);

impl<T: Serialize> IntoResponse for Data<T> {
    fn into_response(self) -> Response {
        Json(serde_json::json!({"data": self.0})).into_response()
    }
}

/// One page of a list: `{"data":[…],"next_cursor":…}` (`null` on the last page).
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
}

impl<T: Serialize> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// The paging of a list: `limit` (1 to 100, default 50) and an opaque `cursor` from
/// the previous page's `next_cursor`. Lists are ordered by a unique key and a page
/// starts strictly after its cursor, so rows added while a list is read never make
/// another row appear twice or go missing.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items (1 to 100).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Where to start.
    pub cursor: Option<String>,
}

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 50;

impl PageQuery {
    /// The page size, checked.
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=100).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::Unprocessable("limit: expected 1 to 100".into())),
        }
    }

    /// The position the cursor holds, if one was sent.
    pub fn after<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        let invalid = || ApiError::Unprocessable("cursor: not a cursor this list gave".into());
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map(Some).map_err(|_| invalid())
    }

    /// The page of `rows` (fetched with `limit + 1` rows, so that one more says there
    /// is a next page), its cursor the position `key` gives the last row shown.
    pub fn page<R, T, K: Serialize>(
        &self,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> K,
        view: impl FnMut(R) -> T,
    ) -> Result<Page<T>, ApiError> {
        let limit = usize::try_from(self.limit()?).unwrap_or(100);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| {
                let position = serde_json::to_vec(&key(last)).unwrap_or_default();
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
            })
        } else {
            None
        };
        Ok(Page { data: rows.into_iter().map(view).collect(), next_cursor })
    }
}

/// A query string, deserialized into `T`: a value of the wrong type is 422 naming it.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded_from_str(query).map(Params)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}").parse().map_err(|_| ApiError::BadRequest("the query string is malformed".into()))?,
    )
    .map(|axum::extract::Query(t)| t)
    .map_err(|e| {
        let text = e.body_text();
        ApiError::Unprocessable(match text.split_once(": ") {
            Some((prefix, rest)) if prefix.starts_with("Failed to ") => rest.to_string(),
            _ => text,
        })
    })
}

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
pub fn nul_path(value: &serde_json::Value) -> Option<String> {
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

/// The id of the job `enqueue` wrote, to poll (`GET .../jobs/{job_id}`); `None` when a
/// job with the same idempotency key already existed.
pub fn job_id(enqueued: &gatehouse_jobs::queue::Enqueued) -> Option<String> {
    match enqueued {
        gatehouse_jobs::queue::Enqueued::New(id) => Some(id.clone()),
        gatehouse_jobs::queue::Enqueued::Duplicate => None,
    }
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
