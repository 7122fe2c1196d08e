//! `refund-stars-payment`: the owner refunds a Stars payment: `refundStarPayment`,
//! for a subscription also `editUserStarSubscription(is_canceled)` so it does not
//! renew, then the grant the charge paid for ends now (and `kick-expired` follows).

use serde_json::json;

pub use crate::kinds::refund_stars_payment::RefundStarsPayment;
use crate::runtime::{Job, JobContext};
use crate::{
    payments::{
        entitlement::{self, Change, Ends},
        subscription::Event,
    },
    queue::JobError,
    store,
    telegram::TgError,
};

impl Job for RefundStarsPayment {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let api = ctx.bot_api(self.project_id).await?;
        let params = json!({"user_id": self.telegram_user_id, "telegram_payment_charge_id": self.charge_id});
        match api.call::<bool>("refundStarPayment", params.clone()).await {
            Ok(_) => {}
            Err(e) if e.description().is_some_and(|d| d.contains("already_refunded")) => {}
            Err(e) => return Err(e.into()),
        }
        let grant_id = store::payments::grant_of_stars_charge(&ctx.pool, self.project_id, &self.charge_id).await?;
        let recurring = match grant_id {
            Some(id) => store::grants::find(&ctx.pool, id)
                .await?
                .is_some_and(|g| g.external_ref.is_some_and(|r| r != self.charge_id)),
            None => false,
        };
        if recurring {
            let mut cancel = params;
            cancel["is_canceled"] = json!(true);
            match api.call::<bool>("editUserStarSubscription", cancel).await {
                Ok(_) => {}
                Err(e @ TgError::Rejected { .. }) => {
                    tracing::warn!(error = %e, "the Stars subscription was not cancelled")
                }
                Err(e) => return Err(e.into()),
            }
        }
        let now = ctx.now();
        let mut tx = ctx.pool.begin().await?;
        let refund_ref = format!("refund:{}", self.charge_id);
        let payload = json!({"telegram_user_id": self.telegram_user_id, "telegram_payment_charge_id": self.charge_id});
        let Some(event_id) =
            store::payments::insert(&mut *tx, self.project_id, "stars", &refund_ref, "refund", Some(now), &payload)
                .await?
        else {
            return Ok(());
        };
        let outcome = match grant_id {
            Some(grant_id) => {
                let change = Change { event: Event::Refund, ends: Ends::Now, occurred_at: now };
                entitlement::apply_to_grant(&mut tx, self.project_id, grant_id, change, now).await?
            }
            None => None,
        };
        let word = outcome.as_ref().map_or("ignored", |o| o.word());
        store::payments::processed(&mut *tx, event_id, grant_id, word).await?;
        tx.commit().await?;
        ctx.audit(
            self.project_id,
            Some(self.telegram_user_id),
            None,
            "refunded",
            "Stars payment refunded by the owner",
            json!({"charge_id": self.charge_id, "grant_id": grant_id, "outcome": word}),
        )
        .await
    }
}
