//! The project's jobs, for operators: `GET /v1/projects/{project_id}/jobs/failed`
//! (`jobs:read`, a page, newest first), `GET .../jobs/{job_id}` (`jobs:read`: a job's
//! state, to poll what a write enqueued), `POST .../jobs/{job_id}/retry` (`jobs:write`:
//! a failed job runs again now, its attempts counted from zero; 409 unless failed).
//!
//! A job is the project's when its args name the project, or a grant, chat, link,
//! payment event, checkout, message or bot of it (`gatehouse_job_project`); any other
//! job id is 404, exactly like one that does not exist.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use gatehouse_jobs::{access::Ability, store};
use serde::Serialize;

use super::{Data, Page, PageQuery, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// A job as the project sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    job_id: String,
    kind: Option<String>,
    queue: String,
    /// `pending`, `running`, `retrying`, `done` or `failed`.
    state: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl From<store::queue::ProjectJob> for JobView {
    fn from(j: store::queue::ProjectJob) -> Self {
        JobView {
            job_id: j.id,
            kind: j.kind,
            queue: j.queue,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            done_at: j.done_at,
            last_error: j.last_error,
        }
    }
}

/// A job id as the queue writes them (a ULID), or the job does not exist (404).
fn job_id(value: &str) -> Result<String, ApiError> {
    let ulid = value.len() == 26 && value.bytes().all(|b| b.is_ascii_alphanumeric());
    if ulid { Ok(value.to_ascii_uppercase()) } else { Err(ApiError::NotFound("no such job".into())) }
}

/// The route `GET .../jobs/failed`.
pub async fn failed_route(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(page): Params<PageQuery>,
) -> Result<Page<JobView>, ApiError> {
    list_failed(&state, &key, &page).await
}

/// The route `GET .../jobs/{job_id}`.
pub async fn show_route(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Data<JobView>, ApiError> {
    status(&state, &key, &id).await.map(Data)
}

/// The route `POST .../jobs/{job_id}/retry`.
pub async fn retry_route(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
) -> Result<(StatusCode, Data<JobView>), ApiError> {
    retry(&state, &key, &id).await.map(|job| (StatusCode::ACCEPTED, Data(job)))
}

/// The project's failed jobs, newest first: the route and the `list_failed_jobs` MCP tool.
pub async fn list_failed(state: &AppState, key: &ProjectKey, page: &PageQuery) -> Result<Page<JobView>, ApiError> {
    key.require(Ability::JobsRead)?;
    let after: Option<String> = page.after()?;
    let rows =
        store::queue::failed_of_project(&state.pool, key.project_id, after.as_deref(), page.limit()? + 1).await?;
    page.page(rows, |j| j.id.clone(), JobView::from)
}

/// One job of the project: the route and the `get_job_status` MCP tool.
pub async fn status(state: &AppState, key: &ProjectKey, id: &str) -> Result<JobView, ApiError> {
    key.require(Ability::JobsRead)?;
    let id = job_id(id)?;
    store::queue::of_project(&state.pool, key.project_id, &id)
        .await?
        .map(JobView::from)
        .ok_or_else(|| ApiError::NotFound("no such job".into()))
}

/// Runs a failed job of the project again: the route and the `retry_job` MCP tool.
pub async fn retry(state: &AppState, key: &ProjectKey, id: &str) -> Result<JobView, ApiError> {
    key.require(Ability::JobsWrite)?;
    let id = job_id(id)?;
    // The answer is read in the retry's transaction: what the retry made, not what a worker
    // that claimed the row since made of it.
    let mut tx = state.pool.begin().await?;
    if store::queue::retry_failed(&mut *tx, key.project_id, &id).await?.is_none() {
        let job = store::queue::of_project(&mut *tx, key.project_id, &id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such job".into()))?;
        return Err(ApiError::Conflict(format!("only a failed job can be retried; this one is {}", job.state)));
    }
    let job = store::queue::of_project(&mut *tx, key.project_id, &id)
        .await?
        .map(JobView::from)
        .ok_or_else(|| ApiError::NotFound("no such job".into()))?;
    tx.commit().await?;
    tracing::info!(project_id = %key.project_id, job_id = %id, "failed job retried");
    Ok(job)
}
