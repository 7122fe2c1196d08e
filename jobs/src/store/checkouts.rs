//! `checkout_requests`: a user's request to pay for a plan, read with what its job
//! needs about the payer.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A request to pay for a plan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckoutRequest {
    /// `checkout_requests.id` (the `gatehouse_ref` / Stars payload).
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Plan.
    pub plan_id: Uuid,
    /// stripe or stars.
    pub provider: String,
    /// Session id / invoice link, once made.
    pub external_id: Option<String>,
    /// The URL to pay at, once made.
    pub url: Option<String>,
    /// pending, sent, failed.
    pub state: String,
    /// `subscribers.id`.
    pub subscriber_id: Uuid,
    /// The payer.
    pub telegram_user_id: i64,
    /// active or banned.
    pub subscriber_status: String,
    /// Their language.
    pub language_code: Option<String>,
    /// Where Stripe's checkout sends the payer back to (a checkout begun on the
    /// membership page); `None`: to the bot, and the way to pay is sent in Telegram.
    pub return_url: Option<String>,
}

/// Records a checkout request (`return_url`: see [`CheckoutRequest::return_url`]).
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    project_id: Uuid,
    subscriber_id: Uuid,
    plan_id: Uuid,
    provider: &str,
    return_url: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO checkout_requests (id, project_id, subscriber_id, plan_id, provider, return_url)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(project_id)
    .bind(subscriber_id)
    .bind(plan_id)
    .bind(provider)
    .bind(return_url)
    .execute(db)
    .await?;
    Ok(())
}

/// A checkout request by id.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<CheckoutRequest>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.project_id, c.plan_id, c.provider, c.external_id, c.url, c.state, c.subscriber_id,
                s.telegram_user_id, s.status AS subscriber_status, s.language_code, c.return_url
         FROM checkout_requests c JOIN subscribers s ON s.id = c.subscriber_id WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Records what the provider made for a request (session id or invoice link, and the URL).
pub async fn made(db: impl PgExecutor<'_>, id: Uuid, external_id: &str, url: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE checkout_requests SET external_id = $2, url = $3, state = 'sent', updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(external_id)
    .bind(url)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a request failed, with the reason.
pub async fn failed(db: impl PgExecutor<'_>, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE checkout_requests SET state = 'failed', error = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}
