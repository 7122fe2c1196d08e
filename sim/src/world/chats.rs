//! Chats as a whole: getChat, and the control API's view of a chat.

use serde_json::{Value, json};

use super::{World, effective};
use crate::error::{ApiError, ControlError};
use crate::model::*;
use crate::params::Params;
use crate::render::{chat_json, private_chat_json};

impl World {
    /// `getChat`: public chats, chats the bot is in, and users who started the bot.
    pub(super) fn get_chat(&self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        if let Some(chat) = self.chats.get(&chat_id) {
            if chat.info.username.is_none() {
                let status = effective(chat.members.get(&bot_id), now);
                if !status.is_present() {
                    return Err(ApiError::chat_not_found());
                }
            }
            let mut v = chat_json(&chat.info);
            crate::render::full_info_extras(&mut v);
            if let Some(d) = &chat.info.description {
                v["description"] = json!(d);
            }
            if let Some(primary) = chat.links.iter().find(|l| l.is_primary && !l.is_revoked) {
                v["invite_link"] = json!(primary.url);
            }
            if chat.info.kind == ChatKind::Supergroup && chat.info.join_by_request {
                v["join_by_request"] = json!(true);
            }
            return Ok(v);
        }
        if let Some(user) = self.users.get(&chat_id)
            && user.started.contains(&bot_id)
        {
            let mut v = private_chat_json(&user.info);
            crate::render::full_info_extras(&mut v);
            return Ok(v);
        }
        Err(ApiError::chat_not_found())
    }

    pub(crate) fn chat_state(&self, chat_id: i64, now: i64) -> Result<ChatState, ControlError> {
        let chat = self.chats.get(&chat_id).ok_or_else(|| ControlError::not_found(format!("chat {chat_id}")))?;
        let mut members = Vec::new();
        let mut banned = Vec::new();
        let mut left = Vec::new();
        for id in chat.members.keys() {
            let v = self.member_view(chat_id, *id, now)?;
            match &v.status {
                s if s.is_present() => members.push(v),
                MemberStatus::Kicked { .. } => banned.push(v),
                _ => left.push(v),
            }
        }
        Ok(ChatState {
            chat: chat.info.clone(),
            member_count: self.member_count(chat_id, now),
            members,
            banned,
            left,
            links: chat.links.iter().map(|l| self.link_view(chat, l, now)).collect(),
            join_requests: chat
                .join_requests
                .iter()
                .map(|(user_id, r)| JoinRequestView {
                    user_id: *user_id,
                    invite_link: r.invite_link.clone(),
                    date: r.date,
                })
                .collect(),
        })
    }
}
