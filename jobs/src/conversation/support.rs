//! The support relay: with `/support on`, a subscriber's message that is not a command
//! (text, a photo, a document…) goes to the owner and the admins they added, under a
//! header saying who wrote and where they stand; a staff member's reply to either
//! message goes back to that subscriber. Each copy is a `relay-message` job
//! (`copyMessage`, so media pass through as sent); which message in a staff chat stands
//! for which subscriber is kept in `support_relays`.

use teloxide::types::Message;

use super::Conversation;
use crate::{
    kinds::relay_message::RelayMessage,
    queue::JobError,
    runtime::JobContext,
    store,
    texts::{self, Lang},
};

/// Whether the relay can carry a message that has no text (media `copyMessage` copies).
pub fn carries(message: &Message) -> bool {
    message.photo().is_some()
        || message.document().is_some()
        || message.video().is_some()
        || message.voice().is_some()
        || message.audio().is_some()
        || message.animation().is_some()
        || message.sticker().is_some()
        || message.video_note().is_some()
}

/// Takes a private message for the relay when it is one: a staff member's reply to a
/// relayed message, or (relay on) a subscriber's message that is not a command.
/// `false` leaves the message to the bot's other answers.
pub async fn take(talk: &mut Conversation<'_>, message: &Message) -> Result<bool, JobError> {
    let text = message.text();
    if text.is_some_and(|t| t.trim_start().starts_with('/')) || (text.is_none() && !carries(message)) {
        return Ok(false);
    }
    let ctx = talk.ctx();
    let message_id = i64::from(message.id.0);
    if talk.is_staff().await? {
        let Some(replied) = message.reply_to_message() else { return Ok(false) };
        let relayed = store::support::subscriber_of(&ctx.pool, talk.project.id, talk.user, replied.id.0.into()).await?;
        let Some(subscriber) = relayed else { return Ok(false) };
        ctx.enqueue(&RelayMessage {
            project_id: talk.project.id,
            from_chat_id: talk.user,
            message_id,
            to: subscriber,
            header: None,
            subscriber,
            cause: talk.cause().into(),
        })
        .await?;
        let known = store::subscribers::find(&ctx.pool, talk.project.id, subscriber).await?;
        let name = known.and_then(|s| s.first_name.or(s.username)).unwrap_or_else(|| subscriber.to_string());
        let text = texts::support_answer_sent(talk.lang, &name);
        talk.reply(text, None).await?;
        return Ok(true);
    }
    if talk.is_banned().await? || !store::support::enabled(&ctx.pool, talk.project.id).await? {
        return Ok(false);
    }
    let now = ctx.now();
    let grants = store::grants::of_member(&ctx.pool, talk.project.id, talk.user, now).await?;
    let from = message.from.as_ref();
    let name = from.map(|f| f.first_name.clone()).unwrap_or_default();
    let username = from.and_then(|f| f.username.clone());
    for staff in store::admins::staff(&ctx.pool, talk.project.id).await? {
        let lang = staff_lang(ctx, talk.project.id, staff).await?;
        let standing: Vec<String> = grants
            .iter()
            .filter(|g| g.entitled)
            .map(|g| {
                texts::status_line(lang, &g.plan_name, &g.grant.state, &texts::ends_phrase(lang, now, g.grant.ends_at))
            })
            .collect();
        let header = texts::support_header(lang, &name, username.as_deref(), talk.user, &standing);
        ctx.enqueue(&RelayMessage {
            project_id: talk.project.id,
            from_chat_id: talk.user,
            message_id,
            to: staff,
            header: Some(header),
            subscriber: talk.user,
            cause: talk.cause().into(),
        })
        .await?;
    }
    let text = texts::support_passed_on(talk.lang, &talk.project.name);
    talk.reply(text, None).await?;
    Ok(true)
}

/// A staff member's language, as the bot last saw it.
async fn staff_lang(ctx: &JobContext, project_id: uuid::Uuid, staff: i64) -> Result<Lang, JobError> {
    let known = store::subscribers::find(&ctx.pool, project_id, staff).await?;
    Ok(Lang::from_code(known.and_then(|s| s.language_code).as_deref()))
}

/// `/support on|off`.
pub async fn switch(talk: &mut Conversation<'_>, on: bool) -> Result<(), JobError> {
    store::support::set_enabled(&talk.ctx().pool, talk.project.id, on, talk.user).await?;
    let text = texts::support_switched(talk.lang, on);
    talk.reply(text, None).await
}

/// Runs one `relay-message`: the header (to staff), then the copy; each recorded so a
/// re-run does not repeat what was done, and each staff-side message mapped to its subscriber.
pub async fn relay(ctx: &JobContext, job: &RelayMessage) -> Result<(), JobError> {
    let project = job.project_id;
    let mut reply_to = None;
    if let Some(header) = &job.header {
        let key = format!("support:{}:{}:header", job.cause, job.to);
        let message_id = store::messages::put(&ctx.pool, project, job.to, &key, header, None).await?;
        crate::membership::messages::deliver(ctx, message_id).await?;
        let Some(telegram_id) = store::messages::telegram_id_of(&ctx.pool, message_id).await? else {
            return Ok(()); // the staff member blocked the bot
        };
        store::support::record_relay(&ctx.pool, project, job.to, telegram_id, job.subscriber).await?;
        reply_to = Some(telegram_id);
    }
    let key = format!("support:{}:{}:copy", job.cause, job.to);
    if store::support::copy_made(&ctx.pool, project, &key).await?.is_some() {
        return Ok(());
    }
    let api = ctx.bot_api(project).await?;
    let copy = match api.copy_message(job.to, job.from_chat_id, job.message_id, reply_to).await {
        Ok(copy) => copy,
        Err(e) if e.is_unreachable_user() => {
            store::subscribers::unreachable(&ctx.pool, project, job.to).await?;
            return Err(JobError::Permanent(format!("{} cannot be reached: {e}", job.to)));
        }
        Err(e) => return Err(e.into()),
    };
    store::support::record_copy(&ctx.pool, project, &key, copy.message_id).await?;
    if job.header.is_some() {
        store::support::record_relay(&ctx.pool, project, job.to, copy.message_id, job.subscriber).await?;
    }
    Ok(())
}
