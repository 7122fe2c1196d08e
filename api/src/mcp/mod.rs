//! The MCP server at `/mcp`: the integrator API as Model Context Protocol tools, with
//! the same keys, abilities and error codes as `/v1`, so an agent can do what an
//! integrator can and nothing more.
//!
//! - Transport: rmcp's streamable HTTP server, stateless (no sessions: any api process
//!   answers any request) with JSON answers.
//! - Authentication: `Authorization: Bearer <api key>` on every request, checked by
//!   [`crate::auth::use_key`] in the MCP bucket (`GATEHOUSE_MCP_CALLS_PER_MINUTE`
//!   requests per key per minute, counted in the database across processes). No key or
//!   a key not in force is HTTP 401 `AUTHENTICATION_REQUIRED`. Over the limit, a
//!   `tools/call` is a tool error `RATE_LIMITED` (with `retry_after_secs`) and any other
//!   request HTTP 429 with `Retry-After`.
//! - [`tools`]: `tools/list` shows only the tools the key's abilities allow; each tool
//!   calls its `/v1` route's function; a failure is a tool error (`isError`) whose
//!   structured content is `/v1`'s `{"error":{"code",…}}`. Writes take an
//!   `idempotency_key`, kept like `/v1`'s `Idempotency-Key`.
//! - [`resources`]: abilities, error codes, event types, subscription states.
//! - Every `tools/call` is recorded in the audit trail (tool, key, outcome).

pub mod resources;
pub mod tools;

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, header::WWW_AUTHENTICATE},
    middleware::Next,
    response::{IntoResponse, Response},
};
use gatehouse_jobs::{crypto, store};
use rmcp::{
    ErrorData, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
        ResourceContents, ServerCapabilities, ServerConfig, Tool,
    },
    service::{RequestContext, RoleServer},
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::{
    AppState, MAX_BODY,
    auth::{Bucket, ProjectKey, bearer, use_key},
    error::ApiError,
    idempotency,
};

/// Who is calling, as the authentication middleware found them.
#[derive(Debug, Clone)]
enum Caller {
    /// A key in force, under its limit.
    Key(ProjectKey),
    /// A key over its limit: wait this many seconds. The key, when it could be read, for the audit.
    Limited { wait: u64, key: Option<store::api_keys::ApiKey> },
}

/// What the middleware leaves for the handler.
#[derive(Debug, Clone)]
struct Authenticated {
    caller: Caller,
    /// The credential's digest: the owner of its idempotency keys.
    owner: Vec<u8>,
}

/// The `/mcp` service: rmcp's streamable HTTP transport behind the authentication.
pub fn router(state: AppState) -> Router<AppState> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_BODY)
        // Every request carries a bearer key (never a cookie), so a page reached
        // through DNS rebinding gains nothing: any Host may call.
        .disable_allowed_hosts();
    let handler_state = state.clone();
    let service = StreamableHttpService::new(
        move || Ok(Gatehouse { state: handler_state.clone() }),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new().fallback_service(service).layer(axum::middleware::from_fn_with_state(state, authenticate))
}

/// Checks the key on every request (see the module docs).
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = match bearer(request.headers()) {
        Ok(given) => given.to_string(),
        Err(e) => return unauthorized(e),
    };
    let owner = crypto::digest(&given);
    let caller = match use_key(&state, &given, Bucket::Mcp, state.config.http.mcp_rate_limit).await {
        Ok(key) => Caller::Key(key),
        Err(ApiError::RateLimited(wait)) => {
            let key = store::api_keys::find(&state.pool, &owner, state.clock.now()).await.ok().flatten();
            Caller::Limited { wait, key }
        }
        Err(e @ ApiError::Unauthorized(_)) => return unauthorized(e),
        Err(e) => return error_response(e),
    };
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else { return error_response(ApiError::TooLarge) };
    if let Caller::Limited { wait, .. } = &caller
        && !is_tool_call(&bytes)
    {
        return error_response(ApiError::RateLimited(*wait));
    }
    parts.extensions.insert(Authenticated { caller, owner });
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether a request body is a JSON-RPC `tools/call`.
fn is_tool_call(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Method>(body).ok().and_then(|m| m.method).is_some_and(|m| m == "tools/call")
}

fn error_response(e: ApiError) -> Response {
    if matches!(e, ApiError::Internal(_) | ApiError::Unavailable(_)) {
        tracing::error!(error = ?e, "an MCP request failed");
    }
    e.into_response()
}

fn unauthorized(e: ApiError) -> Response {
    let mut response = e.into_response();
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The MCP server handler: one per request (the transport is stateless).
#[derive(Clone)]
struct Gatehouse {
    state: AppState,
}

/// The caller the middleware authenticated (always there behind it).
fn caller(context: &RequestContext<RoleServer>) -> Result<Authenticated, ErrorData> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Authenticated>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("the request was not authenticated", None))
}

/// A tool error carrying `/v1`'s error object.
fn tool_error(e: &ApiError) -> Value {
    let mut error = e.body();
    if let ApiError::RateLimited(wait) = e {
        error["retry_after_secs"] = json!(wait);
    }
    json!({ "error": error })
}

impl ServerHandler for Gatehouse {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("gatehouse", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Gatehouse runs paid Telegram memberships: plans, members, access codes, deep links. \
                 Every tool takes project_id (your api key's project: get_project). Writes are carried out \
                 by jobs: they answer job_id(s) to follow with get_job_status. Errors carry a stable code \
                 (resource gatehouse://error-codes) and say how to fix the call.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let Caller::Key(key) = caller(&context)?.caller else {
            return Err(ErrorData::internal_error("over the rate limit", None));
        };
        let tools = tools::TOOLS
            .iter()
            .filter(|t| key.holds(t.ability))
            .map(|t| Tool::new(t.name, t.description, Arc::new(t.input_schema())))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let authenticated = caller(&context)?;
        let args = request.arguments.unwrap_or_default();
        let name = request.name.as_ref();
        let key = match &authenticated.caller {
            Caller::Limited { wait, key } => {
                let e = ApiError::RateLimited(*wait);
                if let Some(key) = key {
                    self.audit(key.project_id, key.id, name, &args, e.code().as_str(), None).await;
                }
                return Ok(CallToolResult::structured_error(tool_error(&e)).into());
            }
            Caller::Key(key) => key,
        };
        let (result, code, replayed) = match self.call(key, &authenticated.owner, name, &args).await {
            Ok((value, replayed)) => (CallToolResult::structured(value), "ok", replayed),
            Err(Failure::Api(e)) => {
                if matches!(e, ApiError::Internal(_) | ApiError::Unavailable(_) | ApiError::Misconfigured(_)) {
                    tracing::error!(error = ?e, tool = name, "an MCP tool failed");
                }
                (CallToolResult::structured_error(tool_error(&e)), e.code().as_str(), false)
            }
            Err(Failure::Replayed(value)) => (CallToolResult::structured_error(value), "replayed_error", true),
        };
        self.audit(key.project_id, key.key_id, name, &args, code, Some(replayed)).await;
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = resources::RESOURCES
            .iter()
            .map(|r| Resource::new(r.uri, r.name).with_description(r.description).with_mime_type("application/json"))
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let resource = resources::find(&request.uri)
            .ok_or_else(|| ErrorData::resource_not_found(format!("no such resource: {}", request.uri), None))?;
        let text = serde_json::to_string_pretty(&(resource.document)()).unwrap_or_default();
        let contents = ResourceContents::text(text, resource.uri).with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

/// Why a call did not succeed.
enum Failure {
    /// An error now.
    Api(ApiError),
    /// The recorded error answer of the first call with the same idempotency key.
    Replayed(Value),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl Gatehouse {
    /// Runs a tool: the project checked, then its `/v1` function, once per
    /// idempotency key. Returns the answer and whether it is a replay.
    async fn call(
        &self,
        key: &ProjectKey,
        owner: &[u8],
        name: &str,
        args: &Map<String, Value>,
    ) -> Result<(Value, bool), Failure> {
        let tool = tools::find(name).ok_or_else(|| ApiError::NotFound(format!("no such tool: {name}")))?;
        tools::check_project(key, args)?;
        let idempotency_key = if tool.write { idempotency_key_of(args)? } else { None };
        let Some(idempotency_key) = idempotency_key else {
            return Ok((tools::run(&self.state, key, tool, args, None).await?, false));
        };
        let stored_key = format!("mcp:{name}:{idempotency_key}");
        let digest = {
            let mut without_key = args.clone();
            without_key.remove("idempotency_key");
            let mut h = Sha256::new();
            h.update(name.as_bytes());
            h.update([0]);
            h.update(canonical(&Value::Object(without_key)).as_bytes());
            h.finalize().to_vec()
        };
        match idempotency::claim_or_replay(&self.state, owner, &stored_key, &digest).await? {
            idempotency::Claimed::Recorded(answer) => {
                let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                return if answer.status < 400 { Ok((value, true)) } else { Err(Failure::Replayed(value)) };
            }
            idempotency::Claimed::First => {}
        }
        let result = tools::run(&self.state, key, tool, args, Some(idempotency_key)).await;
        match &result {
            Err(e) if e.status().is_server_error() => idempotency::release(&self.state, owner, &stored_key).await,
            Err(e) => {
                let body = tool_error(e).to_string();
                idempotency::record(&self.state, owner, &stored_key, e.status().as_u16(), body.as_bytes(), None).await
            }
            Ok(value) => {
                let body = value.to_string();
                idempotency::record(&self.state, owner, &stored_key, 200, body.as_bytes(), None).await
            }
        }
        Ok((result?, false))
    }

    /// Records the call in the audit trail; a failure to record is logged, never answered.
    async fn audit(
        &self,
        project_id: uuid::Uuid,
        key_id: uuid::Uuid,
        tool: &str,
        args: &Map<String, Value>,
        outcome: &str,
        replayed: Option<bool>,
    ) {
        let member = args.get("telegram_user_id").and_then(Value::as_i64);
        // A name the client made up is not stored as it came (it may be long).
        let tool = tools::find(tool).map_or("unknown_tool", |t| t.name);
        let call = store::audit::ToolCall { project_id, key_id, tool, outcome, telegram_user_id: member, replayed };
        if let Err(e) = store::audit::record_tool_call(&self.state.pool, &call).await {
            tracing::warn!(error = %e, tool, "could not record an MCP call in the audit trail");
        }
    }
}

/// A write's `idempotency_key`, checked as `/v1`'s `Idempotency-Key` header is.
fn idempotency_key_of(args: &Map<String, Value>) -> Result<Option<&str>, ApiError> {
    match args.get("idempotency_key") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(k)) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.as_str()))
        }
        Some(_) => Err(ApiError::Unprocessable("idempotency_key: expected 1 to 255 visible ASCII characters".into())),
    }
}

/// `value` as JSON text with every object's keys sorted, so that the same arguments
/// written in another order are the same request.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> =
                keys.into_iter().map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&map[k]))).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_arguments_in_another_order_are_one_request() {
        let a = json!({"b": 1, "a": {"y": [1, {"q": 2, "p": 1}], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, {"p": 1, "q": 2}]}, "b": 1});
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&a), canonical(&json!({"b": 2, "a": {}})));
    }

    #[test]
    fn only_a_tools_call_is_a_tool_call() {
        assert!(is_tool_call(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#));
        assert!(!is_tool_call(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#));
        assert!(!is_tool_call(b"not json"));
    }
}
