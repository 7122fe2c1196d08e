//! `POST /v1/projects/{project_id}/access-codes`: creates an access code for a plan,
//! redeemed in the bot with `/start <code>` (a deep link
//! `https://t.me/<bot>?start=<code>`). `max_uses` null = unlimited, 1 = single-use;
//! `code` is generated when absent. `GET` lists the codes, masked.

use super::Data;
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    clock::MAX_PERIOD_DAYS,
    payments::access_codes,
    store::{self, access_codes::NewAccessCode},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JsonBody, Page, PageQuery, Params};
use crate::{
    AppState,
    auth::ProjectKey,
    error::{ApiError, constraint},
};

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

/// The most codes one call creates.
pub const MAX_BATCH: u32 = 100;

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

/// Creates `count` codes (1 to [`MAX_BATCH`]) with the same terms in one transaction
/// (`access-codes:write`): all or none. A given `code` makes one code only. The route
/// (one) and the `create_access_codes` MCP tool (one or many).
pub async fn create_codes(
    state: &AppState,
    key: &ProjectKey,
    body: &CreateAccessCode,
    count: u32,
) -> Result<Vec<CreatedAccessCode>, ApiError> {
    key.require(Ability::AccessCodesWrite)?;
    if !(1..=MAX_BATCH).contains(&count) {
        return Err(ApiError::Unprocessable(format!("count: expected 1 to {MAX_BATCH}")));
    }
    let given = match body.code.as_deref().map(str::trim) {
        Some(code) if access_codes::is_code_shaped(code) => Some(code.to_string()),
        Some(_) => return Err(ApiError::Unprocessable("code: expected 4 to 64 characters of A-Z a-z 0-9 _ -".into())),
        None => None,
    };
    if given.is_some() && count > 1 {
        return Err(ApiError::Unprocessable("count: a given code makes one code; leave code out to make many".into()));
    }
    if body.max_uses.is_some_and(|n| n < 1) {
        return Err(ApiError::Unprocessable("max_uses: expected at least 1, or null for unlimited".into()));
    }
    if body.duration_days.is_some_and(|d| !(1..=MAX_PERIOD_DAYS).contains(&i64::from(d))) {
        return Err(ApiError::Unprocessable(format!(
            "duration_days: expected 1 to {MAX_PERIOD_DAYS}, or null for the plan's"
        )));
    }
    if body.expires_at.is_some_and(|t| t <= state.clock.now()) {
        return Err(ApiError::Unprocessable("expires_at: is in the past".into()));
    }
    let mut tx = state.pool.begin().await?;
    if store::plans::get(&mut *tx, key.project_id, body.plan_id).await?.is_none() {
        return Err(ApiError::Unprocessable("plan_id: no such plan in this project".into()));
    }
    let username = store::projects::get(&mut *tx, key.project_id).await?.and_then(|t| t.bot_username);
    let mut created = Vec::new();
    for _ in 0..count {
        let code = given.clone().unwrap_or_else(access_codes::generate_code);
        let id = Uuid::now_v7();
        let inserted = store::access_codes::insert(
            &mut *tx,
            &NewAccessCode {
                id,
                project_id: key.project_id,
                plan_id: body.plan_id,
                code: &code,
                max_uses: body.max_uses,
                expires_at: body.expires_at,
                duration_days: body.duration_days,
            },
        )
        .await;
        if let Err(e) = &inserted
            && constraint(e) == Some(store::access_codes::ACCESS_CODE_KEY)
        {
            return Err(ApiError::Conflict("code: this project already has this code".into()));
        }
        inserted?;
        created.push(CreatedAccessCode {
            id,
            deep_link: username.as_ref().map(|u| format!("https://t.me/{u}?start={code}")),
            code,
            plan_id: body.plan_id,
            max_uses: body.max_uses,
            expires_at: body.expires_at,
            duration_days: body.duration_days,
        });
    }
    tx.commit().await?;
    Ok(created)
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
