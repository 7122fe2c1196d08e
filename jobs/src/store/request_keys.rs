//! `request_keys`: the answers given to integrator requests made with an
//! `Idempotency-Key`, so a repeat gets the same answer and does nothing again.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A stored answer to a request made with an idempotency key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredResponse {
    /// SHA-256 of the request the key was first used with.
    pub request_digest: Vec<u8>,
    /// The answer body given then.
    pub response: serde_json::Value,
}

/// Records `key` with the answer it gets, unless the key is already recorded
/// (then returns false). A concurrent first use waits here until the other
/// transaction ends. Call before acting, in the transaction that acts.
pub async fn claim(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope: &str,
    key: &str,
    request_digest: &[u8],
    response: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let claimed: Option<i32> = sqlx::query_scalar(
        "INSERT INTO request_keys (project_id, scope, key, request_digest, response)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (project_id, scope, key) DO NOTHING
         RETURNING 1",
    )
    .bind(project_id)
    .bind(scope)
    .bind(key)
    .bind(request_digest)
    .bind(response)
    .fetch_optional(db)
    .await?;
    Ok(claimed.is_some())
}

/// The answer recorded for `key`, if any.
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope: &str,
    key: &str,
) -> Result<Option<StoredResponse>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_digest, response FROM request_keys
         WHERE project_id = $1 AND scope = $2 AND key = $3",
    )
    .bind(project_id)
    .bind(scope)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// Replaces the answer recorded for `key` (in the transaction that claimed it, once
/// the answer is complete: the job it enqueued, say).
pub async fn set_response(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope: &str,
    key: &str,
    response: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE request_keys SET response = $4 WHERE project_id = $1 AND scope = $2 AND key = $3")
        .bind(project_id)
        .bind(scope)
        .bind(key)
        .bind(response)
        .execute(db)
        .await?;
    Ok(())
}
