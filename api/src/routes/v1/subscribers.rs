//! `GET /v1/projects/{project_id}/subscribers` (`members:read`): the project's
//! subscribers, oldest first, filtered by `status` (`active`, `banned`, `entitled`,
//! `lapsed`), `plan_id`, `chat_id` (inside that chat) and `q` (a user id, or the start
//! of a username); paged, or every row as CSV with `Accept: text/csv`.

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use gatehouse_jobs::{access::Ability, store};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    PageQuery, Params,
    export::{self, Field},
};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The filters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriberQuery {
    /// `active`, `banned`, `entitled` or `lapsed`.
    pub status: Option<String>,
    /// Has a grant of this plan.
    pub plan_id: Option<Uuid>,
    /// Inside this chat (Telegram id).
    pub chat_id: Option<i64>,
    /// A user id or the start of a username.
    pub q: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
    /// Where to start.
    pub cursor: Option<String>,
}

/// One subscriber.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriberView {
    /// Telegram user id.
    pub telegram_user_id: i64,
    /// @username.
    pub username: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Language.
    pub language_code: Option<String>,
    /// `active` or `banned`.
    pub status: String,
    /// Never removed.
    pub whitelisted: bool,
    /// Let in now.
    pub entitled: bool,
    /// Until when, if it ends.
    pub entitled_until: Option<DateTime<Utc>>,
    /// First seen.
    pub created_at: DateTime<Utc>,
}

impl From<store::subscribers::Listed> for SubscriberView {
    fn from(s: store::subscribers::Listed) -> Self {
        SubscriberView {
            telegram_user_id: s.telegram_user_id,
            username: s.username,
            first_name: s.first_name,
            language_code: s.language_code,
            status: s.status,
            whitelisted: s.whitelisted,
            entitled: s.entitled,
            entitled_until: s.entitled_until,
            created_at: s.created_at,
        }
    }
}

/// The filter, checked.
pub fn filter(query: &SubscriberQuery) -> Result<store::subscribers::Filter, ApiError> {
    if let Some(status) = &query.status
        && !["active", "banned", "entitled", "lapsed"].contains(&status.as_str())
    {
        return Err(ApiError::Unprocessable("status: expected active, banned, entitled or lapsed".into()));
    }
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 64) {
        return Err(ApiError::Unprocessable("q: expected at most 64 characters".into()));
    }
    Ok(store::subscribers::Filter {
        status: query.status.clone(),
        plan_id: query.plan_id,
        telegram_chat_id: query.chat_id,
        search: query.q.clone(),
    })
}

/// One page of subscribers (shared by the route and the MCP tool).
pub async fn page(
    state: &AppState,
    key: &ProjectKey,
    query: &SubscriberQuery,
) -> Result<super::Page<SubscriberView>, ApiError> {
    key.require(Ability::MembersRead)?;
    let filter = filter(query)?;
    let page = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
    let rows = store::subscribers::page(
        &state.pool,
        key.project_id,
        &filter,
        state.clock.now(),
        page.after()?,
        page.limit()? + 1,
    )
    .await?;
    page.page(rows, |s| (s.created_at, s.id), SubscriberView::from)
}

/// The route.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<SubscriberQuery>,
) -> Result<Response, ApiError> {
    if !export::wants_csv(&headers) {
        return Ok(page(&state, &key, &query).await?.into_response());
    }
    key.require(Ability::MembersRead)?;
    let filter = filter(&query)?;
    let (pool, project_id, now) = (state.pool.clone(), key.project_id, state.clock.now());
    Ok(export::csv("subscribers", move |mut out| async move {
        let header = [
            "telegram_user_id",
            "username",
            "first_name",
            "language_code",
            "status",
            "whitelisted",
            "entitled",
            "entitled_until",
            "created_at",
        ]
        .map(Field::Raw);
        if out.row(&header).await.is_err() {
            return;
        }
        let mut rows = store::subscribers::all(&pool, project_id, &filter, now);
        while let Some(row) = rows.next().await {
            let s = match row {
                Ok(s) => s,
                Err(e) => return out.fail(e).await,
            };
            let (id, until, created) = (
                s.telegram_user_id.to_string(),
                s.entitled_until.map(|t| t.to_rfc3339()).unwrap_or_default(),
                s.created_at.to_rfc3339(),
            );
            let fields = [
                Field::Raw(&id),
                Field::Text(s.username.as_deref().unwrap_or("")),
                Field::Text(s.first_name.as_deref().unwrap_or("")),
                Field::Text(s.language_code.as_deref().unwrap_or("")),
                Field::Raw(&s.status),
                Field::Raw(if s.whitelisted { "true" } else { "false" }),
                Field::Raw(if s.entitled { "true" } else { "false" }),
                Field::Raw(&until),
                Field::Raw(&created),
            ];
            if out.row(&fields).await.is_err() {
                return;
            }
        }
        let _ = out.flush().await;
    }))
}
