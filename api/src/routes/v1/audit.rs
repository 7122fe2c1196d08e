//! `GET /v1/projects/{project_id}/audit` (`members:read`): every action Gatehouse took
//! on the project's members (links issued and revoked, removals, approvals, bans…),
//! newest first, optionally about one `telegram_user_id` or one `action`; paged.

use axum::extract::State;
use chrono::{DateTime, Utc};
use gatehouse_jobs::{access::Ability, store};
use serde::{Deserialize, Serialize};

use super::{Page, PageQuery, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The filters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// One member.
    pub telegram_user_id: Option<i64>,
    /// One action.
    pub action: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
    /// Where to start.
    pub cursor: Option<String>,
}

/// One entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub action: String,
    /// Why.
    pub reason: String,
    /// On whom.
    pub telegram_user_id: Option<i64>,
    /// In which chat.
    pub chat_id: Option<i64>,
    /// The job that acted.
    pub job_id: Option<String>,
    /// More.
    pub details: serde_json::Value,
}

/// The route.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(query): Params<AuditQuery>,
) -> Result<Page<AuditView>, ApiError> {
    key.require(Ability::MembersRead)?;
    if query.action.as_ref().is_some_and(|a| a.len() > 64) {
        return Err(ApiError::Unprocessable("action: expected at most 64 characters".into()));
    }
    let page = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
    let rows = store::audit::page(
        &state.pool,
        key.project_id,
        query.telegram_user_id,
        query.action.as_deref(),
        page.after()?,
        page.limit()? + 1,
    )
    .await?;
    page.page(
        rows,
        |a| a.id,
        |a| AuditView {
            at: a.row.at,
            action: a.row.action,
            reason: a.row.reason,
            telegram_user_id: a.telegram_user_id,
            chat_id: a.row.telegram_chat_id,
            job_id: a.row.job_id,
            details: a.row.details,
        },
    )
}
