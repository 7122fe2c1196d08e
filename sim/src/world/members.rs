//! Memberships: status changes and the updates they send, the member methods of the Bot API
//! (getChatMember, getChatMemberCount, getChatAdministrators, banChatMember, unbanChatMember),
//! and the control API's member operations.

use serde_json::{Value, json};

use super::{Membership, World, effective};
use crate::error::{ApiError, ControlError};
use crate::model::*;
use crate::params::Params;
use crate::render::{chat_json, member_json};

impl World {
    /// Changes a membership and sends `my_chat_member` / `chat_member` updates.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn change_status(
        &mut self,
        chat_id: i64,
        user_id: i64,
        new: MemberStatus,
        actor: i64,
        invite_link: Option<String>,
        via_join_request: bool,
        now: i64,
    ) -> MemberStatus {
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return MemberStatus::Left;
        };
        let channel = chat.info.kind == ChatKind::Channel;
        let old_m = chat.members.get(&user_id);
        let old = effective(old_m, now);
        let joined_via = if new.is_present() {
            if old.is_present() { old_m.and_then(|m| m.joined_via.clone()) } else { invite_link.clone() }
        } else {
            None
        };
        if new.is_present()
            && !old.is_present()
            && let Some(url) = &invite_link
            && let Some(l) = chat.links.iter_mut().find(|l| &l.url == url)
        {
            l.joins_total += 1;
        }
        chat.members.insert(user_id, Membership { status: new.clone(), joined_via, since: now });
        let chat_obj = chat_json(&chat.info);
        let admin_bots: Vec<i64> = chat
            .members
            .iter()
            .filter(|(id, m)| **id != user_id && self.bots.contains_key(id) && effective(Some(m), now).is_admin())
            .map(|(id, _)| *id)
            .collect();
        if old == new {
            return old;
        }
        let subject = self.person_json(user_id).unwrap_or(Value::Null);
        let from = self.person_json(actor).unwrap_or(Value::Null);
        let make = |w: &World, viewer: i64| {
            let mut v = json!({
                "chat": chat_obj,
                "from": from,
                "date": now,
                "old_chat_member": member_json(subject.clone(), &old, channel),
                "new_chat_member": member_json(subject.clone(), &new, channel),
            });
            if let Some(url) = &invite_link {
                v["invite_link"] = w.link_json(chat_id, url, viewer);
            }
            if via_join_request {
                v["via_join_request"] = json!(true);
            }
            v
        };
        if self.bots.contains_key(&user_id) {
            let v = make(self, user_id);
            self.emit(user_id, "my_chat_member", v);
        }
        for bot in admin_bots {
            let v = make(self, bot);
            self.emit(bot, "chat_member", v);
        }
        old
    }

    fn mark_stale(&mut self, chat_id: i64, user_id: i64, old: MemberStatus, now_ms: i64) {
        let secs = self.settings.stale_chat_member_secs;
        if secs > 0 {
            self.stale.insert((chat_id, user_id), (old, now_ms + secs as i64 * 1_000));
        }
    }

    pub(crate) fn member_count(&self, chat_id: i64, now: i64) -> u32 {
        self.chats
            .get(&chat_id)
            .map_or(0, |c| c.members.values().filter(|m| effective(Some(m), now).is_present()).count() as u32)
    }

    /// `getChatMember` (answers from the stale copy while one is kept).
    pub(super) fn get_chat_member(&self, bot_id: i64, p: &Params, now: i64, now_ms: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        let user_id = p.req_i64("user_id")?;
        self.require_member_list(chat_id, bot_id, now)?;
        let user = self.known_person(user_id)?;
        let chat = &self.chats[&chat_id];
        let channel = chat.info.kind == ChatKind::Channel;
        if let Some((status, until_ms)) = self.stale.get(&(chat_id, user_id))
            && *until_ms > now_ms
        {
            return Ok(member_json(user, status, channel));
        }
        let status = effective(chat.members.get(&user_id), now);
        Ok(member_json(user, &status, channel))
    }

    /// `getChatMemberCount`.
    pub(super) fn get_chat_member_count(&self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        let chat = self.chat_of(chat_id)?;
        if chat.info.username.is_none() {
            self.bot_in_chat(chat, bot_id, now)?;
        }
        Ok(json!(self.member_count(chat_id, now)))
    }

    /// `getChatAdministrators` (other bots are left out, as Telegram does).
    pub(super) fn get_chat_administrators(&self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        self.require_member_list(chat_id, bot_id, now)?;
        let chat = &self.chats[&chat_id];
        let channel = chat.info.kind == ChatKind::Channel;
        let admins: Vec<Value> = chat
            .members
            .iter()
            .filter(|(id, _)| !self.bots.contains_key(id) || **id == bot_id)
            .filter_map(|(id, m)| {
                let s = effective(Some(m), now);
                s.is_admin().then(|| member_json(self.person_json(*id).unwrap_or(Value::Null), &s, channel))
            })
            .collect();
        Ok(Value::Array(admins))
    }

    /// `banChatMember`.
    pub(super) fn ban_chat_member(
        &mut self,
        bot_id: i64,
        p: &Params,
        now: i64,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        let user_id = p.req_i64("user_id")?;
        self.require_right(
            chat_id,
            bot_id,
            now,
            |r| r.can_restrict_members,
            "not enough rights to restrict/unrestrict chat member",
        )?;
        self.known_person(user_id)?;
        if user_id == bot_id {
            return Err(ApiError::bad_request("can't restrict self"));
        }
        let current = effective(self.chats[&chat_id].members.get(&user_id), now);
        match current {
            MemberStatus::Creator { .. } => {
                return Err(ApiError::bad_request("can't remove chat owner"));
            }
            MemberStatus::Administrator { .. } => {
                return Err(ApiError::bad_request("user is an administrator of the chat"));
            }
            _ => {}
        }
        let until = match p.i64("until_date")? {
            Some(d) if d - now >= 30 && d - now <= 366 * 86_400 => d,
            _ => 0,
        };
        let old =
            self.change_status(chat_id, user_id, MemberStatus::Kicked { until_date: until }, bot_id, None, false, now);
        self.mark_stale(chat_id, user_id, old, now_ms);
        Ok(json!(true))
    }

    /// `unbanChatMember`: lifts a ban; without `only_if_banned` it also removes a current
    /// member, who stays free to rejoin. The creator and administrators cannot be removed.
    pub(super) fn unban_chat_member(
        &mut self,
        bot_id: i64,
        p: &Params,
        now: i64,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        let user_id = p.req_i64("user_id")?;
        self.require_right(
            chat_id,
            bot_id,
            now,
            |r| r.can_restrict_members,
            "not enough rights to restrict/unrestrict chat member",
        )?;
        self.known_person(user_id)?;
        let current = effective(self.chats[&chat_id].members.get(&user_id), now);
        let only_if_banned = p.bool("only_if_banned");
        match current {
            // With only_if_banned, nothing happens to anyone who is not banned.
            s if only_if_banned && !matches!(s, MemberStatus::Kicked { .. }) => Ok(json!(true)),
            MemberStatus::Creator { .. } => Err(ApiError::bad_request("can't remove chat owner")),
            MemberStatus::Administrator { .. } => Err(ApiError::bad_request("user is an administrator of the chat")),
            MemberStatus::Kicked { .. } => {
                let old = self.change_status(chat_id, user_id, MemberStatus::Left, bot_id, None, false, now);
                self.mark_stale(chat_id, user_id, old, now_ms);
                Ok(json!(true))
            }
            // Without it, a member is removed (not banned): a kick in one call.
            s if s.is_present() => {
                let old = self.change_status(chat_id, user_id, MemberStatus::Left, bot_id, None, false, now);
                self.mark_stale(chat_id, user_id, old, now_ms);
                Ok(json!(true))
            }
            _ => Ok(json!(true)),
        }
    }

    pub(crate) fn set_member(&mut self, chat_id: i64, req: SetMember, now: i64) -> Result<MemberView, ControlError> {
        if !self.chats.contains_key(&chat_id) {
            return Err(ControlError::not_found(format!("chat {chat_id}")));
        }
        if self.person_json(req.user_id).is_none() {
            return Err(ControlError::not_found(format!("user {}", req.user_id)));
        }
        let actor = self.chats[&chat_id].info.creator_id.unwrap_or(req.user_id);
        self.change_status(chat_id, req.user_id, req.status, actor, None, false, now);
        self.member_view(chat_id, req.user_id, now)
    }

    pub(crate) fn member_view(&self, chat_id: i64, user_id: i64, now: i64) -> Result<MemberView, ControlError> {
        let chat = self.chats.get(&chat_id).ok_or_else(|| ControlError::not_found(format!("chat {chat_id}")))?;
        let m = chat.members.get(&user_id);
        Ok(MemberView {
            user_id,
            is_bot: self.bots.contains_key(&user_id),
            status: effective(m, now),
            joined_via_link: m.and_then(|m| m.joined_via.clone()),
            since: m.map_or(0, |m| m.since),
        })
    }

    pub(crate) fn user_leaves(&mut self, user_id: i64, chat_id: i64, now: i64) -> Result<MemberView, ControlError> {
        self.user_checked(user_id)?;
        let status = effective(
            self.chats
                .get(&chat_id)
                .ok_or_else(|| ControlError::not_found(format!("chat {chat_id}")))?
                .members
                .get(&user_id),
            now,
        );
        if !status.is_present() {
            return Err(ControlError::conflict("NOT_A_MEMBER", "the user is not in the chat"));
        }
        self.change_status(chat_id, user_id, MemberStatus::Left, user_id, None, false, now);
        self.member_view(chat_id, user_id, now)
    }
}
