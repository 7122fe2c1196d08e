//! `payment_events`: every Stripe event, Stars charge and Stars refund, stored once
//! per (project, provider, external id), with the grant it was applied to; and what
//! they tell about a grant (its Stripe subscription, its first Stars charge).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A stored provider event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentEvent {
    /// `payment_events.id`.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// stripe or stars.
    pub provider: String,
    /// `evt_…` or the Stars charge id.
    pub external_id: String,
    /// Event type.
    pub kind: String,
    /// The provider's time for it.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The whole event.
    pub payload: serde_json::Value,
    /// Set once processed.
    pub processed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, project_id, provider, external_id, kind, occurred_at, payload, processed_at";

/// Stores an event once per (project, provider, external id). Returns its row id if it
/// is new, `None` if it was stored before (a redelivery).
pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    provider: &str,
    external_id: &str,
    kind: &str,
    occurred_at: Option<DateTime<Utc>>,
    payload: &serde_json::Value,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO payment_events (id, project_id, provider, external_id, kind, occurred_at, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (project_id, provider, external_id) DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(provider)
    .bind(external_id)
    .bind(kind)
    .bind(occurred_at)
    .bind(payload)
    .fetch_optional(db)
    .await
}

/// Locks an event row for processing (duplicates of one job wait for each other).
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<PaymentEvent>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM payment_events WHERE id = $1 FOR UPDATE")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Marks an event processed, with the grant it acted on and the outcome.
pub async fn processed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    grant_id: Option<Uuid>,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payment_events SET processed_at = now(), grant_id = $2, outcome = $3 WHERE id = $1")
        .bind(id)
        .bind(grant_id)
        .bind(outcome)
        .execute(db)
        .await?;
    Ok(())
}

/// The grant a Stripe object (an invoice) was applied to, by the object's id.
pub async fn grant_of_stripe_object(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    object_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT grant_id FROM payment_events
         WHERE project_id = $1 AND provider = 'stripe' AND payload #>> '{data,object,id}' = $2 AND grant_id IS NOT NULL
         LIMIT 1",
    )
    .bind(project_id)
    .bind(object_id)
    .fetch_optional(db)
    .await
}

/// The grant a Stars charge was applied to.
pub async fn grant_of_stars_charge(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    charge_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT grant_id FROM payment_events WHERE project_id = $1 AND provider = 'stars' AND external_id = $2",
    )
    .bind(project_id)
    .bind(charge_id)
    .fetch_optional(db)
    .await
    .map(Option::flatten)
}

/// The payer of a Stars charge Gatehouse processed, if it knows the charge.
pub async fn stars_charge_payer(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    charge_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT (payload ->> 'telegram_user_id')::bigint FROM payment_events
         WHERE project_id = $1 AND provider = 'stars' AND external_id = $2 AND kind = 'successful_payment'",
    )
    .bind(project_id)
    .bind(charge_id)
    .fetch_optional(db)
    .await
    .map(Option::flatten)
}

/// The Stripe subscription a grant was paid through, from its stored events.
pub async fn stripe_subscription_of(db: impl PgExecutor<'_>, grant_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(payload #>> '{data,object,subscription}',
                         payload #>> '{data,object,parent,subscription_details,subscription}')
         FROM payment_events
         WHERE grant_id = $1 AND provider = 'stripe'
           AND COALESCE(payload #>> '{data,object,subscription}',
                        payload #>> '{data,object,parent,subscription_details,subscription}') IS NOT NULL
         ORDER BY received_at LIMIT 1",
    )
    .bind(grant_id)
    .fetch_optional(db)
    .await
}

/// The first Stars charge of a grant (it names the Stars subscription).
pub async fn stars_charge_of(db: impl PgExecutor<'_>, grant_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT external_id FROM payment_events WHERE grant_id = $1 AND provider = 'stars' ORDER BY received_at LIMIT 1",
    )
    .bind(grant_id)
    .fetch_optional(db)
    .await
}

/// A payment event as the integrator API lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    /// `payment_events.id`.
    pub id: Uuid,
    /// stripe or stars.
    pub provider: String,
    /// The provider's id of it.
    pub external_id: String,
    /// Its type (`invoice.paid`, `successful_payment`, `refund`, …).
    pub kind: String,
    /// Money moved, in minor units (negative: a refund), when it moved money.
    pub amount_minor: Option<i64>,
    /// Its currency.
    pub currency: Option<String>,
    /// The grant it was applied to.
    pub grant_id: Option<Uuid>,
    /// The plan of that grant.
    pub plan_id: Option<Uuid>,
    /// The subscriber of that grant.
    pub telegram_user_id: Option<i64>,
    /// applied, stale, refused, ignored (`None`: not processed yet).
    pub outcome: Option<String>,
    /// The provider's time for it.
    pub occurred_at: Option<DateTime<Utc>>,
    /// When Gatehouse received it.
    pub received_at: DateTime<Utc>,
}

/// The money a payment event `e` moved, in minor units (negative: a refund), the one
/// place that says it: the event's own amount (`gatehouse_payment_amount`, migration
/// 0051), or for a Stars refund, which carries none, minus the charge's it names. A
/// macro so that queries can `concat!` it.
macro_rules! amount_of_event {
    () => {
        "COALESCE(gatehouse_payment_amount(e.provider, e.kind, e.payload),
                 CASE WHEN e.provider = 'stars' AND e.kind = 'refund' THEN
                     -(SELECT gatehouse_payment_amount(o.provider, o.kind, o.payload) FROM payment_events o
                       WHERE o.project_id = e.project_id AND o.provider = 'stars'
                         AND o.external_id = e.payload->>'telegram_payment_charge_id')
                 END)"
    };
}
pub(crate) use amount_of_event;

/// Every payment event with its amount.
const LISTED: &str = concat!(
    "SELECT e.id, e.provider, e.external_id, e.kind, ",
    amount_of_event!(),
    " AS amount_minor,
        gatehouse_payment_currency(e.provider, e.payload) AS currency,
        e.grant_id, g.plan_id, s.telegram_user_id, e.outcome, e.occurred_at, e.received_at
 FROM payment_events e
 LEFT JOIN grants g ON g.id = e.grant_id
 LEFT JOIN subscribers s ON s.id = g.subscriber_id
 WHERE e.project_id = $1
   AND ($2::text IS NULL OR e.provider = $2)
   AND ($3::timestamptz IS NULL OR (e.received_at, e.id) < ($3, $4))
 ORDER BY e.received_at DESC, e.id DESC"
);

/// One page of the project's payment events, newest first, before `(received_at, id)`.
pub async fn page(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    provider: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{LISTED} LIMIT $5")))
        .bind(project_id)
        .bind(provider)
        .bind(before.map(|b| b.0))
        .bind(before.map(|b| b.1))
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Every payment event of the project, newest first, as a stream (for exports).
pub fn all<'e>(
    db: impl PgExecutor<'e> + 'e,
    project_id: Uuid,
    provider: Option<String>,
) -> futures::stream::BoxStream<'e, Result<Listed, sqlx::Error>> {
    sqlx::query_as(sqlx::AssertSqlSafe(LISTED))
        .bind(project_id)
        .bind(provider)
        .bind(None::<DateTime<Utc>>)
        .bind(None::<Uuid>)
        .fetch(db)
}
