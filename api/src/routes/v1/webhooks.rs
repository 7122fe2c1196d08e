//! `/v1/projects/{project_id}/webhook-endpoints`: where a project's events are pushed.
//!
//! - `POST` registers an endpoint (`url`, `event_types`, `enabled`) and answers its
//!   signing secret, the only time it is shown; `GET` lists them, `GET …/{id}` shows one,
//!   `PATCH …/{id}` changes them (enabling again clears the failure window), `DELETE …/{id}`
//!   removes one with its deliveries.
//! - `POST …/{id}/rotate-secret`: a new secret, shown once; the previous one keeps
//!   signing beside it for 24 hours.
//! - `GET …/{id}/deliveries`: the delivery log, newest first, each with its attempts;
//!   `POST …/{id}/deliveries/{delivery_id}/redeliver`: sends a delivery again (a new
//!   round of attempts with a fresh 3-day window).
//!
//! All of it needs the `webhooks:manage` ability. The URL is checked at the edge
//! (`https`, no credentials, not a loopback, private or link-local literal, not
//! `localhost`) and again when each delivery connects (the resolver's guard).

use std::collections::BTreeSet;

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use gatehouse_jobs::{
    access::Ability,
    catalog::deliver_webhook::DeliverWebhook,
    crypto,
    queue::{self, RunAt},
    store::{self, events::EventType, webhooks::Endpoint},
    webhooks,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Data, JsonBody, Page, PageQuery, Params, parse_segment};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The most endpoints a project may have.
pub const MAX_ENDPOINTS: i64 = 20;

/// The body of `POST …/webhook-endpoints`.
#[derive(Deserialize)]
pub struct CreateEndpoint {
    url: String,
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// The body of `PATCH …/webhook-endpoints/{id}`.
#[derive(Deserialize)]
pub struct ChangeEndpoint {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// An endpoint as the API shows it (never its secret).
fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "event_types": e.event_types,
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "failing_since": e.failing_since,
        "previous_secret_expires_at": e.previous_secret_until,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    })
}

/// The event types asked for: each in the catalog, none twice, at most all of them.
pub(super) fn event_types(given: &[String], field: &str) -> Result<Vec<String>, ApiError> {
    if given.len() > EventType::ALL.len() {
        return Err(ApiError::Unprocessable(format!("{field}: at most {} types", EventType::ALL.len())));
    }
    let mut seen = BTreeSet::new();
    for t in given {
        let t = t.trim();
        if EventType::parse(t).is_none() {
            let shown: String = t.chars().take(64).collect();
            return Err(ApiError::Unprocessable(format!("{field}: {shown:?} is not an event type")));
        }
        seen.insert(t.to_string());
    }
    Ok(seen.into_iter().collect())
}

fn url(state: &AppState, given: &str) -> Result<String, ApiError> {
    let given = given.trim();
    webhooks::check_url(given, state.config.webhooks_allow_private)
        .map(|u| u.to_string())
        .map_err(|why| ApiError::Unprocessable(format!("url: {why}")))
}

async fn owned(state: &AppState, key: &ProjectKey, id: &str) -> Result<Endpoint, ApiError> {
    let id: Uuid = parse_segment(id, "webhook endpoint")?;
    store::webhooks::get(&state.pool, key.project_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such webhook endpoint".into()))
}

/// `POST …/webhook-endpoints`: 201 with the endpoint and its secret (shown once).
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateEndpoint>,
) -> Result<(StatusCode, Data<Value>), ApiError> {
    key.require(Ability::WebhooksManage)?;
    let url = url(&state, &body.url)?;
    let types = event_types(&body.event_types, "event_types")?;
    let existing = store::webhooks::of_project(&state.pool, key.project_id, None, MAX_ENDPOINTS).await?;
    if existing.len() as i64 >= MAX_ENDPOINTS {
        return Err(ApiError::Conflict(format!("a project has at most {MAX_ENDPOINTS} webhook endpoints")));
    }
    let secret = webhooks::new_secret();
    let encryption_key = state.config.encryption_key().map_err(|e| ApiError::Misconfigured(e.to_string()))?;
    let id = Uuid::now_v7();
    let now = state.clock.now();
    let new = store::webhooks::NewEndpoint {
        id,
        project_id: key.project_id,
        url: &url,
        event_types: &types,
        enabled: body.enabled,
        secret_sealed: &crypto::seal(encryption_key, secret.expose()),
    };
    store::webhooks::insert(&state.pool, &new, now).await?;
    let endpoint = store::webhooks::get(&state.pool, key.project_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such webhook endpoint".into()))?;
    let mut answer = endpoint_json(&endpoint);
    answer["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Data(answer)))
}

/// `GET …/webhook-endpoints`: the project's endpoints, paged by id.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(page): Params<PageQuery>,
) -> Result<Page<Value>, ApiError> {
    key.require(Ability::WebhooksManage)?;
    let after: Option<Uuid> = page.after()?;
    let rows = store::webhooks::of_project(&state.pool, key.project_id, after, page.limit()? + 1).await?;
    page.page(rows, |e| e.id, |e| endpoint_json(&e))
}

/// `GET …/webhook-endpoints/{id}`.
pub async fn show(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Data<Value>, ApiError> {
    key.require(Ability::WebhooksManage)?;
    let endpoint = owned(&state, &key, &id).await?;
    Ok(Data(endpoint_json(&endpoint)))
}

/// `PATCH …/webhook-endpoints/{id}`: changes the URL, the types or whether it is enabled.
pub async fn change(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ChangeEndpoint>,
) -> Result<Data<Value>, ApiError> {
    key.require(Ability::WebhooksManage)?;
    let endpoint = owned(&state, &key, &id).await?;
    let url = body.url.as_deref().map(|u| url(&state, u)).transpose()?;
    let types = body.event_types.as_deref().map(|t| event_types(t, "event_types")).transpose()?;
    let change =
        store::webhooks::EndpointChange { url: url.as_deref(), event_types: types.as_deref(), enabled: body.enabled };
    store::webhooks::update(&state.pool, key.project_id, endpoint.id, &change, state.clock.now()).await?;
    let endpoint = owned(&state, &key, &id).await?;
    Ok(Data(endpoint_json(&endpoint)))
}

/// `DELETE …/webhook-endpoints/{id}`: removes it and its delivery log.
pub async fn delete(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Data<Value>, ApiError> {
    key.require(Ability::WebhooksManage)?;
    let endpoint = owned(&state, &key, &id).await?;
    store::webhooks::delete(&state.pool, key.project_id, endpoint.id).await?;
    Ok(Data(json!({"id": endpoint.id, "deleted": true})))
}

/// `POST …/webhook-endpoints/{id}/rotate-secret`: a new secret, shown once; the
/// previous one signs beside it for 24 hours.
pub async fn rotate(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Data<Value>, ApiError> {
    key.require(Ability::WebhooksManage)?;
    let endpoint = owned(&state, &key, &id).await?;
    let secret = webhooks::new_secret();
    let encryption_key = state.config.encryption_key().map_err(|e| ApiError::Misconfigured(e.to_string()))?;
    let now = state.clock.now();
    let until = gatehouse_jobs::clock::plus(now, webhooks::ROTATION_OVERLAP)
        .ok_or_else(|| ApiError::Unprocessable("the clock is at the end of the calendar".into()))?;
    let sealed = crypto::seal(encryption_key, secret.expose());
    store::webhooks::rotate(&state.pool, key.project_id, endpoint.id, &sealed, until, now).await?;
    Ok(Data(json!({"id": endpoint.id, "secret": secret.expose(), "previous_secret_expires_at": until})))
}

/// `GET …/webhook-endpoints/{id}/deliveries`: newest first, each with its attempts.
pub async fn deliveries(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    Params(page): Params<PageQuery>,
) -> Result<Page<Value>, ApiError> {
    key.require(Ability::WebhooksManage)?;
    let endpoint = owned(&state, &key, &id).await?;
    let before: Option<Uuid> = page.after()?;
    let rows = store::webhooks::deliveries_of(&state.pool, endpoint.id, before, page.limit()? + 1).await?;
    let mut logs = Vec::with_capacity(rows.len());
    for d in &rows {
        logs.push(store::webhooks::attempts_of(&state.pool, d.id).await?);
    }
    let rows: Vec<_> = rows.into_iter().zip(logs).collect();
    page.page(
        rows,
        |(d, _)| d.id,
        |(d, attempts)| {
            json!({
                "id": d.id,
                "event_id": d.event_id,
                "state": d.state,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "created_at": d.created_at,
                "log": attempts.iter().map(|a| json!({
                    "attempt": a.attempt,
                    "at": a.at,
                    "status": a.status,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                    "response_head": a.response_head,
                })).collect::<Vec<_>>(),
            })
        },
    )
}

/// `POST …/webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver`: 202, a new round
/// of attempts starting now.
pub async fn redeliver(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, id, delivery_id)): Path<(String, String, String)>,
) -> Result<(StatusCode, Data<Value>), ApiError> {
    key.require(Ability::WebhooksManage)?;
    let endpoint = owned(&state, &key, &id).await?;
    let delivery_id: Uuid = parse_segment(&delivery_id, "delivery")?;
    let mut tx = state.pool.begin().await?;
    let (round, attempt) = store::webhooks::redeliver(&mut tx, endpoint.id, delivery_id, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound("no such delivery".into()))?;
    queue::enqueue(&mut tx, &DeliverWebhook { delivery_id, round, attempt }, RunAt::Now).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Data(json!({"id": delivery_id, "state": "pending"}))))
}
