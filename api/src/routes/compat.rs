//! The TGmembership-compatible API: `GET /bot{bot_id}/{api_key}/{method}`, so that code
//! written for TGmembership keeps working when only its base URL changes.
//!
//! `bot_id` is the Telegram id of the project's bot; the key is one of the project's
//! api keys, holding the ability the method needs. Method names are case-insensitive.
//! Every answer is `{"ok":true,"code":200,"result":…}` or
//! `{"ok":false,"code":N,"description":"…"}` with the same HTTP status: 400 for a
//! bad or out-of-range parameter (named), 401 for a bad key or a key of another bot's
//! project, 403 for a key without the ability, 404 for an unknown method, 429 over
//! the key's request limit (with `Retry-After`). Values are strings, as TGmembership
//! shows them.
//!
//! Methods: `getPlans`, `addMember`, `chatsGrowth` (TGmembership's), and, in the same
//! style, `getMember`, `getMembers`, `removeMember`, `extendMember`. Each is a thin
//! shape over the `/v1` code that answers the same question (access tokens, grants,
//! the subscriber list, the daily counts): no rule is written twice.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use gatehouse_jobs::{access::Ability, clock::MAX_PERIOD_DAYS, money, store};
use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::{json, value::RawValue};
use uuid::Uuid;

use crate::{
    AppState,
    auth::{Bucket, ProjectKey, use_key},
    error::ApiError,
    routes::v1::{access_tokens, grants},
};

/// A compat error: its status and description.
struct Failure(StatusCode, String);

impl Failure {
    fn bad(param: &str, expected: &str) -> Self {
        Failure(StatusCode::BAD_REQUEST, format!("Bad Request: parameter {param} {expected}"))
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        let status = match e.status() {
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => StatusCode::BAD_REQUEST,
            s => s,
        };
        Failure(status, e.to_string())
    }
}

/// The route.
pub async fn call(
    State(state): State<AppState>,
    Path((bot, api_key, method)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(bot_id) = bot.strip_prefix("bot").and_then(|id| id.parse::<i64>().ok()).filter(|id| *id > 0) else {
        return ApiError::NotFound("no such route".into()).into_response();
    };
    let limit = state.config.http.key_rate_limit;
    let result = async {
        let key = use_key(&state, &api_key, Bucket::Http, limit).await.map_err(|e| match e {
            ApiError::RateLimited(s) => ApiError::RateLimited(s),
            ApiError::Unauthorized(_) => ApiError::Unauthorized("Unauthorized: invalid api key".into()),
            e => e,
        })?;
        let bot = store::bots::of_project(&state.pool, key.project_id).await?;
        if bot.as_ref().is_none_or(|b| b.telegram_bot_id != bot_id) {
            return Err(ApiError::Unauthorized("Unauthorized: the api key is not one of this bot's".into()).into());
        }
        let bot_username = bot.and_then(|b| b.username).unwrap_or_default();
        dispatch(&state, &key, &bot_username, &method.to_ascii_lowercase(), &params).await
    }
    .await;
    match result {
        Ok(result) => (StatusCode::OK, Json(Answer { ok: true, code: 200, result: &result })).into_response(),
        Err(Failure(status, description)) => {
            let mut response =
                (status, Json(json!({"ok": false, "code": status.as_u16(), "description": description})))
                    .into_response();
            if status == StatusCode::TOO_MANY_REQUESTS
                && let Some(seconds) = description.split_whitespace().find_map(|w| w.parse::<u64>().ok())
            {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
    }
}

/// A success, its fields in TGmembership's order.
#[derive(Serialize)]
struct Answer<'a> {
    ok: bool,
    code: u16,
    result: &'a RawValue,
}

/// A result serialized as it will be sent, its keys in the order the structs give.
fn raw<T: Serialize>(value: &T) -> Result<Box<RawValue>, Failure> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("Internal Server Error: {e}")))
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(e).into()
    }
}

async fn dispatch(
    state: &AppState,
    key: &ProjectKey,
    bot_username: &str,
    method: &str,
    params: &HashMap<String, String>,
) -> Result<Box<RawValue>, Failure> {
    let ability = match method {
        "getplans" => Ability::PlansRead,
        "addmember" => Ability::AccessCodesWrite,
        "chatsgrowth" => Ability::AnalyticsRead,
        "getmember" | "getmembers" => Ability::MembersRead,
        "removemember" | "extendmember" => Ability::MembersWrite,
        _ => return Err(Failure(StatusCode::NOT_FOUND, "Not Found: method not found".into())),
    };
    key.require(ability)?;
    match method {
        "getplans" => get_plans(state, key, params).await,
        "addmember" => add_member(state, key, bot_username, params).await,
        "chatsgrowth" => chats_growth(state, key, params).await,
        "getmember" => get_member(state, key, params).await,
        "getmembers" => get_members(state, key, params).await,
        "removemember" => remove_member(state, key, params).await,
        _ => extend_member(state, key, params).await,
    }
}

/// An integer parameter within `range`, if given.
fn int(
    params: &HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, Failure> {
    let Some(raw) = params.get(name) else { return Ok(None) };
    match raw.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(Failure::bad(name, &format!("must be an integer from {} to {}", range.start(), range.end()))),
    }
}

fn required(value: Option<i64>, name: &str) -> Result<i64, Failure> {
    value.ok_or_else(|| Failure::bad(name, "is required"))
}

/// A plan's length as TGmembership writes it: "1 month", "3 months", "1 year",
/// "lifetime", "10 days".
pub fn duration(days: Option<i32>) -> String {
    let plural = |n: i32, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    match days {
        None => "lifetime".into(),
        Some(d) if d % 365 == 0 => plural(d / 365, "year"),
        Some(d) if d % 30 == 0 => plural(d / 30, "month"),
        Some(d) => plural(d, "day"),
    }
}

/// A plan as `getPlans` shows it.
#[derive(Serialize)]
struct PlanOut {
    plan_id: String,
    plan_name: String,
    duration: String,
    cost: String,
    currency: String,
    recurring: &'static str,
}

fn plan_out(plan: &store::plans::Plan) -> PlanOut {
    PlanOut {
        plan_id: plan.number.to_string(),
        plan_name: plan.name.clone(),
        duration: duration(plan.duration_days),
        cost: money::decimal(plan.price_minor, &plan.currency),
        currency: plan.currency.clone(),
        recurring: if plan.recurring { "1" } else { "0" },
    }
}

/// The plan numbered `number` in the project.
async fn plan_numbered(state: &AppState, project_id: Uuid, number: i64) -> Result<store::plans::Plan, Failure> {
    store::plans::page_of_project(&state.pool, project_id, None, Some(number), 1)
        .await?
        .pop()
        .map(|p| p.plan)
        .ok_or_else(|| Failure::bad("plan_id", "is not a plan of this bot"))
}

async fn get_plans(
    state: &AppState,
    key: &ProjectKey,
    params: &HashMap<String, String>,
) -> Result<Box<RawValue>, Failure> {
    let only = int(params, "plan_id", 1..=i64::MAX)?;
    let limit = int(params, "limit", 1..=100)?.unwrap_or(10_000);
    let plans = store::plans::page_of_project(&state.pool, key.project_id, None, only, limit).await?;
    raw(&plans.iter().map(|p| plan_out(&p.plan)).collect::<Vec<_>>())
}

async fn add_member(
    state: &AppState,
    key: &ProjectKey,
    bot_username: &str,
    params: &HashMap<String, String>,
) -> Result<Box<RawValue>, Failure> {
    #[derive(Serialize)]
    struct Added<'a> {
        bot_username: &'a str,
        access_token: String,
        link: String,
    }
    let number = required(int(params, "plan_id", 1..=i64::MAX)?, "plan_id")?;
    let plan = plan_numbered(state, key.project_id, number).await?;
    let token = access_tokens::issue(state, key.project_id, plan.id, None, None).await?;
    raw(&Added {
        bot_username,
        link: format!("https://t.me/{bot_username}?start={}", token.deep_link_payload),
        access_token: token.token,
    })
}

/// An object whose keys keep the order they are given in (`"0"`, `"1"`, … `"10"`).
struct Ordered<T>(Vec<(String, T)>);

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One day of `chatsGrowth`.
#[derive(Serialize)]
struct Day {
    date: String,
    members: String,
}

async fn chats_growth(
    state: &AppState,
    key: &ProjectKey,
    params: &HashMap<String, String>,
) -> Result<Box<RawValue>, Failure> {
    let chat = int(params, "chat_id", i64::MIN..=i64::MAX)?;
    let start = match params.get("start_date") {
        None => None,
        Some(d) => Some(
            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| Failure::bad("start_date", "must be a date in the format YYYY-mm-dd"))?,
        ),
    };
    let limit = int(params, "limit", 1..=31)?.unwrap_or(7);
    let descending = match params.get("order").map(|o| o.trim().to_ascii_uppercase()) {
        None => true,
        Some(o) if o == "DESC" => true,
        Some(o) if o == "ASC" => false,
        Some(_) => return Err(Failure::bad("order", "must be ASC or DESC")),
    };
    let mut chats = store::chats::of_project(&state.pool, key.project_id).await?;
    chats.sort_by_key(|c| c.telegram_chat_id);
    if let Some(id) = chat {
        chats.retain(|c| c.telegram_chat_id == id);
        if chats.is_empty() {
            return Err(Failure::bad("chat_id", "is not a chat of this bot"));
        }
    }
    let counts = store::analytics::member_counts(&state.pool, key.project_id, chat, start, descending, limit).await?;
    let result: Vec<(String, Ordered<Day>)> = chats
        .iter()
        .map(|c| {
            let days = counts
                .iter()
                .filter(|d| d.telegram_chat_id == c.telegram_chat_id)
                .enumerate()
                .map(|(i, d)| {
                    let day = Day { date: d.day.format("%Y-%m-%d").to_string(), members: d.members.to_string() };
                    (i.to_string(), day)
                })
                .collect();
            (c.telegram_chat_id.to_string(), Ordered(days))
        })
        .collect();
    raw(&Ordered(result))
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "never".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// A member as `getMember` and `getMembers` show them.
#[derive(Serialize)]
struct MemberOut {
    user_id: String,
    username: String,
    first_name: String,
    status: &'static str,
    expire_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    plans: Option<Vec<MemberPlan>>,
}

/// One of a member's grants.
#[derive(Serialize)]
struct MemberPlan {
    plan_name: String,
    state: String,
    active: &'static str,
    expire_date: String,
}

fn member_out(s: &store::subscribers::Listed) -> MemberOut {
    MemberOut {
        user_id: s.telegram_user_id.to_string(),
        username: s.username.clone().unwrap_or_default(),
        first_name: s.first_name.clone().unwrap_or_default(),
        status: if s.status == "banned" {
            "banned"
        } else if s.entitled {
            "active"
        } else {
            "expired"
        },
        expire_date: if s.entitled { when(s.entitled_until) } else { String::new() },
        plans: None,
    }
}

async fn get_member(
    state: &AppState,
    key: &ProjectKey,
    params: &HashMap<String, String>,
) -> Result<Box<RawValue>, Failure> {
    let user = required(int(params, "user_id", 1..=i64::MAX)?, "user_id")?;
    let filter = store::subscribers::Filter { search: Some(user.to_string()), ..Default::default() };
    let found = store::subscribers::page(&state.pool, key.project_id, &filter, state.clock.now(), None, 1).await?;
    let subscriber = found.first().ok_or_else(|| Failure::bad("user_id", "is not a member of this bot"))?;
    let mut member = member_out(subscriber);
    let grants = store::grants::of_member(&state.pool, key.project_id, user, state.clock.now()).await?;
    member.plans = Some(
        grants
            .iter()
            .map(|g| MemberPlan {
                plan_name: g.plan_name.clone(),
                state: g.grant.state.clone(),
                active: if g.entitled { "1" } else { "0" },
                expire_date: when(g.grant.ends_at),
            })
            .collect(),
    );
    raw(&member)
}

async fn get_members(
    state: &AppState,
    key: &ProjectKey,
    params: &HashMap<String, String>,
) -> Result<Box<RawValue>, Failure> {
    let plan = match int(params, "plan_id", 1..=i64::MAX)? {
        Some(n) => Some(plan_numbered(state, key.project_id, n).await?.id),
        None => None,
    };
    let status = match params.get("status").map(|s| s.trim().to_ascii_lowercase()) {
        None => None,
        Some(s) if s == "active" => Some("entitled".to_string()),
        Some(s) if s == "expired" => Some("lapsed".to_string()),
        Some(s) if s == "banned" => Some("banned".to_string()),
        Some(_) => return Err(Failure::bad("status", "must be active, expired or banned")),
    };
    let limit = int(params, "limit", 1..=100)?.unwrap_or(100);
    let offset = int(params, "offset", 0..=1_000_000_000)?.unwrap_or(0);
    let filter = store::subscribers::Filter { status, plan_id: plan, ..Default::default() };
    let rows =
        store::subscribers::page_at_offset(&state.pool, key.project_id, &filter, state.clock.now(), offset, limit)
            .await?;
    raw(&rows.iter().map(member_out).collect::<Vec<_>>())
}

async fn remove_member(
    state: &AppState,
    key: &ProjectKey,
    params: &HashMap<String, String>,
) -> Result<Box<RawValue>, Failure> {
    let user = required(int(params, "user_id", 1..=i64::MAX)?, "user_id")?;
    let grants = store::grants::of_member(&state.pool, key.project_id, user, state.clock.now()).await?;
    let entitling: Vec<Uuid> = grants.iter().filter(|g| g.entitled).map(|g| g.grant.id).collect();
    if entitling.is_empty() {
        return Err(Failure::bad("user_id", "has no active subscription"));
    }
    for grant_id in &entitling {
        grants::revoke_grant(state, key.project_id, *grant_id).await?;
    }
    #[derive(Serialize)]
    struct Removed {
        user_id: String,
        removed: &'static str,
    }
    raw(&Removed { user_id: user.to_string(), removed: "1" })
}

async fn extend_member(
    state: &AppState,
    key: &ProjectKey,
    params: &HashMap<String, String>,
) -> Result<Box<RawValue>, Failure> {
    let user = required(int(params, "user_id", 1..=i64::MAX)?, "user_id")?;
    let days = required(int(params, "days", 1..=MAX_PERIOD_DAYS)?, "days")?;
    let now = state.clock.now();
    let grants = store::grants::of_member(&state.pool, key.project_id, user, now).await?;
    // The plan of their newest grant; the extension starts when their access ends.
    let newest = grants.first().ok_or_else(|| Failure::bad("user_id", "has no subscription to extend"))?;
    if grants.iter().any(|g| g.entitled && g.grant.ends_at.is_none()) {
        return Err(Failure::bad("user_id", "already has lifetime access"));
    }
    let access_ends =
        grants.iter().filter(|g| g.entitled).filter_map(|g| g.grant.ends_at).max().unwrap_or(now).max(now);
    let ends_at = access_ends
        .checked_add_signed(Duration::days(days))
        .ok_or_else(|| Failure::bad("days", "is too far in the future"))?;
    let grant_id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    let manual = grants::Manual {
        grant_id,
        telegram_user_id: user,
        plan_id: newest.grant.plan_id,
        starts_at: now,
        ends_at: Some(ends_at),
        note: Some("extended through the TGmembership-compatible API"),
    };
    grants::insert_manual(&mut tx, key.project_id, &manual).await?;
    tx.commit().await?;
    #[derive(Serialize)]
    struct Extended {
        user_id: String,
        expire_date: String,
    }
    raw(&Extended { user_id: user.to_string(), expire_date: when(Some(ends_at)) })
}
