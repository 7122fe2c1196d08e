//! Invite links: exportChatInviteLink, createChatInviteLink, editChatInviteLink,
//! revokeChatInviteLink, their JSON as a bot sees it, and the control API's view of them.

use serde_json::{Value, json};

use super::{Chat, Link, World, effective, random_token};
use crate::error::ApiError;
use crate::model::*;
use crate::params::Params;

/// Settable fields of an invite link: name, expire_date, member_limit, creates_join_request.
type LinkFields = (Option<String>, Option<i64>, Option<u32>, bool);

impl World {
    pub(super) fn link_json(&self, chat_id: i64, url: &str, viewer: i64) -> Value {
        let Some(l) = self.chats.get(&chat_id).and_then(|c| c.links.iter().find(|l| l.url == url)) else {
            return Value::Null;
        };
        let pending =
            self.chats[&chat_id].join_requests.values().filter(|r| r.invite_link.as_deref() == Some(url)).count();
        // Links of other administrators are shown with their second part replaced by "…".
        let shown = if l.creator_id == viewer {
            l.url.clone()
        } else {
            let cut = l.url.len() - (l.url.len() - "https://t.me/+".len()) / 2;
            format!("{}…", &l.url[..cut])
        };
        let mut v = json!({
            "invite_link": shown,
            "creator": self.person_json(l.creator_id).unwrap_or(Value::Null),
            "creates_join_request": l.creates_join_request,
            "is_primary": l.is_primary,
            "is_revoked": l.is_revoked,
        });
        if let Some(n) = &l.name {
            v["name"] = json!(n);
        }
        if let Some(d) = l.expire_date {
            v["expire_date"] = json!(d);
        }
        if let Some(m) = l.member_limit {
            v["member_limit"] = json!(m);
        }
        if l.creates_join_request && pending > 0 {
            v["pending_join_request_count"] = json!(pending);
        }
        v
    }

    fn link_params(p: &Params, now: i64) -> Result<LinkFields, ApiError> {
        let name = p.str("name").filter(|n| !n.is_empty());
        if name.as_ref().is_some_and(|n| n.chars().count() > 32) {
            return Err(ApiError::bad_request("invite link name is too long"));
        }
        let expire_date = p.i64("expire_date")?.filter(|d| *d != 0);
        if expire_date.is_some_and(|d| d <= now) {
            return Err(ApiError::bad_request("EXPIRE_DATE_INVALID"));
        }
        let member_limit = match p.i64("member_limit")? {
            None | Some(0) => None,
            Some(n) if (1..=99_999).contains(&n) => Some(n as u32),
            Some(_) => return Err(ApiError::bad_request("USAGE_LIMIT_INVALID")),
        };
        let creates_join_request = p.bool("creates_join_request");
        if creates_join_request && member_limit.is_some() {
            return Err(ApiError::bad_request(
                "member_limit can't be specified for links requiring administrator approval",
            ));
        }
        Ok((name, expire_date, member_limit, creates_join_request))
    }

    /// The bot must be allowed to invite users to manage invite links.
    fn require_link_rights(&self, chat_id: i64, bot_id: i64, now: i64) -> Result<(), ApiError> {
        self.require_right(chat_id, bot_id, now, |r| r.can_invite_users, "not enough rights to manage chat invite link")
    }

    /// `exportChatInviteLink`: a new primary link; the previous one is revoked.
    pub(super) fn export_chat_invite_link(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        self.require_link_rights(chat_id, bot_id, now)?;
        let url = format!("https://t.me/+{}", random_token(16));
        let chat = self.chats.get_mut(&chat_id).expect("checked");
        for l in chat.links.iter_mut().filter(|l| l.is_primary) {
            l.is_revoked = true;
            l.is_primary = false;
        }
        chat.links.push(Link {
            url: url.clone(),
            creator_id: bot_id,
            name: None,
            expire_date: None,
            member_limit: None,
            creates_join_request: false,
            is_primary: true,
            is_revoked: false,
            joins_total: 0,
        });
        Ok(json!(url))
    }

    /// `createChatInviteLink`.
    pub(super) fn create_chat_invite_link(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        self.require_link_rights(chat_id, bot_id, now)?;
        let (name, expire_date, member_limit, creates_join_request) = Self::link_params(p, now)?;
        let url = format!("https://t.me/+{}", random_token(16));
        self.chats.get_mut(&chat_id).expect("checked").links.push(Link {
            url: url.clone(),
            creator_id: bot_id,
            name,
            expire_date,
            member_limit,
            creates_join_request,
            is_primary: false,
            is_revoked: false,
            joins_total: 0,
        });
        Ok(self.link_json(chat_id, &url, bot_id))
    }

    /// The link `url` of `chat_id`, which must be the bot's own and not revoked.
    fn own_live_link_mut(&mut self, chat_id: i64, bot_id: i64, url: &str) -> Result<&mut Link, ApiError> {
        let chat = self.chats.get_mut(&chat_id).expect("checked");
        let Some(link) = chat.links.iter_mut().find(|l| l.url == url) else {
            return Err(ApiError::bad_request("INVITE_HASH_EXPIRED"));
        };
        if link.creator_id != bot_id {
            return Err(ApiError::bad_request("CHAT_ADMIN_REQUIRED"));
        }
        if link.is_revoked {
            return Err(ApiError::bad_request("INVITE_REVOKED_MISSING"));
        }
        Ok(link)
    }

    /// `editChatInviteLink` (not of the primary link).
    pub(super) fn edit_chat_invite_link(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        self.require_link_rights(chat_id, bot_id, now)?;
        let url = p.req_str("invite_link")?;
        let (name, expire_date, member_limit, creates_join_request) = Self::link_params(p, now)?;
        let link = self.own_live_link_mut(chat_id, bot_id, &url)?;
        if link.is_primary {
            return Err(ApiError::bad_request("can't edit primary invite link"));
        }
        link.name = name;
        link.expire_date = expire_date;
        link.member_limit = member_limit;
        link.creates_join_request = creates_join_request;
        Ok(self.link_json(chat_id, &url, bot_id))
    }

    /// `revokeChatInviteLink`.
    pub(super) fn revoke_chat_invite_link(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        self.require_link_rights(chat_id, bot_id, now)?;
        let url = p.req_str("invite_link")?;
        self.own_live_link_mut(chat_id, bot_id, &url)?.is_revoked = true;
        Ok(self.link_json(chat_id, &url, bot_id))
    }

    pub(super) fn link_view(&self, chat: &Chat, l: &Link, now: i64) -> LinkView {
        LinkView {
            invite_link: l.url.clone(),
            chat_id: chat.info.id,
            creator_id: l.creator_id,
            name: l.name.clone(),
            expire_date: l.expire_date,
            member_limit: l.member_limit,
            creates_join_request: l.creates_join_request,
            is_primary: l.is_primary,
            is_revoked: l.is_revoked,
            is_expired: l.expire_date.is_some_and(|d| d <= now),
            members_now: Self::members_via(chat, &l.url, now),
            joins_total: l.joins_total,
            pending_join_requests: chat
                .join_requests
                .values()
                .filter(|r| r.invite_link.as_deref() == Some(l.url.as_str()))
                .count() as u32,
        }
    }

    fn members_via(chat: &Chat, url: &str, now: i64) -> u32 {
        chat.members
            .values()
            .filter(|m| m.joined_via.as_deref() == Some(url) && effective(Some(m), now).is_present())
            .count() as u32
    }

    pub(crate) fn find_link(&self, url: &str, now: i64) -> Option<LinkView> {
        self.chats.values().find_map(|c| c.links.iter().find(|l| l.url == url).map(|l| self.link_view(c, l, now)))
    }
}
