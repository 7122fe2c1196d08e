//! The scheduler's leadership: a session advisory lock (no table), held on a
//! connection of its own. Postgres drops it with the connection, so a dead leader's
//! lock frees itself.

use sqlx::PgConnection;

/// Takes the advisory lock `key` for this session if nobody holds it; whether it did.
pub async fn try_lead(conn: &mut PgConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(conn).await
}

/// A round-trip on the leader's connection: an error means the connection, and with
/// it the lock, is gone.
pub async fn still_connected(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(conn).await?;
    Ok(())
}
