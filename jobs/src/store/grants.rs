//! `grants`: every entitlement (manual grants, Stripe and Stars subscriptions,
//! access codes, trials), and every question about who is entitled.
//!
//! Entitlement is defined once, in SQL: `gatehouse_entitles(state, ends_at,
//! subscriber_status, at)` and `gatehouse_entitling_state(state)` (migration
//! `20261201000041_entitlement.sql`, pinned to
//! [`State::entitles`](crate::payments::subscription::State::entitles) by a test).
//! Every query here calls them with `now` from the caller's [`Clock`](crate::clock::Clock).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A grant.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Grant {
    /// `grants.id`.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Who is granted.
    pub subscriber_id: Uuid,
    /// What is granted.
    pub plan_id: Uuid,
    /// `manual`, `stripe`, `stars`, `access_code`, `trial`.
    pub source: String,
    /// `trialing`, `active`, …, `revoked` (the subscription state machine's states).
    pub state: String,
    /// When it started.
    pub starts_at: DateTime<Utc>,
    /// When it ends; `None` = never.
    pub ends_at: Option<DateTime<Utc>>,
    /// The provider's reference (subscription, charge, code and subscriber…).
    pub external_ref: Option<String>,
    /// The newest provider event applied.
    pub last_event_at: Option<DateTime<Utc>>,
    /// The integrator's note.
    pub note: Option<String>,
}

const COLUMNS: &str = "g.id, g.project_id, g.subscriber_id, g.plan_id, g.source, g.state, g.starts_at, g.ends_at, \
                       g.external_ref, g.last_event_at, g.note";

/// A grant with its plan and subscriber, and whether it entitles at the time it was read for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantView {
    /// The grant.
    #[sqlx(flatten)]
    pub grant: Grant,
    /// Its plan's name.
    pub plan_name: String,
    /// Whether its plan renews.
    pub recurring: bool,
    /// The subscriber.
    pub telegram_user_id: i64,
    /// `active` or `banned`.
    pub subscriber_status: String,
    /// The subscriber's language.
    pub language_code: Option<String>,
    /// In an entitling state, not past its end, and the subscriber not banned, at `now`.
    pub entitled: bool,
}

/// `SELECT … FROM grants g …` of a [`GrantView`], with `now` as `$1`.
const VIEW: &str = "p.name AS plan_name, p.recurring, s.telegram_user_id, s.status AS subscriber_status, \
                    s.language_code, gatehouse_entitles(g.state, g.ends_at, s.status, $1) AS entitled \
                    FROM grants g JOIN subscribers s ON s.id = g.subscriber_id JOIN plans p ON p.id = g.plan_id";

/// A grant by id, as it stands at `now`.
pub async fn get(
    db: impl PgExecutor<'_>,
    grant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<GrantView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS}, {VIEW} WHERE g.id = $2")))
        .bind(now)
        .bind(grant_id)
        .fetch_optional(db)
        .await
}

/// Every grant of a user in a project, as they stand at `now`, newest first.
pub async fn of_member(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    telegram_user_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<GrantView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, {VIEW} WHERE s.project_id = $2 AND s.telegram_user_id = $3 ORDER BY g.created_at DESC"
    )))
    .bind(now)
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(db)
    .await
}

/// A grant by id, not locked.
pub async fn find(db: impl PgExecutor<'_>, grant_id: Uuid) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM grants g WHERE g.id = $1")))
        .bind(grant_id)
        .fetch_optional(db)
        .await
}

/// The project's grant, locked until the transaction ends; `None` if it has no such grant.
pub async fn lock(conn: &mut PgConnection, project_id: Uuid, grant_id: Uuid) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM grants g WHERE g.id = $1 AND g.project_id = $2 FOR UPDATE"
    )))
    .bind(grant_id)
    .bind(project_id)
    .fetch_optional(conn)
    .await
}

/// Serialises every change to one (project, source, external_ref) for the rest of
/// the transaction, whether or not its grant exists yet.
pub async fn lock_ref(
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
pub async fn lock_by_ref(
    conn: &mut PgConnection,
    project_id: Uuid,
    source: &str,
    external_ref: &str,
) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM grants g WHERE g.project_id = $1 AND g.source = $2 AND g.external_ref = $3 FOR UPDATE"
    )))
    .bind(project_id)
    .bind(source)
    .bind(external_ref)
    .fetch_optional(conn)
    .await
}

/// The subscriber's one-time Stars grant of a plan still running at `now` (to
/// extend), locked.
pub async fn lock_extendable_stars_grant(
    conn: &mut PgConnection,
    subscriber_id: Uuid,
    plan_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM grants g
         WHERE g.subscriber_id = $1 AND g.plan_id = $2 AND g.source = 'stars' AND g.state IN ('active', 'canceled')
           AND g.ends_at > $3
         ORDER BY g.ends_at DESC LIMIT 1 FOR UPDATE"
    )))
    .bind(subscriber_id)
    .bind(plan_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A user's grants in an entitling state (whatever their end), locked.
pub async fn lock_entitling_of(
    conn: &mut PgConnection,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Vec<Grant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM grants g JOIN subscribers s ON s.id = g.subscriber_id
         WHERE s.project_id = $1 AND s.telegram_user_id = $2 AND gatehouse_entitling_state(g.state)
         FOR UPDATE OF g"
    )))
    .bind(project_id)
    .bind(telegram_user_id)
    .fetch_all(conn)
    .await
}

/// A grant to insert.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// `grants.id`.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Who is granted.
    pub subscriber_id: Uuid,
    /// What is granted.
    pub plan_id: Uuid,
    /// `manual`, `stripe`, `stars`, `access_code`, `trial`.
    pub source: &'a str,
    /// First state.
    pub state: &'a str,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End; `None` = never.
    pub ends_at: Option<DateTime<Utc>>,
    /// The provider's reference.
    pub external_ref: Option<&'a str>,
    /// The time of the provider event that made it.
    pub last_event_at: Option<DateTime<Utc>>,
    /// The integrator's note.
    pub note: Option<&'a str>,
}

impl<'a> NewGrant<'a> {
    /// A manual grant (by the integrator, the owner, an access token): `active` from `starts_at`.
    pub fn manual(
        id: Uuid,
        project_id: Uuid,
        subscriber_id: Uuid,
        plan_id: Uuid,
        starts_at: DateTime<Utc>,
        ends_at: Option<DateTime<Utc>>,
        note: Option<&'a str>,
    ) -> Self {
        Self {
            id,
            project_id,
            subscriber_id,
            plan_id,
            source: "manual",
            state: "active",
            starts_at,
            ends_at,
            external_ref: None,
            last_event_at: None,
            note,
        }
    }
}

/// Inserts a grant.
pub async fn insert(db: impl PgExecutor<'_>, grant: &NewGrant<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO grants (id, project_id, subscriber_id, plan_id, source, state, starts_at, ends_at,
                             external_ref, last_event_at, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
    .bind(grant.note)
    .execute(db)
    .await?;
    Ok(())
}

/// Writes a grant's new state, end and newest event time.
pub async fn update(
    db: impl PgExecutor<'_>,
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
    .execute(db)
    .await?;
    Ok(())
}

/// Moves a grant to `state` and ends it at `now`, or when it already ended if that
/// was earlier. Returns the end it now has.
pub async fn end_now(
    db: impl PgExecutor<'_>,
    grant_id: Uuid,
    state: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE grants SET state = $2, ends_at = LEAST(COALESCE(ends_at, $3), $3), updated_at = now()
         WHERE id = $1
         RETURNING ends_at",
    )
    .bind(grant_id)
    .bind(state)
    .bind(now)
    .fetch_one(db)
    .await
}

/// `EXISTS (…)`: some grant entitles the Telegram user `user` to the chat `chat` at
/// `at` (each a SQL expression of the query this is part of).
pub(crate) fn entitles_to_chat(chat: &str, user: &str, at: &str) -> String {
    format!(
        "EXISTS (
           SELECT 1 FROM grants eg
           JOIN subscribers es ON es.id = eg.subscriber_id
           JOIN plan_chats epc ON epc.plan_id = eg.plan_id
           JOIN chats ec ON ec.id = epc.chat_id AND ec.project_id = es.project_id
           WHERE epc.chat_id = {chat} AND es.telegram_user_id = {user}
             AND gatehouse_entitles(eg.state, eg.ends_at, es.status, {at}))"
    )
}

/// Whether any grant entitles this user to this chat at `now`.
pub async fn is_entitled(
    db: impl PgExecutor<'_>,
    chat_id: Uuid,
    telegram_user_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = format!("SELECT {}", entitles_to_chat("$1", "$2", "$3"));
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(chat_id).bind(telegram_user_id).bind(now).fetch_one(db).await
}

/// How many of the project's grants entitle at `now`.
pub async fn count_entitled(db: impl PgExecutor<'_>, project_id: Uuid, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM grants g JOIN subscribers s ON s.id = g.subscriber_id
         WHERE g.project_id = $1 AND gatehouse_entitles(g.state, g.ends_at, s.status, $2)",
    )
    .bind(project_id)
    .bind(now)
    .fetch_one(db)
    .await
}

/// Grants in an entitling state whose end has passed at `now`: the expiry scan's work.
/// In one total order (end, then id), so that two scans at once (a scan longer than the
/// minute between ticks) lock the grants they expire in the same order: one waits for the
/// other instead of both deadlocking, as they did when many grants shared one end.
pub async fn due_expiries(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueExpiry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id AS grant_id, g.ends_at, b.telegram_bot_id,
                (SELECT count(*) FROM plan_chats pc WHERE pc.plan_id = g.plan_id) AS chats
         FROM grants g
         LEFT JOIN bots b ON b.project_id = g.project_id AND b.verified_at IS NOT NULL
         WHERE gatehouse_entitling_state(g.state) AND g.ends_at <= $1
         ORDER BY g.ends_at, g.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A grant whose end has passed, as [`due_expiries`] finds it.
#[derive(Debug, sqlx::FromRow)]
pub struct DueExpiry {
    /// The grant.
    pub grant_id: Uuid,
    /// Its end.
    pub ends_at: DateTime<Utc>,
    /// Its project's bot, if one is connected: whose budget its removal spends.
    pub telegram_bot_id: Option<i64>,
    /// The chats of its plan: one removal each.
    pub chats: i64,
}

/// Marks a grant expired if it still has this end and an entitling state (call it in
/// the transaction that enqueues its kick); when it did, returns the
/// `subscription.expired` event that reports it, to write in the same transaction.
///
/// The row is found by its id, the primary key. `ends_at = $2` would let the generic plan
/// of the prepared statement find it through `grants_ends_at_idx` instead (the same
/// estimated cost, and the index's predicate is the entitling states), reading every
/// grant that ends at the same moment: all of a cohort that ends together, 58 ms a grant
/// at 10,000 of them. `IS NOT DISTINCT FROM` (the same test, as the end passed here is
/// never null) is no index condition, so the end is checked on the row the id found.
pub async fn expire(
    db: impl PgExecutor<'_>,
    grant_id: Uuid,
    ends_at: DateTime<Utc>,
) -> Result<Option<super::events::NewEvent>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Expired {
        #[sqlx(flatten)]
        grant: Grant,
        previous_state: String,
        telegram_user_id: i64,
    }
    let expired: Option<Expired> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE grants g SET state = 'expired', updated_at = now()
         FROM (SELECT id, state FROM grants WHERE id = $1 FOR UPDATE) before, subscribers s
         WHERE g.id = $1 AND g.id = before.id AND s.id = g.subscriber_id AND g.ends_at IS NOT DISTINCT FROM $2
           AND gatehouse_entitling_state(g.state)
         RETURNING {COLUMNS}, before.state AS previous_state, s.telegram_user_id"
    )))
    .bind(grant_id)
    .bind(ends_at)
    .fetch_optional(db)
    .await?;
    Ok(expired.map(|e| {
        let data = super::events::grant_data(&e.grant, Some(e.telegram_user_id), &e.previous_state);
        super::events::NewEvent::new(e.grant.project_id, super::events::EventType::SubscriptionExpired, data)
    }))
}

/// Entitlements due a reminder at `now`: the most urgent offset of the project's
/// `reminder_days` whose moment has come, not reminded yet (offsets are under 366
/// days, which bounds the scan on `grants_ends_at_idx`). Subscriptions that renew
/// by themselves (an active recurring Stripe or Stars plan) are not reminded.
/// Returns (grant, its end, the offset in days).
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
           WHERE gatehouse_entitles(g.state, g.ends_at, s.status, $1)
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

/// The dedupe key of a reminder (the SQL of [`due_reminders`] builds the same).
pub fn reminder_key(grant_id: Uuid, ends_at: DateTime<Utc>, days: i32) -> String {
    format!("remind:{grant_id}:{}:{days}", ends_at.timestamp_micros())
}

/// One page of the project's grants (subscriptions) as they stand at `now`, oldest
/// first after `(created_at, id)`, optionally only in `state` or of `plan_id`.
pub async fn page(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    state: Option<&str>,
    plan_id: Option<Uuid>,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, g.created_at AS listed_at, {VIEW}
         WHERE g.project_id = $2 AND ($3::text IS NULL OR g.state = $3) AND ($4::uuid IS NULL OR g.plan_id = $4)
           AND ($5::timestamptz IS NULL OR (g.created_at, g.id) > ($5, $6))
         ORDER BY g.created_at, g.id LIMIT $7"
    )))
    .bind(now)
    .bind(project_id)
    .bind(state)
    .bind(plan_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A grant in a list, with when it was made (the list's order).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    /// The grant as it stands.
    #[sqlx(flatten)]
    pub view: GrantView,
    /// When it was made.
    pub listed_at: DateTime<Utc>,
}
