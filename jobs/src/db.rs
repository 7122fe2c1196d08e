//! Connecting to Postgres and migrating it.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Connection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// Errors while connecting or migrating.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `DATABASE_URL` could not be parsed.
    #[error("DATABASE_URL: {0}")]
    Url(String),
    /// The database did not answer or refused.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The queue's own schema could not be set up.
    #[error("queue schema: {0}")]
    Queue(#[from] apalis_postgres::Error),
}

/// The domain migrations, embedded at build time.
pub fn domain_migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../migrations")
}

fn options(url: &str) -> Result<PgConnectOptions, DbError> {
    PgConnectOptions::from_str(url)
        .map(|o| o.log_statements(tracing::log::LevelFilter::Trace))
        .map_err(|e| DbError::Url(e.to_string()))
}

/// A pool for a process. It connects lazily, so a process starts (and answers
/// `/healthz`, and `/readyz` with 503) while the database is down.
pub fn pool(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        // Give back connections a quiet process does not need.
        .idle_timeout(Duration::from_secs(60))
        .connect_lazy_with(options(url)?))
}

/// Creates the database named in `url` if it does not exist. Safe to run
/// concurrently: losing the race to another creator counts as success.
pub async fn create_database_if_missing(url: &str) -> Result<bool, DbError> {
    let target = options(url)?;
    let name = target.get_database().unwrap_or("postgres").to_string();
    let mut admin = target.clone().database("postgres").connect().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if exists {
        return Ok(false);
    }
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut admin).await;
    admin.close().await.ok();
    match result {
        Ok(_) => Ok(true),
        // 42P04 duplicate_database, or 23505 when two CREATE DATABASE race on pg_database's index.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Migrations whose file changed after some databases had applied it, with the
/// checksum those databases recorded and what the file holds now. Each entry was
/// checked to leave the same schema: 0021's first text was followed by 0022 (the function
/// `CREATE OR REPLACE`d with the spacing); its second text creates that function at once,
/// and 0022, still applied after it, replaces it with the same function.
/// Never add to this list instead of writing a new migration: it exists to repair
/// history that was rewritten, once.
const REWRITTEN: &[(i64, &str, &str)] = &[(
    20261121000021,
    "6590f5d6df4d2672fbbd924f00be3d6858a608d5f8fde440460c8ebb567c89ccb41d8d60007aa85419158e7ca770ac68",
    "de768c9183a5985eecfe22a269e8d60effe9c6da346a0ec4eb93c93b9c37039f104ca34e75a610399f0e9de2d4be8077",
)];

/// Records the current checksum of the migrations in [`REWRITTEN`] where a database
/// holds their first one. Returns how many rows it repaired.
async fn repair_rewritten_history(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text").fetch_one(pool).await?;
    if table.is_none() {
        return Ok(0);
    }
    let mut repaired = 0;
    for (version, was, now) in REWRITTEN {
        let (Ok(was), Ok(now)) = (hex::decode(was), hex::decode(now)) else { continue };
        let done = sqlx::query("UPDATE _sqlx_migrations SET checksum = $3 WHERE version = $1 AND checksum = $2")
            .bind(version)
            .bind(was)
            .bind(now)
            .execute(pool)
            .await?;
        if done.rows_affected() > 0 {
            tracing::warn!(
                version,
                "migration history repaired: this database applied an earlier text of the migration"
            );
        }
        repaired += done.rows_affected();
    }
    Ok(repaired)
}

/// Creates the database if needed, then applies the queue's migrations and the
/// domain's. Each migrator holds a Postgres advisory lock while it runs, so two
/// concurrent runs serialize, and a second run finds nothing to do.
pub async fn migrate(url: &str) -> Result<(), DbError> {
    let created = create_database_if_missing(url).await?;
    if created {
        tracing::info!("created the database");
    }
    let pool = PgPoolOptions::new().max_connections(2).connect_with(options(url)?).await?;
    setup_queue(&pool).await?;
    repair_rewritten_history(&pool).await?;
    domain_migrator().run(&pool).await?;
    pool.close().await;
    Ok(())
}

/// Applies the queue's own migrations (schema `apalis`, from apalis-postgres).
pub async fn setup_queue(pool: &PgPool) -> Result<(), DbError> {
    apalis_postgres::PostgresStorage::setup(pool).await?;
    Ok(())
}

/// Whether the database answers and every embedded domain migration is applied with
/// the checksum of the file this binary carries (for `/readyz`). A database with a
/// migration missing, failed, or applied from another text is not ready.
pub async fn is_ready(pool: &PgPool) -> bool {
    match unapplied_migrations(pool).await {
        Ok(missing) => missing.is_empty(),
        Err(_) => false,
    }
}

/// The versions of the embedded domain migrations that the database has not applied
/// successfully with the same checksum.
pub async fn unapplied_migrations(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    let applied: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success").fetch_all(pool).await?;
    let applied: std::collections::HashMap<i64, Vec<u8>> = applied.into_iter().collect();
    Ok(domain_migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| applied.get(&m.version).is_none_or(|sum| sum.as_slice() != &*m.checksum))
        .map(|m| m.version)
        .collect())
}

/// What kind of failure a database error is, for deciding what the caller is told
/// and whether a job is tried again. Decided here, once, for the api and the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The database cannot be reached or is going away (connection errors, pool
    /// timeouts, shutdown, too many connections): try again later (503, retry).
    Unavailable,
    /// The statement lost a race (serialization failure, deadlock, lock timeout,
    /// statement cancelled): running it again can succeed.
    Contention,
    /// A value Postgres cannot store: a NUL character (U+0000) in text or JSON, an
    /// invalid byte sequence, a number out of range. The input is at fault (422).
    Unstorable,
    /// A constraint was violated (unique, foreign key, check, not null).
    Constraint,
    /// Anything else: a bug or a schema mismatch (500; a job fails permanently).
    Other,
}

/// Classifies a database error.
pub fn classify(e: &sqlx::Error) -> ErrorClass {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => ErrorClass::Unavailable,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            match code {
                // connection_exception, insufficient_resources, operator_intervention
                // (admin_shutdown, crash_shutdown, cannot_connect_now), system_error.
                c if c.starts_with("08") || c.starts_with("53") || c.starts_with("58") => ErrorClass::Unavailable,
                "57P01" | "57P02" | "57P03" => ErrorClass::Unavailable,
                // serialization_failure, deadlock_detected, lock_not_available, query_canceled.
                "40001" | "40P01" | "55P03" | "57014" => ErrorClass::Contention,
                // character_not_in_repertoire (NUL in text), untranslatable_character
                // (\u0000 in jsonb), invalid text representation, numeric value out of
                // range, string data right truncation, datetime field overflow.
                "22021" | "22P05" | "22P02" | "22003" | "22001" | "22008" => ErrorClass::Unstorable,
                c if c.starts_with("23") => ErrorClass::Constraint,
                _ => ErrorClass::Other,
            }
        }
        sqlx::Error::Encode(_) => ErrorClass::Unstorable,
        _ => ErrorClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_errors_are_unavailable() {
        let io = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(classify(&io), ErrorClass::Unavailable);
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), ErrorClass::Unavailable);
        assert_eq!(classify(&sqlx::Error::RowNotFound), ErrorClass::Other);
        assert_eq!(classify(&sqlx::Error::ColumnNotFound("x".into())), ErrorClass::Other);
        assert_eq!(classify(&sqlx::Error::Decode("bad".into())), ErrorClass::Other);
        assert_eq!(classify(&sqlx::Error::Encode("too deep".into())), ErrorClass::Unstorable);
    }

    #[test]
    fn a_job_is_retried_only_for_what_another_try_can_fix() {
        use crate::queue::JobError;
        assert!(matches!(JobError::from(sqlx::Error::PoolTimedOut), JobError::Retry(_)));
        assert!(matches!(JobError::from(sqlx::Error::RowNotFound), JobError::Permanent(_)));
        assert!(matches!(JobError::from(sqlx::Error::Decode("bad".into())), JobError::Permanent(_)));
    }
}
