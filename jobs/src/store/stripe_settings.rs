//! `stripe_settings`: a project's sealed Stripe secrets.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A project's sealed Stripe secrets.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StripeSettings {
    /// The secret API key, sealed.
    pub secret_key_sealed: Vec<u8>,
    /// Its last four characters.
    pub secret_key_hint: String,
    /// The webhook signing secret in force, sealed.
    pub webhook_secret_sealed: Vec<u8>,
    /// The one before it, still accepted while the endpoint's secret is rolled.
    pub previous_webhook_secret_sealed: Option<Vec<u8>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The project's Stripe settings, if any.
pub async fn get(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Option<StripeSettings>, sqlx::Error> {
    sqlx::query_as(
        "SELECT secret_key_sealed, secret_key_hint, webhook_secret_sealed, previous_webhook_secret_sealed, updated_at
         FROM stripe_settings WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// Stores the project's Stripe settings (all sealed by the caller).
pub async fn put(db: impl PgExecutor<'_>, project_id: Uuid, settings: &StripeSettings) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stripe_settings (project_id, secret_key_sealed, secret_key_hint, webhook_secret_sealed,
                                      previous_webhook_secret_sealed, updated_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (project_id) DO UPDATE SET
           secret_key_sealed = EXCLUDED.secret_key_sealed, secret_key_hint = EXCLUDED.secret_key_hint,
           webhook_secret_sealed = EXCLUDED.webhook_secret_sealed,
           previous_webhook_secret_sealed = EXCLUDED.previous_webhook_secret_sealed, updated_at = now()",
    )
    .bind(project_id)
    .bind(&settings.secret_key_sealed)
    .bind(&settings.secret_key_hint)
    .bind(&settings.webhook_secret_sealed)
    .bind(&settings.previous_webhook_secret_sealed)
    .execute(db)
    .await?;
    Ok(())
}
