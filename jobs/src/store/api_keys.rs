//! `api_keys` and `api_key_windows`: the integrator API's keys, stored only as digests,
//! and the per-key request counts of the rate limit.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// An api key that is in force.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    /// `api_keys.id`.
    pub id: Uuid,
    /// The project it acts for.
    pub project_id: Uuid,
    /// What it may do (`*` = everything; see [`crate::access`]).
    pub abilities: Vec<String>,
}

/// A key as its owner sees it in a list: never the secret, only its first characters.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyView {
    /// `api_keys.id`.
    pub id: Uuid,
    /// The name its creator gave it.
    pub name: String,
    /// What it may do.
    pub abilities: Vec<String>,
    /// The first characters of the key.
    pub key_prefix: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new key.
pub struct NewKey<'a> {
    /// `api_keys.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Its name.
    pub name: &'a str,
    /// SHA-256 of the key.
    pub key_hash: &'a [u8],
    /// Its first characters, kept in clear.
    pub key_prefix: &'a str,
    /// What it may do.
    pub abilities: &'a [String],
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Inserts an api key, stored only as its digest and a short prefix.
pub async fn insert(db: impl PgExecutor<'_>, key: &NewKey<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_keys (id, project_id, name, key_hash, key_prefix, abilities, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id)
    .bind(key.project_id)
    .bind(key.name)
    .bind(key.key_hash)
    .bind(key.key_prefix)
    .bind(key.abilities)
    .bind(key.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The key whose SHA-256 is `key_hash`, unless it was revoked or has expired at `now`.
pub async fn find(db: impl PgExecutor<'_>, key_hash: &[u8], now: DateTime<Utc>) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, abilities FROM api_keys
         WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(key_hash)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// A key in force and how many calls it has made in the current minute of `bucket`,
/// this one included.
#[derive(Debug, Clone)]
pub struct Use {
    /// The key.
    pub key: ApiKey,
    /// Calls in this minute, this one included.
    pub calls: i32,
    /// When this minute's window ends.
    pub window_ends: DateTime<Utc>,
}

/// Looks the key up, counts this call in its window of `bucket` and notes its last use
/// (at most once a minute), in one statement: the count is shared by every api process.
pub async fn use_key(
    db: impl PgExecutor<'_>,
    key_hash: &[u8],
    bucket: &str,
    now: DateTime<Utc>,
) -> Result<Option<Use>, sqlx::Error> {
    let window = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let row: Option<(Uuid, Uuid, Vec<String>, Option<i32>)> = sqlx::query_as(
        "WITH k AS (
             SELECT id, project_id, abilities FROM api_keys
             WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
         ), touched AS (
             UPDATE api_keys SET last_used_at = $4
             WHERE id IN (SELECT id FROM k) AND (last_used_at IS NULL OR last_used_at < $4)
         ), bumped AS (
             INSERT INTO api_key_windows (key_id, bucket, window_start, calls)
             SELECT id, $3, $4, 1 FROM k
             ON CONFLICT (key_id, bucket, window_start) DO UPDATE SET calls = api_key_windows.calls + 1
             RETURNING calls
         )
         SELECT k.id, k.project_id, k.abilities, (SELECT calls FROM bumped) FROM k",
    )
    .bind(key_hash)
    .bind(now)
    .bind(bucket)
    .bind(window)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id, project_id, abilities, calls)| Use {
        key: ApiKey { id, project_id, abilities },
        calls: calls.unwrap_or(1),
        window_ends: window + TimeDelta::minutes(1),
    }))
}

/// The project's keys in force, newest first.
pub async fn of_project(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<KeyView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, abilities, key_prefix, created_at, last_used_at, expires_at FROM api_keys
         WHERE project_id = $1 AND revoked_at IS NULL
         ORDER BY id DESC",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Revokes the project's key `key_id` at `now`; false if there is no such key in force.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    key_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE project_id = $1 AND id = $2 AND revoked_at IS NULL")
            .bind(project_id)
            .bind(key_id)
            .bind(now)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets request windows that ended before `before`.
pub async fn prune_windows(db: impl PgExecutor<'_>, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM api_key_windows WHERE window_start < $1")
        .bind(before)
        .execute(db)
        .await?
        .rows_affected())
}

/// The key with this id, unless it was revoked or has expired at `now` (a console
/// session names its key by id).
pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid, now: DateTime<Utc>) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, abilities FROM api_keys
         WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(db)
    .await
}
