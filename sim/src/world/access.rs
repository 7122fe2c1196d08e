//! What every Bot API method checks first: which chat `chat_id` names, whether the calling bot
//! is in it, and with which rights.

use serde_json::Value;

use super::{Chat, World, effective};
use crate::error::ApiError;
use crate::model::*;
use crate::params::Params;

impl World {
    /// Resolves `chat_id` (an integer or `@username`).
    pub(crate) fn resolve_chat(&self, raw: &str) -> Result<i64, ApiError> {
        let raw = raw.trim();
        if raw.starts_with('@') {
            return self.chat_by_username(raw).ok_or_else(ApiError::chat_not_found);
        }
        raw.parse::<i64>().map_err(|_| ApiError::chat_not_found())
    }

    pub(super) fn chat_of(&self, id: i64) -> Result<&Chat, ApiError> {
        self.chats.get(&id).ok_or_else(ApiError::chat_not_found)
    }

    fn kind_word(chat: &Chat) -> &'static str {
        chat.info.kind.as_str()
    }

    /// The calling bot must be in the chat; returns its status.
    pub(super) fn bot_in_chat(&self, chat: &Chat, bot_id: i64, now: i64) -> Result<MemberStatus, ApiError> {
        let status = effective(chat.members.get(&bot_id), now);
        match status {
            MemberStatus::Kicked { .. } => {
                Err(ApiError::forbidden(format!("bot was kicked from the {} chat", Self::kind_word(chat))))
            }
            s if !s.is_present() => {
                if chat.info.username.is_none() {
                    Err(ApiError::chat_not_found())
                } else {
                    Err(ApiError::forbidden(format!("bot is not a member of the {} chat", Self::kind_word(chat))))
                }
            }
            s => Ok(s),
        }
    }

    fn bot_rights(&self, chat: &Chat, bot_id: i64, now: i64) -> Result<Option<AdminRights>, ApiError> {
        Ok(match self.bot_in_chat(chat, bot_id, now)? {
            MemberStatus::Creator { .. } => Some(AdminRights::all()),
            MemberStatus::Administrator { rights, .. } => Some(rights),
            _ => None,
        })
    }

    pub(super) fn require_right(
        &self,
        chat_id: i64,
        bot_id: i64,
        now: i64,
        right: fn(&AdminRights) -> bool,
        refusal: &str,
    ) -> Result<(), ApiError> {
        let chat = self.chat_of(chat_id)?;
        match self.bot_rights(chat, bot_id, now)? {
            Some(r) if right(&r) => Ok(()),
            _ => Err(ApiError::bad_request(refusal)),
        }
    }

    /// Member list access: channels show members to administrators only.
    pub(super) fn require_member_list(&self, chat_id: i64, bot_id: i64, now: i64) -> Result<(), ApiError> {
        let chat = self.chat_of(chat_id)?;
        let status = self.bot_in_chat(chat, bot_id, now)?;
        if chat.info.kind == ChatKind::Channel && !status.is_admin() {
            return Err(ApiError::bad_request("member list is inaccessible"));
        }
        Ok(())
    }

    pub(super) fn known_person(&self, id: i64) -> Result<Value, ApiError> {
        self.person_json(id).ok_or_else(|| ApiError::bad_request("PARTICIPANT_ID_INVALID"))
    }

    pub(crate) fn chat_id_param(&self, p: &Params) -> Result<i64, ApiError> {
        let raw = p.req_str("chat_id")?;
        self.resolve_chat(&raw)
    }
}
