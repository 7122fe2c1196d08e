//! `POST /v1/projects/{project_id}/plans`: creates a plan granting some of the
//! project's chats; `GET` lists the project's plans.

use super::Data;
use axum::{extract::State, http::StatusCode};
use gatehouse_jobs::access::Ability;
use gatehouse_jobs::{
    clock::{MAX_PERIOD_DAYS, MAX_TRIAL_DAYS},
    store::{self, plans::NewPlan},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JsonBody, Page, PageQuery, Params};
use crate::{AppState, auth::ProjectKey, error::ApiError};

/// Telegram Stars' currency code.
const STARS: &str = "XTR";

/// The body of `POST .../plans`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreatePlan {
    name: String,
    price: i64,
    currency: String,
    #[serde(default)]
    stars_price: Option<i64>,
    #[serde(default)]
    duration_days: Option<i64>,
    #[serde(default)]
    recurring: bool,
    #[serde(default)]
    trial_days: Option<i64>,
    chat_ids: Vec<i64>,
}

/// The answer to `POST .../plans`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedPlan {
    plan_id: Uuid,
}

/// One plan in `GET .../plans`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanView {
    plan_id: Uuid,
    name: String,
    price: i64,
    currency: String,
    stars_price: Option<i32>,
    duration_days: Option<i32>,
    recurring: bool,
    trial_days: i32,
    chat_ids: Vec<i64>,
    on_sale: bool,
}

/// A plan's terms, checked.
#[derive(Debug, PartialEq)]
struct Terms {
    stars_price: Option<i32>,
    duration_days: Option<i32>,
    trial_days: i32,
    chat_ids: Vec<i64>,
}

/// The route `POST .../plans`.
pub async fn create(
    key: ProjectKey,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreatePlan>,
) -> Result<(StatusCode, Data<CreatedPlan>), ApiError> {
    create_plan(&state, &key, body).await.map(|plan| (StatusCode::CREATED, Data(plan)))
}

/// Creates the plan and the list of chats it grants (`plans:write`): the route and
/// the `create_plan` MCP tool.
pub async fn create_plan(state: &AppState, key: &ProjectKey, body: CreatePlan) -> Result<CreatedPlan, ApiError> {
    key.require(Ability::PlansWrite)?;
    let terms = check(&body)?;
    let plan_id = Uuid::new_v4();

    let mut tx = state.pool.begin().await?;
    let found = store::chats::by_telegram_ids(&mut *tx, key.project_id, &terms.chat_ids).await?;
    let missing: Vec<String> = terms
        .chat_ids
        .iter()
        .filter(|id| !found.iter().any(|c| c.telegram_chat_id == **id))
        .map(i64::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "chat_ids: not chats of this project: {} (add them with POST /v1/projects/{}/chats first)",
            missing.join(", "),
            key.project_id
        )));
    }
    store::plans::insert(
        &mut *tx,
        &NewPlan {
            id: plan_id,
            project_id: key.project_id,
            name: body.name.trim(),
            price_minor: body.price,
            currency: &body.currency,
            stars_price: terms.stars_price,
            duration_days: terms.duration_days,
            recurring: body.recurring,
            trial_days: terms.trial_days,
        },
    )
    .await?;
    let chat_ids: Vec<Uuid> = found.iter().map(|c| c.id).collect();
    store::plans::add_chats(&mut *tx, plan_id, &chat_ids).await?;
    tx.commit().await?;
    Ok(CreatedPlan { plan_id })
}

/// The route `GET .../plans`.
pub async fn list(
    key: ProjectKey,
    State(state): State<AppState>,
    Params(page): Params<PageQuery>,
) -> Result<Page<PlanView>, ApiError> {
    list_plans(&state, &key, &page).await
}

/// The project's plans with the Telegram ids of the chats each grants, in the order
/// they were made (`plans:read`): the route and the `list_plans` MCP tool.
pub async fn list_plans(state: &AppState, key: &ProjectKey, page: &PageQuery) -> Result<Page<PlanView>, ApiError> {
    key.require(Ability::PlansRead)?;
    let rows =
        store::plans::page_of_project(&state.pool, key.project_id, page.after()?, None, page.limit()? + 1).await?;
    page.page(
        rows,
        |p| p.plan.number,
        |p| PlanView {
            plan_id: p.plan.id,
            name: p.plan.name,
            price: p.plan.price_minor,
            currency: p.plan.currency,
            stars_price: p.plan.stars_price,
            duration_days: p.plan.duration_days,
            recurring: p.plan.recurring,
            trial_days: p.plan.trial_days,
            chat_ids: p.telegram_chat_ids,
            on_sale: p.plan.on_sale,
        },
    )
}

fn invalid(message: &str) -> ApiError {
    ApiError::Unprocessable(message.into())
}

/// Checks everything that does not need the database.
fn check(body: &CreatePlan) -> Result<Terms, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name: expected 1 to 200 characters"));
    }
    if body.price < 0 {
        return Err(invalid("price: expected a whole number of the currency's minor unit, 0 or more"));
    }
    let currency = body.currency.as_bytes();
    if currency.len() != 3 || !currency.iter().all(u8::is_ascii_uppercase) {
        return Err(invalid(
            "currency: expected a 3-letter uppercase currency code such as \"EUR\", or \"XTR\" for Telegram Stars",
        ));
    }
    let positive_i32 = |n: i64| i32::try_from(n).ok().filter(|n| *n > 0);
    let stars_price = if body.currency == STARS {
        let stars =
            positive_i32(body.price).ok_or_else(|| invalid("price: a price in Stars (XTR) is from 1 to 2147483647"))?;
        if body.stars_price.is_some_and(|s| s != body.price) {
            return Err(invalid("stars_price: must equal price when the currency is XTR (or be left out)"));
        }
        Some(stars)
    } else {
        body.stars_price
            .map(|s| positive_i32(s).ok_or_else(|| invalid("stars_price: expected 1 to 2147483647")))
            .transpose()?
    };
    let duration_days = body
        .duration_days
        .map(|d| {
            positive_i32(d).filter(|d| i64::from(*d) <= MAX_PERIOD_DAYS).ok_or_else(|| {
                invalid(&format!("duration_days: expected 1 to {MAX_PERIOD_DAYS} days, or null for lifetime"))
            })
        })
        .transpose()?;
    if body.recurring && duration_days.is_none() {
        return Err(invalid("recurring: a recurring plan needs duration_days (its period)"));
    }
    let trial_days = match body.trial_days {
        None => 0,
        Some(t) => i32::try_from(t)
            .ok()
            .filter(|t| (0..=MAX_TRIAL_DAYS).contains(&i64::from(*t)))
            .ok_or_else(|| invalid(&format!("trial_days: expected 0 to {MAX_TRIAL_DAYS} days")))?,
    };
    let mut chat_ids = body.chat_ids.clone();
    chat_ids.sort_unstable();
    chat_ids.dedup();
    if chat_ids.is_empty() {
        return Err(invalid("chat_ids: expected at least one Telegram chat id of this project"));
    }
    Ok(Terms { stars_price, duration_days, trial_days, chat_ids })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan(overrides: serde_json::Value) -> CreatePlan {
        let mut body = json!({
            "name": "Monthly", "price": 500, "currency": "EUR",
            "duration_days": 30, "recurring": true, "chat_ids": [-100, -100, -200]
        });
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        serde_json::from_value(body).unwrap()
    }

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::Unprocessable(m) => m.split(':').next().unwrap().to_string(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_plan_has_its_terms_and_unique_chats() {
        let terms = check(&plan(json!({}))).unwrap();
        assert_eq!(
            terms,
            Terms { stars_price: None, duration_days: Some(30), trial_days: 0, chat_ids: vec![-200, -100] }
        );
    }

    #[test]
    fn a_stars_plan_costs_its_price_in_stars() {
        let terms = check(&plan(json!({"currency": "XTR", "price": 250}))).unwrap();
        assert_eq!(terms.stars_price, Some(250));
        let e = check(&plan(json!({"currency": "XTR", "price": 250, "stars_price": 1}))).unwrap_err();
        assert_eq!(field_of(e), "stars_price");
        let e = check(&plan(json!({"currency": "XTR", "price": 0}))).unwrap_err();
        assert_eq!(field_of(e), "price");
    }

    #[test]
    fn each_invalid_term_names_its_field() {
        for (overrides, field) in [
            (json!({"name": " "}), "name"),
            (json!({"price": -1}), "price"),
            (json!({"currency": "eur"}), "currency"),
            (json!({"currency": "EURO"}), "currency"),
            (json!({"stars_price": 0}), "stars_price"),
            (json!({"duration_days": 0}), "duration_days"),
            (json!({"duration_days": null}), "recurring"),
            (json!({"trial_days": -1}), "trial_days"),
            (json!({"chat_ids": []}), "chat_ids"),
        ] {
            let e = check(&plan(overrides.clone())).unwrap_err();
            assert_eq!(field_of(e), field, "{overrides}");
        }
    }

    #[test]
    fn a_lifetime_plan_has_no_duration() {
        let terms = check(&plan(json!({"duration_days": null, "recurring": false}))).unwrap();
        assert_eq!(terms.duration_days, None);
    }
}
