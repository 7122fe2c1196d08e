//! Creating bots, users and chats (seed files and the control API), and finding them again.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;

use super::{Bot, Chat, Membership, RateWindows, User, World, random_token};
use crate::error::ControlError;
use crate::model::*;
use crate::render::user_json;

impl World {
    pub(crate) fn create_bot(&mut self, req: NewBot) -> Result<BotInfo, ControlError> {
        let id = match req.id {
            Some(id) => id,
            None => 7_000_000_000 + self.fresh_id(),
        };
        if self.bots.contains_key(&id) || self.users.contains_key(&id) {
            return Err(ControlError::conflict("ID_TAKEN", format!("id {id} is taken")));
        }
        let token = req.token.unwrap_or_else(|| format!("{id}:AA{}", random_token(33)));
        if self.tokens.contains_key(&token) {
            return Err(ControlError::conflict("TOKEN_TAKEN", "token is taken"));
        }
        let username = req.username.unwrap_or_else(|| format!("sim{id}_bot"));
        let info = BotInfo {
            id,
            token: token.clone(),
            first_name: req.first_name.unwrap_or_else(|| username.clone()),
            username,
        };
        self.tokens.insert(token, id);
        self.bots.insert(
            id,
            Bot {
                info: info.clone(),
                webhook_url: String::new(),
                secret_token: None,
                max_connections: 40,
                allowed_updates: None,
                next_update_id: 100_000_000 + (id.rem_euclid(1_000)) * 1_000,
                queue: VecDeque::new(),
                delivered: 0,
                failed_attempts: 0,
                last_error: None,
                update_faults: UpdateFaults::default(),
                update_rates: UpdateRates::default(),
                update_draws: rand::SeedableRng::seed_from_u64(0),
                limits: self.default_limits.clone(),
                rate: RateWindows::default(),
                commands: BTreeMap::new(),
                wake: Arc::new(Notify::new()),
                changed: Arc::new(Notify::new()),
                generation: self.generation,
            },
        );
        self.new_bots.push(id);
        Ok(info)
    }

    pub(crate) fn create_user(&mut self, mut info: UserInfo) -> Result<UserInfo, ControlError> {
        if info.id == 0 {
            info.id = 500_000_000 + self.fresh_id();
        }
        if self.bots.contains_key(&info.id) || self.users.contains_key(&info.id) {
            return Err(ControlError::conflict("ID_TAKEN", format!("id {} is taken", info.id)));
        }
        if info.first_name.is_empty() {
            info.first_name = format!("User{}", info.id);
        }
        self.users
            .insert(info.id, User { info: info.clone(), started: Default::default(), blocked: Default::default() });
        Ok(info)
    }

    pub(crate) fn create_chat(&mut self, mut info: ChatInfo, now: i64) -> Result<ChatInfo, ControlError> {
        if info.id == 0 {
            let n = self.fresh_id();
            info.id = match info.kind {
                ChatKind::Group => -(4_000_000_000 + n),
                _ => -(1_000_000_000_000 + 2_000_000_000 + n),
            };
        }
        if self.chats.contains_key(&info.id) {
            return Err(ControlError::conflict("ID_TAKEN", format!("chat {} exists", info.id)));
        }
        if let Some(u) = &info.username
            && self.chat_by_username(u).is_some()
        {
            return Err(ControlError::conflict("USERNAME_TAKEN", format!("@{u} is taken")));
        }
        let mut members = BTreeMap::new();
        if let Some(creator) = info.creator_id {
            if !self.users.contains_key(&creator) {
                return Err(ControlError::not_found(format!("user {creator}")));
            }
            members.insert(
                creator,
                Membership {
                    status: MemberStatus::Creator { is_anonymous: false, custom_title: None },
                    joined_via: None,
                    since: now,
                },
            );
        }
        self.chats.insert(
            info.id,
            Chat { info: info.clone(), members, links: Vec::new(), join_requests: BTreeMap::new(), next_message_id: 1 },
        );
        Ok(info)
    }

    pub(super) fn chat_by_username(&self, username: &str) -> Option<i64> {
        let u = username.trim_start_matches('@');
        self.chats
            .values()
            .find(|c| c.info.username.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)))
            .map(|c| c.info.id)
    }

    pub(crate) fn bot_by_token(&self, token: &str) -> Option<i64> {
        self.tokens.get(token).copied()
    }

    pub(super) fn person_json(&self, id: i64) -> Option<Value> {
        if let Some(u) = self.users.get(&id) {
            return Some(user_json(&u.info));
        }
        self.bots.get(&id).map(Bot::user_json)
    }

    pub(super) fn user_checked(&self, user_id: i64) -> Result<&User, ControlError> {
        self.users.get(&user_id).ok_or_else(|| ControlError::not_found(format!("user {user_id}")))
    }

    pub(super) fn bot_checked(&self, bot_id: i64) -> Result<&Bot, ControlError> {
        self.bots.get(&bot_id).ok_or_else(|| ControlError::not_found(format!("bot {bot_id}")))
    }
}
