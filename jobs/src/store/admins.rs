//! `project_admins`: the people a project's owner lets run owner commands, and the
//! staff (owner and admins) of a project.

use sqlx::PgExecutor;
use uuid::Uuid;

/// The owner and the admins the owner added.
pub async fn staff(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT owner_telegram_id FROM projects WHERE id = $1
         UNION SELECT telegram_user_id FROM project_admins WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Adds an admin who may run owner commands.
pub async fn add(db: impl PgExecutor<'_>, project_id: Uuid, telegram_user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO project_admins (project_id, telegram_user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(project_id)
        .bind(telegram_user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Removes an admin; whether there was one.
pub async fn remove(db: impl PgExecutor<'_>, project_id: Uuid, telegram_user_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM project_admins WHERE project_id = $1 AND telegram_user_id = $2")
        .bind(project_id)
        .bind(telegram_user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
