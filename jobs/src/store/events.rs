//! `events` and `event_sequences`: the event stream integrators read (polling) and
//! receive (webhooks), and the one catalog of event types ([`EventType`]).
//!
//! [`record`] is the only way an event is written. It runs on the caller's
//! transaction, beside the change the event reports, so a change that rolls back
//! leaves no event and a change that commits always has its event. In the same
//! statement sequence it takes the project's next sequence number, writes one
//! delivery per endpoint that wants the type, and enqueues their `deliver-webhook`
//! jobs.
//!
//! ## The sequence number, and what it costs
//!
//! The number comes from the project's row in `event_sequences`, incremented in the
//! event's transaction (`INSERT … ON CONFLICT DO UPDATE … RETURNING`). The row stays
//! locked until that transaction ends, so concurrent transactions of one project take
//! their numbers one after the other, in commit order: strictly increasing per project,
//! and a reader that has seen N never sees a smaller number appear later. A rollback
//! gives its number back (the update is undone), so there are no gaps today, but
//! readers must tolerate them. The cost is that event-writing transactions of the
//! same project serialize from their `record` to their commit; transactions of
//! different projects never wait for each other. Call sites write the event last,
//! just before the commit, to keep that window short. A Postgres sequence would not
//! block, but its numbers become visible out of order (a transaction holding 7 can
//! commit after one holding 8), which a poller reading `after=7` would miss.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Every event type, with its stable string (never renamed once shipped). The README
/// lists each with its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventType {
    /// Someone joined a managed chat with their own link or an entitlement.
    MemberJoined,
    /// A member left a managed chat on their own.
    MemberLeft,
    /// Gatehouse removed a member (`reason`: expired, unauthorized, ban, sweep).
    MemberRemoved,
    /// Gatehouse removed someone who came in without a right (`reason`: misused_link, unauthorized).
    MemberIntruderRemoved,
    /// The owner banned a subscriber (once per chat they were banned from).
    MemberBanned,
    /// The owner lifted a ban.
    MemberUnbanned,
    /// A subscription (a paid, trial or access-code grant) was made.
    SubscriptionCreated,
    /// A free trial started.
    SubscriptionTrialStarted,
    /// A subscription became active (first payment, end of trial, payment after an end).
    SubscriptionActivated,
    /// An active subscription was paid for another period.
    SubscriptionRenewed,
    /// A renewal payment failed: access continues through the grace period.
    SubscriptionPastDue,
    /// The subscriber cancelled: access until the period ends.
    SubscriptionCancelScheduled,
    /// The provider ended the subscription now (deleted), or the owner's ban ended it.
    SubscriptionCanceled,
    /// The subscription's end passed.
    SubscriptionExpired,
    /// A payment of the subscription was refunded: access ends now.
    SubscriptionRefunded,
    /// A payment went through (Stripe or Stars).
    PaymentSucceeded,
    /// A payment failed.
    PaymentFailed,
    /// A payment was refunded.
    PaymentRefunded,
    /// An access code was redeemed.
    AccessCodeRedeemed,
    /// A personal invite link was made for a subscriber.
    LinkIssued,
    /// A personal invite link was revoked.
    LinkRevoked,
    /// A single-use link was handed out and never revoked, yet its owner is outside:
    /// someone else may have used it, in a join Telegram did not report.
    LinkPossiblyMisused,
    /// The bot has a problem (rights lost in a chat, its webhook failing, its token revoked).
    BotProblem,
    /// A managed chat cannot be managed (the bot lacks rights): nobody is removed there.
    ChatNotReady,
    /// A managed chat is ready: the bot has the rights it needs.
    ChatReady,
    /// Gatehouse disabled a webhook endpoint after its failure window.
    WebhookEndpointDisabled,
}

impl EventType {
    /// Every type, in the catalog's order.
    pub const ALL: [EventType; 26] = [
        EventType::MemberJoined,
        EventType::MemberLeft,
        EventType::MemberRemoved,
        EventType::MemberIntruderRemoved,
        EventType::MemberBanned,
        EventType::MemberUnbanned,
        EventType::SubscriptionCreated,
        EventType::SubscriptionTrialStarted,
        EventType::SubscriptionActivated,
        EventType::SubscriptionRenewed,
        EventType::SubscriptionPastDue,
        EventType::SubscriptionCancelScheduled,
        EventType::SubscriptionCanceled,
        EventType::SubscriptionExpired,
        EventType::SubscriptionRefunded,
        EventType::PaymentSucceeded,
        EventType::PaymentFailed,
        EventType::PaymentRefunded,
        EventType::AccessCodeRedeemed,
        EventType::LinkIssued,
        EventType::LinkRevoked,
        EventType::LinkPossiblyMisused,
        EventType::BotProblem,
        EventType::ChatNotReady,
        EventType::ChatReady,
        EventType::WebhookEndpointDisabled,
    ];

    /// The stable string (`events.type`, the `type` of the JSON, the filter's words).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::MemberJoined => "member.joined",
            EventType::MemberLeft => "member.left",
            EventType::MemberRemoved => "member.removed",
            EventType::MemberIntruderRemoved => "member.intruder_removed",
            EventType::MemberBanned => "member.banned",
            EventType::MemberUnbanned => "member.unbanned",
            EventType::SubscriptionCreated => "subscription.created",
            EventType::SubscriptionTrialStarted => "subscription.trial_started",
            EventType::SubscriptionActivated => "subscription.activated",
            EventType::SubscriptionRenewed => "subscription.renewed",
            EventType::SubscriptionPastDue => "subscription.past_due",
            EventType::SubscriptionCancelScheduled => "subscription.cancel_scheduled",
            EventType::SubscriptionCanceled => "subscription.canceled",
            EventType::SubscriptionExpired => "subscription.expired",
            EventType::SubscriptionRefunded => "subscription.refunded",
            EventType::PaymentSucceeded => "payment.succeeded",
            EventType::PaymentFailed => "payment.failed",
            EventType::PaymentRefunded => "payment.refunded",
            EventType::AccessCodeRedeemed => "access_code.redeemed",
            EventType::LinkIssued => "link.issued",
            EventType::LinkRevoked => "link.revoked",
            EventType::LinkPossiblyMisused => "link.possibly_misused",
            EventType::BotProblem => "bot.problem",
            EventType::ChatNotReady => "chat.not_ready",
            EventType::ChatReady => "chat.ready",
            EventType::WebhookEndpointDisabled => "webhook_endpoint.disabled",
        }
    }

    /// The type of a stable string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to write: its type and the snapshot of its object.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The project.
    pub project_id: Uuid,
    /// What happened.
    pub kind: EventType,
    /// A snapshot of the object it is about (the README documents each type's fields).
    pub data: serde_json::Value,
}

impl NewEvent {
    /// An event of `kind` in `project_id` about `data`.
    pub fn new(project_id: Uuid, kind: EventType, data: serde_json::Value) -> Self {
        Self { project_id, kind, data }
    }
}

/// The snapshot of a chat inside an event's `data`.
pub fn chat_snapshot(chat: &super::chats::Chat) -> serde_json::Value {
    serde_json::json!({
        "id": chat.id,
        "telegram_chat_id": chat.telegram_chat_id,
        "title": chat.title,
        "status": chat.status,
    })
}

/// The `data` of a member event: `{"member": {"telegram_user_id", "chat"}}` and `extra`'s fields.
pub fn member_data(chat: &super::chats::Chat, telegram_user_id: i64, extra: serde_json::Value) -> serde_json::Value {
    let mut data = serde_json::json!({
        "member": {"telegram_user_id": telegram_user_id, "chat": chat_snapshot(chat)},
    });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    data
}

/// The snapshot of a personal link inside an event's `data`.
pub fn link_snapshot(chat: &super::chats::Chat, link: &super::links::Link, state: &str) -> serde_json::Value {
    serde_json::json!({
        "id": link.id,
        "chat": chat_snapshot(chat),
        "owner_telegram_user_id": link.owner_telegram_user_id,
        "grant_id": link.grant_id,
        "state": state,
        "expire_at": link.expire_at,
    })
}

/// The `link.issued` event of a link made for `pending`'s row.
pub fn link_issued_event(
    chat: &super::chats::Chat,
    pending: &super::links::Link,
    expire_at: DateTime<Utc>,
) -> NewEvent {
    let mut snapshot = link_snapshot(chat, pending, "open");
    snapshot["expire_at"] = serde_json::json!(expire_at);
    NewEvent::new(chat.project_id, EventType::LinkIssued, serde_json::json!({"link": snapshot}))
}

/// The `data` of a subscription event about a stored grant that moved from
/// `previous_state` to its current state.
pub fn grant_data(
    grant: &super::grants::Grant,
    telegram_user_id: Option<i64>,
    previous_state: &str,
) -> serde_json::Value {
    serde_json::json!({"subscription": {
        "id": grant.id,
        "plan_id": grant.plan_id,
        "subscriber_id": grant.subscriber_id,
        "telegram_user_id": telegram_user_id,
        "source": grant.source,
        "state": grant.state,
        "previous_state": previous_state,
        "ends_at": grant.ends_at,
    }})
}

/// One stored event.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Event {
    /// `evt_…` in the API is this id.
    pub id: Uuid,
    /// The project.
    pub project_id: Uuid,
    /// Strictly increasing per project, in commit order (gaps possible).
    pub sequence: i64,
    /// The type's stable string.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was written (Gatehouse's clock).
    pub created_at: DateTime<Utc>,
    /// The snapshot of its object.
    pub data: serde_json::Value,
}

impl Event {
    /// The JSON an integrator sees, polled or pushed.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "type": self.kind,
            "project_id": self.project_id,
            "sequence": self.sequence,
            "created_at": self.created_at,
            "data": self.data,
        })
    }
}

/// Writes `event` in the caller's transaction (`conn`), at `now` from the caller's
/// clock: takes the project's next sequence number (locking its counter row until the
/// transaction ends, see the module's notes), stores the event, and writes one delivery
/// and one `deliver-webhook` job per enabled endpoint that wants its type. Returns the
/// stored event.
pub async fn record(conn: &mut PgConnection, event: NewEvent, now: DateTime<Utc>) -> Result<Event, sqlx::Error> {
    let sequence: i64 = sqlx::query_scalar(
        "INSERT INTO event_sequences (project_id, last_sequence) VALUES ($1, 1)
         ON CONFLICT (project_id) DO UPDATE SET last_sequence = event_sequences.last_sequence + 1
         RETURNING last_sequence",
    )
    .bind(event.project_id)
    .fetch_one(&mut *conn)
    .await?;
    let stored = Event {
        id: Uuid::now_v7(),
        project_id: event.project_id,
        sequence,
        kind: event.kind.as_str().to_string(),
        created_at: now,
        data: event.data,
    };
    sqlx::query(
        "INSERT INTO events (id, project_id, sequence, type, created_at, data) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(stored.id)
    .bind(stored.project_id)
    .bind(stored.sequence)
    .bind(&stored.kind)
    .bind(stored.created_at)
    .bind(&stored.data)
    .execute(&mut *conn)
    .await?;
    let deliveries = super::webhooks::fan_out(&mut *conn, &stored, now).await?;
    for (delivery_id, round) in deliveries {
        let job = crate::kinds::deliver_webhook::DeliverWebhook { delivery_id, round, attempt: 1 };
        crate::queue::enqueue(&mut *conn, &job, crate::queue::RunAt::Now).await?;
    }
    metrics::counter!(crate::metrics::EVENTS_RECORDED, "type" => event.kind.as_str()).increment(1);
    Ok(stored)
}

/// Events of a project after `after` (by sequence), oldest first, of the given types
/// (empty = all), at most `limit`.
pub async fn page(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    after: i64,
    types: &[String],
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, sequence, type, created_at, data FROM events
         WHERE project_id = $1 AND sequence > $2 AND (cardinality($3::text[]) = 0 OR type = ANY($3))
         ORDER BY sequence LIMIT $4",
    )
    .bind(project_id)
    .bind(after)
    .bind(types)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One event by id.
pub async fn get(db: impl PgExecutor<'_>, event_id: Uuid) -> Result<Option<Event>, sqlx::Error> {
    sqlx::query_as("SELECT id, project_id, sequence, type, created_at, data FROM events WHERE id = $1")
        .bind(event_id)
        .fetch_optional(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_stable_string_and_none_twice() {
        let mut seen = std::collections::HashSet::new();
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert!(seen.insert(t.as_str()), "{t} twice");
            // The migration's CHECK: `object.action`, lower case and underscores.
            let (object, action) = t.as_str().split_once('.').expect("a dot");
            assert!(object.chars().chain(action.chars()).all(|c| c.is_ascii_lowercase() || c == '_'), "{t}");
        }
        assert_eq!(EventType::parse("member.vanished"), None);
    }
}
