//! `diagnostic_probe_runs`: the side effects of the diagnostic probe job.

use sqlx::PgPool;

/// Records one phase (`started`, `finished`) of a probe run.
pub async fn record_probe(pool: &PgPool, key: &str, phase: &str, worker: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO diagnostic_probe_runs (probe_key, phase, worker) VALUES ($1, $2, $3)")
        .bind(key)
        .bind(phase)
        .bind(worker)
        .execute(pool)
        .await?;
    Ok(())
}
