//! A request to pay for a plan: recorded with its job in the caller's transaction
//! ([`begin`]); the job makes the Stripe Checkout Session or the Stars invoice and
//! sends the user the way to pay. Free trials start here too ([`start_trial`]).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    entitlement::{self, Change, Ends, Outcome, Target},
    subscription::Event,
};
use crate::{
    kinds::{create_stripe_checkout::CreateStripeCheckout, send_stars_invoice::SendStarsInvoice},
    queue::{self, RunAt},
    store::{checkouts, grants},
};

/// How the user pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Stripe Checkout.
    Stripe,
    /// Telegram Stars.
    Stars,
}

impl Provider {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Stars => "stars",
        }
    }
}

/// Records a checkout request for `subscriber_id` and enqueues the job that sends
/// them the way to pay (`create-stripe-checkout` or `send-stars-invoice`). The caller
/// has checked the plan is on sale with a price for this provider.
pub async fn begin(
    conn: &mut PgConnection,
    project_id: Uuid,
    subscriber_id: Uuid,
    plan_id: Uuid,
    provider: Provider,
) -> Result<Uuid, sqlx::Error> {
    begin_returning(conn, project_id, subscriber_id, plan_id, provider, None).await
}

/// [`begin`] for a payer on the membership page: Stripe's checkout sends them back to
/// `return_url`, and nothing is sent in Telegram (the page sends them to pay itself).
pub async fn begin_returning(
    conn: &mut PgConnection,
    project_id: Uuid,
    subscriber_id: Uuid,
    plan_id: Uuid,
    provider: Provider,
    return_url: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    let request_id = Uuid::now_v7();
    checkouts::insert(&mut *conn, request_id, project_id, subscriber_id, plan_id, provider.as_str(), return_url)
        .await?;
    match provider {
        Provider::Stripe => queue::enqueue(conn, &CreateStripeCheckout { request_id }, RunAt::Now).await?,
        Provider::Stars => queue::enqueue(conn, &SendStarsInvoice { request_id }, RunAt::Now).await?,
    };
    Ok(request_id)
}

/// Starts the plan's free trial for a subscriber: a `trial` grant, once per subscriber
/// and plan, `trial_days` long. `None` if they had one already.
pub async fn start_trial(
    conn: &mut PgConnection,
    project_id: Uuid,
    subscriber_id: Uuid,
    plan_id: Uuid,
    trial_days: i32,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let external_ref = format!("{plan_id}:{subscriber_id}");
    let target = Target { project_id, subscriber_id, plan_id, source: "trial", external_ref: &external_ref };
    grants::lock_ref(conn, project_id, "trial", &external_ref).await?;
    if grants::lock_by_ref(conn, project_id, "trial", &external_ref).await?.is_some() {
        return Ok(None);
    }
    // A trial lasts at most MAX_TRIAL_DAYS, whatever an older plan row says.
    let days = i64::from(trial_days).clamp(0, crate::clock::MAX_TRIAL_DAYS);
    let ends = Ends::At(Some(crate::clock::plus_days(now, days).unwrap_or(DateTime::<Utc>::MAX_UTC)));
    let outcome = entitlement::apply(conn, target, Change { event: Event::Trial, ends, occurred_at: now }, now).await?;
    Ok(match outcome {
        Outcome::Applied { grant_id, .. } => Some(grant_id),
        _ => None,
    })
}
