//! `access_codes` and `access_code_redemptions`: codes bound to a plan, redeemed with
//! `/start <code>`, once per subscriber, up to a cap; and `access_tokens`: single-use
//! deep-link tokens (stored hashed), the first user to open one gets its plan.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// The unique constraint on (project, code).
pub const ACCESS_CODE_KEY: &str = "access_codes_project_id_code_key";

/// A new access code.
pub struct NewAccessCode<'a> {
    /// Id.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Plan it grants.
    pub plan_id: Uuid,
    /// The code users type.
    pub code: &'a str,
    /// `None` = unlimited.
    pub max_uses: Option<i32>,
    /// After this, refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Days of access (else the plan's).
    pub duration_days: Option<i32>,
}

/// Inserts an access code.
pub async fn insert(db: impl PgExecutor<'_>, code: &NewAccessCode<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO access_codes (id, project_id, plan_id, code, max_uses, expires_at, duration_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(code.id)
    .bind(code.project_id)
    .bind(code.plan_id)
    .bind(code.code)
    .bind(code.max_uses)
    .bind(code.expires_at)
    .bind(code.duration_days)
    .execute(db)
    .await?;
    Ok(())
}

/// An access code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessCode {
    /// Id.
    pub id: Uuid,
    /// The code's text (what `/start <code>` carries).
    pub code: String,
    /// Plan.
    pub plan_id: Uuid,
    /// Cap.
    pub max_uses: Option<i32>,
    /// Used so far.
    pub uses: i32,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Days of access (else the plan's).
    pub duration_days: Option<i32>,
}

/// A project's code by its text, or by its id (a deep link carries the code's UUID
/// verbatim).
pub async fn find(db: impl PgExecutor<'_>, project_id: Uuid, code: &str) -> Result<Option<AccessCode>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, code, plan_id, max_uses, uses, expires_at, duration_days FROM access_codes
         WHERE project_id = $1 AND (code = $2 OR id = $3)
         ORDER BY code = $2 DESC LIMIT 1",
    )
    .bind(project_id)
    .bind(code)
    .bind(Uuid::parse_str(code).ok())
    .fetch_optional(db)
    .await
}

/// Takes one use of a code, if it has one left and has not expired at `now`: the
/// single statement that makes a cap hold however many redeem at once.
pub async fn take_use(conn: &mut PgConnection, code_id: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE access_codes SET uses = uses + 1
         WHERE id = $1 AND (max_uses IS NULL OR uses < max_uses) AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(code_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that a subscriber redeemed a code; false if they had already.
pub async fn insert_redemption(
    conn: &mut PgConnection,
    code_id: Uuid,
    subscriber_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO access_code_redemptions (code_id, subscriber_id, redeemed_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(code_id)
    .bind(subscriber_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Creates an access token (stored hashed); returns its id.
pub async fn insert_token(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    plan_id: Uuid,
    token_hash: &[u8],
    duration_days: Option<i32>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO access_tokens (id, project_id, plan_id, token_hash, duration_days, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(plan_id)
    .bind(token_hash)
    .bind(duration_days)
    .bind(expires_at)
    .fetch_one(db)
    .await
}

/// An access token taken by a user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TakenToken {
    /// `access_tokens.id`.
    pub id: Uuid,
    /// Plan it activates.
    pub plan_id: Uuid,
    /// Days of access (`None` = the plan's).
    pub duration_days: Option<i32>,
}

/// Takes an unused token, unexpired at `now`, for `user`, once: the first taker wins.
pub async fn take_token(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    token_hash: &[u8],
    user: i64,
    now: DateTime<Utc>,
) -> Result<Option<TakenToken>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE access_tokens t SET used_by = $3, used_at = $4
         FROM plans p
         WHERE t.project_id = $1 AND t.token_hash = $2 AND t.used_by IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > $4) AND p.id = t.plan_id
         RETURNING t.id, t.plan_id, COALESCE(t.duration_days, p.duration_days) AS duration_days",
    )
    .bind(project_id)
    .bind(token_hash)
    .bind(user)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Links a used token to the grant it made.
pub async fn token_granted(db: impl PgExecutor<'_>, token_id: Uuid, grant_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE access_tokens SET grant_id = $2 WHERE id = $1")
        .bind(token_id)
        .bind(grant_id)
        .execute(db)
        .await?;
    Ok(())
}

/// An access code as a list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    /// Id.
    pub id: Uuid,
    /// The code's text (lists show it masked).
    pub code: String,
    /// Plan.
    pub plan_id: Uuid,
    /// Cap.
    pub max_uses: Option<i32>,
    /// Used so far.
    pub uses: i32,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Days of access (else the plan's).
    pub duration_days: Option<i32>,
    /// Made.
    pub created_at: DateTime<Utc>,
}

/// One page of the project's access codes, oldest first after `(created_at, id)`.
pub async fn page(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, code, plan_id, max_uses, uses, expires_at, duration_days, created_at FROM access_codes
         WHERE project_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4",
    )
    .bind(project_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(db)
    .await
}
