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
use sqlx::PgConnection;
use uuid::Uuid;

use super::subscription::{Event, Refused, State, transition};
use crate::{
    catalog::{grant_access::GrantAccess, issue_invite::IssueInvite, kick_expired::KickExpired},
    queue::{self, RunAt},
    store::{
        grants::{self, Grant, NewGrant},
        plans,
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
    Ok(Outcome::Applied { grant_id, from, to, ends_at })
}
