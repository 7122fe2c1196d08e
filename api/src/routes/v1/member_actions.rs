//! What the integrator does to a member, each carried out by a job (never Telegram on
//! the request path); every answer names the job(s) to poll (`GET .../jobs/{job_id}`):
//!
//! - `POST /v1/projects/{project_id}/members/{telegram_user_id}/kick`: `remove-member`
//!   in every chat of the project. A kick, not a ban: they may rejoin when entitled.
//!   The job keeps administrators, the whitelisted and anyone still entitled.
//! - `POST .../members/{telegram_user_id}/ban`: `ban-subscriber` (as the owner's
//!   `/ban`): their subscriptions end, their links are revoked, they are removed and
//!   stay banned from every chat.
//! - `POST .../members/{telegram_user_id}/unban`: `ban-subscriber` with `ban: false`
//!   (as `/unban`); 409 unless banned.
//! - `POST .../members/{telegram_user_id}/cancel-subscription` `{"grant_id"?}`:
//!   `cancel-subscription` at the period's end (as the subscriber's `/cancel`) for the
//!   grant named, or for every renewing paid subscription of the member; 409 if none.
//!
//! All need `members:write`, and answer 404 for a user the project does not know.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use gatehouse_jobs::{
    access::Ability,
    catalog::{ban_subscriber::BanSubscriber, cancel_subscription::CancelSubscription, remove_member::RemoveMember},
    conversation::subscriber::cancellable,
    queue::{self, RunAt},
    store,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Data, JsonBody, job_id, parse_segment};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// What a member action was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Removed from every chat, free to rejoin.
    Kick,
    /// Banned.
    Ban,
    /// Unbanned.
    Unban,
    /// Subscriptions stopped at the period's end.
    CancelSubscription,
}

/// The answer to every member action: the jobs to poll.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enqueued {
    telegram_user_id: i64,
    action: Action,
    /// The jobs enqueued (one per chat for a kick, one per subscription for a cancellation).
    job_ids: Vec<String>,
}

/// The body of `POST .../cancel-subscription`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CancelRequest {
    /// One subscription (a grant of the member); none = every renewing one.
    #[serde(default)]
    pub grant_id: Option<Uuid>,
}

type Answer = Result<(StatusCode, Data<Enqueued>), ApiError>;

fn accepted(enqueued: Enqueued) -> (StatusCode, Data<Enqueued>) {
    (StatusCode::ACCEPTED, Data(enqueued))
}

/// The route `POST .../members/{telegram_user_id}/kick`.
pub async fn kick_route(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
) -> Answer {
    kick(&state, &key, parse_segment(&user, "member")?).await.map(accepted)
}

/// The route `POST .../members/{telegram_user_id}/ban`.
pub async fn ban_route(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
) -> Answer {
    ban(&state, &key, parse_segment(&user, "member")?, true).await.map(accepted)
}

/// The route `POST .../members/{telegram_user_id}/unban`.
pub async fn unban_route(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
) -> Answer {
    ban(&state, &key, parse_segment(&user, "member")?, false).await.map(accepted)
}

/// The route `POST .../members/{telegram_user_id}/cancel-subscription`.
pub async fn cancel_route(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<CancelRequest>,
) -> Answer {
    cancel_subscription(&state, &key, parse_segment(&user, "member")?, &body).await.map(accepted)
}

/// The member, or 404.
async fn known(state: &AppState, key: &ProjectKey, user: i64) -> Result<store::subscribers::Subscriber, ApiError> {
    store::subscribers::find(&state.pool, key.project_id, user)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such member".into()))
}

/// Enqueues `remove-member` in every chat of the project: the route and the
/// `kick_member` MCP tool.
pub async fn kick(state: &AppState, key: &ProjectKey, user: i64) -> Result<Enqueued, ApiError> {
    key.require(Ability::MembersWrite)?;
    known(state, key, user).await?;
    let cause = format!("api:kick:{}", Uuid::new_v4());
    let mut tx = state.pool.begin().await?;
    let mut job_ids = Vec::new();
    for chat in store::chats::of_project(&mut *tx, key.project_id).await? {
        let job = RemoveMember {
            chat_id: chat.id,
            telegram_user_id: user,
            reason: "kicked through the integrator API".into(),
            cause: cause.clone(),
        };
        job_ids.extend(job_id(&queue::enqueue(&mut tx, &job, RunAt::Now).await?));
    }
    tx.commit().await?;
    tracing::info!(project_id = %key.project_id, chats = job_ids.len(), "member kick enqueued");
    Ok(Enqueued { telegram_user_id: user, action: Action::Kick, job_ids })
}

/// Enqueues `ban-subscriber` (a ban, or with `ban` false an unban, which needs the
/// member banned): the routes and the `ban_member` / `unban_member` MCP tools.
pub async fn ban(state: &AppState, key: &ProjectKey, user: i64, ban: bool) -> Result<Enqueued, ApiError> {
    key.require(Ability::MembersWrite)?;
    let member = known(state, key, user).await?;
    if !ban && member.status != "banned" {
        return Err(ApiError::Conflict("telegram_user_id: this member is not banned".into()));
    }
    let job = BanSubscriber {
        project_id: key.project_id,
        telegram_user_id: user,
        ban,
        cause: format!("api:{}:{}", if ban { "ban" } else { "unban" }, Uuid::new_v4()),
    };
    let mut conn = state.pool.acquire().await?;
    let enqueued = queue::enqueue(&mut conn, &job, RunAt::Now).await?;
    let action = if ban { Action::Ban } else { Action::Unban };
    Ok(Enqueued { telegram_user_id: user, action, job_ids: job_id(&enqueued).into_iter().collect() })
}

/// Enqueues `cancel-subscription` at the period's end for the member's renewing paid
/// subscriptions (or the one named): the route and the `cancel_subscription` MCP tool.
pub async fn cancel_subscription(
    state: &AppState,
    key: &ProjectKey,
    user: i64,
    body: &CancelRequest,
) -> Result<Enqueued, ApiError> {
    key.require(Ability::MembersWrite)?;
    known(state, key, user).await?;
    let grants = store::grants::of_member(&state.pool, key.project_id, user, state.clock.now()).await?;
    let chosen: Vec<_> = match body.grant_id {
        Some(id) => {
            let grant = grants
                .iter()
                .find(|g| g.grant.id == id)
                .ok_or_else(|| ApiError::NotFound("no such subscription of this member".into()))?;
            if !(grant.entitled && cancellable(grant)) {
                return Err(ApiError::Conflict(format!(
                    "grant_id: not a renewing paid subscription that can be canceled (source {}, state {})",
                    grant.grant.source, grant.grant.state
                )));
            }
            vec![grant]
        }
        None => grants.iter().filter(|g| g.entitled && cancellable(g)).collect(),
    };
    if chosen.is_empty() {
        return Err(ApiError::Conflict(
            "this member has no renewing paid subscription to cancel (a manual grant is ended by revoking it)".into(),
        ));
    }
    let mut tx = state.pool.begin().await?;
    let mut job_ids = Vec::new();
    for grant in chosen {
        let job = CancelSubscription { grant_id: grant.grant.id, at_period_end: true };
        job_ids.extend(job_id(&queue::enqueue(&mut tx, &job, RunAt::Now).await?));
    }
    tx.commit().await?;
    Ok(Enqueued { telegram_user_id: user, action: Action::CancelSubscription, job_ids })
}
