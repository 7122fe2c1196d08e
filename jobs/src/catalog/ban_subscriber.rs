//! `ban-subscriber`: the owner's `/ban` and `/unban`.
//!
//! A ban marks the subscriber banned, ends every entitling grant now (through the
//! subscription state machine), stops their paid subscriptions at the provider,
//! revokes their links, and removes them from every chat of the project leaving
//! them banned there (administrators excepted). An unban lets them use the bot
//! again and lifts the bans Gatehouse made (`only_if_banned`), so they can rejoin
//! when entitled.

use serde_json::json;

use super::cancel_subscription::CancelSubscription;
pub use crate::kinds::ban_subscriber::BanSubscriber;
use crate::runtime::{Job, JobContext};
use crate::{
    payments::subscription::{Event, State, transition},
    queue::JobError,
    store::{
        self,
        events::{EventType, NewEvent},
    },
};

impl Job for BanSubscriber {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let user = self.telegram_user_id;
        let api = ctx.bot_api(self.project_id).await?;
        let mut chats = store::chats::of_project(&ctx.pool, self.project_id).await?;
        chats.sort_by_key(|c| c.telegram_chat_id);
        if !self.ban {
            store::subscribers::unban(&ctx.pool, self.project_id, user).await?;
            for chat in chats {
                if store::audit::banned_by_gatehouse(&ctx.pool, chat.id, user).await? {
                    api.unban(chat.telegram_chat_id, user, true).await?;
                    ctx.audit_with_event(
                        self.project_id,
                        Some(user),
                        Some(chat.id),
                        "unbanned",
                        "unbanned by the owner",
                        json!({}),
                        member_event(&chat, user, EventType::MemberUnbanned),
                    )
                    .await?;
                }
            }
            return Ok(());
        }
        let now = ctx.now();
        let mut tx = ctx.pool.begin().await?;
        store::subscribers::ban(&mut *tx, self.project_id, user).await?;
        let mut ended = Vec::new();
        for grant in store::grants::lock_entitling_of(&mut tx, self.project_id, user).await? {
            if let Ok(next) = transition(State::parse(&grant.state), Event::Ban) {
                let ends_at = store::grants::end_now(&mut *tx, grant.id, next.as_str(), now).await?;
                ended.push(grant.id);
                let after =
                    store::grants::Grant { state: next.as_str().into(), ends_at: Some(ends_at), ..grant.clone() };
                let data = store::events::grant_data(&after, Some(user), &grant.state);
                let event = NewEvent::new(self.project_id, EventType::SubscriptionCanceled, data);
                ctx.event_on(&mut tx, event).await?;
            }
        }
        tx.commit().await?;
        for grant_id in &ended {
            ctx.enqueue(&CancelSubscription { grant_id: *grant_id, at_period_end: false }).await?;
        }
        for chat in chats {
            crate::membership::removal::revoke_open_links(ctx, &api, &chat, user, "banned by the owner").await?;
            let member = api.get_chat_member(chat.telegram_chat_id, user).await?;
            if member.is_admin() {
                ctx.audit(
                    self.project_id,
                    Some(user),
                    Some(chat.id),
                    "kept",
                    "a chat administrator is never removed",
                    json!({"wanted": "ban"}),
                )
                .await?;
                continue;
            }
            if member.status != "kicked" {
                api.ban(chat.telegram_chat_id, user).await?;
            }
            store::memberships::observe(&ctx.pool, chat.id, user, "kicked", None, ctx.now()).await?;
            ctx.audit_with_event(
                self.project_id,
                Some(user),
                Some(chat.id),
                "banned",
                "banned by the owner",
                json!({"grants_ended": ended.len()}),
                member_event(&chat, user, EventType::MemberBanned),
            )
            .await?;
        }
        Ok(())
    }
}

/// A `member.banned` or `member.unbanned` event about `user` in `chat`.
fn member_event(chat: &store::chats::Chat, user: i64, kind: EventType) -> NewEvent {
    NewEvent::new(chat.project_id, kind, store::events::member_data(chat, user, json!({"reason": "owner"})))
}
