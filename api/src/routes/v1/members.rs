//! A member of a project: `GET /v1/projects/{project_id}/members/{telegram_user_id}`
//! shows everything Gatehouse knows and did about them; `POST .../whitelist` and
//! `DELETE .../whitelist/{telegram_user_id}` set whether they are never removed
//! (the jobs read the flag).

use super::Data;
use gatehouse_jobs::access::Ability;
use std::collections::HashMap;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use gatehouse_jobs::store;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JsonBody, parse_segment, telegram_user_id};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// How many audit entries a member's view shows, newest first.
pub const AUDIT_LIMIT: i64 = 100;

/// The body of `POST .../whitelist`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct WhitelistRequest {
    telegram_user_id: i64,
}

/// The answer of both whitelist routes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Whitelisted {
    telegram_user_id: i64,
    whitelisted: bool,
}

/// A member's view.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberView {
    telegram_user_id: i64,
    status: String,
    whitelisted: bool,
    entitlements: Vec<EntitlementView>,
    memberships: Vec<MembershipView>,
    open_links: Vec<OpenLinkView>,
    audit: Vec<AuditView>,
}

/// One grant of the member.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EntitlementView {
    grant_id: Uuid,
    plan_id: Uuid,
    plan_name: String,
    source: String,
    state: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    entitled: bool,
    chat_ids: Vec<i64>,
}

/// One observed membership.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    chat_id: i64,
    status: String,
    joined_at: Option<DateTime<Utc>>,
    left_at: Option<DateTime<Utc>>,
    via_link: Option<String>,
}

/// One invite link that can still be used.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpenLinkView {
    chat_id: i64,
    link: Option<String>,
    expire_at: Option<DateTime<Utc>>,
    state: String,
}

/// One audit entry.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MemberAuditView)]
pub struct AuditView {
    at: DateTime<Utc>,
    action: String,
    reason: String,
    chat_id: Option<i64>,
    job_id: Option<String>,
    details: serde_json::Value,
}

/// Whitelists the user (creating the subscriber if new).
pub async fn whitelist(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<WhitelistRequest>,
) -> Result<Data<Whitelisted>, ApiError> {
    key.require(Ability::MembersWrite)?;
    let telegram_user_id = telegram_user_id(body.telegram_user_id)?;
    let subscriber = store::subscribers::whitelist(&state.pool, key.project_id, telegram_user_id).await?;
    Ok(Data(Whitelisted { telegram_user_id, whitelisted: subscriber.whitelisted }))
}

/// Takes the user off the whitelist; 404 if the project does not know them.
pub async fn unwhitelist(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
) -> Result<Data<Whitelisted>, ApiError> {
    key.require(Ability::MembersWrite)?;
    let telegram_user_id: i64 = parse_segment(&user, "member")?;
    let subscriber = store::subscribers::unwhitelist(&state.pool, key.project_id, telegram_user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such member".into()))?;
    Ok(Data(Whitelisted { telegram_user_id, whitelisted: subscriber.whitelisted }))
}

/// The route `GET .../members/{telegram_user_id}`.
pub async fn show(
    key: ProjectKey,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
) -> Result<Data<MemberView>, ApiError> {
    key.require(Ability::MembersRead)?;
    let telegram_user_id: i64 = parse_segment(&user, "member")?;
    member(&state, &key, telegram_user_id).await.map(Data)
}

/// The member: standing, grants, observed memberships, open links, audit trail
/// (`members:read`; 404 if the project does not know them): the route and the
/// `get_member` MCP tool.
pub async fn member(state: &AppState, key: &ProjectKey, telegram_user_id: i64) -> Result<MemberView, ApiError> {
    key.require(Ability::MembersRead)?;
    let pool = &state.pool;
    let subscriber = store::subscribers::find(pool, key.project_id, telegram_user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such member".into()))?;
    // The chats each plan grants, for the grants' `chat_ids`.
    let plan_chats: HashMap<Uuid, Vec<i64>> = store::plans::of_project(pool, key.project_id)
        .await?
        .into_iter()
        .map(|p| (p.plan.id, p.telegram_chat_ids))
        .collect();
    // Newest first by start; grants that start together, newest made first (the
    // store's order, which a stable sort keeps).
    let mut grants = store::grants::of_member(pool, key.project_id, telegram_user_id, state.clock.now()).await?;
    grants.sort_by_key(|g| std::cmp::Reverse(g.grant.starts_at));
    let entitlements = grants
        .into_iter()
        .map(|e| EntitlementView {
            grant_id: e.grant.id,
            plan_id: e.grant.plan_id,
            plan_name: e.plan_name,
            source: e.grant.source,
            state: e.grant.state,
            starts_at: e.grant.starts_at,
            ends_at: e.grant.ends_at,
            entitled: e.entitled,
            chat_ids: plan_chats.get(&e.grant.plan_id).cloned().unwrap_or_default(),
        })
        .collect();
    let memberships = store::memberships::of_member(pool, key.project_id, telegram_user_id)
        .await?
        .into_iter()
        .map(|m| MembershipView {
            chat_id: m.telegram_chat_id,
            status: m.status,
            joined_at: m.joined_at,
            left_at: m.left_at,
            via_link: m.via_link,
        })
        .collect();
    let open_links = store::links::open_links_of(pool, key.project_id, telegram_user_id)
        .await?
        .into_iter()
        .map(|l| OpenLinkView { chat_id: l.telegram_chat_id, link: l.link, expire_at: l.expire_at, state: l.state })
        .collect();
    let audit = store::audit::of_member(pool, key.project_id, telegram_user_id, AUDIT_LIMIT)
        .await?
        .into_iter()
        .map(|a| AuditView {
            at: a.at,
            action: a.action,
            reason: a.reason,
            chat_id: a.telegram_chat_id,
            job_id: a.job_id,
            details: a.details,
        })
        .collect();
    Ok(MemberView {
        telegram_user_id,
        status: subscriber.status,
        whitelisted: subscriber.whitelisted,
        entitlements,
        memberships,
        open_links,
        audit,
    })
}
