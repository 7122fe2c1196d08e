//! `verify-chat`: checks the bot is an administrator of a managed chat with the
//! rights Gatehouse needs, and records the chat's administrators (who are never
//! removed).

pub use crate::kinds::verify_chat::VerifyChat;
use crate::membership::rights::rights_problem;
use crate::runtime::{Job, JobContext};
use crate::store::events::{EventType, NewEvent};
use crate::{
    kinds::send_message::SendMessage,
    queue::JobError,
    store::{self, chats::ChatCheck},
    telegram::TgError,
    texts::{self, Lang},
};

impl Job for VerifyChat {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        verify(&self, ctx).await?;
        if let Some(user) = self.report_to {
            report(ctx, &self, user).await?;
        }
        Ok(())
    }
}

/// Tells `user` in the project's bot what the check found: ready, or what is missing.
async fn report(ctx: &JobContext, job: &VerifyChat, user: i64) -> Result<(), JobError> {
    let Some(chat) = store::chats::get(&ctx.pool, job.chat_id).await? else { return Ok(()) };
    let subscriber = store::subscribers::find(&ctx.pool, chat.project_id, user).await?;
    let lang = Lang::from_code(subscriber.as_ref().and_then(|s| s.language_code.as_deref()));
    let name = chat.display_name();
    let text = match chat.status.as_str() {
        "ready" => texts::chat_ready(lang, &name),
        _ => texts::chat_not_ready(lang, &name, chat.status_reason.as_deref().unwrap_or_default()),
    };
    let key = format!("verified:{}:{}", job.chat_id, job.attempt);
    let message_id = store::messages::put(&ctx.pool, chat.project_id, user, &key, &text, None).await?;
    ctx.enqueue(&SendMessage { message_id }).await
}

async fn verify(job: &VerifyChat, ctx: &JobContext) -> Result<(), JobError> {
    let Some(chat) = store::chats::get(&ctx.pool, job.chat_id).await? else {
        return Err(JobError::Permanent(format!("chat {} no longer exists", job.chat_id)));
    };
    let api = ctx.bot_api(chat.project_id).await?;
    let bot_id = api.bot_id().ok_or_else(|| JobError::Permanent("malformed token".into()))?;
    let chat = &chat;
    let not_ready = |bot_status: &'static str, problem: String| async move {
        let check = ChatCheck {
            kind: None,
            title: None,
            bot_status,
            can_invite_users: false,
            can_restrict_members: false,
            problem: Some(&problem),
        };
        record_check(ctx, chat, &check).await?;
        tracing::warn!(chat = chat.telegram_chat_id, %problem, "chat not ready");
        Ok::<(), JobError>(())
    };
    let info = match api.get_chat(chat.telegram_chat_id).await {
        Ok(info) => info,
        Err(e @ TgError::Rejected { .. }) => {
            return not_ready("left", format!("the bot cannot see this chat ({e})")).await;
        }
        Err(e) => return Err(e.into()),
    };
    let me = api.get_chat_member(chat.telegram_chat_id, bot_id).await?;
    let problem = rights_problem(&me);
    crate::membership::removal::read_administrators(ctx, &api, chat).await?;
    let observed = ctx.now();
    for admin in api.get_chat_administrators(chat.telegram_chat_id).await? {
        store::memberships::observe(&ctx.pool, chat.id, admin.user.id, &admin.status, None, observed).await?;
    }
    let check = ChatCheck {
        kind: Some(&info.kind),
        title: info.title.as_deref(),
        bot_status: &me.status,
        can_invite_users: me.can_invite_users,
        can_restrict_members: me.can_restrict_members,
        problem: problem.as_deref(),
    };
    record_check(ctx, chat, &check).await?;
    tracing::info!(chat = chat.telegram_chat_id, ready = problem.is_none(), "chat verified");
    Ok(())
}

/// Records what the check found and, when the chat's status changed, the event saying
/// so (`chat.ready`, or `chat.not_ready` with the problem), in one transaction.
async fn record_check(ctx: &JobContext, chat: &store::chats::Chat, check: &ChatCheck<'_>) -> Result<(), JobError> {
    let mut tx = ctx.pool.begin().await?;
    let before = store::chats::checked(&mut *tx, chat.id, check).await?;
    let now_ready = check.problem.is_none();
    let status = if now_ready { "ready" } else { "not_ready" };
    if before.is_some_and(|b| b != status) {
        let mut snapshot = store::events::chat_snapshot(chat);
        snapshot["status"] = status.into();
        if let Some(title) = check.title {
            snapshot["title"] = title.into();
        }
        let (kind, data) = if now_ready {
            (EventType::ChatReady, serde_json::json!({"chat": snapshot}))
        } else {
            (EventType::ChatNotReady, serde_json::json!({"chat": snapshot, "problem": check.problem}))
        };
        ctx.event_on(&mut tx, NewEvent::new(chat.project_id, kind, data)).await?;
    }
    tx.commit().await?;
    Ok(())
}
