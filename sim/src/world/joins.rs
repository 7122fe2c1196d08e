//! Joining chats: users joining by invite link or username, join requests, and the bot
//! approving or declining them.

use serde_json::{Value, json};

use super::{JoinRequest, World, effective};
use crate::error::{ApiError, ControlError};
use crate::model::*;
use crate::params::Params;
use crate::render::{chat_json, user_json};

impl World {
    pub(crate) fn user_joins(
        &mut self,
        user_id: i64,
        link: Option<&str>,
        chat_id: Option<i64>,
        now: i64,
    ) -> Result<JoinOutcome, ControlError> {
        self.user_checked(user_id)?;
        let (chat_id, link) = match (link, chat_id) {
            (Some(url), _) => {
                let view = self
                    .find_link(url, now)
                    .ok_or_else(|| ControlError::conflict("LINK_INVALID", "no such invite link"))?;
                if view.is_revoked {
                    return Err(ControlError::conflict("LINK_REVOKED", "the invite link was revoked"));
                }
                if view.is_expired {
                    return Err(ControlError::conflict("LINK_EXPIRED", "the invite link has expired"));
                }
                (view.chat_id, Some(view))
            }
            (None, Some(chat_id)) => {
                let chat =
                    self.chats.get(&chat_id).ok_or_else(|| ControlError::not_found(format!("chat {chat_id}")))?;
                if chat.info.username.is_none() {
                    return Err(ControlError::conflict(
                        "CHAT_PRIVATE",
                        "a private chat can only be joined by invite link",
                    ));
                }
                (chat_id, None)
            }
            (None, None) => return Err(ControlError::invalid("give invite_link or chat_id")),
        };
        let status = effective(self.chats[&chat_id].members.get(&user_id), now);
        if matches!(status, MemberStatus::Kicked { .. }) {
            return Err(ControlError::conflict("USER_BANNED", "the user is banned in this chat"));
        }
        if status.is_present() {
            return Err(ControlError::conflict("ALREADY_MEMBER", "the user is already a member"));
        }
        let needs_request = match &link {
            Some(l) => l.creates_join_request,
            None => self.chats[&chat_id].info.join_by_request,
        };
        if needs_request {
            return self.request_join(user_id, chat_id, link.map(|l| l.invite_link), now);
        }
        if let Some(l) = &link
            && let Some(limit) = l.member_limit
            && l.members_now >= limit
        {
            return Err(ControlError::conflict(
                "LINK_MEMBER_LIMIT_REACHED",
                "the invite link's member limit is reached",
            ));
        }
        self.change_status(
            chat_id,
            user_id,
            MemberStatus::Member { until_date: None },
            user_id,
            link.map(|l| l.invite_link),
            false,
            now,
        );
        Ok(JoinOutcome { outcome: "joined".into(), chat_id })
    }

    pub(crate) fn request_join(
        &mut self,
        user_id: i64,
        chat_id: i64,
        link: Option<String>,
        now: i64,
    ) -> Result<JoinOutcome, ControlError> {
        let info = self.user_checked(user_id)?.info.clone();
        let chat = self.chats.get_mut(&chat_id).ok_or_else(|| ControlError::not_found(format!("chat {chat_id}")))?;
        let status = effective(chat.members.get(&user_id), now);
        if matches!(status, MemberStatus::Kicked { .. }) {
            return Err(ControlError::conflict("USER_BANNED", "the user is banned in this chat"));
        }
        if status.is_present() {
            return Err(ControlError::conflict("ALREADY_MEMBER", "the user is already a member"));
        }
        chat.join_requests.insert(user_id, JoinRequest { invite_link: link.clone(), date: now });
        let chat_obj = chat_json(&chat.info);
        let bots: Vec<i64> = chat
            .members
            .iter()
            .filter(|(id, m)| {
                self.bots.contains_key(id)
                    && match effective(Some(m), now) {
                        MemberStatus::Creator { .. } => true,
                        MemberStatus::Administrator { rights, .. } => rights.can_invite_users,
                        _ => false,
                    }
            })
            .map(|(id, _)| *id)
            .collect();
        for bot in bots {
            let mut v = json!({
                "chat": chat_obj,
                "from": user_json(&info),
                "user_chat_id": user_id,
                "date": now,
            });
            if let Some(url) = &link {
                v["invite_link"] = self.link_json(chat_id, url, bot);
            }
            self.emit(bot, "chat_join_request", v);
        }
        Ok(JoinOutcome { outcome: "requested".into(), chat_id })
    }

    /// Removes the join request of `user_id` to `chat_id`, which the bot must have the rights to
    /// answer. Returns the chat, the user and the request.
    fn take_join_request(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<(i64, i64, JoinRequest), ApiError> {
        let chat_id = self.chat_id_param(p)?;
        let user_id = p.req_i64("user_id")?;
        self.require_right(
            chat_id,
            bot_id,
            now,
            |r| r.can_invite_users,
            "not enough rights to manage chat join requests",
        )?;
        let chat = self.chats.get_mut(&chat_id).expect("checked");
        let Some(request) = chat.join_requests.remove(&user_id) else {
            return Err(ApiError::bad_request("HIDE_REQUESTER_MISSING"));
        };
        Ok((chat_id, user_id, request))
    }

    /// `approveChatJoinRequest`.
    pub(super) fn approve_chat_join_request(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let (chat_id, user_id, request) = self.take_join_request(bot_id, p, now)?;
        if effective(self.chats[&chat_id].members.get(&user_id), now).is_present() {
            return Err(ApiError::bad_request("USER_ALREADY_PARTICIPANT"));
        }
        let via_request = request.invite_link.is_none();
        self.change_status(
            chat_id,
            user_id,
            MemberStatus::Member { until_date: None },
            user_id,
            request.invite_link,
            via_request,
            now,
        );
        Ok(json!(true))
    }

    /// `declineChatJoinRequest`.
    pub(super) fn decline_chat_join_request(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        self.take_join_request(bot_id, p, now)?;
        Ok(json!(true))
    }
}
