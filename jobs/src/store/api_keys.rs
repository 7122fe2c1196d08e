//! `api_keys`: the integrator API's keys, stored only as digests.

use sqlx::PgExecutor;
use uuid::Uuid;

/// An api key that is in force.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    /// `api_keys.id`.
    pub id: Uuid,
    /// The project it acts for.
    pub project_id: Uuid,
    /// What it may do (`*` = everything its project allows).
    pub abilities: Vec<String>,
}

/// Inserts an api key of `project_id`, stored only as its digest and a short prefix.
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    project_id: Uuid,
    key_hash: &[u8],
    key_prefix: &str,
    abilities: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_keys (id, project_id, key_hash, key_prefix, abilities)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(project_id)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(abilities)
    .execute(db)
    .await?;
    Ok(())
}

/// The key whose SHA-256 is `key_hash`, unless it was revoked.
pub async fn find(db: impl PgExecutor<'_>, key_hash: &[u8]) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, abilities FROM api_keys
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(db)
    .await
}

/// The key with this id, unless it was revoked (a console session names its key by id).
pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as("SELECT id, project_id, abilities FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .fetch_optional(db)
        .await
}
