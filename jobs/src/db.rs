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

/// Creates the database if needed, then applies the queue's migrations and the
/// domain's. Each migrator holds a Postgres advisory lock while it runs, so two
/// concurrent runs serialize, and a second run finds nothing to do.
pub async fn migrate(url: &str) -> Result<(), DbError> {
    let created = create_database_if_missing(url).await?;
    if created {
        tracing::info!("created the database");
    }
    let pool = PgPoolOptions::new().max_connections(2).connect_with(options(url)?).await?;
    apalis_postgres::PostgresStorage::setup(&pool).await?;
    domain_migrator().run(&pool).await?;
    pool.close().await;
    Ok(())
}

/// Whether the database answers and every domain migration is applied (for `/readyz`).
pub async fn is_ready(pool: &PgPool) -> bool {
    let latest = domain_migrator().iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(pool).await;
    matches!(applied, Ok(Some(v)) if v >= latest)
}
