//! `POST /v1/projects/{project_id}/access-codes`: creates an access code for a plan,
//! redeemed in the bot with `/start <code>` (a deep link
//! `https://t.me/<bot>?start=<code>`). `max_uses` null = unlimited, 1 = single-use;
//! `code` is generated when absent. `GET` lists the codes, masked.

use super::Data;
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    setup::{self, codes::CodeTerms},
    store,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JsonBody, Page, PageQuery, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The body of `POST .../access-codes`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateAccessCode {
    #[serde(default)]
    code: Option<String>,
    plan_id: Uuid,
    #[serde(default)]
    max_uses: Option<i32>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    duration_days: Option<i32>,
}

/// The created code.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedAccessCode {
    id: Uuid,
    code: String,
    plan_id: Uuid,
    max_uses: Option<i32>,
    expires_at: Option<DateTime<Utc>>,
    duration_days: Option<i32>,
    deep_link: Option<String>,
}

/// The route: one code.
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateAccessCode>,
) -> Result<(StatusCode, Data<CreatedAccessCode>), ApiError> {
    let mut created = create_codes(&state, &key, &body, 1).await?;
    let one = created.pop().ok_or_else(|| ApiError::Internal(sqlx::Error::RowNotFound))?;
    Ok((StatusCode::CREATED, Data(one)))
}

/// Creates `count` codes (1 to [`setup::codes::MAX_BATCH`]) with the same terms in one transaction
/// (`access-codes:write`): all or none. A given `code` makes one code only. The route
/// (one) and the `create_access_codes` MCP tool (one or many).
pub async fn create_codes(
    state: &AppState,
    key: &ProjectKey,
    body: &CreateAccessCode,
    count: u32,
) -> Result<Vec<CreatedAccessCode>, ApiError> {
    key.require(Ability::AccessCodesWrite)?;
    let terms = CodeTerms {
        code: body.code.clone(),
        plan_id: body.plan_id,
        max_uses: body.max_uses,
        expires_at: body.expires_at,
        duration_days: body.duration_days,
    };
    let mut tx = state.pool.begin().await?;
    let created = setup::codes::create(&mut tx, key.project_id, &terms, count, state.clock.now()).await?;
    tx.commit().await?;
    Ok(created
        .into_iter()
        .map(|c| CreatedAccessCode {
            id: c.id,
            code: c.code,
            deep_link: c.deep_link,
            plan_id: body.plan_id,
            max_uses: body.max_uses,
            expires_at: body.expires_at,
            duration_days: body.duration_days,
        })
        .collect())
}

/// One access code in `GET …/access-codes` (`access-codes:read`): the code itself is
/// masked (its first and last two characters), as a list may be shown to anyone
/// looking over a shoulder.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccessCodeView {
    id: Uuid,
    code: String,
    plan_id: Uuid,
    max_uses: Option<i32>,
    uses: i32,
    expires_at: Option<DateTime<Utc>>,
    duration_days: Option<i32>,
    created_at: DateTime<Utc>,
}

/// A code with all but its first and last two characters hidden.
pub fn mask(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let (head, tail): (String, String) = (chars[..2].iter().collect(), chars[chars.len() - 2..].iter().collect());
    format!("{head}{}{tail}", "*".repeat(chars.len() - 4))
}

/// The route `GET .../access-codes`.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(page): Params<PageQuery>,
) -> Result<Page<AccessCodeView>, ApiError> {
    codes_page(&state, &key, &page).await
}

/// The project's access codes, oldest first, masked; paged (`access-codes:read`): the
/// route and the `list_access_codes` MCP tool.
pub async fn codes_page(
    state: &AppState,
    key: &ProjectKey,
    page: &PageQuery,
) -> Result<Page<AccessCodeView>, ApiError> {
    key.require(Ability::AccessCodesRead)?;
    let rows = store::access_codes::page(&state.pool, key.project_id, page.after()?, page.limit()? + 1).await?;
    page.page(
        rows,
        |c| (c.created_at, c.id),
        |c| AccessCodeView {
            id: c.id,
            code: mask(&c.code),
            plan_id: c.plan_id,
            max_uses: c.max_uses,
            uses: c.uses,
            expires_at: c.expires_at,
            duration_days: c.duration_days,
            created_at: c.created_at,
        },
    )
}

#[cfg(test)]
mod list_tests {
    #[test]
    fn codes_are_masked_but_for_their_ends() {
        assert_eq!(super::mask("WELCOME-1"), "WE*****-1");
        assert_eq!(super::mask("ABCD"), "****");
    }
}
