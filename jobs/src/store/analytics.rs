//! The figures of the integrator API's analytics, read from `grants`, `subscribers`,
//! `plans`, `payment_events` and `member_counts`. Entitlement is the SQL function
//! `gatehouse_entitles`, amounts are `gatehouse_payment_amount` (migration
//! `20261201000051`): no rule is written out again here.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Counts of subscribers.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Counts {
    /// Entitled now.
    pub active: i64,
    /// Entitled now through a trial.
    pub trialing: i64,
    /// Whose first grant started in the period.
    pub new: i64,
    /// Entitled at some point, not now, whose last access ended in the period.
    pub churned: i64,
    /// Trials started in the period.
    pub trials: i64,
    /// Of those, the subscribers who paid after their trial started.
    pub converted: i64,
}

/// The subscriber counts for the period starting at `from` (`None`: all time), at `now`.
pub async fn counts(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Counts, sqlx::Error> {
    sqlx::query_as(
        "WITH per AS (
             SELECT s.id,
                    bool_or(gatehouse_entitles(g.state, g.ends_at, s.status, $2)) AS entitled,
                    bool_or(g.state = 'trialing' AND gatehouse_entitles(g.state, g.ends_at, s.status, $2)) AS trialing,
                    min(g.starts_at) AS first_start,
                    max(COALESCE(g.ends_at, g.updated_at)) AS last_end
             FROM grants g JOIN subscribers s ON s.id = g.subscriber_id
             WHERE g.project_id = $1
             GROUP BY s.id
         ), trials AS (
             SELECT g.subscriber_id, min(g.starts_at) AS started
             FROM grants g
             WHERE g.project_id = $1 AND (g.source = 'trial' OR g.state = 'trialing')
               AND ($3::timestamptz IS NULL OR g.starts_at >= $3) AND g.starts_at <= $2
             GROUP BY g.subscriber_id
         )
         SELECT
             (SELECT count(*) FROM per WHERE entitled) AS active,
             (SELECT count(*) FROM per WHERE trialing) AS trialing,
             (SELECT count(*) FROM per WHERE ($3::timestamptz IS NULL OR first_start >= $3) AND first_start <= $2) AS new,
             (SELECT count(*) FROM per WHERE NOT entitled AND last_end <= $2
                                          AND ($3::timestamptz IS NULL OR last_end >= $3)) AS churned,
             (SELECT count(*) FROM trials) AS trials,
             (SELECT count(*) FROM trials t WHERE EXISTS (
                  SELECT 1 FROM payment_events e JOIN grants g ON g.id = e.grant_id
                  WHERE e.project_id = $1 AND g.subscriber_id = t.subscriber_id AND e.received_at >= t.started
                    AND gatehouse_payment_amount(e.provider, e.kind, e.payload) > 0)) AS converted",
    )
    .bind(project_id)
    .bind(now)
    .bind(from)
    .fetch_one(db)
    .await
}

/// An amount of one currency, optionally for one provider or plan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Amount {
    /// ISO 4217, or XTR.
    pub currency: String,
    /// stripe or stars, when split by provider.
    pub provider: Option<String>,
    /// The plan, when split by plan.
    pub plan_id: Option<Uuid>,
    /// Minor units.
    pub amount_minor: i64,
}

/// Monthly recurring revenue now, per currency: every renewing grant that entitles now
/// and is past its trial, at its plan's price scaled to 30 days.
pub async fn mrr(db: impl PgExecutor<'_>, project_id: Uuid, now: DateTime<Utc>) -> Result<Vec<Amount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT CASE WHEN g.source = 'stars' THEN 'XTR' ELSE p.currency END AS currency,
                NULL::text AS provider, NULL::uuid AS plan_id,
                round(sum((CASE WHEN g.source = 'stars' THEN p.stars_price ELSE p.price_minor END)::numeric
                          * 30 / p.duration_days))::bigint AS amount_minor
         FROM grants g JOIN subscribers s ON s.id = g.subscriber_id JOIN plans p ON p.id = g.plan_id
         WHERE g.project_id = $1 AND p.recurring AND p.duration_days IS NOT NULL AND g.state <> 'trialing'
           AND g.source IN ('stripe', 'stars') AND gatehouse_entitles(g.state, g.ends_at, s.status, $2)
         GROUP BY 1 ORDER BY 1",
    )
    .bind(project_id)
    .bind(now)
    .fetch_all(db)
    .await
}

/// Revenue received in the period, net of refunds: per currency (`by` = `total`), per
/// provider and currency (`provider`), or per plan and currency (`plan`).
pub async fn revenue(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<Amount>, sqlx::Error> {
    // GROUPING SETS gives the three splits in one scan.
    sqlx::query_as(concat!(
        "WITH moved AS (
             SELECT e.provider, g.plan_id, gatehouse_payment_currency(e.provider, e.payload) AS currency,
                    ",
        super::payments::amount_of_event!(),
        " AS amount
             FROM payment_events e LEFT JOIN grants g ON g.id = e.grant_id
             WHERE e.project_id = $1 AND e.outcome IS DISTINCT FROM 'ignored'
               AND ($3::timestamptz IS NULL OR e.received_at >= $3) AND e.received_at <= $2
         )
         SELECT currency, provider, plan_id, sum(amount)::bigint AS amount_minor
         FROM moved WHERE amount IS NOT NULL AND currency IS NOT NULL
         GROUP BY GROUPING SETS ((currency), (provider, currency), (plan_id, currency))
         ORDER BY provider NULLS FIRST, plan_id NULLS FIRST, currency"
    ))
    .bind(project_id)
    .bind(now)
    .bind(from)
    .fetch_all(db)
    .await
}

/// One day's member count of one chat.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DailyCount {
    /// Telegram's id of the chat.
    pub telegram_chat_id: i64,
    /// The day counted.
    pub day: NaiveDate,
    /// Members that day.
    pub members: i32,
}

/// The daily member counts of the project's chats (or of one), from `from` (inclusive),
/// by chat then day, ascending or descending by day; at most `per_chat` days per chat.
pub async fn member_counts(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_chat_id: Option<i64>,
    from: Option<NaiveDate>,
    descending: bool,
    per_chat: i64,
) -> Result<Vec<DailyCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT telegram_chat_id, day, members FROM (
             SELECT c.telegram_chat_id, m.day, m.members,
                    row_number() OVER (PARTITION BY c.id ORDER BY
                        CASE WHEN $4 THEN m.day END DESC, CASE WHEN NOT $4 THEN m.day END ASC) AS n
             FROM member_counts m JOIN chats c ON c.id = m.chat_id
             WHERE c.project_id = $1 AND ($2::bigint IS NULL OR c.telegram_chat_id = $2)
               AND ($3::date IS NULL OR m.day >= $3)
         ) x WHERE n <= $5
         ORDER BY telegram_chat_id, n",
    )
    .bind(project_id)
    .bind(telegram_chat_id)
    .bind(from)
    .bind(descending)
    .bind(per_chat)
    .fetch_all(db)
    .await
}
