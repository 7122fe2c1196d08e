//! `redeem-access-code`: a user sent `/start <code>` with a code of the project:
//! [`access_codes::redeem`], then a short reply (the links follow from `grant-access`).

use super::send_message::SendMessage;
pub use crate::kinds::redeem_access_code::RedeemAccessCode;
use crate::runtime::{Job, JobContext};
use crate::{
    payments::access_codes::{self, RedeemOutcome},
    queue::JobError,
    store,
    telegram::User,
    texts::{self, Lang},
};

impl Job for RedeemAccessCode {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let user = User {
            id: self.telegram_user_id,
            is_bot: false,
            first_name: String::new(),
            username: None,
            language_code: self.language_code.clone(),
        };
        let outcome = access_codes::redeem(ctx, self.project_id, &user, &self.code).await?;
        metrics::counter!(crate::metrics::ACCESS_CODE_REDEMPTIONS, "outcome" => outcome.word()).increment(1);
        let lang = Lang::from_code(self.language_code.as_deref());
        let text = match &outcome {
            RedeemOutcome::Redeemed { plan_id, .. } => {
                let plan = store::plans::get(&ctx.pool, self.project_id, *plan_id).await?;
                texts::code_accepted(lang, plan.as_ref().map_or("", |p| p.name.as_str()))
            }
            RedeemOutcome::AlreadyRedeemed | RedeemOutcome::UsedUp => texts::code_refused(lang, outcome.word()),
            RedeemOutcome::Unknown | RedeemOutcome::Banned => return Ok(()),
        };
        let key = format!("code:{}", self.cause);
        let message_id =
            store::messages::put(&ctx.pool, self.project_id, self.telegram_user_id, &key, &text, None).await?;
        ctx.enqueue(&SendMessage { message_id }).await
    }
}
