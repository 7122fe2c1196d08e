//! `send-stars-invoice`: makes a Telegram Stars invoice for a checkout request
//! (`createInvoiceLink`, currency `XTR`, `subscription_period` 2592000 for recurring
//! plans, the payload naming the request) and sends the user the link, once.

use super::create_stripe_checkout::send_pay_link;
pub use crate::kinds::send_stars_invoice::SendStarsInvoice;
use crate::runtime::{Job, JobContext};
use crate::{
    payments::stars,
    queue::JobError,
    store,
    texts::{self, Lang},
};

impl Job for SendStarsInvoice {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let request = store::checkouts::get(&ctx.pool, self.request_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("checkout request {} no longer exists", self.request_id)))?;
        let plan = store::plans::get(&ctx.pool, request.project_id, request.plan_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("plan {} no longer exists", request.plan_id)))?;
        let Some(price) = plan.stars_price else {
            let reason = "the plan has no Stars price";
            store::checkouts::failed(&ctx.pool, request.id, reason).await?;
            return Err(JobError::Permanent(reason.into()));
        };
        let link = match &request.url {
            Some(link) => link.clone(),
            None => {
                let api = ctx.bot_api(request.project_id).await?;
                let lang = Lang::from_code(request.language_code.as_deref());
                let description = texts::stars_invoice_description(lang, &plan.name, plan.recurring);
                let params = stars::invoice_params(request.id, &plan.name, &description, price, plan.recurring);
                let link: String = api.call("createInvoiceLink", params).await?;
                store::checkouts::made(&ctx.pool, request.id, &link, &link).await?;
                link
            }
        };
        send_pay_link(ctx, &request, &plan.name, &link).await
    }
}
