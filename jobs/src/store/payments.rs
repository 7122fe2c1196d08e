//! What payments read and write: Stripe settings, checkout requests, provider
//! events, the grants payments create and change, access codes, reminders.
//!
//! Writes take any executor (or the caller's transaction) so that a state change,
//! the event that caused it and the jobs that follow are written together.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Stripe settings
// ---------------------------------------------------------------------------

/// A project's sealed Stripe secrets.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StripeSettings {
    /// The secret API key, sealed.
    pub secret_key_sealed: Vec<u8>,
    /// Its last four characters.
    pub secret_key_hint: String,
    /// The webhook signing secret in force, sealed.
    pub webhook_secret_sealed: Vec<u8>,
    /// The one before it, still accepted while the endpoint's secret is rolled.
    pub previous_webhook_secret_sealed: Option<Vec<u8>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The project's Stripe settings, if any.
pub async fn stripe_settings(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Option<StripeSettings>, sqlx::Error> {
    sqlx::query_as(
        "SELECT secret_key_sealed, secret_key_hint, webhook_secret_sealed, previous_webhook_secret_sealed, updated_at
         FROM stripe_settings WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// Stores the project's Stripe settings (all sealed by the caller).
pub async fn put_stripe_settings(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    settings: &StripeSettings,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stripe_settings (project_id, secret_key_sealed, secret_key_hint, webhook_secret_sealed,
                                      previous_webhook_secret_sealed, updated_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (project_id) DO UPDATE SET
           secret_key_sealed = EXCLUDED.secret_key_sealed, secret_key_hint = EXCLUDED.secret_key_hint,
           webhook_secret_sealed = EXCLUDED.webhook_secret_sealed,
           previous_webhook_secret_sealed = EXCLUDED.previous_webhook_secret_sealed, updated_at = now()",
    )
    .bind(project_id)
    .bind(&settings.secret_key_sealed)
    .bind(&settings.secret_key_hint)
    .bind(&settings.webhook_secret_sealed)
    .bind(&settings.previous_webhook_secret_sealed)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the project exists.
pub async fn project_exists(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)").bind(project_id).fetch_one(db).await
}

// ---------------------------------------------------------------------------
// Project and plan terms
// ---------------------------------------------------------------------------

/// What payments need to know about a project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectTerms {
    /// `projects.grace_period` in seconds.
    pub grace_secs: i64,
    /// Days before an end when subscribers are reminded.
    pub reminder_days: Vec<i32>,
    /// The bot's @username (without @), once connected.
    pub bot_username: Option<String>,
}

/// A project's payment terms.
pub async fn project_terms(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Option<ProjectTerms>, sqlx::Error> {
    sqlx::query_as(
        "SELECT extract(epoch FROM p.grace_period)::bigint AS grace_secs, p.reminder_days, b.username AS bot_username
         FROM projects p LEFT JOIN bots b ON b.project_id = p.id WHERE p.id = $1",
    )
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// What is sold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanTerms {
    /// `plans.id`.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Name.
    pub name: String,
    /// Price in minor units.
    pub price_minor: i64,
    /// ISO currency.
    pub currency: String,
    /// Price in Stars, if sold for Stars.
    pub stars_price: Option<i32>,
    /// Days of access per payment; `None` = lifetime.
    pub duration_days: Option<i32>,
    /// Renews by itself.
    pub recurring: bool,
    /// Free trial days.
    pub trial_days: i32,
    /// Still sold.
    pub on_sale: bool,
}

/// A project's plan.
pub async fn plan_terms(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    plan_id: Uuid,
) -> Result<Option<PlanTerms>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, name, price_minor, currency, stars_price, duration_days, recurring, trial_days, on_sale
         FROM plans WHERE id = $1 AND project_id = $2",
    )
    .bind(plan_id)
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// A subscriber as payments see them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Payer {
    /// `subscribers.id`.
    pub id: Uuid,
    /// The Telegram user.
    pub telegram_user_id: i64,
    /// active or banned.
    pub status: String,
    /// Language.
    pub language_code: Option<String>,
}

/// Upserts the subscriber for a Telegram user; returns them.
pub async fn upsert_payer(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
    language_code: Option<&str>,
) -> Result<Payer, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, language_code) VALUES ($1, $2, $3, $4)
         ON CONFLICT (project_id, telegram_user_id) DO UPDATE SET
           language_code = COALESCE(EXCLUDED.language_code, subscribers.language_code)
         RETURNING id, telegram_user_id, status, language_code",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(telegram_user_id)
    .bind(language_code)
    .fetch_one(db)
    .await
}

/// A subscriber by project and Telegram user.
pub async fn payer(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<Payer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, telegram_user_id, status, language_code FROM subscribers WHERE project_id = $1 AND telegram_user_id = $2",
    )
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_optional(db)
    .await
}

// ---------------------------------------------------------------------------
// Checkout requests
// ---------------------------------------------------------------------------

/// A request to pay for a plan, with what its job needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckoutRequest {
    /// `checkout_requests.id` (the `gatehouse_ref` / Stars payload).
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Plan.
    pub plan_id: Uuid,
    /// stripe or stars.
    pub provider: String,
    /// Session id / invoice link, once made.
    pub external_id: Option<String>,
    /// The URL to pay at, once made.
    pub url: Option<String>,
    /// pending, sent, failed.
    pub state: String,
    /// `subscribers.id`.
    pub subscriber_id: Uuid,
    /// The payer.
    pub telegram_user_id: i64,
    /// active or banned.
    pub subscriber_status: String,
    /// Their language.
    pub language_code: Option<String>,
}

/// Records a checkout request.
pub async fn insert_checkout_request(
    db: impl PgExecutor<'_>,
    id: Uuid,
    project_id: Uuid,
    subscriber_id: Uuid,
    plan_id: Uuid,
    provider: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO checkout_requests (id, project_id, subscriber_id, plan_id, provider) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(project_id)
    .bind(subscriber_id)
    .bind(plan_id)
    .bind(provider)
    .execute(db)
    .await?;
    Ok(())
}

/// A checkout request by id.
pub async fn checkout_request(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<CheckoutRequest>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.project_id, c.plan_id, c.provider, c.external_id, c.url, c.state, c.subscriber_id,
                s.telegram_user_id, s.status AS subscriber_status, s.language_code
         FROM checkout_requests c JOIN subscribers s ON s.id = c.subscriber_id WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Records what the provider made for a request (session id or invoice link, and the URL).
pub async fn checkout_made(db: impl PgExecutor<'_>, id: Uuid, external_id: &str, url: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE checkout_requests SET external_id = $2, url = $3, state = 'sent', updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(external_id)
    .bind(url)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a request failed, with the reason.
pub async fn checkout_failed(db: impl PgExecutor<'_>, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE checkout_requests SET state = 'failed', error = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Provider events
// ---------------------------------------------------------------------------

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

/// Stores an event once per (project, provider, external id). Returns its row id if it
/// is new, `None` if it was stored before (a redelivery).
pub async fn insert_payment_event(
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

/// An event by row id.
pub async fn payment_event(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<PaymentEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, provider, external_id, kind, occurred_at, payload, processed_at
         FROM payment_events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks an event row for processing (duplicates of one job wait for each other).
pub async fn lock_payment_event(conn: &mut PgConnection, id: Uuid) -> Result<Option<PaymentEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, provider, external_id, kind, occurred_at, payload, processed_at
         FROM payment_events WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Marks an event processed, with the grant it acted on and the outcome.
pub async fn payment_event_processed(
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

// ---------------------------------------------------------------------------
// Grants that payments create and change
// ---------------------------------------------------------------------------

/// A grant as the state machine sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentGrant {
    /// `grants.id`.
    pub id: Uuid,
    /// Subscriber.
    pub subscriber_id: Uuid,
    /// Plan.
    pub plan_id: Uuid,
    /// Stored state.
    pub state: String,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// The newest provider event applied.
    pub last_event_at: Option<DateTime<Utc>>,
}

const PAYMENT_GRANT_COLUMNS: &str = "id, subscriber_id, plan_id, state, ends_at, last_event_at";

/// Serialises every change to one (project, source, external_ref) for the rest of
/// the transaction, whether or not its grant exists yet.
pub async fn lock_grant_key(
    conn: &mut PgConnection,
    project_id: Uuid,
    source: &str,
    external_ref: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("grant:{project_id}:{source}:{external_ref}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// The grant with this provider reference, locked.
pub async fn grant_by_ref(
    conn: &mut PgConnection,
    project_id: Uuid,
    source: &str,
    external_ref: &str,
) -> Result<Option<PaymentGrant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PAYMENT_GRANT_COLUMNS} FROM grants WHERE project_id = $1 AND source = $2 AND external_ref = $3 FOR UPDATE"
    )))
    .bind(project_id)
    .bind(source)
    .bind(external_ref)
    .fetch_optional(conn)
    .await
}

/// A grant by id, locked.
pub async fn lock_payment_grant(conn: &mut PgConnection, grant_id: Uuid) -> Result<Option<PaymentGrant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {PAYMENT_GRANT_COLUMNS} FROM grants WHERE id = $1 FOR UPDATE")))
        .bind(grant_id)
        .fetch_optional(conn)
        .await
}

/// The provider reference of a grant: (source, external_ref).
pub async fn grant_ref(
    db: impl PgExecutor<'_>,
    grant_id: Uuid,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT source, external_ref FROM grants WHERE id = $1").bind(grant_id).fetch_optional(db).await
}

/// A new grant made by a payment, a code or a trial.
pub struct NewPaymentGrant<'a> {
    /// Id.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Subscriber.
    pub subscriber_id: Uuid,
    /// Plan.
    pub plan_id: Uuid,
    /// stripe, stars, access_code, trial.
    pub source: &'a str,
    /// Provider reference.
    pub external_ref: &'a str,
    /// First state.
    pub state: &'a str,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// The event's time.
    pub last_event_at: DateTime<Utc>,
}

/// Inserts a grant.
pub async fn insert_payment_grant(conn: &mut PgConnection, grant: &NewPaymentGrant<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO grants (id, project_id, subscriber_id, plan_id, source, state, starts_at, ends_at, external_ref, last_event_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(grant.id)
    .bind(grant.project_id)
    .bind(grant.subscriber_id)
    .bind(grant.plan_id)
    .bind(grant.source)
    .bind(grant.state)
    .bind(grant.starts_at)
    .bind(grant.ends_at)
    .bind(grant.external_ref)
    .bind(grant.last_event_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes a grant's new state, end and newest event time.
pub async fn update_payment_grant(
    conn: &mut PgConnection,
    grant_id: Uuid,
    state: &str,
    ends_at: Option<DateTime<Utc>>,
    last_event_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE grants SET state = $2, ends_at = $3, last_event_at = GREATEST(last_event_at, $4), updated_at = now()
         WHERE id = $1",
    )
    .bind(grant_id)
    .bind(state)
    .bind(ends_at)
    .bind(last_event_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The subscriber's entitled one-time Stars grant of a plan (to extend), locked.
pub async fn extendable_stars_grant(
    conn: &mut PgConnection,
    subscriber_id: Uuid,
    plan_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<PaymentGrant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PAYMENT_GRANT_COLUMNS} FROM grants
         WHERE subscriber_id = $1 AND plan_id = $2 AND source = 'stars' AND state IN ('active', 'canceled')
           AND ends_at > $3
         ORDER BY ends_at DESC LIMIT 1 FOR UPDATE"
    )))
    .bind(subscriber_id)
    .bind(plan_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Managed chats of a plan (ids), inside a transaction.
pub async fn plan_chat_ids(conn: &mut PgConnection, plan_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT chat_id FROM plan_chats WHERE plan_id = $1 ORDER BY chat_id")
        .bind(plan_id)
        .fetch_all(conn)
        .await
}

// ---------------------------------------------------------------------------
// Access codes
// ---------------------------------------------------------------------------

/// A new access code.
pub struct NewAccessCode<'a> {
    /// Id.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Plan it grants.
    pub plan_id: Uuid,
    /// The code users type.
    pub code: &'a str,
    /// `None` = unlimited.
    pub max_uses: Option<i32>,
    /// After this, refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Days of access (else the plan's).
    pub duration_days: Option<i32>,
}

/// The unique constraint on (project, code).
pub const ACCESS_CODE_KEY: &str = "access_codes_project_id_code_key";

/// Inserts an access code.
pub async fn insert_access_code(db: impl PgExecutor<'_>, code: &NewAccessCode<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO access_codes (id, project_id, plan_id, code, max_uses, expires_at, duration_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(code.id)
    .bind(code.project_id)
    .bind(code.plan_id)
    .bind(code.code)
    .bind(code.max_uses)
    .bind(code.expires_at)
    .bind(code.duration_days)
    .execute(db)
    .await?;
    Ok(())
}

/// An access code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessCode {
    /// Id.
    pub id: Uuid,
    /// Plan.
    pub plan_id: Uuid,
    /// Cap.
    pub max_uses: Option<i32>,
    /// Used so far.
    pub uses: i32,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Days of access (else the plan's).
    pub duration_days: Option<i32>,
}

/// A project's code by its text.
pub async fn access_code(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    code: &str,
) -> Result<Option<AccessCode>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, plan_id, max_uses, uses, expires_at, duration_days FROM access_codes WHERE project_id = $1 AND code = $2",
    )
    .bind(project_id)
    .bind(code)
    .fetch_optional(db)
    .await
}

/// Takes one use of a code, if it has one left and has not expired: the single
/// statement that makes a cap hold however many redeem at once.
pub async fn take_access_code_use(
    conn: &mut PgConnection,
    code_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE access_codes SET uses = uses + 1
         WHERE id = $1 AND (max_uses IS NULL OR uses < max_uses) AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(code_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that a subscriber redeemed a code; false if they had already.
pub async fn insert_redemption(
    conn: &mut PgConnection,
    code_id: Uuid,
    subscriber_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO access_code_redemptions (code_id, subscriber_id, redeemed_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(code_id)
    .bind(subscriber_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// Reminders
// ---------------------------------------------------------------------------

/// Entitlements due a reminder now: the most urgent offset of the project's
/// `reminder_days` whose moment has come, not reminded yet (offsets are under 366
/// days, which bounds the scan on `grants_ends_at_idx`). Subscriptions that renew
/// by themselves (an active recurring Stripe or Stars plan) are not reminded.
pub async fn due_reminders(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, DateTime<Utc>, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT due.id, due.ends_at, due.days FROM (
           SELECT DISTINCT ON (g.id) g.id, g.project_id, g.ends_at, d.days
           FROM grants g
           JOIN subscribers s ON s.id = g.subscriber_id
           JOIN plans pl ON pl.id = g.plan_id
           JOIN projects p ON p.id = g.project_id
           CROSS JOIN LATERAL unnest(p.reminder_days) AS d(days)
           WHERE g.state IN ('trialing', 'active', 'past_due', 'canceled') AND s.status = 'active'
             AND g.ends_at > $1 AND g.ends_at < $1 + interval '366 days'
             AND g.ends_at - make_interval(days => d.days) <= $1
             AND NOT (g.state = 'active' AND g.source IN ('stripe', 'stars') AND pl.recurring)
           ORDER BY g.id, d.days) due
         WHERE NOT EXISTS (
           SELECT 1 FROM outbound_messages m
           WHERE m.project_id = due.project_id
             AND m.dedupe_key = 'remind:' || due.id || ':' || (extract(epoch FROM due.ends_at) * 1000000)::bigint || ':' || due.days)
         LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The dedupe key of a reminder (the SQL above builds the same).
pub fn reminder_key(grant_id: Uuid, ends_at: DateTime<Utc>, days: i32) -> String {
    format!("remind:{grant_id}:{}:{days}", ends_at.timestamp_micros())
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
