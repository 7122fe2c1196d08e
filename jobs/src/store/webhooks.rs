//! `webhook_endpoints`, `webhook_deliveries` and `webhook_attempts`: where a project's
//! events are pushed, each event's delivery to each endpoint, and the log of attempts.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::events::Event;

/// A webhook endpoint (its secrets sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    /// Id.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Where events are posted.
    pub url: String,
    /// The types wanted (empty = all).
    pub event_types: Vec<String>,
    /// Whether deliveries go out.
    pub enabled: bool,
    /// Why Gatehouse disabled it.
    pub disabled_reason: Option<String>,
    /// The signing secret, sealed.
    pub secret_sealed: Vec<u8>,
    /// The secret before the last rotation, sealed, while it still signs.
    pub previous_secret_sealed: Option<Vec<u8>>,
    /// Until when the previous secret signs.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// The first failure since the last success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Made.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

const ENDPOINT: &str = "SELECT id, project_id, url, event_types, enabled, disabled_reason, secret_sealed, \
                        previous_secret_sealed, previous_secret_until, failing_since, created_at, updated_at \
                        FROM webhook_endpoints";

/// A new endpoint.
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    /// Id.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// URL.
    pub url: &'a str,
    /// Types wanted (empty = all).
    pub event_types: &'a [String],
    /// Enabled.
    pub enabled: bool,
    /// The secret, sealed.
    pub secret_sealed: &'a [u8],
}

/// Writes a new endpoint.
pub async fn insert(db: impl PgExecutor<'_>, e: &NewEndpoint<'_>, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, project_id, url, event_types, enabled, secret_sealed, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(e.id)
    .bind(e.project_id)
    .bind(e.url)
    .bind(e.event_types)
    .bind(e.enabled)
    .bind(e.secret_sealed)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// A project's endpoint.
pub async fn get(db: impl PgExecutor<'_>, project_id: Uuid, id: Uuid) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{ENDPOINT} WHERE project_id = $1 AND id = $2")))
        .bind(project_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A project's endpoints after `after` (by id, `None` = from the start), at most `limit`.
pub async fn of_project(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Endpoint>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ENDPOINT} WHERE project_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
    )))
    .bind(project_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// What a PATCH changes (`None` = keep).
#[derive(Debug, Clone, Default)]
pub struct EndpointChange<'a> {
    /// New URL.
    pub url: Option<&'a str>,
    /// New types.
    pub event_types: Option<&'a [String]>,
    /// Enabled or not. Enabling clears the failure window and Gatehouse's reason.
    pub enabled: Option<bool>,
}

/// Changes an endpoint; `false` when it does not exist.
pub async fn update(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    id: Uuid,
    change: &EndpointChange<'_>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET
             url = COALESCE($3, url),
             event_types = COALESCE($4, event_types),
             enabled = COALESCE($5, enabled),
             disabled_reason = CASE WHEN $5 IS NULL THEN disabled_reason ELSE NULL END,
             failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END,
             updated_at = $6
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .bind(change.url)
    .bind(change.event_types)
    .bind(change.enabled)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes an endpoint (and its deliveries); `false` when it does not exist.
pub async fn delete(db: impl PgExecutor<'_>, project_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A rotation: the new secret signs from now, the current one beside it until `previous_until`.
pub async fn rotate(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    id: Uuid,
    new_sealed: &[u8],
    previous_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, previous_secret_until = $4,
             secret_sealed = $3, updated_at = $5
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .bind(new_sealed)
    .bind(previous_until)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes a pending delivery of `event` for every enabled endpoint of its project that
/// wants its type; returns their ids and rounds. Part of [`super::events::record`].
pub(super) async fn fan_out(
    conn: &mut PgConnection,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    let endpoints: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM webhook_endpoints
         WHERE project_id = $1 AND enabled AND (cardinality(event_types) = 0 OR $2 = ANY(event_types))",
    )
    .bind(event.project_id)
    .bind(&event.kind)
    .fetch_all(&mut *conn)
    .await?;
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    // Time-ordered ids (UUIDv7), so that the delivery log pages newest first by id.
    let ids: Vec<Uuid> = endpoints.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, state, attempts, next_attempt_at, created_at, window_start)
         SELECT d.id, d.endpoint_id, $3, 'pending', 0, $4, $4, $4
         FROM unnest($1::uuid[], $2::uuid[]) AS d (id, endpoint_id)",
    )
    .bind(&ids)
    .bind(&endpoints)
    .bind(event.id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let round = now.timestamp_micros();
    Ok(ids.into_iter().map(|id| (id, round)).collect())
}

/// A delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    /// Id.
    pub id: Uuid,
    /// Endpoint.
    pub endpoint_id: Uuid,
    /// Event.
    pub event_id: Uuid,
    /// pending, succeeded, failed, skipped.
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Made.
    pub created_at: DateTime<Utc>,
    /// When this round of attempts began.
    pub window_start: DateTime<Utc>,
}

const DELIVERY: &str = "SELECT id, endpoint_id, event_id, state, attempts, next_attempt_at, created_at, window_start FROM webhook_deliveries";

/// A delivery by id.
pub async fn delivery(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{DELIVERY} WHERE id = $1"))).bind(id).fetch_optional(db).await
}

/// Locks a delivery for the rest of the transaction.
pub async fn lock_delivery(conn: &mut PgConnection, id: Uuid) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{DELIVERY} WHERE id = $1 FOR UPDATE")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// An endpoint's deliveries, newest first, before `before` (by id), at most `limit`.
pub async fn deliveries_of(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY} WHERE endpoint_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    )))
    .bind(endpoint_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Pending deliveries whose next attempt is due at `now`: (delivery, its round, the
/// attempt number due), at most `limit` (the retry scan enqueues them).
pub async fn due(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, i64, i32)>, sqlx::Error> {
    let rows: Vec<(Uuid, DateTime<Utc>, i32)> = sqlx::query_as(
        "SELECT id, window_start, attempts + 1 FROM webhook_deliveries
         WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id, start, attempt)| (id, start.timestamp_micros(), attempt)).collect())
}

/// One logged attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attempt {
    /// Which attempt of its delivery (from 1).
    pub attempt: i32,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The answer's HTTP status, if one came.
    pub status: Option<i32>,
    /// How long it took.
    pub latency_ms: i32,
    /// Why no answer came.
    pub error: Option<String>,
    /// The first bytes of the answer.
    pub response_head: String,
}

/// The attempts of a delivery, in order.
pub async fn attempts_of(db: impl PgExecutor<'_>, delivery_id: Uuid) -> Result<Vec<Attempt>, sqlx::Error> {
    sqlx::query_as(
        "SELECT attempt, at, status, latency_ms, error, response_head FROM webhook_attempts
         WHERE delivery_id = $1 ORDER BY attempt, id",
    )
    .bind(delivery_id)
    .fetch_all(db)
    .await
}

/// Logs an attempt.
pub async fn log_attempt(conn: &mut PgConnection, delivery_id: Uuid, a: &Attempt) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, at, status, latency_ms, error, response_head)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(delivery_id)
    .bind(a.attempt)
    .bind(a.at)
    .bind(a.status)
    .bind(a.latency_ms)
    .bind(&a.error)
    .bind(&a.response_head)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a delivery after an attempt: its count, its state, its next attempt.
pub async fn set_delivery(
    conn: &mut PgConnection,
    id: Uuid,
    attempts: i32,
    state: &str,
    next_attempt_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_deliveries SET attempts = $2, state = $3, next_attempt_at = $4 WHERE id = $1")
        .bind(id)
        .bind(attempts)
        .bind(state)
        .bind(next_attempt_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Starts a new round of attempts of a delivery (the redeliver action): pending, due
/// now, its window from now. Returns (its round, the attempt number due), or `None`
/// when it does not belong to the endpoint.
pub async fn redeliver(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<(i64, i32)>, sqlx::Error> {
    let row: Option<(DateTime<Utc>, i32)> = sqlx::query_as(
        "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $3, window_start = $3
         WHERE endpoint_id = $1 AND id = $2 RETURNING window_start, attempts + 1",
    )
    .bind(endpoint_id)
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(start, attempt)| (start.timestamp_micros(), attempt)))
}

/// Locks an endpoint by id for the rest of the transaction.
pub async fn lock_endpoint(conn: &mut PgConnection, id: Uuid) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{ENDPOINT} WHERE id = $1 FOR UPDATE")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// An endpoint by id, whatever its project (for the delivery job).
pub async fn endpoint(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{ENDPOINT} WHERE id = $1"))).bind(id).fetch_optional(db).await
}

/// Records how the endpoint's last attempt went: a success clears its failure window,
/// a failure starts it if it was not running. Returns `failing_since` after the change.
pub async fn note_result(
    conn: &mut PgConnection,
    id: Uuid,
    succeeded: bool,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE webhook_endpoints
         SET failing_since = CASE WHEN $2 THEN NULL ELSE COALESCE(failing_since, $3) END
         WHERE id = $1 RETURNING failing_since",
    )
    .bind(id)
    .bind(succeeded)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Disables an endpoint with Gatehouse's reason; `false` when it was already disabled.
pub async fn disable(conn: &mut PgConnection, id: Uuid, reason: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3 WHERE id = $1 AND enabled",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
