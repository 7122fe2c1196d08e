//! `process-stripe-event`: one stored Stripe event (the webhook verified and stored
//! it once by `event.id`). Finds the grant through the event's `gatehouse_ref`
//! (or, for a charge without one, the invoice it paid), applies it through
//! [`entitlement::apply`] — an event older than the grant's newest is stale and
//! changes nothing — and tells the subscriber once per failed invoice.

use uuid::Uuid;

use super::send_message::SendMessage;
pub use crate::kinds::process_stripe_event::ProcessStripeEvent;
use crate::runtime::{Job, JobContext};
use crate::{
    clock,
    payments::{
        entitlement::{self, Change, Ends, Outcome, Target},
        stripe::{self, EndRule},
        subscription::Event,
    },
    queue::{self, JobError, RunAt},
    store::{self, checkouts, plans, projects},
    texts::{self, Lang},
};

impl Job for ProcessStripeEvent {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let now = ctx.now();
        let mut tx = ctx.pool.begin().await?;
        let Some(row) = store::payments::lock(&mut tx, self.event_id).await? else {
            return Err(JobError::Permanent(format!("payment event {} no longer exists", self.event_id)));
        };
        if row.processed_at.is_some() {
            return Ok(());
        }
        let project_id = row.project_id;
        let occurred_at = row.occurred_at.unwrap_or(now);
        let ignore = |why: &str| {
            tracing::info!(event = %row.external_id, kind = %row.kind, why, "stripe event ignored");
        };
        let Some(meaning) = stripe::meaning(&row.kind, &row.payload) else {
            ignore("not a change Gatehouse acts on");
            return finish(tx, &row, None, "ignored").await;
        };
        // The checkout request names the subscriber and plan; without one, a charge
        // may still name an invoice whose grant is known.
        let request = match meaning.reference {
            Some(reference) => checkouts::get(&mut *tx, reference).await?.filter(|r| r.project_id == project_id),
            None => None,
        };
        // Every end is computed with checked arithmetic: a plan's days or a Stripe period
        // outside the calendar fails the event with its reason instead of panicking.
        let change_for = |plan: &plans::Plan, grace_secs: i64| -> Result<(Event, Ends), JobError> {
            let days = |d: i32, what: &str| clock::days_after(occurred_at, d.into(), what).map(Some);
            Ok(match meaning.ends {
                EndRule::PlanDuration if plan.recurring && plan.trial_days > 0 && meaning.event == Event::Pay => {
                    (Event::Trial, Ends::At(days(plan.trial_days, "the plan's trial_days")?))
                }
                EndRule::PlanDuration if plan.recurring => {
                    (meaning.event, Ends::At(days(plan.duration_days.unwrap_or(30), "the plan's duration_days")?))
                }
                EndRule::PlanDuration => (
                    meaning.event,
                    Ends::At(match plan.duration_days {
                        Some(d) => days(d, "the plan's duration_days")?,
                        None => None,
                    }),
                ),
                EndRule::PeriodEnd(end) => (meaning.event, Ends::At(Some(end))),
                EndRule::GraceAfter(paid_until) => {
                    let until = clock::plus_secs(paid_until, grace_secs).ok_or_else(|| {
                        JobError::Permanent(format!(
                            "the paid period ({paid_until}) plus the grace period is outside the calendar"
                        ))
                    })?;
                    (meaning.event, Ends::At(Some(until)))
                }
                EndRule::Now => (meaning.event, Ends::Now),
                EndRule::Keep => (meaning.event, Ends::Keep),
            })
        };
        let terms = projects::get(&mut *tx, project_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("project {project_id} no longer exists")))?;
        let outcome = match &request {
            Some(request) => {
                let plan = plans::get(&mut *tx, project_id, request.plan_id)
                    .await?
                    .ok_or_else(|| JobError::Permanent(format!("plan {} no longer exists", request.plan_id)))?;
                let (event, ends) = change_for(&plan, terms.grace_secs)?;
                let external_ref = request.id.to_string();
                let target = Target {
                    project_id,
                    subscriber_id: request.subscriber_id,
                    plan_id: request.plan_id,
                    source: "stripe",
                    external_ref: &external_ref,
                };
                entitlement::apply(&mut tx, target, Change { event, ends, occurred_at }, now).await?
            }
            None => {
                let grant = match &meaning.via_object {
                    Some(object) => store::payments::grant_of_stripe_object(&mut *tx, project_id, object).await?,
                    None => None,
                };
                let Some(grant_id) = grant.filter(|_| matches!(meaning.ends, EndRule::Now)) else {
                    ignore("no gatehouse_ref: not a Gatehouse checkout");
                    return finish(tx, &row, None, "ignored").await;
                };
                let change = Change { event: meaning.event, ends: Ends::Now, occurred_at };
                match entitlement::apply_to_grant(&mut tx, project_id, grant_id, change, now).await? {
                    Some(outcome) => outcome,
                    None => return finish(tx, &row, None, "ignored").await,
                }
            }
        };
        tracing::info!(event = %row.external_id, kind = %row.kind, ?outcome, "stripe event processed");
        let mut message = None;
        if let (Outcome::Applied { ends_at: Some(until), .. }, Some(invoice), Some(request)) =
            (&outcome, &meaning.failed_invoice, &request)
        {
            let plan_name = plans::get(&mut *tx, project_id, request.plan_id).await?.map(|p| p.name);
            let lang = Lang::from_code(request.language_code.as_deref());
            let text = texts::payment_failed(lang, plan_name.as_deref().unwrap_or("your plan"), *until);
            let key = format!("payment_failed:{invoice}");
            let id = store::messages::put(&mut *tx, project_id, request.telegram_user_id, &key, &text, None).await?;
            message = Some(id);
        }
        if let Some(message_id) = message {
            queue::enqueue(&mut tx, &SendMessage { message_id }, RunAt::Now).await?;
        }
        let grant_id = outcome.grant_id();
        finish(tx, &row, grant_id, outcome.word()).await
    }
}

async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    row: &store::payments::PaymentEvent,
    grant_id: Option<Uuid>,
    outcome: &'static str,
) -> Result<(), JobError> {
    store::payments::processed(&mut *tx, row.id, grant_id, outcome).await?;
    tx.commit().await?;
    metrics::counter!(crate::metrics::PAYMENT_EVENTS, "provider" => "stripe", "kind" => row.kind.clone(), "outcome" => outcome)
        .increment(1);
    Ok(())
}
