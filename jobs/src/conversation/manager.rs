//! The platform bot for creators (`GATEHOUSE_MANAGER_BOT_TOKEN`): `/start` lists the
//! creator's projects or creates one (name, then handle), "Connect bot" takes the
//! token BotFather gave them: the message holding it is deleted at once
//! (`delete-message`) and the token goes the way of `PUT …/bot`
//! ([`crate::setup::bot::connect`]); `connect-bot` tells the creator how it went.
//!
//! Each turn is one transaction: the flow's state (`dialogs`, so it resumes after a
//! pause), what it writes, the replies (`manager_messages`) and their
//! `send-manager-message` jobs. A turn whose update already moved the flow is skipped.

use serde_json::json;
use sqlx::PgConnection;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, Message, User};
use uuid::Uuid;

use super::{command, keyboard};
use crate::{
    kinds::{connect_bot::Announce, delete_message::DeleteMessage, send_manager_message::SendManagerMessage},
    queue::{self, JobError, RunAt},
    runtime::JobContext,
    setup::{self, SetupError, bot::BotToken},
    store::{self, dialogs::Dialog},
    texts::{self, Lang},
};

/// One turn with a creator.
struct Turn<'a> {
    ctx: &'a JobContext,
    bot: i64,
    user: i64,
    lang: Lang,
    language_code: Option<String>,
    cause: &'a str,
    replies: usize,
}

impl Turn<'_> {
    async fn reply(
        &mut self,
        tx: &mut PgConnection,
        text: String,
        buttons: Vec<InlineKeyboardButton>,
    ) -> Result<(), JobError> {
        self.replies += 1;
        let key = format!("reply:{}:{}", self.cause, self.replies);
        let markup =
            (!buttons.is_empty()).then(|| serde_json::to_value(keyboard(buttons)).expect("a keyboard serializes"));
        let message_id = store::manager_messages::put(&mut *tx, self.user, &key, &text, markup).await?;
        queue::enqueue(tx, &SendManagerMessage { message_id }, RunAt::Now).await?;
        Ok(())
    }

    async fn set(
        &self,
        tx: &mut PgConnection,
        flow: &str,
        step: &str,
        data: serde_json::Value,
    ) -> Result<(), JobError> {
        Ok(store::dialogs::set(&mut *tx, self.bot, self.user, flow, step, &data, self.cause).await?)
    }
}

fn open<'a>(ctx: &'a JobContext, bot: i64, cause: &'a str, from: &User) -> Result<Turn<'a>, JobError> {
    let user =
        i64::try_from(from.id.0).map_err(|_| JobError::Permanent(format!("user id {} is out of range", from.id.0)))?;
    Ok(Turn {
        ctx,
        bot,
        user,
        lang: Lang::from_code(from.language_code.as_deref()),
        language_code: from.language_code.clone(),
        cause,
        replies: 0,
    })
}

/// A message in a private chat with the platform bot.
pub async fn on_message(ctx: &JobContext, bot: i64, cause: &str, message: &Message) -> Result<(), JobError> {
    if !message.chat.is_private() {
        return Ok(());
    }
    let (Some(from), Some(text)) = (message.from.as_ref(), message.text()) else { return Ok(()) };
    if from.is_bot {
        return Ok(());
    }
    let mut turn = open(ctx, bot, cause, from)?;
    let mut tx = ctx.pool.begin().await?;
    let dialog = store::dialogs::lock(&mut tx, bot, turn.user).await?;
    if dialog.as_ref().and_then(|d| d.last_cause.as_deref()) == Some(cause) {
        return Ok(());
    }
    let lang = turn.lang;
    match command::parse(text, None) {
        command::Command::Start(_) => start(&mut turn, &mut tx).await?,
        command::Command::Cancel => {
            store::dialogs::clear(&mut *tx, bot, turn.user).await?;
            turn.reply(&mut tx, texts::manager_cancelled(lang), vec![]).await?;
        }
        command::Command::Unknown if text.trim().eq_ignore_ascii_case("/new") => {
            turn.set(&mut tx, "signup", "name", json!({})).await?;
            turn.reply(&mut tx, texts::manager_ask_name(lang), vec![]).await?;
        }
        command::Command::Text => match dialog {
            Some(dialog) => answer(&mut turn, &mut tx, dialog, text, message.id.0.into()).await?,
            None => turn.reply(&mut tx, texts::manager_help(lang), vec![]).await?,
        },
        _ => turn.reply(&mut tx, texts::manager_help(lang), vec![]).await?,
    }
    tx.commit().await?;
    Ok(())
}

/// A button pressed under one of the platform bot's messages.
pub async fn on_callback(ctx: &JobContext, bot: i64, cause: &str, query: &CallbackQuery) -> Result<(), JobError> {
    let api = ctx.manager_api()?;
    // Stops the button's spinner. Answering twice (a re-run) is refused by Telegram: harmless.
    let _ = api.call::<bool>("answerCallbackQuery", json!({"callback_query_id": query.id.0})).await;
    let mut turn = open(ctx, bot, cause, &query.from)?;
    let lang = turn.lang;
    let mut tx = ctx.pool.begin().await?;
    let dialog = store::dialogs::lock(&mut tx, bot, turn.user).await?;
    if dialog.as_ref().and_then(|d| d.last_cause.as_deref()) == Some(cause) {
        return Ok(());
    }
    let data = query.data.as_deref().unwrap_or_default();
    match data.split(':').collect::<Vec<_>>().as_slice() {
        ["new"] => {
            turn.set(&mut tx, "signup", "name", json!({})).await?;
            turn.reply(&mut tx, texts::manager_ask_name(lang), vec![]).await?;
        }
        ["connect", id] => {
            let Ok(project_id) = Uuid::parse_str(id) else { return Ok(()) };
            let Some(project) =
                store::projects::get(&mut *tx, project_id).await?.filter(|p| p.owner_telegram_id == turn.user)
            else {
                return Ok(());
            };
            turn.set(&mut tx, "connect", "token", json!({"project_id": project.id})).await?;
            turn.reply(&mut tx, texts::manager_paste_token(lang, &project.name), vec![]).await?;
        }
        _ => return Ok(()),
    }
    tx.commit().await?;
    Ok(())
}

/// `/start`: the creator's projects with a "Connect bot" button each, or the sign-up.
async fn start(turn: &mut Turn<'_>, tx: &mut PgConnection) -> Result<(), JobError> {
    let lang = turn.lang;
    let projects = store::projects::of_owner(&mut *tx, turn.user).await?;
    if projects.is_empty() {
        turn.set(tx, "signup", "name", json!({})).await?;
        return turn.reply(tx, texts::manager_ask_name(lang), vec![]).await;
    }
    store::dialogs::clear(&mut *tx, turn.bot, turn.user).await?;
    let lines: Vec<String> = projects
        .iter()
        .map(|p| texts::manager_project_line(lang, &p.name, &p.handle, p.bot_username.as_deref()))
        .collect();
    let mut buttons: Vec<InlineKeyboardButton> = projects
        .iter()
        .map(|p| {
            let label = format!("{} · {}", texts::setup_button(lang, "connect"), p.name);
            InlineKeyboardButton::callback(label, format!("connect:{}", p.id))
        })
        .collect();
    buttons.push(InlineKeyboardButton::callback(texts::setup_button(lang, "new_project"), "new"));
    turn.reply(tx, texts::manager_projects(lang, &lines), buttons).await
}

/// A text answering the flow's current step.
async fn answer(
    turn: &mut Turn<'_>,
    tx: &mut PgConnection,
    dialog: Dialog,
    text: &str,
    message_id: i64,
) -> Result<(), JobError> {
    let lang = turn.lang;
    let refused = |e: SetupError| match e {
        SetupError::Db(e) => Err(JobError::from(e)),
        other => Ok(texts::setup_refused(lang, &other.to_string())),
    };
    match (dialog.flow.as_str(), dialog.step.as_str()) {
        ("signup", "name") => match setup::projects::parse_name(text) {
            Ok(name) => {
                turn.set(tx, "signup", "handle", json!({"name": name})).await?;
                turn.reply(tx, texts::manager_ask_handle(lang, name), vec![]).await
            }
            Err(e) => {
                let text = refused(e)?;
                turn.reply(tx, text, vec![]).await
            }
        },
        ("signup", "handle") => {
            let name = dialog.data["name"].as_str().unwrap_or_default().to_string();
            let handle = text.trim().to_ascii_lowercase();
            // A taken handle must not undo the turn's transaction: try it in a savepoint.
            let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
            match setup::projects::create(&mut attempt, &handle, &name, turn.user).await {
                Ok(project_id) => {
                    attempt.commit().await?;
                    turn.set(tx, "connect", "token", json!({"project_id": project_id})).await?;
                    turn.reply(tx, texts::manager_project_created(lang, &name), vec![]).await
                }
                Err(e) => {
                    attempt.rollback().await?;
                    let text = refused(e)?;
                    turn.reply(tx, text, vec![]).await
                }
            }
        }
        ("connect", "token") => {
            // Whatever is pasted here may be a token: it leaves the chat at once.
            let delete = DeleteMessage { telegram_bot_id: turn.bot, chat_id: turn.user, message_id };
            queue::enqueue(&mut *tx, &delete, RunAt::Now).await?;
            // Nor does it stay in this job's row.
            store::queue::scrub_job(&mut *tx, &turn.ctx.job_id, text.trim()).await?;
            let project_id = dialog.data["project_id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
            let project = match project_id {
                Some(id) => store::projects::get(&mut *tx, id).await?.filter(|p| p.owner_telegram_id == turn.user),
                None => None,
            };
            let Some(project) = project else {
                store::dialogs::clear(&mut *tx, turn.bot, turn.user).await?;
                return turn.reply(tx, texts::manager_help(lang), vec![]).await;
            };
            let token = match BotToken::parse(text.to_string()) {
                Ok(token) => token,
                Err(e) => {
                    let text = refused(e)?;
                    return turn.reply(tx, text, vec![]).await;
                }
            };
            let announce = Announce { telegram_user_id: turn.user, language_code: turn.language_code.clone() };
            let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
            match setup::bot::connect(&mut attempt, &turn.ctx.config, project.id, &token, Some(announce)).await {
                Ok(_) => {
                    attempt.commit().await?;
                    store::dialogs::clear(&mut *tx, turn.bot, turn.user).await?;
                    turn.reply(tx, texts::manager_checking(lang), vec![]).await
                }
                Err(e) => {
                    attempt.rollback().await?;
                    let text = refused(e)?;
                    turn.reply(tx, text, vec![]).await
                }
            }
        }
        _ => {
            store::dialogs::clear(&mut *tx, turn.bot, turn.user).await?;
            turn.reply(tx, texts::manager_help(lang), vec![]).await
        }
    }
}
