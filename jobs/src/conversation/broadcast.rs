//! `/broadcast`: the owner's message to a segment of subscribers.
//!
//! 1. `/broadcast <segment>` with the message on the following lines (its Telegram
//!    formatting kept: the entities are cut to the message and shifted), and optionally
//!    a last line `button: <label> | <url>`, records a draft (once per update) and
//!    answers how many will receive it, with Send / Cancel buttons.
//! 2. Send resolves the segment into recipient rows (the one entitlement rule, at that
//!    moment), starts the owner's progress message and enqueues the first [`LANES`]
//!    `broadcast-batch` jobs of [`BATCH`] recipients, all in one transaction; each batch,
//!    once done, enqueues the one [`LANES`] further.
//! 3. Each batch sends in the bulk lane (under the bot's and the chats' budgets, after
//!    interactive work), recording each recipient before and after its call; 403s are
//!    counted unreachable and the subscriber marked so. A batch whose worker died is
//!    rescued and sends only what is not recorded sent: at most the calls in flight at
//!    that moment are sent twice.
//! 4. The progress message is edited by `broadcast-progress` jobs, at most once per
//!    [`PROGRESS_EVERY_SECS`], and once at the end. Cancel (its button, or
//!    `/broadcast stop`) stops every batch before its next call.

use chrono::Utc;
use serde_json::{Value, json};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, Message};
use uuid::Uuid;

use super::Conversation;
use crate::{
    kinds::{
        broadcast::{BATCH, BroadcastBatch, BroadcastProgress, LANES, PROGRESS_EVERY_SECS},
        send_message::SendMessage,
    },
    queue::{self, JobError, RunAt},
    runtime::JobContext,
    store::{
        self,
        broadcasts::{Broadcast, Draft, Segment},
    },
    telegram::TgError,
    texts::{self, Lang},
};

/// A broadcast's text, entities and button, cut out of the owner's message.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    /// The text.
    pub text: String,
    /// Its entities (offsets in UTF-16 units of `text`).
    pub entities: Vec<Value>,
    /// The URL button (label, URL).
    pub button: Option<(String, String)>,
}

/// UTF-16 length of a string (Telegram's unit for entity offsets).
fn utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Cuts the message after `/broadcast …`'s first line out of `text`, with the entities
/// that fall in it shifted to it; `Err` names what is wrong (`empty`, `too_long`, `button`).
pub fn compose(text: &str, entities: &[Value]) -> Result<Composed, &'static str> {
    let Some(newline) = text.find('\n') else { return Err("empty") };
    let mut start = newline + 1;
    let mut end = text.len();
    let mut button = None;
    // An optional last line: `button: <label> | <url>`.
    let body = &text[start..end];
    let last_start = body.trim_end().rfind('\n').map_or(start, |i| start + i + 1);
    let last = text[last_start..end].trim();
    if last.get(..7).is_some_and(|head| head.eq_ignore_ascii_case("button:")) {
        let (label, url) = last[7..].split_once('|').ok_or("button")?;
        let (label, url) = (label.trim(), url.trim());
        let url_ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() > 8
            && url.len() <= 2048
            && !url.chars().any(char::is_whitespace);
        if label.is_empty() || label.chars().count() > 64 || !url_ok {
            return Err("button");
        }
        button = Some((label.to_string(), url.to_string()));
        end = last_start;
    }
    // Surrounding blank space is not part of the message.
    let inner = &text[start..end];
    let lead = inner.len() - inner.trim_start().len();
    start += lead;
    end = start + text[start..end].trim_end().len();
    let message = &text[start..end];
    if message.is_empty() {
        return Err("empty");
    }
    if message.chars().count() > 4096 {
        return Err("too_long");
    }
    let (from, to) = (utf16(&text[..start]), utf16(&text[..end]));
    let mut cut = Vec::new();
    for entity in entities {
        let (Some(offset), Some(length)) = (entity["offset"].as_u64(), entity["length"].as_u64()) else { continue };
        let (offset, length) = (offset as usize, length as usize);
        let (a, b) = (offset.max(from), offset.saturating_add(length).min(to));
        if a >= b {
            continue;
        }
        let mut entity = entity.clone();
        entity["offset"] = json!(a - from);
        entity["length"] = json!(b - a);
        cut.push(entity);
    }
    Ok(Composed { text: message.to_string(), entities: cut, button })
}

fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::Ru => "ru",
    }
}

fn lang_of(code: &str) -> Lang {
    Lang::from_code(Some(code))
}

/// `/broadcast <segment>` and its message: records the draft and asks to confirm.
pub async fn start_draft(talk: &mut Conversation<'_>, segment: Segment, message: &Message) -> Result<(), JobError> {
    let text = message.text().unwrap_or_default();
    let entities: Vec<Value> = message
        .entities()
        .map(|e| serde_json::to_value(e).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default())
        .unwrap_or_default();
    let composed = match compose(text, &entities) {
        Ok(c) => c,
        Err(problem) => {
            let text = texts::broadcast_invalid(talk.lang, problem);
            return talk.reply(text, None).await;
        }
    };
    let ctx = talk.ctx();
    let entities = (!composed.entities.is_empty()).then(|| Value::Array(composed.entities.clone()));
    let draft = Draft {
        project_id: talk.project.id,
        cause: talk.cause(),
        owner_telegram_id: talk.user,
        lang: lang_code(talk.lang),
        segment,
        text: &composed.text,
        entities,
        button: composed.button.as_ref().map(|(l, u)| (l.as_str(), u.as_str())),
    };
    let broadcast = store::broadcasts::insert_draft(&ctx.pool, &draft).await?;
    let recipients = store::broadcasts::count_segment(&ctx.pool, talk.project.id, segment, ctx.now()).await?;
    let segment_words = texts::broadcast_segment(talk.lang, segment.name(), segment.within_days());
    let question = texts::broadcast_confirm(talk.lang, &segment_words, recipients);
    let (send, cancel, _) = texts::broadcast_buttons(talk.lang, recipients);
    let keyboard = InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback(send, format!("bc:send:{}", broadcast.id)),
        InlineKeyboardButton::callback(cancel, format!("bc:cancel:{}", broadcast.id)),
    ]]);
    talk.reply(question, Some(keyboard)).await
}

/// A button under a broadcast's confirmation or progress message (`bc:<action>:<id>`).
/// Only staff act; anyone else learns nothing.
pub async fn on_button(talk: &mut Conversation<'_>, action: &str, id: &str) -> Result<(), JobError> {
    if !talk.is_staff().await? {
        return Ok(());
    }
    let Ok(id) = Uuid::parse_str(id) else { return Ok(()) };
    match action {
        "send" => confirm(talk, id).await,
        "cancel" => cancel(talk, id).await,
        _ => Ok(()),
    }
}

/// The owner confirmed: recipients resolved, progress message started, batches enqueued.
async fn confirm(talk: &mut Conversation<'_>, id: Uuid) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let mut tx = ctx.pool.begin().await?;
    let Some(broadcast) = store::broadcasts::lock(&mut tx, talk.project.id, id).await? else { return Ok(()) };
    if broadcast.state != "draft" {
        return Ok(()); // pressed twice, or cancelled: nothing more to do
    }
    let message_id = launch(&mut tx, &broadcast, ctx.now()).await?;
    tx.commit().await?;
    // The progress message goes from this interactive job at once; if Telegram cannot
    // take it now, a send-message job sends it.
    match crate::membership::messages::deliver(ctx, message_id).await {
        Ok(()) => Ok(()),
        Err(JobError::Permanent(reason)) => Err(JobError::Permanent(reason)),
        Err(_) => ctx.enqueue(&SendMessage { message_id }).await,
    }
}

/// Starts a draft (locked in the caller's transaction): its segment resolved at `now`
/// into recipient rows, the owner's progress message recorded (returned: the caller
/// sends it), and the first [`LANES`] `broadcast-batch` jobs enqueued.
pub async fn launch(
    tx: &mut sqlx::PgConnection,
    broadcast: &Broadcast,
    now: chrono::DateTime<Utc>,
) -> Result<Uuid, JobError> {
    let total = store::broadcasts::start(&mut *tx, broadcast, now).await?;
    let lang = lang_of(&broadcast.lang);
    let text = progress_text(lang, broadcast, "sending", &store::broadcasts::Tally::default(), total.into());
    let markup = cancel_markup(lang, broadcast.id);
    let message_id = store::messages::put(
        &mut *tx,
        broadcast.project_id,
        broadcast.owner_telegram_id,
        &format!("broadcast:{}:progress", broadcast.id),
        &text,
        Some(markup),
    )
    .await?;
    store::broadcasts::set_progress_message(&mut *tx, broadcast.id, message_id).await?;
    store::broadcasts::progress_shown(&mut *tx, broadcast.id, &text).await?;
    let batches = (total + BATCH - 1) / BATCH;
    for batch in 0..batches.min(LANES) {
        queue::enqueue(&mut *tx, &BroadcastBatch { broadcast_id: broadcast.id, batch }, RunAt::Now).await?;
    }
    if total == 0 {
        store::broadcasts::finish_if_complete(&mut *tx, broadcast.id).await?;
        queue::enqueue(&mut *tx, &BroadcastProgress { broadcast_id: broadcast.id, slot: None }, RunAt::Now).await?;
    }
    Ok(message_id)
}

/// Cancels a draft (answered at once) or a broadcast being sent (its progress message
/// says so).
async fn cancel(talk: &mut Conversation<'_>, id: Uuid) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let Some(broadcast) = store::broadcasts::get(&ctx.pool, id).await? else { return Ok(()) };
    if broadcast.project_id != talk.project.id || !store::broadcasts::cancel(&ctx.pool, talk.project.id, id).await? {
        return Ok(());
    }
    if broadcast.state == "draft" {
        let text = texts::broadcast_not_sent(talk.lang);
        return talk.reply(text, None).await;
    }
    ctx.enqueue(&BroadcastProgress { broadcast_id: id, slot: None }).await
}

/// `/broadcast stop`: cancels the project's broadcasts being sent or awaiting confirmation.
pub async fn stop(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let mut stopped = 0;
    for id in store::broadcasts::open_of(&ctx.pool, talk.project.id).await? {
        let sending = store::broadcasts::get(&ctx.pool, id).await?.is_some_and(|b| b.state == "sending");
        if store::broadcasts::cancel(&ctx.pool, talk.project.id, id).await? {
            stopped += 1;
            if sending {
                ctx.enqueue(&BroadcastProgress { broadcast_id: id, slot: None }).await?;
            }
        }
    }
    let text = texts::broadcast_stopped(talk.lang, stopped);
    talk.reply(text, None).await
}

fn cancel_markup(lang: Lang, id: Uuid) -> Value {
    let (_, _, cancel) = texts::broadcast_buttons(lang, 0);
    json!({"inline_keyboard": [[{"text": cancel, "callback_data": format!("bc:cancel:{id}")}]]})
}

fn progress_text(lang: Lang, b: &Broadcast, state: &str, tally: &store::broadcasts::Tally, total: i64) -> String {
    let segment = texts::broadcast_segment(lang, &b.segment, b.within_days);
    texts::broadcast_progress(lang, &segment, state, total, tally.sent, tally.unreachable, tally.failed)
}

/// Enqueues the progress edit of the current time slot (collapsing with any other of
/// the slot), due at the slot's end.
async fn progress_soon(ctx: &JobContext, id: Uuid) -> Result<(), JobError> {
    // Real time, not the job's clock: this paces edits, it decides nothing.
    let now = Utc::now().timestamp();
    let slot = now / PROGRESS_EVERY_SECS;
    let due = chrono::DateTime::from_timestamp((slot + 1) * PROGRESS_EVERY_SECS, 0).unwrap_or_else(Utc::now);
    let mut conn = ctx.pool.acquire().await?;
    queue::enqueue(&mut conn, &BroadcastProgress { broadcast_id: id, slot: Some(slot) }, RunAt::At(due)).await?;
    Ok(())
}

/// Sends batch `batch` of a broadcast: each recipient not yet recorded sent, in order.
pub async fn send_batch(ctx: &JobContext, id: Uuid, batch: i32) -> Result<(), JobError> {
    let Some(broadcast) = store::broadcasts::get(&ctx.pool, id).await? else { return Ok(()) };
    if broadcast.state != "sending" {
        return Ok(());
    }
    let from = batch.checked_mul(BATCH).ok_or_else(|| JobError::Permanent(format!("batch {batch} is out of range")))?;
    let to = from.saturating_add(BATCH);
    let recipients = store::broadcasts::unsent(&ctx.pool, id, from, to).await?;
    let api = ctx.bot_api(broadcast.project_id).await?;
    let markup = broadcast
        .button_text
        .as_ref()
        .zip(broadcast.button_url.as_ref())
        .map(|(text, url)| json!({"inline_keyboard": [[{"text": text, "url": url}]]}));
    for r in recipients {
        if !store::broadcasts::before_send(&ctx.pool, id, r.seq).await? {
            // Cancelled meanwhile: nothing more is sent; the progress shows where it stopped.
            return progress_soon(ctx, id).await;
        }
        let result =
            api.send_formatted(r.telegram_user_id, &broadcast.text, broadcast.entities.as_ref(), markup.as_ref()).await;
        match result {
            Ok(sent) => {
                store::broadcasts::after_send(&ctx.pool, id, r.seq, "sent", Some(sent.message_id), None).await?;
            }
            Err(e) if e.is_unreachable_user() => {
                let error = e.to_string();
                store::broadcasts::after_send(&ctx.pool, id, r.seq, "unreachable", None, Some(&error)).await?;
                store::subscribers::unreachable(&ctx.pool, broadcast.project_id, r.telegram_user_id).await?;
            }
            Err(e @ TgError::Rejected { .. }) => {
                let error = e.to_string();
                store::broadcasts::after_send(&ctx.pool, id, r.seq, "failed", None, Some(&error)).await?;
            }
            Err(e) => {
                // Not sent (no budget now, a 429, a network failure): the job is snoozed
                // or retried and goes on from this recipient.
                store::broadcasts::not_sent(&ctx.pool, id, r.seq).await?;
                progress_soon(ctx, id).await?;
                return Err(e.into());
            }
        }
    }
    // This lane's next batch.
    let batches = (broadcast.total.unwrap_or(0) + BATCH - 1) / BATCH;
    if let Some(next) = batch.checked_add(LANES).filter(|next| *next < batches) {
        ctx.enqueue(&BroadcastBatch { broadcast_id: id, batch: next }).await?;
    }
    if store::broadcasts::finish_if_complete(&ctx.pool, id).await? {
        ctx.enqueue(&BroadcastProgress { broadcast_id: id, slot: None }).await
    } else {
        progress_soon(ctx, id).await
    }
}

/// Edits the owner's progress message to the broadcast's tally (when it changed).
pub async fn show_progress(ctx: &JobContext, id: Uuid) -> Result<(), JobError> {
    let Some(broadcast) = store::broadcasts::get(&ctx.pool, id).await? else { return Ok(()) };
    let Some(message_id) = broadcast.progress_message_id else { return Ok(()) };
    let Some(message) = store::messages::get(&ctx.pool, message_id).await? else { return Ok(()) };
    if message.state == "undeliverable" {
        return Ok(()); // the owner blocked the bot
    }
    let Some(telegram_id) = store::messages::telegram_id_of(&ctx.pool, message_id).await? else {
        // Not sent yet (its send-message job is waiting for budget): look again shortly.
        return Err(JobError::Snooze {
            until: Utc::now() + chrono::TimeDelta::seconds(1),
            reason: "the progress message is not sent yet".into(),
        });
    };
    let tally = store::broadcasts::tally(&ctx.pool, id).await?;
    let lang = lang_of(&broadcast.lang);
    let total = broadcast.total.map_or(tally.total, i64::from);
    let text = progress_text(lang, &broadcast, &broadcast.state, &tally, total);
    if broadcast.progress_shown.as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    let markup = (broadcast.state == "sending").then(|| cancel_markup(lang, id));
    let api = ctx.bot_api(broadcast.project_id).await?;
    match api.edit_message_text(broadcast.owner_telegram_id, telegram_id, &text, markup.as_ref()).await {
        Ok(_) => {}
        Err(e) if e.description().is_some_and(|d| d.contains("message is not modified")) => {}
        Err(e) if e.description().is_some_and(|d| d.contains("message to edit not found")) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    store::broadcasts::progress_shown(&ctx.pool, id, &text).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_cut_out_with_its_entities_shifted() {
        // "/broadcast all\n" is 15 UTF-16 units; "Привет " 7; bold "мир" at 22..25.
        let text = "/broadcast all\nПривет мир 👋\nbutton: Open | https://example.com/x";
        let entities = vec![
            json!({"type": "bot_command", "offset": 0, "length": 10}),
            json!({"type": "bold", "offset": 22, "length": 3}),
            json!({"type": "italic", "offset": 26, "length": 30}),
        ];
        let c = compose(text, &entities).unwrap();
        assert_eq!(c.text, "Привет мир 👋");
        assert_eq!(c.button, Some(("Open".into(), "https://example.com/x".into())));
        assert_eq!(
            c.entities,
            vec![
                json!({"type": "bold", "offset": 7, "length": 3}),
                json!({"type": "italic", "offset": 11, "length": 2}),
            ]
        );
    }

    #[test]
    fn a_broadcast_without_text_or_with_a_bad_button_is_refused() {
        assert_eq!(compose("/broadcast all", &[]), Err("empty"));
        assert_eq!(compose("/broadcast all\n  \n", &[]), Err("empty"));
        assert_eq!(compose("/broadcast all\nHi\nbutton: Open | javascript:alert(1)", &[]), Err("button"));
        assert_eq!(compose("/broadcast all\nHi\nbutton: Open", &[]), Err("button"));
        assert_eq!(compose(&format!("/broadcast all\n{}", "я".repeat(4097)), &[]), Err("too_long"));
        assert_eq!(compose("/broadcast all\nbutton: Open | https://x.example", &[]), Err("empty"));
    }
}
