//! The runtime every job runs in, below the catalog: the [`Job`] trait (a kind's
//! `run`) and the [`JobContext`] a run reaches the world through (database, clock,
//! configuration, the Bot API with the shared rate budgets, the audit trail). The worker
//! (`gatehouse-worker`) builds one `JobContext` per run; the catalog implements `Job`
//! once per kind; domain modules (`membership`, `payments`, `conversation`) take a
//! `&JobContext` and never know which job called them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    clock::Clock,
    config::Config,
    queue::{JobError, JobSpec, Queue},
    store,
    telegram::{BotApi, budget::Budgets},
};

/// What every job run can reach.
#[derive(Clone)]
pub struct JobContext {
    /// The database.
    pub pool: PgPool,
    /// The process configuration.
    pub config: Arc<Config>,
    /// The name of the worker running the job (unique per process start).
    pub worker: Arc<str>,
    /// The id of the job row (`apalis.jobs.id`), for the audit trail.
    pub job_id: String,
    /// This run's number, from 1.
    pub attempt: u32,
    /// The shared HTTP client (Telegram, Stripe).
    pub http: reqwest::Client,
    /// Gatehouse's time.
    pub clock: Clock,
    /// The queue the job runs in: its Bot API calls spend that lane's budget.
    pub queue: Queue,
    /// This process's share of the bots' rate budgets (one per worker process).
    pub budgets: Arc<Budgets>,
}

impl JobContext {
    /// Now, from the job's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A Bot API client for a project's bot. A project without a bot, or a token that
    /// does not open, is a permanent failure.
    pub async fn bot_api(&self, project_id: Uuid) -> Result<BotApi, JobError> {
        let bot = store::bots::of_project(&self.pool, project_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("project {project_id} has no bot")))?;
        self.open_bot(&bot)
    }

    /// A Bot API client for the platform bot (`GATEHOUSE_MANAGER_BOT_TOKEN`), under the
    /// same shared budgets as every bot. Not configured: a permanent failure.
    pub fn manager_api(&self) -> Result<BotApi, JobError> {
        let manager = self
            .config
            .manager_bot
            .as_ref()
            .ok_or_else(|| JobError::Permanent("GATEHOUSE_MANAGER_BOT_TOKEN is not set".into()))?;
        Ok(BotApi::new(self.http.clone(), &self.config.telegram_api_url, manager.token.clone())
            .with_budget(self.budgets.clone(), self.queue))
    }

    /// A Bot API client for a bot row.
    pub fn open_bot(&self, bot: &store::bots::Bot) -> Result<BotApi, JobError> {
        let key = self.config.encryption_key().map_err(|e| JobError::Permanent(e.to_string()))?;
        let token = crate::crypto::open(key, &bot.token_ciphertext).map_err(|e| JobError::Permanent(e.to_string()))?;
        Ok(BotApi::new(self.http.clone(), &self.config.telegram_api_url, token)
            .with_budget(self.budgets.clone(), self.queue))
    }

    /// Appends to the audit trail, as this job.
    pub async fn audit(
        &self,
        project_id: Uuid,
        telegram_user_id: Option<i64>,
        chat_id: Option<Uuid>,
        action: &str,
        reason: &str,
        details: serde_json::Value,
    ) -> Result<(), JobError> {
        let mut conn = self.pool.acquire().await?;
        self.audit_on(&mut conn, project_id, telegram_user_id, chat_id, action, reason, details).await
    }

    /// Appends to the audit trail, as this job, on `conn`: pass a transaction to record
    /// the action together with what it records (the entry is counted in the metrics
    /// when written, so a rolled-back transaction counts an action that did not stay).
    /// The arguments are [`JobContext::audit`]'s, and the connection.
    #[allow(clippy::too_many_arguments)]
    pub async fn audit_on(
        &self,
        conn: &mut PgConnection,
        project_id: Uuid,
        telegram_user_id: Option<i64>,
        chat_id: Option<Uuid>,
        action: &str,
        reason: &str,
        details: serde_json::Value,
    ) -> Result<(), JobError> {
        store::audit::record(
            conn,
            store::audit::Entry {
                project_id,
                telegram_user_id,
                chat_id,
                action,
                reason,
                job_id: Some(&self.job_id),
                details,
            },
        )
        .await?;
        metrics::counter!(crate::metrics::MEMBER_ACTIONS, "action" => action.to_string()).increment(1);
        Ok(())
    }

    /// Appends to the audit trail and writes the event that reports the same action, in
    /// one transaction: the entry and its event stay or go together. The arguments are
    /// [`JobContext::audit`]'s, and the event.
    #[allow(clippy::too_many_arguments)]
    pub async fn audit_with_event(
        &self,
        project_id: Uuid,
        telegram_user_id: Option<i64>,
        chat_id: Option<Uuid>,
        action: &str,
        reason: &str,
        details: serde_json::Value,
        event: store::events::NewEvent,
    ) -> Result<(), JobError> {
        let mut tx = self.pool.begin().await?;
        self.audit_on(&mut tx, project_id, telegram_user_id, chat_id, action, reason, details).await?;
        self.event_on(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes an event on `conn` (the transaction of the change it reports), at the job's now.
    pub async fn event_on(&self, conn: &mut PgConnection, event: store::events::NewEvent) -> Result<(), JobError> {
        store::events::record(conn, event, self.now()).await?;
        Ok(())
    }

    /// Records a permanent failure of an action on a member in the audit trail (the
    /// queue keeps it too, with the job); passes the result through.
    pub async fn audit_failure<T>(
        &self,
        project_id: Uuid,
        telegram_user_id: Option<i64>,
        chat_id: Option<Uuid>,
        result: Result<T, JobError>,
    ) -> Result<T, JobError> {
        if let Err(JobError::Permanent(reason)) = &result {
            self.audit(
                project_id,
                telegram_user_id,
                chat_id,
                "failed",
                reason,
                serde_json::json!({"attempt": self.attempt}),
            )
            .await?;
        }
        result
    }

    /// Writes a job now (outside any transaction).
    pub async fn enqueue<J: JobSpec>(&self, job: &J) -> Result<(), JobError> {
        let mut conn = self.pool.acquire().await?;
        crate::queue::enqueue(&mut conn, job, crate::queue::RunAt::Now).await?;
        Ok(())
    }
}

/// A job kind the catalog knows.
pub trait Job: JobSpec {
    /// Runs the job. Must be idempotent: it may run again after a crash or a retry.
    fn run(self, ctx: &JobContext) -> impl Future<Output = Result<(), JobError>> + Send;
}
