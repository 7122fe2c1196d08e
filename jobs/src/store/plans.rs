//! `plans` and `plan_chats`: what a project sells, and the chats each plan grants.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A plan: what is sold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Plan {
    /// `plans.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Name.
    pub name: String,
    /// Price in the currency's minor unit.
    pub price_minor: i64,
    /// ISO 4217 code, or `XTR` for Stars.
    pub currency: String,
    /// Price in Stars, if sold for Stars.
    pub stars_price: Option<i32>,
    /// Days of access per payment; `None` = lifetime.
    pub duration_days: Option<i32>,
    /// Renews by itself.
    pub recurring: bool,
    /// Free trial days.
    pub trial_days: i32,
    /// Still sold.
    pub on_sale: bool,
    /// Its number: unique, never reused, in the order plans were made (the
    /// TGmembership-compatible API's `plan_id`).
    pub number: i64,
}

const COLUMNS: &str = "p.id, p.project_id, p.name, p.price_minor, p.currency, p.stars_price, p.duration_days, p.recurring, p.trial_days, p.on_sale, p.number";

/// A plan with the chats it grants.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanWithChats {
    /// The plan.
    #[sqlx(flatten)]
    pub plan: Plan,
    /// Telegram ids of the chats it grants, ascending.
    pub telegram_chat_ids: Vec<i64>,
}

/// A plan to insert.
#[derive(Debug, Clone)]
pub struct NewPlan<'a> {
    /// `plans.id`.
    pub id: Uuid,
    /// The project selling it.
    pub project_id: Uuid,
    /// Its name.
    pub name: &'a str,
    /// Price in the currency's minor unit.
    pub price_minor: i64,
    /// ISO 4217 code, or `XTR` for Stars.
    pub currency: &'a str,
    /// Price in Stars, when it can be paid with Stars.
    pub stars_price: Option<i32>,
    /// `None` = lifetime.
    pub duration_days: Option<i32>,
    /// Renews every `duration_days`.
    pub recurring: bool,
    /// Free days before the first payment.
    pub trial_days: i32,
}

/// Inserts a plan (without its chats: [`add_chats`]).
pub async fn insert(db: impl PgExecutor<'_>, plan: &NewPlan<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO plans (id, project_id, name, price_minor, currency, stars_price,
                            duration_days, recurring, trial_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(plan.id)
    .bind(plan.project_id)
    .bind(plan.name)
    .bind(plan.price_minor)
    .bind(plan.currency)
    .bind(plan.stars_price)
    .bind(plan.duration_days)
    .bind(plan.recurring)
    .bind(plan.trial_days)
    .execute(db)
    .await?;
    Ok(())
}

/// Grants the chats `chat_ids` (`chats.id`) with the plan.
pub async fn add_chats(db: impl PgExecutor<'_>, plan_id: Uuid, chat_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO plan_chats (plan_id, chat_id)
         SELECT $1, chat_id FROM UNNEST($2::uuid[]) AS chat_id
         ON CONFLICT DO NOTHING",
    )
    .bind(plan_id)
    .bind(chat_ids)
    .execute(db)
    .await?;
    Ok(())
}

/// A project's plan.
pub async fn get(db: impl PgExecutor<'_>, project_id: Uuid, plan_id: Uuid) -> Result<Option<Plan>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM plans p WHERE p.id = $1 AND p.project_id = $2")))
        .bind(plan_id)
        .bind(project_id)
        .fetch_optional(db)
        .await
}

/// A project's plan by name (case-insensitive) or id; the oldest when names repeat.
pub async fn by_name_or_id(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    name_or_id: &str,
) -> Result<Option<Plan>, sqlx::Error> {
    let id = Uuid::parse_str(name_or_id).ok();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM plans p
         WHERE p.project_id = $1 AND (p.id = $2 OR lower(p.name) = lower($3))
         ORDER BY p.created_at LIMIT 1"
    )))
    .bind(project_id)
    .bind(id)
    .bind(name_or_id)
    .fetch_optional(db)
    .await
}

/// The project's plans with their chats, oldest first.
pub async fn of_project(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<PlanWithChats>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS},
                ARRAY(SELECT c.telegram_chat_id FROM plan_chats pc JOIN chats c ON c.id = pc.chat_id
                      WHERE pc.plan_id = p.id ORDER BY c.telegram_chat_id) AS telegram_chat_ids
         FROM plans p WHERE p.project_id = $1
         ORDER BY p.number"
    )))
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// A page of the project's plans in the order they were made: at most `limit`, with
/// numbers above `after` (or only the plan numbered `only`).
pub async fn page_of_project(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    after: Option<i64>,
    only: Option<i64>,
    limit: i64,
) -> Result<Vec<PlanWithChats>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS},
                ARRAY(SELECT c.telegram_chat_id FROM plan_chats pc JOIN chats c ON c.id = pc.chat_id
                      WHERE pc.plan_id = p.id ORDER BY c.telegram_chat_id) AS telegram_chat_ids
         FROM plans p WHERE p.project_id = $1 AND p.number > $2 AND ($3::bigint IS NULL OR p.number = $3)
         ORDER BY p.number LIMIT $4"
    )))
    .bind(project_id)
    .bind(after.unwrap_or(0))
    .bind(only)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The chats (`chats.id`) a plan grants, inside a transaction.
pub async fn chat_ids(conn: &mut PgConnection, plan_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT chat_id FROM plan_chats WHERE plan_id = $1 ORDER BY chat_id")
        .bind(plan_id)
        .fetch_all(conn)
        .await
}

/// Puts a project's plan on sale or takes it off; false if there is no such plan.
pub async fn set_on_sale(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    plan_id: Uuid,
    on_sale: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE plans SET on_sale = $3 WHERE id = $1 AND project_id = $2")
        .bind(plan_id)
        .bind(project_id)
        .bind(on_sale)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
