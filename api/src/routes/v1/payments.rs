//! `GET /v1/projects/{project_id}/payments` (`payments:read`): every payment event
//! (Stripe events, Stars charges and refunds) with the money it moved, newest first,
//! optionally of one `provider`; paged, or every row as CSV with `Accept: text/csv`.

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use gatehouse_jobs::{access::Ability, money, store};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Page, PageQuery, Params,
    export::{self, Field},
};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The filters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentQuery {
    /// `stripe` or `stars`.
    pub provider: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
    /// Where to start.
    pub cursor: Option<String>,
}

/// One payment event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    /// Gatehouse's id of it.
    pub id: Uuid,
    /// stripe or stars.
    pub provider: String,
    /// The provider's id.
    pub external_id: String,
    /// Its type.
    pub kind: String,
    /// Money moved in minor units (negative: refunded), when it moved money.
    pub amount_minor: Option<i64>,
    /// The same as a decimal string ("9.99").
    pub amount: Option<String>,
    /// Its currency.
    pub currency: Option<String>,
    /// The grant it applied to.
    pub grant_id: Option<Uuid>,
    /// That grant's plan.
    pub plan_id: Option<Uuid>,
    /// That grant's subscriber.
    pub telegram_user_id: Option<i64>,
    /// applied, stale, refused, ignored; null while unprocessed.
    pub outcome: Option<String>,
    /// The provider's time.
    pub occurred_at: Option<DateTime<Utc>>,
    /// When Gatehouse received it.
    pub received_at: DateTime<Utc>,
}

impl From<store::payments::Listed> for PaymentView {
    fn from(p: store::payments::Listed) -> Self {
        let amount = match (p.amount_minor, &p.currency) {
            (Some(minor), Some(currency)) => Some(money::decimal(minor, currency)),
            _ => None,
        };
        PaymentView {
            id: p.id,
            provider: p.provider,
            external_id: p.external_id,
            kind: p.kind,
            amount_minor: p.amount_minor,
            amount,
            currency: p.currency,
            grant_id: p.grant_id,
            plan_id: p.plan_id,
            telegram_user_id: p.telegram_user_id,
            outcome: p.outcome,
            occurred_at: p.occurred_at,
            received_at: p.received_at,
        }
    }
}

fn provider(query: &PaymentQuery) -> Result<Option<String>, ApiError> {
    match query.provider.as_deref() {
        None => Ok(None),
        Some(p @ ("stripe" | "stars")) => Ok(Some(p.to_string())),
        Some(_) => Err(ApiError::Unprocessable("provider: expected stripe or stars".into())),
    }
}

/// One page of payments (shared by the route and the MCP tool).
pub async fn page(state: &AppState, key: &ProjectKey, query: &PaymentQuery) -> Result<Page<PaymentView>, ApiError> {
    key.require(Ability::PaymentsRead)?;
    let provider = provider(query)?;
    let page = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
    let rows =
        store::payments::page(&state.pool, key.project_id, provider.as_deref(), page.after()?, page.limit()? + 1)
            .await?;
    page.page(rows, |p| (p.received_at, p.id), PaymentView::from)
}

/// The route.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<PaymentQuery>,
) -> Result<Response, ApiError> {
    if !export::wants_csv(&headers) {
        return Ok(page(&state, &key, &query).await?.into_response());
    }
    key.require(Ability::PaymentsRead)?;
    let provider = provider(&query)?;
    let (pool, project_id) = (state.pool.clone(), key.project_id);
    Ok(export::csv("payments", move |mut out| async move {
        let header = [
            "id",
            "provider",
            "external_id",
            "kind",
            "amount",
            "currency",
            "grant_id",
            "plan_id",
            "telegram_user_id",
            "outcome",
            "occurred_at",
            "received_at",
        ]
        .map(Field::Raw);
        if out.row(&header).await.is_err() {
            return;
        }
        let mut rows = store::payments::all(&pool, project_id, provider);
        while let Some(row) = rows.next().await {
            let p = match row {
                Ok(p) => PaymentView::from(p),
                Err(e) => return out.fail(e).await,
            };
            let text = |v: Option<String>| v.unwrap_or_default();
            let (id, grant, plan, user) = (
                p.id.to_string(),
                text(p.grant_id.map(|g| g.to_string())),
                text(p.plan_id.map(|g| g.to_string())),
                text(p.telegram_user_id.map(|u| u.to_string())),
            );
            let (occurred, received) = (text(p.occurred_at.map(|t| t.to_rfc3339())), p.received_at.to_rfc3339());
            let fields = [
                Field::Raw(&id),
                Field::Raw(&p.provider),
                Field::Text(&p.external_id),
                Field::Text(&p.kind),
                Field::Raw(p.amount.as_deref().unwrap_or("")),
                Field::Text(p.currency.as_deref().unwrap_or("")),
                Field::Raw(&grant),
                Field::Raw(&plan),
                Field::Raw(&user),
                Field::Raw(p.outcome.as_deref().unwrap_or("")),
                Field::Raw(&occurred),
                Field::Raw(&received),
            ];
            if out.row(&fields).await.is_err() {
                return;
            }
        }
        let _ = out.flush().await;
    }))
}
