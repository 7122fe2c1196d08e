//! `idempotent_requests`: the first answer to each write sent with an `Idempotency-Key`,
//! per credential, so that a repeat within 24 hours gets the same answer and does
//! nothing again.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// What is recorded for a key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recorded {
    /// SHA-256 of the request the key was first used with.
    pub request_digest: Vec<u8>,
    /// The answer's status, once there is one (`None`: still being handled).
    pub response_status: Option<i16>,
    /// The answer's body.
    pub response_body: Option<Vec<u8>>,
    /// The answer's `Content-Type`.
    pub response_type: Option<String>,
    /// When the request was first seen.
    pub created_at: DateTime<Utc>,
}

/// Claims `key` for a request with `request_digest`: true if this request is the first
/// (or the key's earlier record is older than `stale_before`, or it was abandoned while
/// being handled before `abandoned_before`). Otherwise the record is left as it is.
pub async fn claim(
    db: impl PgExecutor<'_>,
    owner: &[u8],
    key: &str,
    request_digest: &[u8],
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
    abandoned_before: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let claimed: Option<i32> = sqlx::query_scalar(
        "INSERT INTO idempotent_requests (owner, key, request_digest, created_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (owner, key) DO UPDATE
             SET request_digest = EXCLUDED.request_digest, created_at = EXCLUDED.created_at,
                 response_status = NULL, response_body = NULL, response_type = NULL
             WHERE idempotent_requests.created_at < $5
                OR (idempotent_requests.response_status IS NULL AND idempotent_requests.created_at < $6
                    AND idempotent_requests.request_digest = EXCLUDED.request_digest)
         RETURNING 1",
    )
    .bind(owner)
    .bind(key)
    .bind(request_digest)
    .bind(now)
    .bind(stale_before)
    .bind(abandoned_before)
    .fetch_optional(db)
    .await?;
    Ok(claimed.is_some())
}

/// What is recorded for `key`.
pub async fn find(db: impl PgExecutor<'_>, owner: &[u8], key: &str) -> Result<Option<Recorded>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_digest, response_status, response_body, response_type, created_at
         FROM idempotent_requests WHERE owner = $1 AND key = $2",
    )
    .bind(owner)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// Records the answer given to the request that claimed `key`.
pub async fn answer(
    db: impl PgExecutor<'_>,
    owner: &[u8],
    key: &str,
    status: i16,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotent_requests SET response_status = $3, response_body = $4, response_type = $5
         WHERE owner = $1 AND key = $2",
    )
    .bind(owner)
    .bind(key)
    .bind(status)
    .bind(body)
    .bind(content_type)
    .execute(db)
    .await?;
    Ok(())
}

/// Lets `key` go: the request failed on our side, so a retry must run it again.
pub async fn release(db: impl PgExecutor<'_>, owner: &[u8], key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotent_requests WHERE owner = $1 AND key = $2 AND response_status IS NULL")
        .bind(owner)
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets records older than `before`.
pub async fn prune(db: impl PgExecutor<'_>, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM idempotent_requests WHERE created_at < $1")
        .bind(before)
        .execute(db)
        .await?
        .rows_affected())
}
