//! The membership bot: what subscribers and owners say to the creator's bot, and
//! what it answers. Every reply is a recorded outbound message, keyed by the update
//! that caused it, so a redelivered or re-run update never answers twice; the
//! interactive job that handles the update sends it at once, and leaves it to a
//! `send-message` job when Telegram cannot take it right now. A setup write (a plan,
//! access codes) commits with the replies that report it
//! ([`Conversation::commit_with_replies`]), an API key with a record of the message that
//! shows it, so a re-run of its update makes nothing twice.
//!
//! - [`command`]: parsing commands and `/start` payloads (no I/O).
//! - [`subscriber`]: home, plans, `/status`, `/links`, `/cancel`, `/help`, deep links.
//! - [`owner`]: `/check`, `/ban`, `/unban`, `/grant`, `/stats` for the owner and their
//!   admins, and the setup commands (`/addplan`, `/plans`, `/addchat`, `/chats`,
//!   `/apikey`, `/apikeys`, `/codes`).
//! - [`broadcast`]: `/broadcast` (the owner's message to a segment); [`support`]: the
//!   support relay between subscribers and staff, `/support on|off`.
//! - [`manager`]: the platform bot where creators sign up and connect their bots.

pub mod broadcast;
pub mod command;
pub mod manager;
pub mod owner;
pub mod subscriber;
pub mod support;

use serde_json::Value;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageOrigin};
use uuid::Uuid;

use crate::{
    kinds::send_message::SendMessage,
    queue::JobError,
    runtime::JobContext,
    store::{self, bots::Bot, subscribers::Profile},
    texts::{self, Lang},
};

/// Who is talking, in which project, and where replies go.
pub struct Conversation<'a> {
    ctx: &'a JobContext,
    /// The project.
    pub project: store::projects::Project,
    /// The user's Telegram id (also their private chat id).
    pub user: i64,
    /// Their language.
    pub lang: Lang,
    /// Their client's `language_code`.
    pub language_code: Option<String>,
    /// The update that caused this turn (`tg:<bot>:<update_id>`).
    cause: String,
    replies: usize,
}

impl<'a> Conversation<'a> {
    async fn open(ctx: &'a JobContext, bot: &Bot, cause: &str, from: &teloxide::types::User) -> Result<Self, JobError> {
        let project = store::projects::get(&ctx.pool, bot.project_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("project {} no longer exists", bot.project_id)))?;
        // Telegram's user ids fit in 52 bits; a larger one is not a real user, and must
        // not wrap to a negative id that could match someone else's rows.
        let id = i64::try_from(from.id.0)
            .map_err(|_| JobError::Permanent(format!("user id {} is out of range", from.id.0)))?;
        let user = crate::telegram::User {
            id,
            is_bot: from.is_bot,
            first_name: from.first_name.clone(),
            username: from.username.clone(),
            language_code: from.language_code.clone(),
        };
        store::subscribers::upsert(&ctx.pool, bot.project_id, user.id, Profile::of(&user)).await?;
        Ok(Self {
            ctx,
            project,
            user: user.id,
            lang: Lang::from_code(user.language_code.as_deref()),
            language_code: user.language_code.clone(),
            cause: cause.to_string(),
            replies: 0,
        })
    }

    /// The job context.
    pub fn ctx(&self) -> &'a JobContext {
        self.ctx
    }

    /// The cause, for keys of jobs this turn starts.
    pub fn cause(&self) -> &str {
        &self.cause
    }

    /// Sends a reply (once per cause and position).
    pub async fn reply(
        &mut self,
        text: impl Into<String>,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<(), JobError> {
        self.send_to(self.user, text.into(), keyboard).await
    }

    /// Sends a message to another user of the project (once per cause and position).
    pub async fn send_to(
        &mut self,
        user: i64,
        text: String,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<(), JobError> {
        let key = self.next_reply_key();
        let message_id =
            store::messages::put(&self.ctx.pool, self.project.id, user, &key, &text, markup_of(keyboard)).await?;
        self.deliver(message_id).await
    }

    /// Commits `tx`, a setup write, together with the replies that report it, so that
    /// a re-run of the same update neither repeats the write nor loses its answer.
    /// When an earlier run already recorded these replies (and so committed its write),
    /// `tx` is rolled back and the replies recorded then are sent.
    pub async fn commit_with_replies(
        &mut self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        replies: Vec<(String, Option<InlineKeyboardMarkup>)>,
    ) -> Result<(), JobError> {
        let first = self.replies;
        let mut recorded = Vec::with_capacity(replies.len());
        for (text, keyboard) in &replies {
            let key = self.next_reply_key();
            let markup = markup_of(keyboard.clone());
            match store::messages::put_new(&mut *tx, self.project.id, self.user, &key, text, markup).await? {
                Some(id) => recorded.push(id),
                None => {
                    tx.rollback().await?;
                    tracing::info!(cause = %self.cause, "a re-run of an update whose write committed: its replies are sent, the write is not repeated");
                    self.replies = first;
                    for (text, keyboard) in replies {
                        self.reply(text, keyboard).await?;
                    }
                    return Ok(());
                }
            }
        }
        tx.commit().await?;
        for id in recorded {
            self.deliver(id).await?;
        }
        Ok(())
    }

    /// Sends again the next reply an earlier run of this update recorded, if it did
    /// (it may still be pending). Returns whether there was one.
    pub async fn resend_recorded(&mut self) -> Result<bool, JobError> {
        let key = self.next_reply_key();
        match store::messages::by_key(&self.ctx.pool, self.project.id, &key).await? {
            Some(id) => self.deliver(id).await.map(|()| true),
            None => {
                self.replies -= 1;
                Ok(false)
            }
        }
    }

    fn next_reply_key(&mut self) -> String {
        self.replies += 1;
        format!("reply:{}:{}", self.cause, self.replies)
    }

    /// Sends a recorded message from this (interactive) job at once; if Telegram cannot
    /// take it now, a send-message job retries it.
    async fn deliver(&self, message_id: Uuid) -> Result<(), JobError> {
        match crate::membership::messages::deliver(self.ctx, message_id).await {
            Ok(()) => Ok(()),
            Err(JobError::Permanent(reason)) => Err(JobError::Permanent(reason)),
            Err(_) => self.ctx.enqueue(&SendMessage { message_id }).await,
        }
    }

    /// Whether the user may run owner commands.
    pub async fn is_staff(&self) -> Result<bool, JobError> {
        Ok(store::admins::staff(&self.ctx.pool, self.project.id).await?.contains(&self.user))
    }

    /// Whether the owner banned this user.
    pub async fn is_banned(&self) -> Result<bool, JobError> {
        let subscriber = store::subscribers::find(&self.ctx.pool, self.project.id, self.user).await?;
        Ok(subscriber.is_some_and(|s| s.status == "banned"))
    }
}

fn markup_of(keyboard: Option<InlineKeyboardMarkup>) -> Option<Value> {
    keyboard.map(|k| serde_json::to_value(k).expect("a keyboard serializes"))
}

/// An inline keyboard of one button per row.
pub fn keyboard(buttons: Vec<InlineKeyboardButton>) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(buttons.into_iter().map(|b| vec![b]))
}

/// A message in a private chat with the bot.
pub async fn on_message(ctx: &JobContext, bot: &Bot, cause: &str, message: &Message) -> Result<(), JobError> {
    if !message.chat.is_private() {
        return Ok(());
    }
    let Some(from) = message.from.as_ref() else { return Ok(()) };
    let forwarded = forwarded_chat(message);
    if from.is_bot || (forwarded.is_none() && message.text().is_none() && !support::carries(message)) {
        return Ok(());
    }
    let mut talk = Conversation::open(ctx, bot, cause, from).await?;
    // A post the owner forwards from a chat: that chat is added, as with /addchat <id>.
    if let Some(chat_id) = forwarded
        && talk.is_staff().await?
    {
        return owner::run(&mut talk, command::Command::AddChat(Some(chat_id))).await;
    }
    // The support relay takes what is not a command (media included).
    if support::take(&mut talk, message).await? {
        return Ok(());
    }
    let Some(text) = message.text() else { return Ok(()) };
    let command = command::parse(text, None);
    if command.is_owner_only() {
        if talk.is_staff().await? {
            // `/broadcast` needs the whole message (its text and formatting).
            if let command::Command::Broadcast(segment) = command {
                return broadcast::start_draft(&mut talk, segment, message).await;
            }
            return owner::run(&mut talk, command).await;
        }
        // The same answer as any unknown command: owner commands are not advertised.
        let text = texts::unknown_command(talk.lang);
        return talk.reply(text, None).await;
    }
    if talk.is_banned().await? {
        let text = texts::refused(talk.lang);
        return talk.reply(text, None).await;
    }
    // An answer to the owner's guided /addplan, if one waits for it.
    if command == command::Command::Text && talk.is_staff().await? && owner::dialog_text(&mut talk, text).await? {
        return Ok(());
    }
    subscriber::run(&mut talk, command).await
}

/// The chat a forwarded message comes from (a channel's post, or a group's message sent
/// on its behalf).
fn forwarded_chat(message: &Message) -> Option<i64> {
    match message.forward_origin()? {
        MessageOrigin::Channel { chat, .. } => Some(chat.id.0),
        MessageOrigin::Chat { sender_chat, .. } => Some(sender_chat.id.0),
        _ => None,
    }
}

/// An inline button pressed under one of the bot's messages.
pub async fn on_callback(ctx: &JobContext, bot: &Bot, cause: &str, query: &CallbackQuery) -> Result<(), JobError> {
    let api = ctx.open_bot(bot)?;
    // Stops the button's spinner. Answering twice (a re-run) is refused by Telegram: harmless.
    let _ = api.call::<bool>("answerCallbackQuery", serde_json::json!({"callback_query_id": query.id.0})).await;
    let mut talk = Conversation::open(ctx, bot, cause, &query.from).await?;
    if talk.is_banned().await? {
        let text = texts::refused(talk.lang);
        return talk.reply(text, None).await;
    }
    let data = query.data.as_deref().unwrap_or_default();
    let parts: Vec<&str> = data.split(':').collect();
    if matches!(parts.first(), Some(&("plansale" | "keyrevoke"))) {
        return owner::on_setup_callback(&mut talk, &parts).await;
    }
    if parts.first() == Some(&"ap") {
        return owner::dialog_button(&mut talk, &parts).await;
    }
    match parts.as_slice() {
        ["plan", id] => match Uuid::parse_str(id) {
            Ok(plan) => subscriber::plan_details(&mut talk, plan).await,
            Err(_) => Ok(()),
        },
        ["home"] => subscriber::home(&mut talk).await,
        ["pay", provider, id] => match Uuid::parse_str(id) {
            Ok(plan) => subscriber::pay(&mut talk, plan, provider).await,
            Err(_) => Ok(()),
        },
        ["cancel", "ask"] => subscriber::cancel(&mut talk).await,
        ["cancel", "yes"] => subscriber::cancel_confirmed(&mut talk).await,
        ["cancel", "no"] => subscriber::status(&mut talk).await,
        ["bc", action, id] => broadcast::on_button(&mut talk, action, id).await,
        _ => Ok(()),
    }
}
