//! `GET /v1/projects/{project_id}/analytics?period=7d|30d|90d|ytd|all`
//! (`analytics:read`): subscribers (active, trialing, new, churned), trial to paid
//! conversion, MRR and revenue per currency (by provider and by plan), and each chat's
//! member count per day — for the period ending now (Gatehouse's clock).
//!
//! Definitions: *active* = entitled now; *new* = whose first grant started in the
//! period; *churned* = not entitled now, whose last access ended in the period;
//! *conversion* = of the subscribers who started a trial in the period, those who
//! paid after it started; *MRR* = every renewing, paid (Stripe or Stars) grant that
//! entitles now, at its plan's price scaled to 30 days; *revenue* = money received in
//! the period, net of refunds, by the amounts the providers reported.

use axum::extract::State;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use gatehouse_jobs::{access::Ability, money, store};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Data, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// The query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// `7d`, `30d` (default), `90d`, `ytd` or `all`.
    pub period: Option<String>,
}

/// The figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Analytics {
    /// The period asked for.
    pub period: String,
    /// Its start (null: all time).
    pub from: Option<DateTime<Utc>>,
    /// Its end: now.
    pub to: DateTime<Utc>,
    /// Subscriber counts.
    pub subscribers: Subscribers,
    /// Trial to paid.
    pub trial_conversion: Conversion,
    /// Monthly recurring revenue, per currency.
    pub mrr: Vec<Money>,
    /// Revenue in the period.
    pub revenue: Revenue,
    /// Each chat's member count per day in the period.
    pub member_counts: Vec<ChatCounts>,
}

/// Subscriber counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Subscribers {
    /// Entitled now.
    pub active: i64,
    /// Entitled now through a trial.
    pub trialing: i64,
    /// New in the period.
    pub new: i64,
    /// Churned in the period.
    pub churned: i64,
}

/// Trial conversion.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conversion {
    /// Trials started in the period.
    pub trials: i64,
    /// Of those, subscribers who paid after.
    pub converted: i64,
    /// converted / trials (null without trials).
    pub rate: Option<f64>,
}

/// An amount.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Money {
    /// ISO 4217, or XTR.
    pub currency: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Decimal ("9.99").
    pub amount: String,
    /// stripe or stars (in `by_provider`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The plan (in `by_plan`; null for payments tied to no grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<Option<Uuid>>,
}

/// Revenue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Revenue {
    /// Per currency.
    pub total: Vec<Money>,
    /// Per provider and currency.
    pub by_provider: Vec<Money>,
    /// Per plan and currency.
    pub by_plan: Vec<Money>,
}

/// One chat's daily counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChatCounts {
    /// Telegram's id of the chat.
    pub chat_id: i64,
    /// Day by day, oldest first.
    pub days: Vec<DayCount>,
}

/// One day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayCount {
    /// The day.
    pub date: NaiveDate,
    /// Members.
    pub members: i32,
}

/// Where a period starts, at `now`.
pub fn period_start(period: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ApiError> {
    Ok(match period {
        "7d" => Some(now - Duration::days(7)),
        "30d" => Some(now - Duration::days(30)),
        "90d" => Some(now - Duration::days(90)),
        "ytd" => Utc.with_ymd_and_hms(now.year(), 1, 1, 0, 0, 0).single(),
        "all" => None,
        _ => return Err(ApiError::Unprocessable("period: expected 7d, 30d, 90d, ytd or all".into())),
    })
}

/// The figures (shared by the route and the MCP tool).
pub async fn figures(state: &AppState, key: &ProjectKey, query: &AnalyticsQuery) -> Result<Analytics, ApiError> {
    key.require(Ability::AnalyticsRead)?;
    let period = query.period.clone().unwrap_or_else(|| "30d".into());
    let now = state.clock.now();
    let from = period_start(&period, now)?;
    let pool = &state.pool;
    let project = key.project_id;
    let counts = store::analytics::counts(pool, project, from, now).await?;
    let mrr = store::analytics::mrr(pool, project, now).await?;
    let revenue = store::analytics::revenue(pool, project, from, now).await?;
    let days = from.map_or(3660, |f| (now - f).num_days() + 1).clamp(1, 3660);
    let daily = store::analytics::member_counts(pool, project, None, from.map(|f| f.date_naive()), false, days).await?;

    let money = |a: &store::analytics::Amount| Money {
        currency: a.currency.clone(),
        amount_minor: a.amount_minor,
        amount: money::decimal(a.amount_minor, &a.currency),
        provider: None,
        plan_id: None,
    };
    let mut revenue_out = Revenue { total: Vec::new(), by_provider: Vec::new(), by_plan: Vec::new() };
    // GROUPING SETS rows: (currency) has neither provider nor plan; (provider,
    // currency) has a provider; the rest are per plan (a NULL plan: payments tied to
    // no grant).
    for a in &revenue {
        if let Some(provider) = &a.provider {
            revenue_out.by_provider.push(Money { provider: Some(provider.clone()), ..money(a) });
        } else if a.plan_id.is_some() {
            revenue_out.by_plan.push(Money { plan_id: Some(a.plan_id), ..money(a) });
        } else {
            revenue_out.total.push(money(a));
        }
    }
    let mut member_counts: Vec<ChatCounts> = Vec::new();
    for d in daily {
        match member_counts.last_mut() {
            Some(c) if c.chat_id == d.telegram_chat_id => c.days.push(DayCount { date: d.day, members: d.members }),
            _ => member_counts.push(ChatCounts {
                chat_id: d.telegram_chat_id,
                days: vec![DayCount { date: d.day, members: d.members }],
            }),
        }
    }
    Ok(Analytics {
        period,
        from,
        to: now,
        subscribers: Subscribers {
            active: counts.active,
            trialing: counts.trialing,
            new: counts.new,
            churned: counts.churned,
        },
        trial_conversion: Conversion {
            trials: counts.trials,
            converted: counts.converted,
            rate: (counts.trials > 0).then(|| counts.converted as f64 / counts.trials as f64),
        },
        mrr: mrr.iter().map(money).collect(),
        revenue: revenue_out,
        member_counts,
    })
}

/// The route.
pub async fn show(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(query): Params<AnalyticsQuery>,
) -> Result<Data<Analytics>, ApiError> {
    figures(&state, &key, &query).await.map(Data)
}
