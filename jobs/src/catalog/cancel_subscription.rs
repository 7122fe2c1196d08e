//! `cancel-subscription`: stops a paid subscription at its provider. At the period's
//! end (the subscriber's `/cancel`: access lasts until then) or now (the owner's
//! `/ban`). Stripe: the subscription is updated with `cancel_at_period_end` or
//! deleted; Stars: `editUserStarSubscription` with `is_canceled`. The grant's state
//! moves through the subscription state machine.

use serde_json::json;
use uuid::Uuid;

pub use crate::kinds::cancel_subscription::CancelSubscription;
use crate::runtime::{Job, JobContext};
use crate::{
    payments::{
        entitlement::{self, Change, Ends},
        subscription::Event,
    },
    queue::JobError,
    store,
};

impl Job for CancelSubscription {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(grant) = store::grants::get(&ctx.pool, self.grant_id, ctx.now()).await? else {
            return Err(JobError::Permanent(format!("grant {} no longer exists", self.grant_id)));
        };
        let source = grant.grant.source.as_str();
        match source {
            "stripe" => self.cancel_stripe(ctx, grant.grant.project_id).await?,
            "stars" => self.cancel_stars(ctx, &grant).await?,
            _ => return Ok(()), // nothing renews: nothing to stop at a provider
        }
        if self.at_period_end {
            let mut tx = ctx.pool.begin().await?;
            let change = Change { event: Event::CancelAtPeriodEnd, ends: Ends::Keep, occurred_at: ctx.now() };
            entitlement::apply_to_grant(&mut tx, grant.grant.project_id, grant.grant.id, change, ctx.now()).await?;
            tx.commit().await?;
        }
        ctx.audit(
            grant.grant.project_id,
            Some(grant.telegram_user_id),
            None,
            "subscription_canceled",
            if self.at_period_end { "no renewal; access until the period ends" } else { "stopped now" },
            json!({"grant_id": grant.grant.id, "provider": source}),
        )
        .await
    }
}

impl CancelSubscription {
    async fn cancel_stripe(&self, ctx: &JobContext, project_id: Uuid) -> Result<(), JobError> {
        let Some(subscription) = store::payments::stripe_subscription_of(&ctx.pool, self.grant_id).await? else {
            return Ok(()); // a one-time payment: nothing renews
        };
        let settings = store::stripe_settings::get(&ctx.pool, project_id)
            .await?
            .ok_or_else(|| JobError::Permanent("the project has no Stripe settings".into()))?;
        let key = ctx.config.encryption_key().map_err(|e| JobError::Permanent(e.to_string()))?;
        let secret =
            crate::crypto::open(key, &settings.secret_key_sealed).map_err(|e| JobError::Permanent(e.to_string()))?;
        let url = format!("{}/v1/subscriptions/{subscription}", ctx.config.stripe_api_url);
        let request = if self.at_period_end {
            ctx.http.post(url).form(&[("cancel_at_period_end", "true")])
        } else {
            ctx.http.delete(url)
        };
        let response = request
            .bearer_auth(secret.expose())
            .header("Idempotency-Key", format!("cancel:{}:{}", self.grant_id, self.at_period_end))
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("Stripe: {}", e.without_url())))?;
        let status = response.status();
        if status.is_success() || status.as_u16() == 404 {
            return Ok(()); // 404: already gone
        }
        let body = response.text().await.unwrap_or_default();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(JobError::Retry(format!("Stripe answered {status}")));
        }
        Err(JobError::Permanent(format!(
            "Stripe refused the cancellation ({status}): {}",
            body.chars().take(200).collect::<String>()
        )))
    }

    async fn cancel_stars(&self, ctx: &JobContext, grant: &store::grants::GrantView) -> Result<(), JobError> {
        let Some(charge) = store::payments::stars_charge_of(&ctx.pool, self.grant_id).await? else { return Ok(()) };
        let api = ctx.bot_api(grant.grant.project_id).await?;
        let params =
            json!({"user_id": grant.telegram_user_id, "telegram_payment_charge_id": charge, "is_canceled": true});
        match api.call::<bool>("editUserStarSubscription", params).await {
            Ok(_) => Ok(()),
            Err(crate::telegram::TgError::Rejected { description, .. })
                if description.to_lowercase().contains("not found") =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
