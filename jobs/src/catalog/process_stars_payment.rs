//! `process-stars-payment`: a `successful_payment` in Telegram Stars, once per
//! `telegram_payment_charge_id`. A subscription payment (first or renewal) makes
//! or extends the grant of its checkout request until `subscription_expiration_date`;
//! a one-time payment extends the subscriber's running Stars grant of the plan, or
//! makes one for the plan's duration (or for life).

use chrono::{DateTime, Utc};
use serde_json::json;

pub use crate::kinds::process_stars_payment::ProcessStarsPayment;
use crate::runtime::{Job, JobContext};
use crate::{
    payments::{
        entitlement::{self, Change, Ends, Target},
        stars::{self},
        subscription::Event,
    },
    queue::JobError,
    store,
};

impl Job for ProcessStarsPayment {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let bot = store::bots::by_telegram_id(&ctx.pool, self.bot_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("bot {} is no longer managed", self.bot_id)))?;
        let project_id = bot.project_id;
        let payment = &self.payment;
        let now = ctx.now();
        let mut tx = ctx.pool.begin().await?;
        let raw = serde_json::to_value(payment).unwrap_or_else(|_| json!({}));
        let event_id = match store::payments::insert(
            &mut *tx,
            project_id,
            "stars",
            &payment.charge_id,
            "successful_payment",
            Some(payment.at()),
            &raw,
        )
        .await?
        {
            Some(id) => id,
            None => return Ok(()), // this charge was processed before
        };
        let request = stars::request_of(&payment.payload);
        let request = match request {
            Some(id) => store::checkouts::get(&mut *tx, id).await?.filter(|r| r.project_id == project_id),
            None => None,
        };
        let Some(request) = request else {
            tracing::error!(charge = %payment.charge_id, "a Stars payment for no known checkout request: not applied");
            store::payments::processed(&mut *tx, event_id, None, "ignored").await?;
            tx.commit().await?;
            return Err(JobError::Permanent(format!(
                "Stars payment {} names no checkout request of this project",
                payment.charge_id
            )));
        };
        let plan = store::plans::get(&mut *tx, project_id, request.plan_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("plan {} no longer exists", request.plan_id)))?;
        let occurred_at = payment.at();
        let outcome = match payment.subscription_expiration_date.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)) {
            Some(until) if payment.is_recurring => {
                let external_ref = request.id.to_string();
                let target = target(project_id, &request, "stars", &external_ref);
                let change = Change { event: Event::Pay, ends: Ends::At(Some(until)), occurred_at };
                entitlement::apply(&mut tx, target, change, now).await?
            }
            _ => {
                let days = plan.duration_days.map(i64::from);
                let after = |from, days| crate::clock::days_after(from, days, "the plan's duration_days");
                let running =
                    store::grants::lock_extendable_stars_grant(&mut tx, request.subscriber_id, plan.id, now).await?;
                match running {
                    Some(grant) => {
                        let from = grant.ends_at.unwrap_or(now).max(now);
                        let change = Change {
                            event: Event::Pay,
                            ends: Ends::At(days.map(|d| after(from, d)).transpose()?),
                            occurred_at,
                        };
                        entitlement::apply_to_grant(&mut tx, project_id, grant.id, change, now)
                            .await?
                            .ok_or_else(|| JobError::Retry("the grant to extend vanished".into()))?
                    }
                    None => {
                        let target = target(project_id, &request, "stars", &payment.charge_id);
                        let change = Change {
                            event: Event::Pay,
                            ends: Ends::At(days.map(|d| after(now, d)).transpose()?),
                            occurred_at,
                        };
                        entitlement::apply(&mut tx, target, change, now).await?
                    }
                }
            }
        };
        tracing::info!(charge = %payment.charge_id, ?outcome, "Stars payment applied");
        store::payments::processed(&mut *tx, event_id, outcome.grant_id(), outcome.word()).await?;
        tx.commit().await?;
        metrics::counter!(crate::metrics::PAYMENT_EVENTS, "provider" => "stars", "kind" => "successful_payment", "outcome" => outcome.word())
            .increment(1);
        Ok(())
    }
}

fn target<'a>(
    project_id: uuid::Uuid,
    request: &store::checkouts::CheckoutRequest,
    source: &'a str,
    external_ref: &'a str,
) -> Target<'a> {
    Target { project_id, subscriber_id: request.subscriber_id, plan_id: request.plan_id, source, external_ref }
}
