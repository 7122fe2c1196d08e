//! Applying a payment event to a grant: the one path by which Stripe events, Stars
//! payments and refunds, access codes and trials change a grant's state.
//!
//! In one transaction (the caller's): lock the grant's key, refuse an event older
//! than the newest one applied (`last_event_at`), ask [`transition`] for the next
//! state, write it, and enqueue what the Telegram side needs:
//!
//! - first entitlement → `grant-access` (links; idempotent per grant);
//! - entitled again after an end → `issue-invite` per chat, one per reactivation;
//! - a renewal of an entitled grant → nothing (no second set of links);
//! - entitlement ends now (deleted, refunded, banned) → `kick-expired` for (grant, end);
//! - past due → nothing now: `ends_at` moves to the paid period's end plus the grace
//!   period, and the expiry scan removes them then unless a payment arrives first.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::subscription::{Event, Refused, State, transition};
use crate::{
    kinds::{grant_access::GrantAccess, issue_invite::IssueInvite, kick_expired::KickExpired},
    queue::{self, RunAt},
    store::{
        self,
        events::{EventType, NewEvent},
        grants::{self, Grant, NewGrant},
        plans, subscribers,
    },
};

/// The grant an event is about: found by (project, source, external_ref), or made.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Project.
    pub project_id: Uuid,
    /// Subscriber (used when the grant is made).
    pub subscriber_id: Uuid,
    /// Plan (used when the grant is made).
    pub plan_id: Uuid,
    /// stripe, stars, access_code, trial.
    pub source: &'a str,
    /// The provider's reference.
    pub external_ref: &'a str,
}

/// What to do with `ends_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ends {
    /// Leave it.
    Keep,
    /// Set it (`None` = no end).
    At(Option<DateTime<Utc>>),
    /// Now (or the earlier end it already had): access ends.
    Now,
}

/// One event to apply.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    /// What happened.
    pub event: Event,
    /// The end it implies.
    pub ends: Ends,
    /// When the provider says it happened (ordering).
    pub occurred_at: DateTime<Utc>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The grant moved (possibly to the same state with a new end).
    Applied {
        /// The grant.
        grant_id: Uuid,
        /// Its state before (`None`: just made).
        from: Option<State>,
        /// Its state now.
        to: State,
        /// Its end now.
        ends_at: Option<DateTime<Utc>>,
    },
    /// The grant has seen a newer event: nothing changed.
    Stale {
        /// The grant.
        grant_id: Uuid,
    },
    /// The state machine does not allow it: nothing changed.
    Refused {
        /// The grant, if there is one.
        grant_id: Option<Uuid>,
        /// Why.
        refused: Refused,
    },
}

impl Outcome {
    /// The grant, if any.
    pub fn grant_id(&self) -> Option<Uuid> {
        match self {
            Outcome::Applied { grant_id, .. } | Outcome::Stale { grant_id } => Some(*grant_id),
            Outcome::Refused { grant_id, .. } => *grant_id,
        }
    }

    /// The `payment_events.outcome` word.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "applied",
            Outcome::Stale { .. } => "stale",
            Outcome::Refused { .. } => "refused",
        }
    }
}

/// Applies `change` to the target's grant, in `conn` (a transaction), with `now`
/// from the job's clock.
pub async fn apply(
    conn: &mut PgConnection,
    target: Target<'_>,
    change: Change,
    now: DateTime<Utc>,
) -> Result<Outcome, sqlx::Error> {
    grants::lock_ref(conn, target.project_id, target.source, target.external_ref).await?;
    let existing = grants::lock_by_ref(conn, target.project_id, target.source, target.external_ref).await?;
    apply_to(conn, target, existing, change, now).await
}

/// Applies `change` to a grant found by id (a refund naming a charge).
pub async fn apply_to_grant(
    conn: &mut PgConnection,
    project_id: Uuid,
    grant_id: Uuid,
    change: Change,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, sqlx::Error> {
    let Some(Grant { source, external_ref: Some(external_ref), .. }) = grants::find(&mut *conn, grant_id).await? else {
        return Ok(None);
    };
    grants::lock_ref(conn, project_id, &source, &external_ref).await?;
    let Some(existing) = grants::lock(conn, project_id, grant_id).await? else {
        return Ok(None);
    };
    let target = Target {
        project_id,
        subscriber_id: existing.subscriber_id,
        plan_id: existing.plan_id,
        source: &source,
        external_ref: &external_ref,
    };
    apply_to(conn, target, Some(existing), change, now).await.map(Some)
}

async fn apply_to(
    conn: &mut PgConnection,
    target: Target<'_>,
    existing: Option<Grant>,
    change: Change,
    now: DateTime<Utc>,
) -> Result<Outcome, sqlx::Error> {
    if let Some(grant) = &existing
        && grant.last_event_at.is_some_and(|last| last > change.occurred_at)
    {
        return Ok(Outcome::Stale { grant_id: grant.id });
    }
    let from = existing.as_ref().and_then(|g| State::parse(&g.state));
    let to = match transition(from, change.event) {
        Ok(to) => to,
        Err(refused) => return Ok(Outcome::Refused { grant_id: existing.map(|g| g.id), refused }),
    };
    let old_end = existing.as_ref().and_then(|g| g.ends_at);
    let ends_at = match change.ends {
        Ends::Keep => old_end,
        Ends::At(at) => at,
        Ends::Now => Some(old_end.map_or(now, |end| end.min(now))),
    };
    let grant_id = match &existing {
        Some(grant) => {
            grants::update(&mut *conn, grant.id, to.as_str(), ends_at, change.occurred_at).await?;
            grant.id
        }
        None => {
            let id = Uuid::now_v7();
            grants::insert(
                &mut *conn,
                &NewGrant {
                    id,
                    project_id: target.project_id,
                    subscriber_id: target.subscriber_id,
                    plan_id: target.plan_id,
                    source: target.source,
                    state: to.as_str(),
                    starts_at: now,
                    ends_at,
                    external_ref: Some(target.external_ref),
                    last_event_at: Some(change.occurred_at),
                    note: None,
                },
            )
            .await?;
            id
        }
    };
    let was_entitled = from.is_some_and(State::entitles);
    if to.entitles() && !was_entitled {
        match from {
            None => {
                queue::enqueue(conn, &GrantAccess { grant_id }, RunAt::Now).await?;
            }
            Some(_) => {
                // GrantAccess ran for this grant once already: a reactivation gets
                // fresh links of its own, once per reactivating event.
                let reason = format!("renewed:{}", change.occurred_at.timestamp_micros());
                for chat_id in plans::chat_ids(conn, target.plan_id).await? {
                    queue::enqueue(conn, &IssueInvite { grant_id, chat_id, reason: reason.clone() }, RunAt::Now)
                        .await?;
                }
            }
        }
    }
    if was_entitled
        && !to.entitles()
        && let Some(end) = ends_at
    {
        queue::enqueue(conn, &KickExpired { grant_id, ends_at: end }, RunAt::Now).await?;
    }
    let telegram_user_id = subscribers::telegram_id_of(&mut *conn, target.subscriber_id).await?;
    let snapshot = Snapshot { grant_id, target, telegram_user_id, from, to, ends_at };
    for event in events_of(&snapshot, change.event) {
        store::events::record(conn, event, now).await?;
    }
    Ok(Outcome::Applied { grant_id, from, to, ends_at })
}

/// What an applied change's events say about the grant.
struct Snapshot<'a> {
    grant_id: Uuid,
    target: Target<'a>,
    telegram_user_id: Option<i64>,
    from: Option<State>,
    to: State,
    ends_at: Option<DateTime<Utc>>,
}

impl Snapshot<'_> {
    fn subscription(&self) -> serde_json::Value {
        json!({
            "id": self.grant_id,
            "plan_id": self.target.plan_id,
            "subscriber_id": self.target.subscriber_id,
            "telegram_user_id": self.telegram_user_id,
            "source": self.target.source,
            "state": self.to.as_str(),
            "previous_state": self.from.map(State::as_str),
            "ends_at": self.ends_at,
        })
    }
}

/// The events an applied change reports (in this order), written in its transaction.
fn events_of(s: &Snapshot<'_>, event: Event) -> Vec<NewEvent> {
    use EventType as T;
    let (from, to) = (s.from, s.to);
    let mut kinds = Vec::new();
    if from.is_none() && to != State::Expired {
        kinds.push(T::SubscriptionCreated);
    }
    let paid = matches!(s.target.source, "stripe" | "stars");
    match event {
        Event::Pay if paid => kinds.push(T::PaymentSucceeded),
        Event::PaymentFailed => kinds.push(T::PaymentFailed),
        Event::Refund if from.is_some() => kinds.push(T::PaymentRefunded),
        _ => {}
    }
    let moved = from != Some(to);
    match to {
        State::Trialing if moved => kinds.push(T::SubscriptionTrialStarted),
        State::Active
            if event == Event::Pay && matches!(from, Some(State::Active | State::PastDue | State::Canceled)) =>
        {
            kinds.push(T::SubscriptionRenewed)
        }
        State::Active if moved => kinds.push(T::SubscriptionActivated),
        State::PastDue if moved => kinds.push(T::SubscriptionPastDue),
        State::Canceled if moved => kinds.push(T::SubscriptionCancelScheduled),
        State::Expired if moved && from.is_some() => kinds.push(match event {
            Event::Refund => T::SubscriptionRefunded,
            Event::Lapse => T::SubscriptionExpired,
            _ => T::SubscriptionCanceled,
        }),
        State::Banned if moved => kinds.push(T::SubscriptionCanceled),
        _ => {}
    }
    kinds
        .into_iter()
        .map(|kind| {
            let mut data = json!({"subscription": s.subscription()});
            if matches!(kind, T::PaymentSucceeded | T::PaymentFailed | T::PaymentRefunded) {
                data["payment"] = json!({
                    "provider": s.target.source,
                    "reference": s.target.external_ref,
                    "subscription_id": s.grant_id,
                });
            }
            NewEvent::new(s.target.project_id, kind, data)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str, from: Option<State>, event: Event) -> Vec<&'static str> {
        let to = super::super::subscription::transition(from, event).expect("allowed");
        let target = Target {
            project_id: Uuid::nil(),
            subscriber_id: Uuid::nil(),
            plan_id: Uuid::nil(),
            source,
            external_ref: "ref",
        };
        let s = Snapshot { grant_id: Uuid::nil(), target, telegram_user_id: Some(1), from, to, ends_at: None };
        events_of(&s, event).into_iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn each_subscription_move_reports_its_events() {
        use State::*;
        assert_eq!(
            kinds("stripe", None, Event::Pay),
            ["subscription.created", "payment.succeeded", "subscription.activated"]
        );
        assert_eq!(kinds("trial", None, Event::Trial), ["subscription.created", "subscription.trial_started"]);
        assert_eq!(kinds("access_code", None, Event::Pay), ["subscription.created", "subscription.activated"]);
        assert_eq!(kinds("stripe", Some(Trialing), Event::Pay), ["payment.succeeded", "subscription.activated"]);
        assert_eq!(kinds("stars", Some(Active), Event::Pay), ["payment.succeeded", "subscription.renewed"]);
        assert_eq!(kinds("stripe", Some(PastDue), Event::Pay), ["payment.succeeded", "subscription.renewed"]);
        assert_eq!(kinds("stripe", Some(Active), Event::PaymentFailed), ["payment.failed", "subscription.past_due"]);
        assert_eq!(kinds("stripe", Some(Active), Event::CancelAtPeriodEnd), ["subscription.cancel_scheduled"]);
        assert_eq!(kinds("stripe", Some(Canceled), Event::Resume), ["subscription.activated"]);
        assert_eq!(kinds("stripe", Some(Active), Event::End), ["subscription.canceled"]);
        assert_eq!(kinds("stripe", Some(Active), Event::Refund), ["payment.refunded", "subscription.refunded"]);
        assert_eq!(kinds("stripe", Some(PastDue), Event::Lapse), ["subscription.expired"]);
        assert_eq!(kinds("stripe", Some(Expired), Event::Pay), ["payment.succeeded", "subscription.activated"]);
        assert!(kinds("stripe", None, Event::End).is_empty(), "an end remembered before anything else");
        assert!(kinds("stripe", Some(Expired), Event::End).is_empty());
    }
}
