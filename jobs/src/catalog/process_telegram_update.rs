//! `process-telegram-update`: one Telegram update, as the webhook received it.
//!
//! The webhook only authenticates and enqueues; this job does the work. Its key is
//! `tg:<bot_id>:<update_id>` (update ids are unique per bot only), so a redelivered
//! update is "already enqueued".

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    answer_join_request::AnswerJoinRequest, answer_pre_checkout::AnswerPreCheckout,
    process_stars_payment::ProcessStarsPayment, remove_member::RemoveMember, revoke_link::RevokeLink,
    revoke_misused_link::RevokeMisusedLink, verify_chat::VerifyChat,
};
pub use crate::kinds::process_telegram_update::ProcessTelegramUpdate;
use crate::runtime::{Job, JobContext};
use crate::{
    queue::{self, JobError, RunAt},
    store::{
        self,
        events::{self, EventType, NewEvent},
        subscribers::Profile,
    },
    telegram::{ChatMember, InviteLink, User},
};

/// The update types Telegram can send, by the field that carries them.
pub const UPDATE_TYPES: &[&str] = &[
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
];

impl ProcessTelegramUpdate {
    /// The update's type: the name of its one payload field (`message`, `chat_member`…).
    pub fn update_type(&self) -> &'static str {
        update_type(&self.update).unwrap_or("unknown")
    }
}

/// The type of an update object, if it carries one Gatehouse knows.
pub fn update_type(update: &serde_json::Value) -> Option<&'static str> {
    let object = update.as_object()?;
    UPDATE_TYPES.iter().copied().find(|t| object.contains_key(*t))
}

/// `chat_member` and `my_chat_member` payloads.
#[derive(Debug, Deserialize)]
struct ChatMemberUpdated {
    chat: ChatRef,
    /// Who made the change (read leniently: only its id is used).
    #[serde(default)]
    from: Option<serde_json::Value>,
    date: i64,
    old_chat_member: ChatMember,
    new_chat_member: ChatMember,
    invite_link: Option<InviteLink>,
}

/// `chat_join_request` payload.
#[derive(Debug, Deserialize)]
struct ChatJoinRequest {
    chat: ChatRef,
    from: User,
}

#[derive(Debug, Deserialize)]
struct ChatRef {
    id: i64,
}

/// `pre_checkout_query` payload.
#[derive(Debug, Deserialize)]
struct PreCheckoutQuery {
    id: String,
    from: User,
    currency: String,
    total_amount: i64,
    invoice_payload: String,
}

/// Removes every NUL character (U+0000) from the update's strings, in place: Postgres
/// cannot store one in text, and no name or message needs it. Walked without recursion.
pub fn strip_nul(value: &mut serde_json::Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) if s.contains('\0') => s.retain(|c| c != '\0'),
            serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
            serde_json::Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

impl Job for ProcessTelegramUpdate {
    async fn run(mut self, ctx: &JobContext) -> Result<(), JobError> {
        strip_nul(&mut self.update);
        let kind = self.update_type();
        metrics::counter!(crate::metrics::TELEGRAM_UPDATES, "update_type" => kind).increment(1);
        if ctx.config.manager_bot.as_ref().is_some_and(|m| m.telegram_bot_id == self.bot_id) {
            return self.manager_update(ctx, kind).await;
        }
        let Some(bot) = store::bots::by_telegram_id(&ctx.pool, self.bot_id).await? else {
            return Err(JobError::Permanent(format!("bot {} is no longer managed", self.bot_id)));
        };
        let payload = self.update.get(kind).cloned().unwrap_or_default();
        let parse = |e: serde_json::Error| JobError::Permanent(format!("{kind} does not parse: {e}"));
        match kind {
            "chat_member" => {
                let update: ChatMemberUpdated = serde_json::from_value(payload).map_err(parse)?;
                self.chat_member(ctx, bot.project_id, update).await
            }
            "my_chat_member" => {
                let update: ChatMemberUpdated = serde_json::from_value(payload).map_err(parse)?;
                self.my_chat_member(ctx, bot.project_id, update).await
            }
            "chat_join_request" => {
                let request: ChatJoinRequest = serde_json::from_value(payload).map_err(parse)?;
                let Some(chat) = store::chats::by_telegram_id(&ctx.pool, bot.project_id, request.chat.id).await? else {
                    return Ok(());
                };
                store::subscribers::upsert(&ctx.pool, bot.project_id, request.from.id, Profile::of(&request.from))
                    .await?;
                ctx.enqueue(&AnswerJoinRequest {
                    chat_id: chat.id,
                    telegram_user_id: request.from.id,
                    cause: self.cause(),
                })
                .await
            }
            // Payments: a pre-checkout query is answered by a job that does only that.
            "pre_checkout_query" => {
                let query: PreCheckoutQuery = serde_json::from_value(payload).map_err(parse)?;
                ctx.enqueue(&AnswerPreCheckout {
                    bot_id: self.bot_id,
                    query_id: query.id,
                    telegram_user_id: query.from.id,
                    language_code: query.from.language_code,
                    payload: query.invoice_payload,
                    currency: query.currency,
                    total_amount: query.total_amount,
                })
                .await
            }
            "message" => self.payment_message(ctx, &bot, &payload).await,
            "callback_query" => {
                let query: teloxide::types::CallbackQuery = serde_json::from_str(&payload.to_string())
                    .map_err(|e| JobError::Permanent(format!("callback_query does not parse: {e}")))?;
                crate::conversation::on_callback(ctx, &bot, &self.cause(), &query).await
            }
            _ => {
                tracing::debug!(bot_id = self.bot_id, update_id = self.update_id, kind, "update not handled here");
                Ok(())
            }
        }
    }
}

impl ProcessTelegramUpdate {
    /// An update of the platform bot: creators' messages and button presses.
    async fn manager_update(&self, ctx: &JobContext, kind: &str) -> Result<(), JobError> {
        let payload = self.update.get(kind).map(ToString::to_string).unwrap_or_default();
        match kind {
            "message" => {
                let message: teloxide::types::Message = serde_json::from_str(&payload)
                    .map_err(|e| JobError::Permanent(format!("message does not parse: {e}")))?;
                crate::conversation::manager::on_message(ctx, self.bot_id, &self.cause(), &message).await
            }
            "callback_query" => {
                let query: teloxide::types::CallbackQuery = serde_json::from_str(&payload)
                    .map_err(|e| JobError::Permanent(format!("callback_query does not parse: {e}")))?;
                crate::conversation::manager::on_callback(ctx, self.bot_id, &self.cause(), &query).await
            }
            _ => Ok(()),
        }
    }

    /// A `message` update: a Stars `successful_payment` goes to payments; anything
    /// else a user says goes to the bot's conversation (commands, deep links).
    async fn payment_message(
        &self,
        ctx: &JobContext,
        bot: &store::bots::Bot,
        message: &serde_json::Value,
    ) -> Result<(), JobError> {
        if let Some(payment) = crate::payments::stars::Payment::from_message(message) {
            return ctx.enqueue(&ProcessStarsPayment { bot_id: self.bot_id, payment }).await;
        }
        // Everything else a user says goes to the bot's conversation.
        let message: teloxide::types::Message = serde_json::from_str(&message.to_string())
            .map_err(|e| JobError::Permanent(format!("message does not parse: {e}")))?;
        crate::conversation::on_message(ctx, bot, &self.cause(), &message).await
    }

    fn cause(&self) -> String {
        format!("tg:{}:{}", self.bot_id, self.update_id)
    }

    /// Someone joined or left a managed chat. One read answers every question the
    /// update raises (the chat, the link the joiner used, whether they are entitled or
    /// whitelisted); what it observed, its audit line and the job it enqueues are
    /// written in one transaction.
    async fn chat_member(&self, ctx: &JobContext, project_id: Uuid, update: ChatMemberUpdated) -> Result<(), JobError> {
        let user = &update.new_chat_member.user;
        let at = DateTime::from_timestamp(update.date, 0).unwrap_or_else(Utc::now);
        let via = update.invite_link.as_ref().map(|l| l.invite_link.as_str());
        let Some(facts) =
            store::memberships::join_facts(&ctx.pool, project_id, update.chat.id, user.id, via, ctx.now()).await?
        else {
            return Ok(());
        };
        let chat = &facts.chat;
        let status = update.new_chat_member.status.as_str();
        let joined = !update.old_chat_member.is_inside() && update.new_chat_member.is_inside();
        if !joined || update.new_chat_member.is_admin() || user.is_bot {
            // Only the observation to write (and the event of a member who left).
            let mut tx = ctx.pool.begin().await?;
            store::memberships::observe(&mut *tx, chat.id, user.id, status, via, at).await?;
            if update.old_chat_member.is_admin() != update.new_chat_member.is_admin() {
                // A promotion or a demotion: the administrators removals go by.
                let admin = update.new_chat_member.is_admin();
                store::chat_administrators::observe(&mut *tx, chat.id, user.id, admin).await?;
            }
            if update.old_chat_member.is_inside() && status == "left" && !user.is_bot {
                ctx.event_on(&mut tx, member_event(project_id, EventType::MemberLeft, chat, user.id, json!({})))
                    .await?;
            }
            tx.commit().await?;
            return Ok(());
        }
        let mut tx = ctx.pool.begin().await?;
        store::memberships::observe(&mut *tx, chat.id, user.id, status, via, at).await?;
        store::subscribers::upsert(&mut *tx, project_id, user.id, Profile::of(user)).await?;
        match (facts.link_id, facts.link_owner) {
            (Some(link_id), Some(owner)) if owner == user.id => {
                store::links::used(&mut *tx, link_id, user.id, at).await?;
                let details = json!({"link_id": link_id});
                ctx.audit_on(
                    &mut tx,
                    project_id,
                    Some(user.id),
                    Some(chat.id),
                    "joined",
                    "with their own link",
                    details,
                )
                .await?;
                let revoke = RevokeLink { link_id, reason: "its owner joined".into() };
                queue::enqueue(&mut tx, &revoke, RunAt::Now).await?;
                let how = json!({"via": "own_link", "link_id": link_id});
                ctx.event_on(&mut tx, member_event(project_id, EventType::MemberJoined, chat, user.id, how)).await?;
            }
            (Some(link_id), owner) => {
                store::links::used(&mut *tx, link_id, user.id, at).await?;
                let details = json!({"link_id": link_id, "owner": owner});
                let reason = "with another person's link";
                ctx.audit_on(&mut tx, project_id, Some(user.id), Some(chat.id), "joined", reason, details).await?;
                queue::enqueue(&mut tx, &RevokeMisusedLink { link_id, intruder: user.id }, RunAt::Now).await?;
            }
            (None, _) if facts.entitled || facts.whitelisted => {
                let how = json!({"via": if facts.entitled { "entitlement" } else { "whitelist" }, "link_id": null});
                ctx.event_on(&mut tx, member_event(project_id, EventType::MemberJoined, chat, user.id, how)).await?;
            }
            (None, _) => {
                let details = json!({"via": via});
                let reason = "without an entitlement";
                ctx.audit_on(&mut tx, project_id, Some(user.id), Some(chat.id), "joined", reason, details).await?;
                let remove = RemoveMember {
                    chat_id: chat.id,
                    telegram_user_id: user.id,
                    reason: "joined without an entitlement".into(),
                    cause: self.cause(),
                };
                queue::enqueue(&mut tx, &remove, RunAt::Now).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The bot's own status changed in a chat.
    async fn my_chat_member(
        &self,
        ctx: &JobContext,
        project_id: Uuid,
        update: ChatMemberUpdated,
    ) -> Result<(), JobError> {
        let Some(chat) = store::chats::by_telegram_id(&ctx.pool, project_id, update.chat.id).await? else {
            // A chat the owner asked to add with /addchat, made an administrator of.
            if update.new_chat_member.is_admin()
                && let Some(by) = update.from.as_ref().and_then(|f| f.get("id")).and_then(Value::as_i64)
            {
                crate::conversation::owner::adopt_chat(ctx, project_id, self.bot_id, by, update.chat.id, &self.cause())
                    .await?;
            }
            return Ok(());
        };
        let me = &update.new_chat_member;
        let Some(problem) = crate::membership::rights::rights_problem(me) else {
            // Rights (re)gained: verify the chat again. The attempt is derived from the
            // update, so processing the update again enqueues nothing new.
            let attempt = Uuid::new_v5(&Uuid::NAMESPACE_OID, self.cause().as_bytes());
            return ctx.enqueue(&VerifyChat { chat_id: chat.id, attempt, report_to: None }).await;
        };
        let reason = format!("{problem}: nobody is removed here until it is fixed");
        let mut tx = ctx.pool.begin().await?;
        let before = store::chats::not_ready(&mut *tx, chat.id, &me.status, &reason).await?;
        if before.as_deref() != Some("not_ready") {
            let mut snapshot = events::chat_snapshot(&chat);
            snapshot["status"] = "not_ready".into();
            let not_ready = json!({"chat": snapshot, "problem": reason});
            ctx.event_on(&mut tx, NewEvent::new(project_id, EventType::ChatNotReady, not_ready)).await?;
            let problem = json!({"problem": "rights_lost", "detail": problem, "chat": snapshot});
            ctx.event_on(&mut tx, NewEvent::new(project_id, EventType::BotProblem, problem)).await?;
        }
        tx.commit().await?;
        metrics::counter!(crate::metrics::BOT_LOST_ADMIN).increment(1);
        tracing::error!(chat = chat.telegram_chat_id, status = %me.status, %problem, "the bot cannot manage the chat");
        Ok(())
    }
}

/// A member event of `kind` about `user` in `chat`, with `extra`'s fields.
fn member_event(project_id: Uuid, kind: EventType, chat: &store::chats::Chat, user: i64, extra: Value) -> NewEvent {
    NewEvent::new(project_id, kind, events::member_data(chat, user, extra))
}
