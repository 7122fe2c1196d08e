//! `connect-bot`: checks the token with getMe, points the bot's webhook at
//! Gatehouse with a fresh secret, and sets its commands.

pub use crate::kinds::connect_bot::ConnectBot;
use crate::runtime::{Job, JobContext};
use crate::store::events::{EventType, NewEvent};
use crate::{
    crypto,
    kinds::send_manager_message::SendManagerMessage,
    queue::{self, JobError, JobSpec, RunAt},
    store::{self, bots::Bot},
    telegram::TgError,
    texts::{self, Lang},
};

/// The updates Gatehouse asks Telegram for (`chat_member` must be listed explicitly).
pub const ALLOWED_UPDATES: &[&str] =
    &["message", "callback_query", "chat_member", "my_chat_member", "chat_join_request", "pre_checkout_query"];

impl Job for ConnectBot {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(bot) = store::bots::get(&ctx.pool, self.bot_id).await? else {
            return Err(JobError::Permanent(format!("bot {} no longer exists", self.bot_id)));
        };
        let result = connect(ctx, &bot).await;
        let failed = match &result {
            Err(JobError::Permanent(reason)) => Some(reason.clone()),
            Err(JobError::Retry(reason)) if ctx.attempt >= Self::MAX_ATTEMPTS as u32 => {
                Some(format!("Telegram did not answer: {reason}"))
            }
            _ => None,
        };
        if let Some(announce) = &self.announce {
            let lang = Lang::from_code(announce.language_code.as_deref());
            let text = match (&result, &failed) {
                (Ok(()), _) => {
                    let username = store::bots::get(&ctx.pool, bot.id).await?.and_then(|b| b.username);
                    Some(texts::manager_bot_connected(lang, username.as_deref().unwrap_or_default()))
                }
                (_, Some(reason)) => Some(texts::manager_bot_failed(lang, reason)),
                _ => None,
            };
            if let Some(text) = text {
                let key = format!("connected:{}:{}", bot.id, self.attempt);
                let mut tx = ctx.pool.begin().await?;
                let message_id =
                    store::manager_messages::put(&mut *tx, announce.telegram_user_id, &key, &text, None).await?;
                queue::enqueue(&mut tx, &SendManagerMessage { message_id }, RunAt::Now).await?;
                tx.commit().await?;
            }
        }
        if let Some(reason) = failed {
            let mut tx = ctx.pool.begin().await?;
            store::bots::failed(&mut *tx, bot.id, &reason).await?;
            let problem = if reason.contains("rejected the token") { "token_revoked" } else { "webhook_failing" };
            let data = serde_json::json!({
                "problem": problem,
                "detail": reason,
                "bot": {"telegram_bot_id": bot.telegram_bot_id},
            });
            ctx.event_on(&mut tx, NewEvent::new(bot.project_id, EventType::BotProblem, data)).await?;
            tx.commit().await?;
        }
        result
    }
}

async fn connect(ctx: &JobContext, bot: &Bot) -> Result<(), JobError> {
    let api = ctx.open_bot(bot)?;
    let me = api.get_me().await.map_err(|e| match e {
        TgError::Rejected { code: 401 | 404, .. } => JobError::Permanent("Telegram rejected the token".into()),
        other => other.into(),
    })?;
    if me.id != bot.telegram_bot_id {
        return Err(JobError::Permanent(format!("the token belongs to bot {}, not {}", me.id, bot.telegram_bot_id)));
    }
    // getMe answered for this bot id with this token: the claim is proven, and the bot
    // id is this project's unless another project proved its claim first.
    store::bots::claim_verified(&ctx.pool, bot.id).await.map_err(|e| match e {
        store::bots::ClaimError::TakenElsewhere => JobError::Permanent(e.to_string()),
        store::bots::ClaimError::Db(e) => e.into(),
    })?;
    let secret = crypto::random_secret(32);
    let url = format!("{}/hooks/telegram/{}", ctx.config.public_url, bot.telegram_bot_id);
    api.set_webhook(&url, secret.expose(), ALLOWED_UPDATES).await?;
    store::bots::connected(&ctx.pool, bot.id, me.username.as_deref(), &crypto::digest(secret.expose())).await?;
    api.set_my_commands(&texts::public_commands(Lang::En), None).await?;
    // The owner and their admins see the owner commands too, in their own chats only.
    for staff in crate::store::admins::staff(&ctx.pool, bot.project_id).await? {
        let scope = serde_json::json!({"type": "chat", "chat_id": staff});
        api.set_my_commands(&texts::owner_commands(Lang::En), Some(scope)).await?;
    }
    tracing::info!(bot = bot.telegram_bot_id, username = ?me.username, "bot connected");
    Ok(())
}
