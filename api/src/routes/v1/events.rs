//! `GET /v1/projects/{project_id}/events?after=<sequence>&types=<t1,t2>&limit=<n>`: the
//! project's event stream, oldest first, after a sequence number (0 = from the start),
//! of the types asked for (all when none). The page's cursor is the sequence of its last
//! event (opaque, as every list's): pass it as `cursor` to read on, or pass the last
//! `sequence` seen as `after`. Sequence numbers increase in commit
//! order, so reading on from the last one seen never misses an event.

use axum::extract::State;
use gatehouse_jobs::{access::Ability, store};
use serde::Deserialize;
use serde_json::Value;

use super::{Page, PageQuery, Params, webhooks::event_types};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The query: `after` (a sequence number), `types` (comma-separated), and the paging.
#[derive(Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    types: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// The page of events (needs `webhooks:manage`, which reads events too).
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(query): Params<EventsQuery>,
) -> Result<Page<Value>, ApiError> {
    key.require(Ability::WebhooksManage)?;
    let page = PageQuery { limit: query.limit, cursor: query.cursor };
    let after = match (page.after::<i64>()?, query.after) {
        (Some(cursor), _) => cursor,
        (None, Some(after)) if after >= 0 => after,
        (None, Some(_)) => {
            return Err(ApiError::Unprocessable("after: expected a sequence number (0 or more)".into()));
        }
        (None, None) => 0,
    };
    let types: Vec<String> = match query.types.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => {
            let given: Vec<String> = list.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
            event_types(&given, "types")?
        }
    };
    let rows = store::events::page(&state.pool, key.project_id, after, &types, page.limit()? + 1).await?;
    page.page(rows, |e| e.sequence, |e| e.to_json())
}
