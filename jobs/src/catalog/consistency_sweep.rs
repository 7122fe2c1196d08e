//! `consistency-sweep` (scheduled) fans out to one `sweep-chat` per managed chat,
//! which reconciles what should be with what is:
//!
//! 1. missed expiries are processed (the same work as `expiry-scan`);
//! 2. known members whom nothing entitles any more are removed (administrators and the
//!    whitelist excepted), unless their kick is still waiting in the queue;
//! 3. open links of ended entitlements, and expired links, are revoked;
//! 4. entitled users handed a link whom Gatehouse has not seen inside are asked about
//!    (their join, or in a join-request chat their request, may have gone unreported:
//!    a request waiting is approved), and so are the longest-unobserved of
//!    those it believes inside who stay past the next sweep (a leave may have gone
//!    unreported; whoever's access ends sooner is removed instead), [`RECHECK`] of each;
//! 5. the chat's administrators are read again (the list removals go by), and when
//!    Telegram counts more members than Gatehouse knows plus the administrators,
//!    the gap is reported (`gatehouse_chat_unknown_members`, `/stats`, the owner once
//!    a day): those people joined unseen.

pub use crate::kinds::consistency_sweep::{SWEEP_INTERVAL, Sweep, SweepChat};
use crate::runtime::{Job, JobContext};
use crate::{metrics as m, queue::JobError, store};

impl Job for Sweep {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        crate::membership::expiry::expire_due(ctx).await?;
        for chat in store::chats::all(&ctx.pool).await? {
            ctx.enqueue(&SweepChat { chat_id: chat.id, tick: self.tick }).await?;
        }
        Ok(())
    }
}

/// How many users each of the sweep's re-checks asks Telegram about, per chat and sweep.
pub const RECHECK: i64 = 200;

impl Job for SweepChat {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(chat) = store::chats::get(&ctx.pool, self.chat_id).await? else { return Ok(()) };
        if chat.status != "ready" {
            tracing::info!(chat = chat.telegram_chat_id, status = %chat.status, "sweep skipped: chat not ready");
            return Ok(());
        }
        let api = ctx.bot_api(chat.project_id).await?;
        let now = ctx.now();
        for user in store::memberships::unentitled_in(&ctx.pool, &chat, now).await? {
            crate::membership::removal::remove(ctx, &api, &chat, user, "no entitlement (consistency sweep)").await?;
        }
        let expired = store::links::expire_pending(&ctx.pool, chat.id, now).await?;
        if expired > 0 {
            tracing::warn!(chat = chat.telegram_chat_id, expired, "links whose creation never completed expired");
        }
        for link in store::links::stale_open(&ctx.pool, chat.id, now).await? {
            crate::membership::removal::revoke(
                ctx,
                &api,
                &chat,
                &link,
                "entitlement ended or link expired (consistency sweep)",
            )
            .await?;
        }
        // Entitled users handed a link but not seen inside (their join may have gone
        // unreported), then the longest-unobserved of those believed inside (a leave
        // may have): fresh observations make the unseen count below exact for chats
        // up to RECHECK of each, and approach it over sweeps for larger ones. One found
        // inside needs their open links no more.
        for user in store::memberships::entitled_unseen(&ctx.pool, &chat, now, RECHECK).await? {
            let member = api.get_chat_member(chat.telegram_chat_id, user).await?;
            store::memberships::observe(&ctx.pool, chat.id, user, &member.status, None, ctx.now()).await?;
            if member.is_inside() {
                let reason = "its owner is inside (their join was not reported; seen by the sweep)";
                crate::membership::removal::revoke_open_links(ctx, &api, &chat, user, reason).await?;
            } else if chat.join_strategy == "join_request" && member.status != "kicked" {
                // Their request may be waiting unreported: approved without their asking.
                let when = "the sweep found them entitled and outside";
                crate::membership::links::approve_pending_request(ctx, &api, &chat, user, when).await?;
            }
        }
        let until = now.checked_add_signed(SWEEP_INTERVAL).unwrap_or(now);
        for user in store::memberships::stalest_inside(&ctx.pool, &chat, until, RECHECK).await? {
            let member = api.get_chat_member(chat.telegram_chat_id, user).await?;
            store::memberships::observe(&ctx.pool, chat.id, user, &member.status, None, ctx.now()).await?;
        }
        count_unseen(ctx, &api, &chat).await
    }
}

/// Compares Telegram's count of the chat with the people Gatehouse knows inside plus
/// the administrators (the bot among them): a surplus is people who joined unseen
/// (their `chat_member` update was lost), whom the Bot API cannot name. It is stored
/// on the chat (`/stats`), exported (`gatehouse_chat_unknown_members`), and told to
/// the owner once per chat per day.
async fn count_unseen(
    ctx: &JobContext,
    api: &crate::telegram::BotApi,
    chat: &store::chats::Chat,
) -> Result<(), JobError> {
    let counted = api.get_chat_member_count(chat.telegram_chat_id).await?;
    // Read on each sweep, the chat's administrators are also the list removals go by.
    let admins: Vec<i64> =
        crate::membership::removal::read_administrators(ctx, api, chat).await?.iter().map(|a| a.user.id).collect();
    let known = store::memberships::known_inside_besides(&ctx.pool, chat.id, &admins).await?;
    let seen = known.saturating_add(i64::try_from(admins.len()).unwrap_or(i64::MAX));
    let unseen = counted.saturating_sub(seen).clamp(0, i64::from(i32::MAX));
    store::chats::set_unknown_members(&ctx.pool, chat.id, unseen as i32).await?;
    metrics::gauge!(m::CHAT_UNKNOWN_MEMBERS, "chat" => chat.telegram_chat_id.to_string()).set(unseen as f64);
    if unseen > 0 {
        tracing::warn!(chat = chat.telegram_chat_id, counted, seen, "members Gatehouse has not seen join");
        let day = ctx.now().date_naive();
        let text = crate::texts::unseen_members(&chat.display_name(), unseen);
        let key = format!("unseen:{}:{day}", chat.id);
        crate::membership::messages::tell_owner(ctx, chat.project_id, &key, &text).await?;
    }
    Ok(())
}
