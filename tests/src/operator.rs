//! Arranging what the operator's view shows: jobs that failed as a worker leaves them
//! (the row's state, and its failed runs in `job_errors`), api keys with chosen abilities.

use gatehouse_jobs::{
    catalog::set_owner_commands::SetOwnerCommands,
    queue::{Enqueued, RunAt, enqueue},
    store,
};
use sqlx::PgPool;
use uuid::Uuid;

/// How a job is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// Failed with attempts left (it runs again after its backoff, here in an hour).
    Failed,
    /// Killed (a permanent failure).
    Dead,
    /// Waiting, due now (far in the future for a worker: `run_at` an hour ahead when `later`).
    Pending {
        /// Due in an hour instead of now.
        later: bool,
    },
}

/// Writes a `set-owner-commands` job of `project` and leaves it as a worker would after
/// `attempts` failed runs with `error` (each recorded, with its project). Returns its id.
pub async fn job_of_project(pool: &PgPool, project: Uuid, user: i64, left: Left, error: &str) -> String {
    let mut conn = pool.acquire().await.unwrap();
    let job = SetOwnerCommands { project_id: project, telegram_user_id: user, admin: true };
    // Written for later, so that a running worker cannot claim it before it is arranged.
    let later = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    let Enqueued::New(id) = enqueue(&mut conn, &job, RunAt::At(later)).await.unwrap() else {
        panic!("a new job");
    };
    let (status, attempts, run_at) = match left {
        Left::Failed => ("Failed", 2, "now() + interval '1 hour'"),
        Left::Dead => ("Killed", 1, "now()"),
        Left::Pending { later: false } => ("Pending", 0, "now()"),
        Left::Pending { later: true } => ("Pending", 0, "now() + interval '1 hour'"),
    };
    let sql = format!(
        "UPDATE apalis.jobs SET status = $2, attempts = $3, run_at = {run_at},
                done_at = CASE WHEN $2 = 'Pending' THEN NULL ELSE now() END,
                last_result = CASE WHEN $2 = 'Pending' THEN NULL ELSE jsonb_build_object('Err', $4::text) END
         WHERE id = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&id)
        .bind(status)
        .bind(attempts)
        .bind(error)
        .execute(pool)
        .await
        .unwrap();
    if status != "Pending" {
        let args = serde_json::to_value(&job).unwrap();
        for attempt in 1..=attempts {
            let run = store::operator::FailedRun {
                job_id: &id,
                attempt,
                kind: "set-owner-commands",
                queue: "interactive",
                args: args.clone(),
                error,
            };
            store::operator::record_failed_run(pool, &run).await.unwrap();
        }
    }
    id
}

/// Inserts an api key of `project` with these abilities; returns the key.
pub async fn api_key(pool: &PgPool, project: Uuid, abilities: &[&str]) -> String {
    let key = format!("gh_test_{}", Uuid::new_v4().simple());
    let abilities: Vec<String> = abilities.iter().map(|a| a.to_string()).collect();
    store::api_keys::insert(
        pool,
        &store::api_keys::NewKey {
            id: Uuid::now_v7(),
            project_id: project,
            name: "test",
            key_hash: &gatehouse_jobs::crypto::digest(&key),
            key_prefix: &key[..12],
            abilities: &abilities,
            expires_at: None,
        },
    )
    .await
    .unwrap();
    key
}

/// A job's status.
pub async fn status_of(pool: &PgPool, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM apalis.jobs WHERE id = $1").bind(id).fetch_one(pool).await.unwrap()
}

/// The audit actions recorded about a job, oldest first.
pub async fn audit_actions(pool: &PgPool, id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_log WHERE job_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap()
}
