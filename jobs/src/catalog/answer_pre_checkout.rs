//! `answer-pre-checkout`: answers a Stars `pre_checkout_query` and does nothing
//! else, in the interactive queue, so that it never waits behind bulk work
//! (Telegram gives the bot 10 s). Approves only if the invoice is one of ours, its
//! plan is still on sale at that price, and the user is not banned.

use serde_json::json;

pub use crate::kinds::answer_pre_checkout::AnswerPreCheckout;
use crate::runtime::{Job, JobContext};
use crate::{
    payments::stars,
    queue::JobError,
    store,
    texts::{self, Lang},
};

impl Job for AnswerPreCheckout {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let bot = store::bots::by_telegram_id(&ctx.pool, self.bot_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("bot {} is no longer managed", self.bot_id)))?;
        let refusal = self.refusal(ctx, bot.project_id).await?;
        let api = ctx.open_bot(&bot)?;
        let params = match &refusal {
            None => json!({"pre_checkout_query_id": self.query_id, "ok": true}),
            Some(_) => json!({
                "pre_checkout_query_id": self.query_id,
                "ok": false,
                "error_message": texts::payment_declined(Lang::from_code(self.language_code.as_deref())),
            }),
        };
        let answered: Result<bool, _> = api.call("answerPreCheckoutQuery", params).await;
        let outcome = if refusal.is_none() { "approved" } else { "declined" };
        metrics::counter!(crate::metrics::PRE_CHECKOUT_ANSWERS, "outcome" => outcome).increment(1);
        if let Some(why) = &refusal {
            tracing::info!(user = self.telegram_user_id, why, "pre-checkout declined");
        }
        answered?;
        Ok(())
    }
}

impl AnswerPreCheckout {
    /// Why the payment must be declined, if it must.
    async fn refusal(&self, ctx: &JobContext, project_id: uuid::Uuid) -> Result<Option<&'static str>, JobError> {
        let Some(request_id) = stars::request_of(&self.payload) else {
            return Ok(Some("not a Gatehouse invoice"));
        };
        let Some(request) = store::checkouts::get(&ctx.pool, request_id).await?.filter(|r| r.project_id == project_id)
        else {
            return Ok(Some("unknown checkout request"));
        };
        if request.telegram_user_id != self.telegram_user_id {
            return Ok(Some("the invoice was made for another user"));
        }
        if request.subscriber_status == "banned" {
            return Ok(Some("the user is banned"));
        }
        let plan = store::plans::get(&ctx.pool, project_id, request.plan_id).await?;
        Ok(match plan {
            None => Some("the plan no longer exists"),
            Some(plan) if !plan.on_sale => Some("the plan is no longer on sale"),
            Some(plan)
                if self.currency != stars::CURRENCY || plan.stars_price.map(i64::from) != Some(self.total_amount) =>
            {
                Some("the price changed")
            }
            Some(_) => None,
        })
    }
}
