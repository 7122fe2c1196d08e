//! `create-stripe-checkout`: makes the Stripe Checkout Session of a checkout request
//! (`STRIPE_API_URL`, the project's secret key, `gatehouse_ref` and the project,
//! plan and Telegram user in metadata) and sends the user its URL, once.

use serde_json::json;

use super::send_message::SendMessage;
pub use crate::kinds::create_stripe_checkout::CreateStripeCheckout;
use crate::runtime::{Job, JobContext};
use crate::{
    crypto,
    payments::stripe::{self, SessionRequest},
    queue::JobError,
    store::{self, checkouts::CheckoutRequest},
    texts::{self, Lang},
};

impl Job for CreateStripeCheckout {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let request = store::checkouts::get(&ctx.pool, self.request_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("checkout request {} no longer exists", self.request_id)))?;
        let result = create(ctx, &request).await;
        if let Err(JobError::Permanent(reason)) = &result {
            store::checkouts::failed(&ctx.pool, request.id, reason).await?;
        }
        result
    }
}

async fn create(ctx: &JobContext, request: &CheckoutRequest) -> Result<(), JobError> {
    let plan = store::plans::get(&ctx.pool, request.project_id, request.plan_id)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("plan {} no longer exists", request.plan_id)))?;
    let url = match &request.url {
        Some(url) => url.clone(),
        None => {
            let settings = store::stripe_settings::get(&ctx.pool, request.project_id)
                .await?
                .ok_or_else(|| JobError::Permanent("the project has no Stripe settings".into()))?;
            let key = ctx.config.encryption_key().map_err(|e| JobError::Permanent(e.to_string()))?;
            let secret_key =
                crypto::open(key, &settings.secret_key_sealed).map_err(|e| JobError::Permanent(e.to_string()))?;
            let return_url = match &request.return_url {
                Some(url) => url.clone(),
                None => store::projects::get(&ctx.pool, request.project_id)
                    .await?
                    .and_then(|t| t.bot_username)
                    .map(|u| format!("https://t.me/{u}"))
                    .unwrap_or_else(|| ctx.config.public_url.clone()),
            };
            let session = stripe::create_session(
                &ctx.http,
                &ctx.config.stripe_api_url,
                &secret_key,
                &SessionRequest {
                    reference: request.id,
                    project_id: request.project_id,
                    plan_id: plan.id,
                    telegram_user_id: request.telegram_user_id,
                    plan_name: &plan.name,
                    price_minor: plan.price_minor,
                    currency: &plan.currency,
                    recurring: plan.recurring,
                    period_days: plan.duration_days.unwrap_or(30),
                    trial_days: plan.trial_days,
                    return_url: &return_url,
                },
            )
            .await?;
            store::checkouts::made(&ctx.pool, request.id, &session.id, &session.url).await?;
            session.url
        }
    };
    send_pay_link(ctx, request, &plan.name, &url).await
}

/// Sends the user the way to pay, once per checkout request; a request begun on the
/// membership page (with a `return_url`) is not sent: the page sends the payer on.
pub(crate) async fn send_pay_link(
    ctx: &JobContext,
    request: &CheckoutRequest,
    plan_name: &str,
    url: &str,
) -> Result<(), JobError> {
    if request.return_url.is_some() {
        return Ok(());
    }
    let lang = Lang::from_code(request.language_code.as_deref());
    let text = texts::pay_here(lang, plan_name, url);
    let markup = json!({"inline_keyboard": [[{"text": texts::pay_button(lang), "url": url}]]});
    let key = format!("checkout:{}", request.id);
    let message_id =
        store::messages::put(&ctx.pool, request.project_id, request.telegram_user_id, &key, &text, Some(markup))
            .await?;
    ctx.enqueue(&SendMessage { message_id }).await
}
