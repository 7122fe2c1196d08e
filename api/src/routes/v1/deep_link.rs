//! `GET /v1/projects/{project_id}/deep-link?plan_id=&access_code=&custom=`
//! (`distribution:read`): a shareable `https://t.me/<bot>?start=<payload>` link.
//!
//! The payload is chosen in this order: `access_code` (the access code's UUID
//! verbatim; `/start <uuid>` redeems it) > `plan_id` (`plan_<uuid>`: the plan's
//! checkout) > `custom` (the caller's own, at most 64 characters of `A-Za-z0-9_-`,
//! kept for attribution) > none (`project_<uuid>`: the home screen). [`build`] is
//! the one implementation, behind this route and the `get_deep_link` MCP tool.

use axum::extract::State;
use gatehouse_jobs::{access::Ability, store};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Data, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// What the link should open.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeepLinkQuery {
    /// A plan of the project (UUID).
    pub plan_id: Option<String>,
    /// An access code of the project (its UUID).
    pub access_code: Option<String>,
    /// The caller's own payload.
    pub custom: Option<String>,
}

/// The link.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DeepLink {
    /// The project.
    pub project_id: Uuid,
    /// `https://t.me/<bot>`.
    pub bot_url: String,
    /// What `/start` carries.
    pub start_payload: String,
    /// `bot_url?start=start_payload`.
    pub deep_link: String,
}

/// The route.
pub async fn show(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(query): Params<DeepLinkQuery>,
) -> Result<Data<DeepLink>, ApiError> {
    deep_link(&state, &key, &query).await.map(Data)
}

/// The deep link for `query` (`distribution:read`): the route and the `get_deep_link`
/// MCP tool.
pub async fn deep_link(state: &AppState, key: &ProjectKey, query: &DeepLinkQuery) -> Result<DeepLink, ApiError> {
    key.require(Ability::DistributionRead)?;
    build(state, key.project_id, query).await
}

/// The deep link of `project_id` for `query` (the caller's key is already checked for
/// this project and `distribution:read`).
pub async fn build(state: &AppState, project_id: Uuid, query: &DeepLinkQuery) -> Result<DeepLink, ApiError> {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let (access_code, plan_id, custom) = (given(&query.access_code), given(&query.plan_id), given(&query.custom));
    let start_payload = if let Some(code) = access_code {
        let id = Uuid::parse_str(&code).map_err(|_| ApiError::NotFound("no such access code".into()))?;
        store::access_codes::find(&state.pool, project_id, &id.to_string())
            .await?
            .filter(|c| c.id == id)
            .ok_or_else(|| ApiError::NotFound("no such access code".into()))?;
        code
    } else if let Some(plan) = plan_id {
        let id =
            Uuid::parse_str(&plan).map_err(|_| ApiError::Unprocessable("plan_id: expected a plan's UUID".into()))?;
        store::plans::get(&state.pool, project_id, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such plan".into()))?;
        format!("plan_{id}")
    } else if let Some(custom) = custom {
        if custom.len() > 64 || !custom.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ApiError::Unprocessable(
                "custom: expected at most 64 characters of A-Z, a-z, 0-9, '_' and '-'".into(),
            ));
        }
        custom
    } else {
        format!("project_{project_id}")
    };
    let project = store::projects::get(&state.pool, project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such project".into()))?;
    let Some(bot) = project.bot_username else {
        return Err(ApiError::Refused {
            message: "the project has no Telegram bot attached: connect one with PUT /v1/projects/{project_id}/bot"
                .into(),
            fields: Vec::new(),
            reason: "no_bot_attached",
        });
    };
    let bot_url = format!("https://t.me/{bot}");
    let deep_link = format!("{bot_url}?start={start_payload}");
    Ok(DeepLink { project_id, bot_url, start_payload, deep_link })
}
