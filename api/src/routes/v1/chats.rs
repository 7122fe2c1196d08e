//! `POST /v1/projects/{project_id}/chats`: adds a managed chat (or asks for it to be
//! verified again) and enqueues `verify-chat`; `GET` lists the project's chats.

use super::Data;
use axum::{extract::State, http::StatusCode};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    catalog::verify_chat::VerifyChat,
    queue::{self, RunAt},
    store,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JsonBody, Page, PageQuery, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// How people get into a managed chat.
const JOIN_STRATEGIES: [&str; 2] = ["single_use_link", "join_request"];

/// The body of `POST .../chats`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddChat {
    chat_id: i64,
    #[serde(default)]
    join_strategy: Option<String>,
}

/// The answer to `POST .../chats`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Verifying {
    id: Uuid,
    chat_id: i64,
    status: &'static str,
}

/// One chat in `GET .../chats`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChatView {
    id: Uuid,
    chat_id: i64,
    title: Option<String>,
    kind: Option<String>,
    join_strategy: String,
    status: String,
    reason: Option<String>,
    can_invite_users: bool,
    can_restrict_members: bool,
}

/// Adds the chat as `pending` (or resets an existing one to `pending`, with the new
/// strategy when one is given) and enqueues its verification. Needs a bot.
pub async fn add(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AddChat>,
) -> Result<(StatusCode, Data<Verifying>), ApiError> {
    key.require(Ability::ProjectWrite)?;
    if body.chat_id == 0 {
        return Err(ApiError::Unprocessable("chat_id: expected a Telegram chat id (such as -1001234567890)".into()));
    }
    let join_strategy = match body.join_strategy.as_deref() {
        None => None,
        Some(s) if JOIN_STRATEGIES.contains(&s) => Some(s),
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "join_strategy: expected \"single_use_link\" or \"join_request\"".into(),
            ));
        }
    };

    let mut tx = state.pool.begin().await?;
    if store::bots::of_project(&mut *tx, key.project_id).await?.is_none() {
        return Err(ApiError::Conflict("connect a bot first".into()));
    }
    let id = store::chats::upsert(&mut *tx, Uuid::new_v4(), key.project_id, body.chat_id, join_strategy).await?;
    let job = VerifyChat { chat_id: id, attempt: Uuid::new_v4(), report_to: None };
    queue::enqueue(&mut tx, &job, RunAt::Now).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Data(Verifying { id, chat_id: body.chat_id, status: "pending" })))
}

/// The project's chats and what verification found, by Telegram chat id. A project
/// has few chats: one read, paged in memory.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(page): Params<PageQuery>,
) -> Result<Page<ChatView>, ApiError> {
    key.require(Ability::ProjectRead)?;
    let after: Option<i64> = page.after()?;
    let mut chats = store::chats::of_project(&state.pool, key.project_id).await?;
    chats.sort_by_key(|c| c.telegram_chat_id);
    let limit = usize::try_from(page.limit()?).unwrap_or(100);
    let rows: Vec<_> =
        chats.into_iter().filter(|c| after.is_none_or(|a| c.telegram_chat_id > a)).take(limit + 1).collect();
    page.page(
        rows,
        |c| c.telegram_chat_id,
        |c| ChatView {
            id: c.id,
            chat_id: c.telegram_chat_id,
            title: c.title,
            kind: c.kind,
            join_strategy: c.join_strategy,
            status: c.status,
            reason: c.status_reason,
            can_invite_users: c.can_invite_users,
            can_restrict_members: c.can_restrict_members,
        },
    )
}
