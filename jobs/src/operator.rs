//! The operator's view of the queue and the bots, shared by `gatehouse jobs`,
//! `gatehouse bots` and `/console`: what they show (job args with their secrets
//! redacted) and what they do (retry, cancel, pause, resume), each action audited in
//! the transaction that makes it. The SQL is in [`crate::store::operator`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::{
    self,
    operator::{Filter, JobSummary},
};

/// Who acts, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The `gatehouse` command line (whoever runs it holds the database URL).
    Cli,
    /// The console, signed in with the admin token.
    Admin,
    /// The console, signed in with a project's api key.
    Key {
        /// `api_keys.id`.
        key_id: Uuid,
        /// Its project.
        project_id: Uuid,
    },
}

impl Actor {
    /// How the audit trail names it.
    pub fn describe(&self) -> String {
        match self {
            Actor::Cli => "the gatehouse command line".into(),
            Actor::Admin => "the console (admin token)".into(),
            Actor::Key { key_id, .. } => format!("the console (api key {key_id})"),
        }
    }
}

/// The most jobs one bulk retry or cancel touches.
pub const MAX_BULK: i64 = 10_000;

/// Object keys whose values are secrets, matched as substrings of the lowercased key:
/// bot tokens, webhook secrets, access codes and activation tokens, Stripe keys.
const SECRET_KEYS: [&str; 6] = ["token", "secret", "password", "code", "key", "authorization"];

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// A job's args as an operator may see them: every value under a key that names a secret
/// ([`SECRET_KEYS`]) is replaced by [`REDACTED`], and so is what follows `/start ` in a
/// message text (a deep link carries access codes and tokens), and a text holding a bot
/// token. The one redaction rule.
pub fn redact(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    // Iterative, like `queue::json_depth`: args may nest deeply.
    let mut out = value.clone();
    let mut stack: Vec<&mut Value> = vec![&mut out];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_KEYS.iter().any(|s| lower.contains(s))
                        && !lower.ends_with("_id")
                        && lower != "language_code"
                    {
                        *item = Value::String(REDACTED.into());
                    } else if let Value::String(text) = item
                        && text.starts_with("/start ")
                    {
                        *item = Value::String(format!("/start {REDACTED}"));
                    } else if let Value::String(text) = item
                        && text.split_whitespace().any(|w| crate::telegram::bot_id_of_token(w).is_some())
                    {
                        // A bot token pasted to the platform bot.
                        *item = Value::String(REDACTED.into());
                    } else {
                        stack.push(item);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    out
}

/// The kind named at the start of a stored row (`{"kind":"…",`), if it can be read.
pub fn kind_of_head(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"{\"kind\":\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    let kind = std::str::from_utf8(&rest[..end]).ok()?;
    (!kind.contains('\\')).then(|| kind.to_string())
}

/// Jobs per queue and state, and the runs of the last hour.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Unfinished, failed and dead jobs per queue and state, with the oldest's age.
    pub states: Vec<StateStat>,
    /// Runs ended in the last hour, per queue.
    pub last_hour: Vec<QueueHour>,
}

/// One queue's jobs in one state.
#[derive(Debug, Clone, Serialize)]
pub struct StateStat {
    /// The queue.
    pub queue: String,
    /// The state.
    pub state: String,
    /// How many.
    pub jobs: i64,
    /// Seconds since the oldest's `run_at` (negative: the next is due in that long).
    pub oldest_age_secs: Option<i64>,
}

/// One queue's runs of the last hour.
#[derive(Debug, Clone, Serialize)]
pub struct QueueHour {
    /// The queue.
    pub queue: String,
    /// Succeeded.
    pub succeeded: i64,
    /// Failed.
    pub failed: i64,
}

/// [`Stats`] now.
pub async fn stats(pool: &PgPool, now: DateTime<Utc>) -> Result<Stats, sqlx::Error> {
    let states = store::operator::open_counts(pool)
        .await?
        .into_iter()
        .map(|c| StateStat {
            queue: c.queue,
            state: c.state,
            jobs: c.jobs,
            oldest_age_secs: c.oldest_run_at.map(|t| (now - t).num_seconds()),
        })
        .collect();
    let mut last_hour: Vec<QueueHour> = Vec::new();
    for minute in store::operator::throughput(pool, now - chrono::TimeDelta::hours(1)).await? {
        match last_hour.iter_mut().find(|q| q.queue == minute.queue) {
            Some(q) => {
                q.succeeded += i64::from(minute.succeeded);
                q.failed += i64::from(minute.failed);
            }
            None => last_hour.push(QueueHour {
                queue: minute.queue,
                succeeded: minute.succeeded.into(),
                failed: minute.failed.into(),
            }),
        }
    }
    Ok(Stats { states, last_hour })
}

/// A job in a list.
#[derive(Debug, Clone, Serialize)]
pub struct JobLine {
    /// ULID.
    pub id: String,
    /// Its kind (`None`: the row cannot be read).
    pub kind: Option<String>,
    /// Its queue.
    pub queue: String,
    /// Its state.
    pub state: String,
    /// Runs so far.
    pub attempts: i32,
    /// Runs allowed.
    pub max_attempts: i32,
    /// Next (or last) run.
    pub run_at: DateTime<Utc>,
    /// When its last run ended.
    pub done_at: Option<DateTime<Utc>>,
    /// The last error, when its last run failed.
    pub last_error: Option<String>,
}

impl From<JobSummary> for JobLine {
    fn from(j: JobSummary) -> Self {
        JobLine {
            kind: kind_of_head(&j.head),
            id: j.id,
            queue: j.queue,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            done_at: j.done_at,
            last_error: j.last_error,
        }
    }
}

/// The jobs matching `filter`, at most `limit`.
pub async fn list(pool: &PgPool, filter: &Filter<'_>, limit: i64) -> Result<Vec<JobLine>, sqlx::Error> {
    Ok(store::operator::list(pool, filter, limit).await?.into_iter().map(JobLine::from).collect())
}

/// One job, all an operator may see of it.
#[derive(Debug, Clone, Serialize)]
pub struct JobDetail {
    /// The job as a list shows it.
    #[serde(flatten)]
    pub line: JobLine,
    /// Runs that were snoozes (rate limits), not failures.
    pub snoozes: i32,
    /// The worker holding it.
    pub lock_by: Option<String>,
    /// The idempotency key.
    pub idempotency_key: Option<String>,
    /// The project it acts for, when known.
    pub project_id: Option<Uuid>,
    /// Its args, secrets redacted (`None`: the row cannot be read; see `unreadable`).
    pub args: Option<serde_json::Value>,
    /// Why the row cannot be read.
    pub unreadable: Option<String>,
    /// Every failed run, with its time.
    pub errors: Vec<store::operator::FailedRunRow>,
    /// The audit lines it wrote, and the operators' actions on it.
    pub audit: Vec<AuditView>,
}

/// An audit line.
#[derive(Debug, Clone, Serialize)]
pub struct AuditView {
    /// When.
    pub at: DateTime<Utc>,
    /// What was done.
    pub action: String,
    /// Why.
    pub reason: String,
    /// The member.
    pub telegram_user_id: Option<i64>,
    /// The chat (Telegram's id).
    pub telegram_chat_id: Option<i64>,
    /// The job that acted.
    pub job_id: Option<String>,
}

impl From<store::audit::AuditLine> for AuditView {
    fn from(a: store::audit::AuditLine) -> Self {
        AuditView {
            at: a.at,
            action: a.action,
            reason: a.reason,
            telegram_user_id: a.telegram_user_id,
            telegram_chat_id: a.telegram_chat_id,
            job_id: a.job_id,
        }
    }
}

/// A job by id, with its errors and audit lines.
pub async fn show(pool: &PgPool, job_id: &str) -> Result<Option<JobDetail>, sqlx::Error> {
    let Some(row) = store::operator::get(pool, job_id).await? else {
        return Ok(None);
    };
    let (args, unreadable) = match crate::queue::StoredJob::from_bytes(&row.job).and_then(|j| j.decode()) {
        Ok(envelope) => (Some(redact(&envelope.args)), None),
        Err(reason) => (None, Some(reason)),
    };
    let head = &row.job[..row.job.len().min(store::operator::HEAD_BYTES as usize)];
    let last_error = match row.status.as_str() {
        "Failed" | "Killed" => {
            row.last_result.as_ref().and_then(|r| r.get("Err")).and_then(|e| e.as_str()).map(String::from)
        }
        _ => None,
    };
    let line = JobLine {
        id: row.id.clone(),
        kind: kind_of_head(head),
        queue: row.queue,
        state: row.state,
        attempts: row.attempts,
        max_attempts: row.max_attempts,
        run_at: row.run_at,
        done_at: row.done_at,
        last_error,
    };
    Ok(Some(JobDetail {
        line,
        snoozes: row.snoozes,
        lock_by: row.lock_by,
        idempotency_key: row.idempotency_key,
        project_id: store::operator::project_of(pool, job_id).await?,
        args,
        unreadable,
        errors: store::operator::failed_runs(pool, job_id).await?,
        audit: store::audit::of_job(pool, job_id).await?.into_iter().map(AuditView::from).collect(),
    }))
}

/// What a retry or cancel did.
#[derive(Debug, Clone, Serialize)]
pub struct Acted {
    /// The jobs acted on.
    pub jobs: Vec<String>,
}

/// Gives the failed and dead jobs matching `filter` another run now (at most
/// [`MAX_BULK`]), auditing each in the same transaction.
pub async fn retry(pool: &PgPool, filter: &Filter<'_>, actor: &Actor) -> Result<Acted, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let touched = store::operator::retry(&mut tx, filter, MAX_BULK).await?;
    audit_each(&mut tx, &touched, "job_retried", actor).await?;
    tx.commit().await?;
    Ok(Acted { jobs: touched.into_iter().map(|t| t.id).collect() })
}

/// Cancels the waiting jobs matching `filter` (at most [`MAX_BULK`]), auditing each in
/// the same transaction.
pub async fn cancel(pool: &PgPool, filter: &Filter<'_>, actor: &Actor) -> Result<Acted, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let touched = store::operator::cancel(&mut tx, filter, MAX_BULK).await?;
    audit_each(&mut tx, &touched, "job_cancelled", actor).await?;
    tx.commit().await?;
    Ok(Acted { jobs: touched.into_iter().map(|t| t.id).collect() })
}

async fn audit_each(
    tx: &mut sqlx::PgConnection,
    touched: &[store::operator::Touched],
    action: &str,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let reason = format!("{} by {}", action.replace('_', " "), actor.describe());
    for job in touched {
        let project_id = match actor {
            Actor::Key { project_id, .. } => Some(*project_id),
            _ => store::operator::project_of(&mut *tx, &job.id).await?,
        };
        let entry = store::audit::OperatorEntry {
            project_id,
            action,
            reason: &reason,
            job_id: Some(&job.id),
            details: serde_json::json!({
                "actor": actor.describe(),
                "kind": kind_of_head(&job.head),
                "queue": job.queue,
            }),
        };
        store::audit::record_operator(&mut *tx, entry).await?;
    }
    Ok(())
}

/// A bot's budget use, 429s and pause, as an operator sees them.
#[derive(Debug, Clone, Serialize)]
pub struct BotView {
    /// Its project.
    pub project_id: Uuid,
    /// The project's name.
    pub project_name: String,
    /// Telegram's id of the bot.
    pub telegram_bot_id: i64,
    /// Its @username.
    pub username: Option<String>,
    /// `connecting`, `connected`, `failed`.
    pub status: String,
    /// Calls in the last second.
    pub calls_last_second: i32,
    /// Its limit per second (its own, or the workers' default).
    pub calls_per_second: i32,
    /// `calls_last_second` of `calls_per_second`, in percent.
    pub budget_used_percent: i32,
    /// 429 answers in the last hour.
    pub rate_limited_last_hour: i64,
    /// Paused until then (a 429, or an operator).
    pub paused_until: Option<DateTime<Utc>>,
}

/// Every bot (of one project, or all).
pub async fn bots(pool: &PgPool, config: &crate::Config, project: Option<Uuid>) -> Result<Vec<BotView>, sqlx::Error> {
    let default = i32::try_from(config.telegram_budget.calls_per_second).unwrap_or(i32::MAX).max(1);
    Ok(store::operator::bots(pool, project)
        .await?
        .into_iter()
        .map(|b| {
            let limit = b.own_limit.unwrap_or(default).max(1);
            BotView {
                project_id: b.project_id,
                project_name: b.project_name,
                telegram_bot_id: b.telegram_bot_id,
                username: b.username,
                status: b.status,
                calls_last_second: b.calls_last_second,
                calls_per_second: limit,
                budget_used_percent: b.calls_last_second.saturating_mul(100) / limit,
                rate_limited_last_hour: b.rate_limited_last_hour,
                paused_until: b.paused_until,
            }
        })
        .collect())
}

/// The longest an operator may pause a bot for (a longer pause is a disconnect).
pub const MAX_PAUSE_SECS: u64 = 7 * 24 * 3600;

/// Why a bot cannot be paused or resumed.
#[derive(Debug, thiserror::Error)]
pub enum BotActionError {
    /// No project has this bot.
    #[error("no bot {0}")]
    UnknownBot(i64),
    /// The pause is out of bounds.
    #[error("a pause lasts 1 to {MAX_PAUSE_SECS} seconds, not {0}")]
    BadDuration(u64),
    /// The database.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Pauses a bot for every worker for `seconds` (a longer pause in place is kept); no
/// call is made with it until then. Audited. Returns until when.
pub async fn pause_bot(
    pool: &PgPool,
    telegram_bot_id: i64,
    seconds: u64,
    actor: &Actor,
) -> Result<DateTime<Utc>, BotActionError> {
    if !(1..=MAX_PAUSE_SECS).contains(&seconds) {
        return Err(BotActionError::BadDuration(seconds));
    }
    let bot =
        store::bots::by_telegram_id(pool, telegram_bot_id).await?.ok_or(BotActionError::UnknownBot(telegram_bot_id))?;
    let until = store::budget::pause(pool, telegram_bot_id, 0, seconds as f64).await?;
    let reason = format!("bot paused for {seconds} s by {}", actor.describe());
    store::audit::record_operator(
        pool,
        store::audit::OperatorEntry {
            project_id: Some(bot.project_id),
            action: "bot_paused",
            reason: &reason,
            job_id: None,
            details: serde_json::json!({"actor": actor.describe(), "telegram_bot_id": telegram_bot_id, "until": until}),
        },
    )
    .await?;
    Ok(until)
}

/// Lifts a bot's pause. Audited.
pub async fn resume_bot(pool: &PgPool, telegram_bot_id: i64, actor: &Actor) -> Result<(), BotActionError> {
    let bot =
        store::bots::by_telegram_id(pool, telegram_bot_id).await?.ok_or(BotActionError::UnknownBot(telegram_bot_id))?;
    store::budget::resume(pool, telegram_bot_id).await?;
    let reason = format!("bot resumed by {}", actor.describe());
    store::audit::record_operator(
        pool,
        store::audit::OperatorEntry {
            project_id: Some(bot.project_id),
            action: "bot_resumed",
            reason: &reason,
            job_id: None,
            details: serde_json::json!({"actor": actor.describe(), "telegram_bot_id": telegram_bot_id}),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_in_args_are_redacted_at_any_depth() {
        let args = json!({
            "bot_id": 42,
            "token": "123:abc",
            "nested": [{"webhook_secret": "s", "access_code": "C0DE", "grant_id": "g"}],
            "update": {"message": {"text": "/start SECRETCODE", "chat": {"id": 1}}},
            "pasted": {"text": " 123456:AAE_abcdefghijklmnopqrstuvwxyz-0123 "},
            "telegram_user_id": 7
        });
        let out = redact(&args);
        let text = out.to_string();
        for secret in ["123:abc", "\"s\"", "C0DE", "SECRETCODE", "AAE_abcdefghijklmnopqrstuvwxyz"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert_eq!(out["bot_id"], 42);
        assert_eq!(out["nested"][0]["grant_id"], "g");
        assert_eq!(out["telegram_user_id"], 7);
        assert_eq!(out["update"]["message"]["chat"]["id"], 1);
    }

    #[test]
    fn the_kind_is_read_from_a_rows_head() {
        assert_eq!(kind_of_head(br#"{"kind":"probe","args":{"key":"k"#).as_deref(), Some("probe"));
        assert_eq!(kind_of_head(b"\xff\xfe not json"), None);
        assert_eq!(kind_of_head(br#"[[[[1]]]]"#), None);
    }
}
