//! Bot API parameters, read the way Telegram reads them.
//!
//! A call's parameters may come from the query string, an `application/x-www-form-urlencoded`
//! body, a `multipart/form-data` body or a JSON body. Form, query and multipart values are
//! strings, and nested objects (`reply_markup`, `allowed_updates`, `prices`…) arrive as JSON
//! text; JSON bodies carry typed values. [`Params`] hides the difference.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The merged parameters of one Bot API call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub(crate) Map<String, Value>);

impl Params {
    pub(crate) fn as_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    fn raw(&self, name: &str) -> Option<&Value> {
        match self.0.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// A string parameter (numbers are rendered as text, as Telegram accepts them).
    pub(crate) fn str(&self, name: &str) -> Option<String> {
        match self.raw(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }

    pub(crate) fn req_str(&self, name: &str) -> Result<String, ApiError> {
        self.str(name).ok_or_else(|| ApiError::missing(name))
    }

    /// An integer parameter; `Ok(None)` when absent, 400 when not a number.
    pub(crate) fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid {name} specified"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {name} specified"))),
            Some(_) => Err(ApiError::bad_request(format!("invalid {name} specified"))),
        }
    }

    pub(crate) fn req_i64(&self, name: &str) -> Result<i64, ApiError> {
        self.i64(name)?.ok_or_else(|| ApiError::missing(name))
    }

    /// A boolean parameter; absent means `false`.
    pub(crate) fn bool(&self, name: &str) -> bool {
        match self.raw(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.trim(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
            _ => false,
        }
    }

    /// A JSON-valued parameter (an object or array sent as JSON text in form bodies).
    pub(crate) fn json(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("can't parse {name} JSON object"))),
            Some(v) => Ok(Some(v.clone())),
        }
    }
}

/// Parses `a=1&b=2` into string parameters, later keys overriding earlier ones.
pub(crate) fn parse_urlencoded(bytes: &[u8], into: &mut Map<String, Value>) {
    for (k, v) in form_urlencoded::parse(bytes) {
        into.insert(k.into_owned(), Value::String(v.into_owned()));
    }
}
