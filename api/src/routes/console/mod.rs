//! `/console`: the operator's console, server-rendered (maud), refreshing itself.
//!
//! - `GET /console`: failed and dead jobs first (kind, attempts, last error and when,
//!   with retry and cancel), then queues by state with the oldest's age, the throughput of
//!   the last hour (from the per-minute rollup), bots (budget use, 429s, pause), chats not
//!   ready and why, the latest actions on members, links to `/metrics`.
//! - `GET/POST /console/sign-in`, `POST /console/sign-out`: see [`access`].
//! - `POST /console/jobs/{id}/retry`, `POST /console/jobs/{id}/cancel`: with the session's
//!   CSRF token; audited (through [`gatehouse_jobs::operator`]).
//! - `GET /console/console.css`.
//!
//! A project key sees and acts on its own project's jobs, bots, chats and audit trail
//! only; the queues and the throughput (every project's) are the admin's.

pub mod access;
mod view;

use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Utc;
use gatehouse_jobs::{
    operator,
    store::{
        self,
        operator::{Filter, State as JobState},
    },
};

use crate::{ApiError, AppState, session};
use access::Session;

/// The console's routes, with the HTML surfaces' security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(dashboard))
        .route("/console/sign-in", get(sign_in_form).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/jobs/{job_id}/retry", post(retry))
        .route("/console/jobs/{job_id}/cancel", post(cancel))
        .route("/console/console.css", get(stylesheet))
        .layer(axum::middleware::from_fn(session::security_headers))
}

/// How many failed and dead jobs the console lists (of each).
const FAILED_LISTED: i64 = 50;

#[derive(serde::Deserialize)]
struct Notice {
    notice: Option<String>,
    job: Option<String>,
}

async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Result<Response, ApiError> {
    let Some(session) = access::session_of(&state, &headers).await? else {
        return Ok(to_sign_in());
    };
    let project = session.operator.project();
    let now = Utc::now();
    let mut failed = operator::list(
        &state.pool,
        &Filter { state: Some(JobState::Dead), project, ..Filter::default() },
        FAILED_LISTED,
    )
    .await?;
    failed.extend(
        operator::list(
            &state.pool,
            &Filter { state: Some(JobState::Failed), project, ..Filter::default() },
            FAILED_LISTED,
        )
        .await?,
    );
    failed.sort_by_key(|j| std::cmp::Reverse(j.done_at));
    let overview = match project {
        None => Some(view::Overview {
            stats: operator::stats(&state.pool, now).await?,
            minutes: store::operator::throughput(&state.pool, now - chrono::TimeDelta::hours(1)).await?,
        }),
        Some(_) => None,
    };
    let page = view::Dashboard {
        now,
        session: &session,
        notice: view::notice(notice.notice.as_deref(), notice.job.as_deref()),
        failed,
        overview,
        bots: operator::bots(&state.pool, &state.config, project).await?,
        chats: store::chats::not_ready_list(&state.pool, project, 50).await?,
        audit: store::audit::latest_member_actions(&state.pool, project, 20).await?,
    };
    Ok(Html(view::dashboard(&page).into_string()).into_response())
}

async fn sign_in_form(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if access::session_of(&state, &headers).await?.is_some() {
        return Ok(Redirect::to("/console").into_response());
    }
    Ok(Html(view::sign_in(None).into_string()).into_response())
}

#[derive(serde::Deserialize)]
struct Credential {
    token: String,
}

async fn sign_in(State(state): State<AppState>, Form(form): Form<Credential>) -> Result<Response, ApiError> {
    let Some(payload) = access::sign_in(&state, &form.token).await? else {
        tracing::info!("console sign-in refused");
        let page = view::sign_in(Some(access::REFUSED)).into_string();
        return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
    };
    let cookie = access::session_cookie(&state, &payload, state.clock.now())?;
    Ok(with_cookie(Redirect::to("/console").into_response(), &cookie))
}

#[derive(serde::Deserialize)]
struct Csrf {
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Csrf>,
) -> Result<Response, ApiError> {
    if let Some(session) = access::session_of(&state, &headers).await?
        && !access::csrf_ok(&state, &session, &form.csrf)?
    {
        return Ok(forbidden("The form is stale: reload the console and try again."));
    }
    Ok(with_cookie(to_sign_in(), &access::sign_out_cookie(&state)))
}

async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    Form(form): Form<Csrf>,
) -> Result<Response, ApiError> {
    act(&state, &headers, &job_id, &form.csrf, Action::Retry).await
}

async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    Form(form): Form<Csrf>,
) -> Result<Response, ApiError> {
    act(&state, &headers, &job_id, &form.csrf, Action::Cancel).await
}

#[derive(Clone, Copy)]
enum Action {
    Retry,
    Cancel,
}

/// A job id as the console takes it: what ULIDs and test ids are made of, bounded.
fn valid_job_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn act(
    state: &AppState,
    headers: &HeaderMap,
    job_id: &str,
    csrf: &str,
    action: Action,
) -> Result<Response, ApiError> {
    let Some(session) = access::session_of(state, headers).await? else {
        return Ok(to_sign_in());
    };
    if !access::csrf_ok(state, &session, csrf)? {
        return Ok(forbidden("The form is stale: reload the console and try again."));
    }
    if !session.operator.can_write() {
        return Ok(forbidden("This key may look (jobs:read) but not act: acting needs jobs:write."));
    }
    if !valid_job_id(job_id) {
        return Err(ApiError::BadRequest("a job id is 1–64 characters of A-Z, a-z, 0-9, '-' and '_'".into()));
    }
    let ids = [job_id.to_string()];
    // A key acts on its own project's jobs only: the filter leaves out any other.
    let filter = Filter { ids: Some(&ids), project: session.operator.project(), ..Filter::default() };
    let actor = session.operator.actor();
    let (acted, done, not_done) = match action {
        Action::Retry => (operator::retry(&state.pool, &filter, &actor).await?, "retried", "not-retried"),
        Action::Cancel => (operator::cancel(&state.pool, &filter, &actor).await?, "cancelled", "not-cancelled"),
    };
    let notice = if acted.jobs.is_empty() { not_done } else { done };
    Ok(Redirect::to(&format!("/console?notice={notice}&job={job_id}")).into_response())
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        view::STYLESHEET,
    )
        .into_response()
}

fn to_sign_in() -> Response {
    Redirect::to("/console/sign-in").into_response()
}

fn forbidden(why: &str) -> Response {
    (StatusCode::FORBIDDEN, Html(view::message("Not allowed", why).into_string())).into_response()
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

// The session type is used by the view.
impl Session {
    /// What the header says about who is signed in.
    pub fn describe(&self) -> String {
        match &self.operator {
            access::Operator::Admin => "operator (admin token)".into(),
            access::Operator::Key { project_id, can_write, .. } => {
                format!("project {project_id} ({})", if *can_write { "jobs:write" } else { "jobs:read" })
            }
        }
    }
}
