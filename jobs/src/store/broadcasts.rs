//! `broadcasts` and `broadcast_recipients`: the owner's messages to a segment of
//! subscribers, and each recipient's send, recorded before and after its call.
//!
//! Segments are chosen with the one entitlement rule (`gatehouse_entitles`, see
//! [`super::grants`]) and the grants' states; the time is always the caller's `now`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Who a broadcast goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Entitled now through an active subscription (paid, or cancelled but still in its period).
    Active,
    /// Entitled now through a trial.
    Trialing,
    /// Entitled now while a renewal payment has failed (the grace period).
    PastDue,
    /// Not entitled now, and some grant of theirs ended within this many days.
    Expired(i32),
    /// Every subscriber of the project who is not banned.
    All,
}

impl Segment {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Segment::Active => "active",
            Segment::Trialing => "trialing",
            Segment::PastDue => "past_due",
            Segment::Expired(_) => "expired",
            Segment::All => "all",
        }
    }

    /// The days of `expired`.
    pub fn within_days(self) -> Option<i32> {
        match self {
            Segment::Expired(days) => Some(days),
            _ => None,
        }
    }

    /// From the stored name and days.
    pub fn from_stored(name: &str, days: Option<i32>) -> Option<Self> {
        Some(match (name, days) {
            ("active", _) => Segment::Active,
            ("trialing", _) => Segment::Trialing,
            ("past_due", _) => Segment::PastDue,
            ("expired", Some(d)) => Segment::Expired(d),
            ("all", _) => Segment::All,
            _ => return None,
        })
    }
}

/// The subscribers (`subscribers s`) a segment holds at `$2`, for project `$1`, with the
/// segment's name as `$3` and its days as `$4`.
const SEGMENT: &str = "
  FROM subscribers s
  WHERE s.project_id = $1 AND s.status = 'active'
    AND CASE $3::text
      WHEN 'all' THEN true
      WHEN 'expired' THEN
        NOT EXISTS (SELECT 1 FROM grants g WHERE g.subscriber_id = s.id
                    AND gatehouse_entitles(g.state, g.ends_at, s.status, $2))
        AND EXISTS (SELECT 1 FROM grants g WHERE g.subscriber_id = s.id
                    AND g.ends_at <= $2 AND g.ends_at > $2 - make_interval(days => $4))
      ELSE EXISTS (SELECT 1 FROM grants g WHERE g.subscriber_id = s.id
                   AND gatehouse_entitles(g.state, g.ends_at, s.status, $2)
                   AND CASE $3::text WHEN 'active' THEN g.state IN ('active', 'canceled') ELSE g.state = $3 END)
    END";

/// How many subscribers a segment holds at `now`.
pub async fn count_segment(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    segment: Segment,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {SEGMENT}")))
        .bind(project_id)
        .bind(now)
        .bind(segment.name())
        .bind(segment.within_days())
        .fetch_one(db)
        .await
}

/// A broadcast.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Broadcast {
    /// `broadcasts.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Who composed it.
    pub owner_telegram_id: i64,
    /// `en` or `ru`.
    pub lang: String,
    /// The segment's name.
    pub segment: String,
    /// The days of `expired`.
    pub within_days: Option<i32>,
    /// The text.
    pub text: String,
    /// Telegram entities of the text.
    pub entities: Option<serde_json::Value>,
    /// The URL button's label.
    pub button_text: Option<String>,
    /// The URL button's URL.
    pub button_url: Option<String>,
    /// draft, sending, done, cancelled.
    pub state: String,
    /// Recipients, once confirmed.
    pub total: Option<i32>,
    /// The owner's progress message.
    pub progress_message_id: Option<Uuid>,
    /// The progress text last shown.
    pub progress_shown: Option<String>,
    /// When it was last shown.
    pub progress_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, project_id, owner_telegram_id, lang, segment, within_days, text, entities, button_text, \
                       button_url, state, total, progress_message_id, progress_shown, progress_at";

/// What the owner composed.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    /// The project.
    pub project_id: Uuid,
    /// The update that composed it.
    pub cause: &'a str,
    /// Who.
    pub owner_telegram_id: i64,
    /// `en` or `ru`.
    pub lang: &'a str,
    /// To whom.
    pub segment: Segment,
    /// The text.
    pub text: &'a str,
    /// Its entities.
    pub entities: Option<serde_json::Value>,
    /// An URL button (label, URL).
    pub button: Option<(&'a str, &'a str)>,
}

/// Records a draft once per cause; returns it, new or existing.
pub async fn insert_draft(db: impl PgExecutor<'_>, draft: &Draft<'_>) -> Result<Broadcast, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH new AS (
           INSERT INTO broadcasts (id, project_id, cause, owner_telegram_id, lang, segment, within_days, text,
                                   entities, button_text, button_url)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (project_id, cause) DO NOTHING
           RETURNING {COLUMNS})
         SELECT {COLUMNS} FROM new UNION ALL
         SELECT {COLUMNS} FROM broadcasts WHERE project_id = $2 AND cause = $3
         LIMIT 1"
    )))
    .bind(Uuid::now_v7())
    .bind(draft.project_id)
    .bind(draft.cause)
    .bind(draft.owner_telegram_id)
    .bind(draft.lang)
    .bind(draft.segment.name())
    .bind(draft.segment.within_days())
    .bind(draft.text)
    .bind(&draft.entities)
    .bind(draft.button.map(|b| b.0))
    .bind(draft.button.map(|b| b.1))
    .fetch_one(db)
    .await
}

/// A broadcast by id.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Broadcast>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM broadcasts WHERE id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The project's broadcast, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, project_id: Uuid, id: Uuid) -> Result<Option<Broadcast>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM broadcasts WHERE id = $1 AND project_id = $2 FOR UPDATE"
    )))
    .bind(id)
    .bind(project_id)
    .fetch_optional(conn)
    .await
}

/// Resolves a draft's segment at `now` into its recipient rows and marks it sending
/// (in the caller's transaction, with the draft locked); returns how many.
pub async fn start(conn: &mut PgConnection, broadcast: &Broadcast, now: DateTime<Utc>) -> Result<i32, sqlx::Error> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO broadcast_recipients (broadcast_id, seq, telegram_user_id)
         SELECT $5, (row_number() OVER (ORDER BY s.telegram_user_id) - 1)::integer, s.telegram_user_id {SEGMENT}
         ON CONFLICT DO NOTHING"
    )))
    .bind(broadcast.project_id)
    .bind(now)
    .bind(&broadcast.segment)
    .bind(broadcast.within_days)
    .bind(broadcast.id)
    .execute(&mut *conn)
    .await?;
    let total = i32::try_from(done.rows_affected()).unwrap_or(i32::MAX);
    sqlx::query("UPDATE broadcasts SET state = 'sending', total = $2, started_at = now() WHERE id = $1")
        .bind(broadcast.id)
        .bind(total)
        .execute(&mut *conn)
        .await?;
    Ok(total)
}

/// Records the progress message of a broadcast.
pub async fn set_progress_message(db: impl PgExecutor<'_>, id: Uuid, message_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE broadcasts SET progress_message_id = $2 WHERE id = $1")
        .bind(id)
        .bind(message_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Records the progress text shown.
pub async fn progress_shown(db: impl PgExecutor<'_>, id: Uuid, text: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE broadcasts SET progress_shown = $2, progress_at = now() WHERE id = $1")
        .bind(id)
        .bind(text)
        .execute(db)
        .await?;
    Ok(())
}

/// Cancels a draft or a broadcast being sent; whether it was.
pub async fn cancel(db: impl PgExecutor<'_>, project_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE broadcasts SET state = 'cancelled', finished_at = now()
         WHERE id = $1 AND project_id = $2 AND state IN ('draft', 'sending')",
    )
    .bind(id)
    .bind(project_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The project's broadcasts being sent (or awaiting confirmation), oldest first.
pub async fn open_of(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM broadcasts WHERE project_id = $1 AND state IN ('draft', 'sending') ORDER BY created_at",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Marks a sending broadcast done when no recipient is left to send; whether it was.
pub async fn finish_if_complete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE broadcasts b SET state = 'done', finished_at = now()
         WHERE b.id = $1 AND b.state = 'sending'
           AND NOT EXISTS (SELECT 1 FROM broadcast_recipients r
                           WHERE r.broadcast_id = b.id AND r.state IN ('pending', 'sending'))",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How a broadcast stands, counted from its recipients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Tally {
    /// Recipients.
    pub total: i64,
    /// Sent.
    pub sent: i64,
    /// Blocked the bot (403) or cannot be messaged.
    pub unreachable: i64,
    /// Refused for another reason.
    pub failed: i64,
    /// Sent more than once (their call was in flight when a worker stopped).
    pub resent: i64,
}

/// The broadcast's tally.
pub async fn tally(db: impl PgExecutor<'_>, id: Uuid) -> Result<Tally, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS total,
                count(*) FILTER (WHERE state = 'sent') AS sent,
                count(*) FILTER (WHERE state = 'unreachable') AS unreachable,
                count(*) FILTER (WHERE state = 'failed') AS failed,
                count(*) FILTER (WHERE attempts > 1) AS resent
         FROM broadcast_recipients WHERE broadcast_id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// A recipient still to send, in a batch.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recipient {
    /// Its number.
    pub seq: i32,
    /// Who.
    pub telegram_user_id: i64,
}

/// The recipients of seq in `[from, to)` not sent yet (pending, or sending when a
/// worker stopped mid-call), in order.
pub async fn unsent(db: impl PgExecutor<'_>, id: Uuid, from: i32, to: i32) -> Result<Vec<Recipient>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, telegram_user_id FROM broadcast_recipients
         WHERE broadcast_id = $1 AND seq >= $2 AND seq < $3 AND state IN ('pending', 'sending')
         ORDER BY seq",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}

/// Records that a recipient's call is about to be made, while the broadcast is still
/// sending; `false` when it is not (cancelled): nothing is to be sent.
pub async fn before_send(db: impl PgExecutor<'_>, id: Uuid, seq: i32) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE broadcast_recipients r SET state = 'sending', attempts = attempts + 1
         FROM broadcasts b
         WHERE r.broadcast_id = $1 AND r.seq = $2 AND r.state IN ('pending', 'sending')
           AND b.id = r.broadcast_id AND b.state = 'sending'",
    )
    .bind(id)
    .bind(seq)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a recipient back as pending: its call was not made (no budget, a 429), or
/// failed in a way another try may fix. The attempt is not counted.
pub async fn not_sent(db: impl PgExecutor<'_>, id: Uuid, seq: i32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE broadcast_recipients SET state = 'pending', attempts = greatest(attempts - 1, 0)
         WHERE broadcast_id = $1 AND seq = $2 AND state = 'sending'",
    )
    .bind(id)
    .bind(seq)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a recipient's outcome: `sent` (with the message id), `unreachable` or
/// `failed` (with the error).
pub async fn after_send(
    db: impl PgExecutor<'_>,
    id: Uuid,
    seq: i32,
    state: &str,
    telegram_message_id: Option<i64>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE broadcast_recipients SET state = $3, telegram_message_id = $4, error = $5, done_at = now()
         WHERE broadcast_id = $1 AND seq = $2",
    )
    .bind(id)
    .bind(seq)
    .bind(state)
    .bind(telegram_message_id)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}
