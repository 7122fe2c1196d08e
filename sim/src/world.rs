//! The simulated Telegram world: bots, users, chats, memberships, invite links, messages,
//! payments, pending updates, the call log, counters, rate-limit windows and faults.
//!
//! Everything lives behind one mutex ([`crate::server::Shared::world`]); no method here awaits.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

use crate::error::{ApiError, ControlError};
use crate::model::*;
use crate::render::{bot_user_json, chat_json, member_json, private_chat_json, user_json};

/// Update kinds Telegram leaves out when `allowed_updates` is empty or was never set.
const NOT_BY_DEFAULT: [&str; 3] = ["chat_member", "message_reaction", "message_reaction_count"];

pub(crate) struct Bot {
    pub(crate) info: BotInfo,
    pub(crate) webhook_url: String,
    pub(crate) secret_token: Option<String>,
    pub(crate) max_connections: u32,
    pub(crate) allowed_updates: Option<Vec<String>>,
    pub(crate) next_update_id: i64,
    pub(crate) queue: VecDeque<Value>,
    pub(crate) delivered: u64,
    pub(crate) failed_attempts: u64,
    pub(crate) last_error: Option<(i64, String)>,
    pub(crate) update_faults: UpdateFaults,
    pub(crate) limits: RateLimits,
    pub(crate) rate: RateWindows,
    pub(crate) commands: BTreeMap<String, Value>,
    /// Wakes the delivery worker.
    pub(crate) wake: Arc<Notify>,
    /// Signalled whenever the queue changes (delivery, enqueue, getUpdates).
    pub(crate) changed: Arc<Notify>,
    /// Identifies the world generation the worker belongs to.
    pub(crate) generation: u64,
}

impl Bot {
    fn allows(&self, kind: &str) -> bool {
        match &self.allowed_updates {
            Some(list) if !list.is_empty() => list.iter().any(|k| k == kind),
            _ => !NOT_BY_DEFAULT.contains(&kind),
        }
    }

    pub(crate) fn user_json(&self) -> Value {
        bot_user_json(self.info.id, &self.info.first_name, &self.info.username)
    }

    pub(crate) fn webhook_state(&self) -> WebhookState {
        WebhookState {
            url: self.webhook_url.clone(),
            pending: self.queue.len() as u32,
            delivered: self.delivered,
            failed_attempts: self.failed_attempts,
            allowed_updates: self.allowed_updates.clone(),
            last_error_message: self.last_error.as_ref().map(|e| e.1.clone()),
        }
    }
}

/// Sliding windows of accepted calls, for rate limiting.
#[derive(Default)]
pub(crate) struct RateWindows {
    calls: VecDeque<i64>,
    per_chat: HashMap<i64, VecDeque<i64>>,
    per_group: HashMap<i64, VecDeque<i64>>,
}

/// Checks a window: `Err(retry_after_secs)` when `limit` calls already happened in `window_ms`.
fn window_check(w: &mut VecDeque<i64>, limit: u32, window_ms: i64, now_ms: i64) -> Result<(), u64> {
    while w.front().is_some_and(|&t| t <= now_ms - window_ms) {
        w.pop_front();
    }
    if w.len() as u64 >= u64::from(limit) {
        let oldest = w.front().copied().unwrap_or(now_ms);
        let wait_ms = (oldest + window_ms - now_ms).max(1);
        return Err(((wait_ms + 999) / 1000) as u64);
    }
    Ok(())
}

pub(crate) struct Membership {
    pub(crate) status: MemberStatus,
    pub(crate) joined_via: Option<String>,
    pub(crate) since: i64,
}

pub(crate) struct Link {
    pub(crate) url: String,
    pub(crate) creator_id: i64,
    pub(crate) name: Option<String>,
    pub(crate) expire_date: Option<i64>,
    pub(crate) member_limit: Option<u32>,
    pub(crate) creates_join_request: bool,
    pub(crate) is_primary: bool,
    pub(crate) is_revoked: bool,
    pub(crate) joins_total: u32,
}

/// Settable fields of an invite link: name, expire_date, member_limit, creates_join_request.
type LinkFields = (Option<String>, Option<i64>, Option<u32>, bool);

pub(crate) struct JoinRequest {
    pub(crate) invite_link: Option<String>,
    pub(crate) date: i64,
}

pub(crate) struct Chat {
    pub(crate) info: ChatInfo,
    pub(crate) members: BTreeMap<i64, Membership>,
    pub(crate) links: Vec<Link>,
    pub(crate) join_requests: BTreeMap<i64, JoinRequest>,
    pub(crate) next_message_id: i64,
}

pub(crate) struct User {
    pub(crate) info: UserInfo,
    pub(crate) started: std::collections::HashSet<i64>,
    pub(crate) blocked: std::collections::HashSet<i64>,
}

#[derive(Default)]
pub(crate) struct Conversation {
    next_message_id: i64,
    pub(crate) messages: Vec<MessageRecord>,
}

#[derive(Clone)]
pub(crate) struct Invoice {
    bot_id: i64,
    title: String,
    payload: String,
    currency: String,
    total_amount: i64,
    subscription_period: Option<i64>,
}

pub(crate) struct PendingCheckout {
    pub(crate) bot_id: i64,
    pub(crate) answer: Option<oneshot::Sender<Result<(), String>>>,
}

struct CallbackRecord {
    bot_id: i64,
    answer: Option<Value>,
}

/// A prepared payment: the pre-checkout query was sent, the answer is awaited.
pub(crate) struct PaymentAttempt {
    pub(crate) query_id: String,
    pub(crate) answer: oneshot::Receiver<Result<(), String>>,
    invoice: Invoice,
    user_id: i64,
}

pub(crate) struct World {
    pub(crate) settings: Settings,
    pub(crate) default_limits: RateLimits,
    pub(crate) generation: u64,
    pub(crate) bots: BTreeMap<i64, Bot>,
    tokens: HashMap<String, i64>,
    pub(crate) users: BTreeMap<i64, User>,
    pub(crate) chats: BTreeMap<i64, Chat>,
    conversations: HashMap<(i64, i64), Conversation>,
    invoices: HashMap<(i64, i64, i64), Invoice>,
    invoice_links: HashMap<String, Invoice>,
    pub(crate) payments: BTreeMap<String, PaymentRecord>,
    pub(crate) pending_checkouts: HashMap<String, PendingCheckout>,
    callbacks: HashMap<String, CallbackRecord>,
    stale: HashMap<(i64, i64), (MemberStatus, i64)>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) calls: VecDeque<CallRecord>,
    pub(crate) call_log_capacity: usize,
    next_seq: u64,
    pub(crate) counters: Counters,
    pub(crate) updates: VecDeque<UpdateRecord>,
    next_id: i64,
    /// Bots created since the last drain, whose delivery worker must be started.
    pub(crate) new_bots: Vec<i64>,
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn random_digits() -> String {
    use rand::Rng;
    rand::rng().random_range(1_000_000_000_000_000u64..9_000_000_000_000_000).to_string()
}

/// The status a membership has now (bans and restrictions lapse at their `until_date`).
fn effective(m: Option<&Membership>, now: i64) -> MemberStatus {
    match m.map(|m| &m.status) {
        None => MemberStatus::Left,
        Some(MemberStatus::Kicked { until_date }) if *until_date > 0 && *until_date <= now => MemberStatus::Left,
        Some(MemberStatus::Restricted { is_member, until_date }) if *until_date > 0 && *until_date <= now => {
            if *is_member {
                MemberStatus::Member { until_date: None }
            } else {
                MemberStatus::Left
            }
        }
        Some(MemberStatus::Member { until_date: Some(d) }) if *d <= now => MemberStatus::Left,
        Some(s) => s.clone(),
    }
}

/// Canonical spellings of the Bot API methods the simulator implements.
pub(crate) const METHODS: &[&str] = &[
    "getMe",
    "logOut",
    "close",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "deleteMessage",
    "answerCallbackQuery",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "getChat",
    "getChatMember",
    "getChatMemberCount",
    "getChatAdministrators",
    "exportChatInviteLink",
    "createChatInviteLink",
    "editChatInviteLink",
    "revokeChatInviteLink",
    "banChatMember",
    "unbanChatMember",
    "approveChatJoinRequest",
    "declineChatJoinRequest",
    "sendInvoice",
    "createInvoiceLink",
    "answerPreCheckoutQuery",
    "refundStarPayment",
    "editUserStarSubscription",
];

/// Methods that send a message and count against the per-chat and per-group limits.
const MESSAGE_METHODS: &[&str] = &["sendMessage", "sendInvoice"];

pub(crate) fn canonical_method(name: &str) -> Option<&'static str> {
    METHODS.iter().copied().find(|m| m.eq_ignore_ascii_case(name))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl World {
    pub(crate) fn new(settings: Settings, default_limits: RateLimits, call_log_capacity: usize) -> Self {
        Self {
            settings,
            default_limits,
            generation: 0,
            bots: BTreeMap::new(),
            tokens: HashMap::new(),
            users: BTreeMap::new(),
            chats: BTreeMap::new(),
            conversations: HashMap::new(),
            invoices: HashMap::new(),
            invoice_links: HashMap::new(),
            payments: BTreeMap::new(),
            pending_checkouts: HashMap::new(),
            callbacks: HashMap::new(),
            stale: HashMap::new(),
            faults: Vec::new(),
            calls: VecDeque::new(),
            call_log_capacity,
            next_seq: 1,
            counters: Counters::default(),
            updates: VecDeque::new(),
            next_id: 1_000,
            new_bots: Vec::new(),
        }
    }

    fn fresh_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    // ------------------------------------------------------------------ creation

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

    fn chat_by_username(&self, username: &str) -> Option<i64> {
        let u = username.trim_start_matches('@');
        self.chats
            .values()
            .find(|c| c.info.username.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)))
            .map(|c| c.info.id)
    }

    pub(crate) fn bot_by_token(&self, token: &str) -> Option<i64> {
        self.tokens.get(token).copied()
    }

    fn person_json(&self, id: i64) -> Option<Value> {
        if let Some(u) = self.users.get(&id) {
            return Some(user_json(&u.info));
        }
        self.bots.get(&id).map(Bot::user_json)
    }

    // ------------------------------------------------------------------ updates

    /// Generates an update for a bot, honouring `allowed_updates` and update faults.
    pub(crate) fn emit(&mut self, bot_id: i64, kind: &str, payload: Value) {
        let Some(bot) = self.bots.get_mut(&bot_id) else {
            return;
        };
        if !bot.allows(kind) {
            return;
        }
        let update_id = bot.next_update_id;
        bot.next_update_id += 1;
        let mut update = json!({ "update_id": update_id });
        update[kind] = payload;
        let dropped = bot.update_faults.drop_next > 0;
        if dropped {
            bot.update_faults.drop_next -= 1;
        } else {
            bot.queue.push_back(update.clone());
            if bot.update_faults.duplicate_next > 0 {
                bot.update_faults.duplicate_next -= 1;
                bot.queue.push_back(update.clone());
            }
            bot.wake.notify_one();
            bot.changed.notify_waiters();
        }
        self.updates.push_back(UpdateRecord { bot_id, update_id, kind: kind.to_string(), dropped, update });
        while self.updates.len() > self.call_log_capacity.max(1) {
            self.updates.pop_front();
        }
    }

    fn link_json(&self, chat_id: i64, url: &str, viewer: i64) -> Value {
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

    /// Changes a membership and sends `my_chat_member` / `chat_member` updates.
    #[allow(clippy::too_many_arguments)]
    fn change_status(
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

    // ------------------------------------------------------------------ rate limits

    /// Applies the rate limits of `bot_id` to one call. `Err(retry_after)` when over a limit.
    pub(crate) fn check_rate(&mut self, bot_id: i64, method: &str, chat: Option<i64>, now_ms: i64) -> Result<(), u64> {
        if !self.settings.rate_limits_enabled {
            return Ok(());
        }
        let is_group = chat.is_some_and(|c| self.chats.contains_key(&c));
        let Some(bot) = self.bots.get_mut(&bot_id) else {
            return Ok(());
        };
        if !bot.limits.enabled {
            return Ok(());
        }
        let limits = bot.limits.clone();
        let r = &mut bot.rate;
        window_check(&mut r.calls, limits.calls_per_second, 1_000, now_ms)?;
        let message_chat = chat.filter(|_| MESSAGE_METHODS.contains(&method));
        if let Some(c) = message_chat {
            window_check(r.per_chat.entry(c).or_default(), limits.messages_per_second_per_chat, 1_000, now_ms)?;
            if is_group {
                window_check(r.per_group.entry(c).or_default(), limits.messages_per_minute_per_group, 60_000, now_ms)?;
            }
        }
        r.calls.push_back(now_ms);
        if let Some(c) = message_chat {
            r.per_chat.entry(c).or_default().push_back(now_ms);
            if is_group {
                r.per_group.entry(c).or_default().push_back(now_ms);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ call log

    pub(crate) fn log_call(&mut self, mut rec: CallRecord) {
        rec.seq = self.next_seq;
        self.next_seq += 1;
        self.counters.calls += 1;
        *self.counters.calls_per_method.entry(rec.method.clone()).or_default() += 1;
        if rec.status == 429 {
            self.counters.too_many_requests += 1;
        }
        if let Some(bot) = rec.bot_id {
            let c = self.counters.per_bot.entry(bot).or_default();
            c.calls += 1;
            *c.calls_per_method.entry(rec.method.clone()).or_default() += 1;
            if rec.status == 429 {
                c.too_many_requests += 1;
            }
        }
        if self.call_log_capacity > 0 {
            if self.calls.len() >= self.call_log_capacity {
                self.calls.pop_front();
            }
            self.calls.push_back(rec);
        }
    }

    pub(crate) fn count_violation(&mut self, bot_id: i64) {
        self.counters.rate_violations += 1;
        self.counters.per_bot.entry(bot_id).or_default().rate_violations += 1;
    }

    /// Finds and consumes the first fault matching a call.
    pub(crate) fn take_fault(&mut self, bot_id: i64, method: &str, params: &crate::params::Params) -> Option<Fault> {
        let idx = self.faults.iter().position(|f| {
            f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.bot_id.is_none_or(|b| b == bot_id)
                && f.when.iter().all(|(k, v)| {
                    let want = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    params.str(k).as_deref() == Some(want.as_str())
                })
        })?;
        let fault = self.faults[idx].clone();
        if let Some(t) = &mut self.faults[idx].times {
            *t = t.saturating_sub(1);
            if *t == 0 {
                self.faults.remove(idx);
            }
        }
        Some(fault)
    }

    // ------------------------------------------------------------------ helpers for methods

    /// Resolves `chat_id` (an integer or `@username`).
    pub(crate) fn resolve_chat(&self, raw: &str) -> Result<i64, ApiError> {
        let raw = raw.trim();
        if raw.starts_with('@') {
            return self.chat_by_username(raw).ok_or_else(ApiError::chat_not_found);
        }
        raw.parse::<i64>().map_err(|_| ApiError::chat_not_found())
    }

    fn chat_of(&self, id: i64) -> Result<&Chat, ApiError> {
        self.chats.get(&id).ok_or_else(ApiError::chat_not_found)
    }

    fn kind_word(chat: &Chat) -> &'static str {
        chat.info.kind.as_str()
    }

    /// The calling bot must be in the chat; returns its status.
    fn bot_in_chat(&self, chat: &Chat, bot_id: i64, now: i64) -> Result<MemberStatus, ApiError> {
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

    fn require_right(
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
    fn require_member_list(&self, chat_id: i64, bot_id: i64, now: i64) -> Result<(), ApiError> {
        let chat = self.chat_of(chat_id)?;
        let status = self.bot_in_chat(chat, bot_id, now)?;
        if chat.info.kind == ChatKind::Channel && !status.is_admin() {
            return Err(ApiError::bad_request("member list is inaccessible"));
        }
        Ok(())
    }

    fn known_person(&self, id: i64) -> Result<Value, ApiError> {
        self.person_json(id).ok_or_else(|| ApiError::bad_request("PARTICIPANT_ID_INVALID"))
    }

    pub(crate) fn chat_id_param(&self, p: &crate::params::Params) -> Result<i64, ApiError> {
        let raw = p.req_str("chat_id")?;
        self.resolve_chat(&raw)
    }

    /// Where a bot's message to `chat_id` goes; validates the bot may write there.
    fn message_target(&self, bot_id: i64, chat_id: i64, now: i64) -> Result<Value, ApiError> {
        if let Some(chat) = self.chats.get(&chat_id) {
            let status = self.bot_in_chat(chat, bot_id, now)?;
            if chat.info.kind == ChatKind::Channel {
                let can_post = match &status {
                    MemberStatus::Creator { .. } => true,
                    MemberStatus::Administrator { rights, .. } => rights.can_post_messages,
                    _ => false,
                };
                if !can_post {
                    return Err(ApiError::bad_request("need administrator rights in the channel chat"));
                }
            }
            return Ok(chat_json(&chat.info));
        }
        if let Some(user) = self.users.get(&chat_id) {
            if user.blocked.contains(&bot_id) {
                return Err(ApiError::forbidden("bot was blocked by the user"));
            }
            if !user.started.contains(&bot_id) {
                return Err(ApiError::forbidden("bot can't initiate conversation with a user"));
            }
            return Ok(private_chat_json(&user.info));
        }
        if self.bots.contains_key(&chat_id) {
            return Err(ApiError::forbidden("bot can't send messages to bots"));
        }
        Err(ApiError::chat_not_found())
    }

    fn next_message_id(&mut self, bot_id: i64, chat_id: i64) -> i64 {
        if let Some(chat) = self.chats.get_mut(&chat_id) {
            let id = chat.next_message_id;
            chat.next_message_id += 1;
            return id;
        }
        let conv = self.conversations.entry((bot_id, chat_id)).or_default();
        conv.next_message_id += 1;
        conv.next_message_id
    }

    fn record_message(&mut self, bot_id: i64, chat_id: i64, from_bot: bool, message: &Value) {
        let rec = MessageRecord {
            bot_id,
            chat_id,
            message_id: message["message_id"].as_i64().unwrap_or(0),
            from_bot,
            text: message["text"].as_str().map(str::to_string),
            reply_markup: message.get("reply_markup").cloned(),
            message: message.clone(),
        };
        self.conversations.entry((bot_id, chat_id)).or_default().messages.push(rec);
    }

    fn find_message_mut(&mut self, bot_id: i64, chat_id: i64, message_id: i64) -> Option<&mut MessageRecord> {
        self.conversations.get_mut(&(bot_id, chat_id))?.messages.iter_mut().find(|m| m.message_id == message_id)
    }

    fn parse_markup(p: &crate::params::Params) -> Result<Option<Value>, ApiError> {
        let Some(markup) = p.json("reply_markup")? else {
            return Ok(None);
        };
        let Some(rows) = markup.get("inline_keyboard") else {
            // Reply keyboards are accepted but not shown on the message object.
            return Ok(None);
        };
        let rows = rows.as_array().ok_or_else(|| {
            ApiError::bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array")
        })?;
        for row in rows {
            for button in row.as_array().into_iter().flatten() {
                if button["text"].as_str().is_none_or(str::is_empty) {
                    return Err(ApiError::bad_request("text buttons are unallowed in the inline keyboard"));
                }
                if let Some(data) = button.get("callback_data") {
                    let len = data.as_str().map_or(0, str::len);
                    if !(1..=64).contains(&len) {
                        return Err(ApiError::bad_request("BUTTON_DATA_INVALID"));
                    }
                }
            }
        }
        Ok(Some(json!({ "inline_keyboard": rows })))
    }

    fn link_params(p: &crate::params::Params, now: i64) -> Result<LinkFields, ApiError> {
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

    fn parse_invoice(bot_id: i64, p: &crate::params::Params) -> Result<Invoice, ApiError> {
        let title = p.req_str("title")?;
        let description = p.req_str("description")?;
        let payload = p.req_str("payload")?;
        let currency = p.req_str("currency")?;
        if title.chars().count() > 32 || title.is_empty() {
            return Err(ApiError::bad_request("TITLE_INVALID"));
        }
        if description.chars().count() > 255 || description.is_empty() {
            return Err(ApiError::bad_request("DESCRIPTION_INVALID"));
        }
        if payload.is_empty() || payload.len() > 128 {
            return Err(ApiError::bad_request("PAYLOAD_INVALID"));
        }
        let prices = p
            .json("prices")?
            .and_then(|v| v.as_array().cloned())
            .ok_or_else(|| ApiError::bad_request("can't parse prices JSON object"))?;
        if prices.is_empty() {
            return Err(ApiError::bad_request("can't parse prices JSON object"));
        }
        if currency == "XTR" && prices.len() != 1 {
            return Err(ApiError::bad_request("STARS_INVOICE_INVALID"));
        }
        let mut total = 0i64;
        for price in &prices {
            let amount = price["amount"]
                .as_i64()
                .or_else(|| price["amount"].as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| ApiError::bad_request("can't parse prices JSON object"))?;
            total += amount;
        }
        if total <= 0 {
            return Err(ApiError::bad_request("CURRENCY_TOTAL_AMOUNT_INVALID"));
        }
        let subscription_period = p.i64("subscription_period")?;
        if let Some(period) = subscription_period {
            if period != 2_592_000 {
                return Err(ApiError::bad_request("SUBSCRIPTION_PERIOD_INVALID"));
            }
            if currency != "XTR" {
                return Err(ApiError::bad_request("SUBSCRIPTION_PERIOD_INVALID"));
            }
        }
        Ok(Invoice { bot_id, title, payload, currency, total_amount: total, subscription_period })
    }

    // ------------------------------------------------------------------ Bot API methods

    /// Executes one Bot API method (not getUpdates' waiting, which the HTTP layer does).
    pub(crate) fn call(
        &mut self,
        bot_id: i64,
        method: &str,
        p: &crate::params::Params,
        now: i64,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        match method {
            "getMe" => {
                let bot = &self.bots[&bot_id];
                let mut v = bot.user_json();
                v["can_join_groups"] = json!(true);
                v["can_read_all_group_messages"] = json!(false);
                v["supports_inline_queries"] = json!(false);
                v["can_connect_to_business"] = json!(false);
                v["has_main_web_app"] = json!(false);
                Ok(v)
            }
            "logOut" | "close" => Ok(json!(true)),
            "setWebhook" => {
                let url = p.str("url").unwrap_or_default();
                if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ApiError::bad_request(
                        "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
                    ));
                }
                let secret = p.str("secret_token").filter(|s| !s.is_empty());
                if let Some(s) = &secret
                    && (s.len() > 256 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                {
                    return Err(ApiError::bad_request("secret token contains unallowed characters"));
                }
                let max_connections = match p.i64("max_connections")? {
                    None => 40,
                    Some(n) if (1..=100).contains(&n) => n as u32,
                    Some(_) => {
                        return Err(ApiError::bad_request("bad webhook: max_connections must be between 1 and 100"));
                    }
                };
                let allowed = Self::allowed_param(p)?;
                let bot = self.bots.get_mut(&bot_id).expect("caller exists");
                bot.webhook_url = url;
                bot.secret_token = secret;
                bot.max_connections = max_connections;
                if let Some(a) = allowed {
                    bot.allowed_updates = Some(a);
                }
                if p.bool("drop_pending_updates") {
                    bot.queue.clear();
                }
                bot.last_error = None;
                bot.wake.notify_one();
                bot.changed.notify_waiters();
                Ok(json!(true))
            }
            "deleteWebhook" => {
                let bot = self.bots.get_mut(&bot_id).expect("caller exists");
                bot.webhook_url.clear();
                bot.secret_token = None;
                if p.bool("drop_pending_updates") {
                    bot.queue.clear();
                }
                bot.changed.notify_waiters();
                Ok(json!(true))
            }
            "getWebhookInfo" => {
                let bot = &self.bots[&bot_id];
                let mut v = json!({
                    "url": bot.webhook_url,
                    "has_custom_certificate": false,
                    "pending_update_count": bot.queue.len(),
                });
                if !bot.webhook_url.is_empty() {
                    v["max_connections"] = json!(bot.max_connections);
                    v["ip_address"] = json!("127.0.0.1");
                }
                if let Some(a) = &bot.allowed_updates {
                    v["allowed_updates"] = json!(a);
                }
                if let Some((date, msg)) = &bot.last_error {
                    v["last_error_date"] = json!(date);
                    v["last_error_message"] = json!(msg);
                }
                Ok(v)
            }
            "getUpdates" => self.get_updates(bot_id, p),
            "sendMessage" => {
                let chat_id = self.chat_id_param(p)?;
                let text = p.req_str("text")?;
                if text.is_empty() {
                    return Err(ApiError::missing("text"));
                }
                if text.chars().count() > 4096 {
                    return Err(ApiError::bad_request("message is too long"));
                }
                let chat = self.message_target(bot_id, chat_id, now)?;
                let markup = Self::parse_markup(p)?;
                let message_id = self.next_message_id(bot_id, chat_id);
                let mut m = json!({
                    "message_id": message_id,
                    "from": self.bots[&bot_id].user_json(),
                    "chat": chat,
                    "date": now,
                    "text": text,
                });
                if let Some(markup) = markup {
                    m["reply_markup"] = markup;
                }
                self.record_message(bot_id, chat_id, true, &m);
                Ok(m)
            }
            "editMessageText" => {
                if p.has("inline_message_id") {
                    return Err(ApiError::bad_request("MESSAGE_ID_INVALID"));
                }
                let chat_id = self.chat_id_param(p)?;
                let message_id = p.req_i64("message_id")?;
                let text = p.req_str("text")?;
                if text.is_empty() {
                    return Err(ApiError::missing("text"));
                }
                let markup = Self::parse_markup(p)?;
                let Some(rec) = self.find_message_mut(bot_id, chat_id, message_id) else {
                    return Err(ApiError::bad_request("message to edit not found"));
                };
                if !rec.from_bot {
                    return Err(ApiError::bad_request("message can't be edited"));
                }
                if rec.text.as_deref() == Some(text.as_str()) && rec.reply_markup == markup {
                    return Err(ApiError::bad_request(
                        "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                    ));
                }
                rec.text = Some(text.clone());
                rec.reply_markup = markup.clone();
                rec.message["text"] = json!(text);
                rec.message["edit_date"] = json!(now);
                match markup {
                    Some(m) => rec.message["reply_markup"] = m,
                    None => {
                        if let Some(o) = rec.message.as_object_mut() {
                            o.remove("reply_markup");
                        }
                    }
                }
                Ok(rec.message.clone())
            }
            "deleteMessage" => {
                let chat_id = self.chat_id_param(p)?;
                let message_id = p.req_i64("message_id")?;
                let conv = self.conversations.get_mut(&(bot_id, chat_id));
                let Some(conv) = conv else {
                    return Err(ApiError::bad_request("message to delete not found"));
                };
                let before = conv.messages.len();
                conv.messages.retain(|m| m.message_id != message_id);
                if conv.messages.len() == before {
                    return Err(ApiError::bad_request("message to delete not found"));
                }
                Ok(json!(true))
            }
            "answerCallbackQuery" => {
                let id = p.req_str("callback_query_id")?;
                match self.callbacks.get_mut(&id) {
                    Some(cb) if cb.bot_id == bot_id && cb.answer.is_none() => {
                        cb.answer = Some(p.as_value());
                        Ok(json!(true))
                    }
                    _ => Err(ApiError::bad_request(
                        "query is too old and response timeout expired or query ID is invalid",
                    )),
                }
            }
            "setMyCommands" => {
                let commands = p
                    .json("commands")?
                    .and_then(|v| v.as_array().cloned())
                    .ok_or_else(|| ApiError::bad_request("can't parse commands JSON object"))?;
                if commands.len() > 100 {
                    return Err(ApiError::bad_request("too many commands"));
                }
                for c in &commands {
                    let name = c["command"].as_str().unwrap_or("");
                    if !valid_name(name) || name.chars().any(|ch| ch.is_ascii_uppercase()) {
                        return Err(ApiError::bad_request("BOT_COMMAND_INVALID"));
                    }
                    let d = c["description"].as_str().unwrap_or("");
                    if d.is_empty() || d.chars().count() > 256 {
                        return Err(ApiError::bad_request("command description must be non-empty"));
                    }
                }
                let key = self.commands_key(bot_id, p, now)?;
                let bot = self.bots.get_mut(&bot_id).expect("caller exists");
                let list: Vec<Value> = commands
                    .iter()
                    .map(|c| json!({ "command": c["command"], "description": c["description"] }))
                    .collect();
                bot.commands.insert(key, Value::Array(list));
                Ok(json!(true))
            }
            "getMyCommands" => {
                let key = self.commands_key(bot_id, p, now)?;
                Ok(self.bots[&bot_id].commands.get(&key).cloned().unwrap_or_else(|| json!([])))
            }
            "deleteMyCommands" => {
                let key = self.commands_key(bot_id, p, now)?;
                self.bots.get_mut(&bot_id).expect("caller exists").commands.remove(&key);
                Ok(json!(true))
            }
            "getChat" => {
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
            "getChatMember" => {
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
            "getChatMemberCount" => {
                let chat_id = self.chat_id_param(p)?;
                let chat = self.chat_of(chat_id)?;
                if chat.info.username.is_none() {
                    self.bot_in_chat(chat, bot_id, now)?;
                }
                Ok(json!(self.member_count(chat_id, now)))
            }
            "getChatAdministrators" => {
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
            "exportChatInviteLink" => {
                let chat_id = self.chat_id_param(p)?;
                self.require_right(
                    chat_id,
                    bot_id,
                    now,
                    |r| r.can_invite_users,
                    "not enough rights to manage chat invite link",
                )?;
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
            "createChatInviteLink" => {
                let chat_id = self.chat_id_param(p)?;
                self.require_right(
                    chat_id,
                    bot_id,
                    now,
                    |r| r.can_invite_users,
                    "not enough rights to manage chat invite link",
                )?;
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
            "editChatInviteLink" | "revokeChatInviteLink" => {
                let chat_id = self.chat_id_param(p)?;
                self.require_right(
                    chat_id,
                    bot_id,
                    now,
                    |r| r.can_invite_users,
                    "not enough rights to manage chat invite link",
                )?;
                let url = p.req_str("invite_link")?;
                let fields = if method == "editChatInviteLink" { Some(Self::link_params(p, now)?) } else { None };
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
                match fields {
                    Some((name, expire_date, member_limit, creates_join_request)) => {
                        if link.is_primary {
                            return Err(ApiError::bad_request("can't edit primary invite link"));
                        }
                        link.name = name;
                        link.expire_date = expire_date;
                        link.member_limit = member_limit;
                        link.creates_join_request = creates_join_request;
                    }
                    None => link.is_revoked = true,
                }
                Ok(self.link_json(chat_id, &url, bot_id))
            }
            "banChatMember" => {
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
                let old = self.change_status(
                    chat_id,
                    user_id,
                    MemberStatus::Kicked { until_date: until },
                    bot_id,
                    None,
                    false,
                    now,
                );
                self.mark_stale(chat_id, user_id, old, now_ms);
                Ok(json!(true))
            }
            "unbanChatMember" => {
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
                match current {
                    MemberStatus::Creator { .. } | MemberStatus::Administrator { .. } => {
                        Err(ApiError::bad_request("user is an administrator of the chat"))
                    }
                    MemberStatus::Kicked { .. } => {
                        let old = self.change_status(chat_id, user_id, MemberStatus::Left, bot_id, None, false, now);
                        self.mark_stale(chat_id, user_id, old, now_ms);
                        Ok(json!(true))
                    }
                    s if s.is_present() && !p.bool("only_if_banned") => {
                        let old = self.change_status(chat_id, user_id, MemberStatus::Left, bot_id, None, false, now);
                        self.mark_stale(chat_id, user_id, old, now_ms);
                        Ok(json!(true))
                    }
                    _ => Ok(json!(true)),
                }
            }
            "approveChatJoinRequest" | "declineChatJoinRequest" => {
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
                if method == "approveChatJoinRequest" {
                    if effective(chat.members.get(&user_id), now).is_present() {
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
                }
                Ok(json!(true))
            }
            "sendInvoice" => {
                let chat_id = self.chat_id_param(p)?;
                let mut invoice = Self::parse_invoice(bot_id, p)?;
                invoice.subscription_period = None;
                let chat = self.message_target(bot_id, chat_id, now)?;
                let markup = Self::parse_markup(p)?;
                let message_id = self.next_message_id(bot_id, chat_id);
                let mut m = json!({
                    "message_id": message_id,
                    "from": self.bots[&bot_id].user_json(),
                    "chat": chat,
                    "date": now,
                    "invoice": {
                        "title": invoice.title,
                        "description": p.str("description").unwrap_or_default(),
                        "start_parameter": p.str("start_parameter").unwrap_or_default(),
                        "currency": invoice.currency,
                        "total_amount": invoice.total_amount,
                    },
                });
                if let Some(markup) = markup {
                    m["reply_markup"] = markup;
                }
                self.record_message(bot_id, chat_id, true, &m);
                self.invoices.insert((bot_id, chat_id, message_id), invoice);
                Ok(m)
            }
            "createInvoiceLink" => {
                let invoice = Self::parse_invoice(bot_id, p)?;
                let url = format!("https://t.me/${}", random_token(22));
                self.invoice_links.insert(url.clone(), invoice);
                Ok(json!(url))
            }
            "answerPreCheckoutQuery" => {
                let id = p.req_str("pre_checkout_query_id")?;
                let ok = p.bool("ok");
                let error_message = p.str("error_message");
                if !ok && error_message.as_deref().is_none_or(str::is_empty) {
                    return Err(ApiError::bad_request("error_message is empty"));
                }
                match self.pending_checkouts.get_mut(&id) {
                    Some(pending) if pending.bot_id == bot_id && pending.answer.is_some() => {
                        let tx = pending.answer.take().expect("checked");
                        let _ = tx.send(if ok { Ok(()) } else { Err(error_message.unwrap_or_default()) });
                        Ok(json!(true))
                    }
                    _ => Err(ApiError::bad_request(
                        "query is too old and response timeout expired or query ID is invalid",
                    )),
                }
            }
            "refundStarPayment" | "editUserStarSubscription" => {
                let user_id = p.req_i64("user_id")?;
                let charge = p.req_str("telegram_payment_charge_id")?;
                let Some(payment) =
                    self.payments.get_mut(&charge).filter(|x| x.bot_id == bot_id && x.user_id == user_id)
                else {
                    return Err(ApiError::bad_request("CHARGE_NOT_FOUND"));
                };
                if method == "refundStarPayment" {
                    if payment.refunded {
                        return Err(ApiError::bad_request("CHARGE_ALREADY_REFUNDED"));
                    }
                    payment.refunded = true;
                } else {
                    if payment.subscription_period.is_none() {
                        return Err(ApiError::bad_request("SUBSCRIPTION_ID_INVALID"));
                    }
                    if !p.has("is_canceled") {
                        return Err(ApiError::missing("is_canceled"));
                    }
                    let canceled = p.bool("is_canceled");
                    let period = payment.subscription_period;
                    // The flag belongs to the subscription: every charge of it shares it.
                    let first = payment.clone();
                    for x in self.payments.values_mut().filter(|x| {
                        x.bot_id == first.bot_id
                            && x.user_id == first.user_id
                            && x.invoice_payload == first.invoice_payload
                            && x.subscription_period == period
                    }) {
                        x.subscription_canceled = canceled;
                    }
                }
                Ok(json!(true))
            }
            _ => Err(ApiError::not_found()),
        }
    }

    fn allowed_param(p: &crate::params::Params) -> Result<Option<Vec<String>>, ApiError> {
        match p.json("allowed_updates")? {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())),
            Some(_) => Err(ApiError::bad_request("can't parse allowed_updates JSON array")),
        }
    }

    fn commands_key(&self, _bot_id: i64, p: &crate::params::Params, _now: i64) -> Result<String, ApiError> {
        let scope = p.json("scope")?.unwrap_or_else(|| json!({ "type": "default" }));
        let kind = scope["type"].as_str().unwrap_or("");
        let known = [
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            "chat",
            "chat_administrators",
            "chat_member",
        ];
        if !known.contains(&kind) {
            return Err(ApiError::bad_request("can't parse BotCommandScope: unsupported type"));
        }
        if kind.starts_with("chat") && scope.get("chat_id").is_none() {
            return Err(ApiError::bad_request("chat_id is empty"));
        }
        let lang = p.str("language_code").unwrap_or_default();
        let chat = scope.get("chat_id").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let user = scope.get("user_id").map(Value::to_string);
        Ok(format!("{kind}|{}|{}|{lang}", chat.unwrap_or_default(), user.unwrap_or_default()))
    }

    fn mark_stale(&mut self, chat_id: i64, user_id: i64, old: MemberStatus, now_ms: i64) {
        let secs = self.settings.stale_chat_member_secs;
        if secs > 0 {
            self.stale.insert((chat_id, user_id), (old, now_ms + secs as i64 * 1_000));
        }
    }

    fn get_updates(&mut self, bot_id: i64, p: &crate::params::Params) -> Result<Value, ApiError> {
        let allowed = Self::allowed_param(p)?;
        let offset = p.i64("offset")?.unwrap_or(0);
        let limit = p.i64("limit")?.unwrap_or(100).clamp(1, 100) as usize;
        let bot = self.bots.get_mut(&bot_id).expect("caller exists");
        if !bot.webhook_url.is_empty() {
            return Err(ApiError::new(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            ));
        }
        if let Some(a) = allowed {
            bot.allowed_updates = Some(a);
        }
        let before = bot.queue.len();
        if offset > 0 {
            bot.queue.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
        } else if offset < 0 {
            let keep = (-offset) as usize;
            while bot.queue.len() > keep {
                bot.queue.pop_front();
            }
        }
        if bot.queue.len() != before {
            bot.changed.notify_waiters();
        }
        Ok(Value::Array(bot.queue.iter().take(limit).cloned().collect()))
    }

    pub(crate) fn member_count(&self, chat_id: i64, now: i64) -> u32 {
        self.chats
            .get(&chat_id)
            .map_or(0, |c| c.members.values().filter(|m| effective(Some(m), now).is_present()).count() as u32)
    }

    // ------------------------------------------------------------------ control: memberships

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

    fn link_view(&self, chat: &Chat, l: &Link, now: i64) -> LinkView {
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

    // ------------------------------------------------------------------ control: user actions

    fn user_checked(&self, user_id: i64) -> Result<&User, ControlError> {
        self.users.get(&user_id).ok_or_else(|| ControlError::not_found(format!("user {user_id}")))
    }

    fn bot_checked(&self, bot_id: i64) -> Result<&Bot, ControlError> {
        self.bots.get(&bot_id).ok_or_else(|| ControlError::not_found(format!("bot {bot_id}")))
    }

    /// Sends the `my_chat_member` update of a private chat (block / unblock).
    fn private_status_update(&mut self, user_id: i64, bot_id: i64, old: MemberStatus, new: MemberStatus, now: i64) {
        let user = &self.users[&user_id].info;
        let bot_json = self.bots[&bot_id].user_json();
        let v = json!({
            "chat": private_chat_json(user),
            "from": user_json(user),
            "date": now,
            "old_chat_member": member_json(bot_json.clone(), &old, false),
            "new_chat_member": member_json(bot_json, &new, false),
        });
        self.emit(bot_id, "my_chat_member", v);
    }

    pub(crate) fn user_sends(
        &mut self,
        user_id: i64,
        bot_id: i64,
        text: &str,
        now: i64,
    ) -> Result<MessageRecord, ControlError> {
        self.bot_checked(bot_id)?;
        self.user_checked(user_id)?;
        if text.is_empty() {
            return Err(ControlError::invalid("text is empty"));
        }
        let user = self.users.get_mut(&user_id).expect("checked");
        user.started.insert(bot_id);
        if user.blocked.remove(&bot_id) {
            self.private_status_update(
                user_id,
                bot_id,
                MemberStatus::Kicked { until_date: 0 },
                MemberStatus::Member { until_date: None },
                now,
            );
        }
        let info = self.users[&user_id].info.clone();
        let message_id = self.next_message_id(bot_id, user_id);
        let mut m = json!({
            "message_id": message_id,
            "from": user_json(&info),
            "chat": private_chat_json(&info),
            "date": now,
            "text": text,
        });
        if text.starts_with('/') {
            let len = text.find(char::is_whitespace).unwrap_or(text.len());
            m["entities"] =
                json!([{ "type": "bot_command", "offset": 0, "length": text[..len].encode_utf16().count() }]);
        }
        self.record_message(bot_id, user_id, false, &m);
        self.emit(bot_id, "message", m.clone());
        Ok(self.conversations[&(bot_id, user_id)].messages.last().cloned().expect("just recorded"))
    }

    pub(crate) fn user_presses(
        &mut self,
        user_id: i64,
        bot_id: i64,
        message_id: i64,
        data: &str,
    ) -> Result<String, ControlError> {
        self.bot_checked(bot_id)?;
        let info = self.user_checked(user_id)?.info.clone();
        let Some(rec) = self
            .conversations
            .get(&(bot_id, user_id))
            .and_then(|c| c.messages.iter().find(|m| m.message_id == message_id && m.from_bot))
        else {
            return Err(ControlError::not_found(format!("message {message_id} from bot {bot_id} to user {user_id}")));
        };
        let has_button = rec.reply_markup.as_ref().is_some_and(|m| {
            m["inline_keyboard"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|row| row.as_array().into_iter().flatten())
                .any(|b| b["callback_data"].as_str() == Some(data))
        });
        if !has_button {
            return Err(ControlError::conflict(
                "BUTTON_NOT_FOUND",
                format!("message {message_id} has no button with callback_data {data:?}"),
            ));
        }
        let message = rec.message.clone();
        let id = random_digits();
        self.callbacks.insert(id.clone(), CallbackRecord { bot_id, answer: None });
        let v = json!({
            "id": id,
            "from": user_json(&info),
            "message": message,
            "chat_instance": format!("{}", (bot_id ^ user_id).rem_euclid(i64::MAX)),
            "data": data,
        });
        self.emit(bot_id, "callback_query", v);
        Ok(id)
    }

    pub(crate) fn callback_answer(&self, id: &str) -> Option<Option<Value>> {
        self.callbacks.get(id).map(|c| c.answer.clone())
    }

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

    pub(crate) fn user_blocks(&mut self, user_id: i64, bot_id: i64, block: bool, now: i64) -> Result<(), ControlError> {
        self.bot_checked(bot_id)?;
        self.user_checked(user_id)?;
        let user = self.users.get_mut(&user_id).expect("checked");
        let changed = if block { user.blocked.insert(bot_id) } else { user.blocked.remove(&bot_id) };
        if changed {
            let (old, new) = if block {
                (MemberStatus::Member { until_date: None }, MemberStatus::Kicked { until_date: 0 })
            } else {
                (MemberStatus::Kicked { until_date: 0 }, MemberStatus::Member { until_date: None })
            };
            self.private_status_update(user_id, bot_id, old, new, now);
        }
        Ok(())
    }

    pub(crate) fn messages(&self, bot: Option<i64>, user: Option<i64>) -> Vec<MessageRecord> {
        let mut keys: Vec<&(i64, i64)> = self
            .conversations
            .keys()
            .filter(|(b, c)| bot.is_none_or(|x| x == *b) && user.is_none_or(|x| x == *c))
            .collect();
        keys.sort();
        keys.into_iter().flat_map(|k| self.conversations[k].messages.iter().cloned()).collect()
    }

    // ------------------------------------------------------------------ control: payments

    /// Step one of a payment: sends the pre-checkout query.
    pub(crate) fn begin_payment(
        &mut self,
        user_id: i64,
        req: &PayRequest,
        now: i64,
    ) -> Result<PaymentAttempt, ControlError> {
        self.bot_checked(req.bot_id)?;
        let info = self.user_checked(user_id)?.info.clone();
        let invoice = match (&req.invoice_link, req.message_id) {
            (Some(url), _) => self
                .invoice_links
                .get(url)
                .filter(|i| i.bot_id == req.bot_id)
                .cloned()
                .ok_or_else(|| ControlError::not_found(format!("invoice link {url}")))?,
            (None, Some(mid)) => self
                .invoices
                .get(&(req.bot_id, user_id, mid))
                .cloned()
                .ok_or_else(|| ControlError::not_found(format!("invoice message {mid}")))?,
            (None, None) => return Err(ControlError::invalid("give message_id or invoice_link")),
        };
        let (tx, rx) = oneshot::channel();
        let query_id = random_digits();
        self.pending_checkouts.insert(query_id.clone(), PendingCheckout { bot_id: req.bot_id, answer: Some(tx) });
        let mut v = json!({
            "id": query_id,
            "from": user_json(&info),
            "currency": invoice.currency,
            "total_amount": invoice.total_amount,
            "invoice_payload": invoice.payload,
        });
        if info.language_code.is_none() {
            v["from"]["language_code"] = json!("en");
        }
        self.emit(req.bot_id, "pre_checkout_query", v);
        let _ = now;
        Ok(PaymentAttempt { query_id, answer: rx, invoice, user_id })
    }

    /// Step two: the pre-checkout query was approved; record the payment and tell the bot.
    pub(crate) fn complete_payment(&mut self, attempt: &PaymentAttempt, now: i64) -> PaymentRecord {
        self.pending_checkouts.remove(&attempt.query_id);
        let inv = &attempt.invoice;
        let expiration = inv.subscription_period.map(|p| now + p);
        self.record_payment(attempt.user_id, inv.clone(), expiration, inv.subscription_period.is_some(), now)
    }

    fn record_payment(
        &mut self,
        user_id: i64,
        inv: Invoice,
        expiration: Option<i64>,
        first: bool,
        now: i64,
    ) -> PaymentRecord {
        let charge = format!("stxsim{}", random_token(40));
        let info = self.users[&user_id].info.clone();
        let message_id = self.next_message_id(inv.bot_id, user_id);
        let mut sp = json!({
            "currency": inv.currency,
            "total_amount": inv.total_amount,
            "invoice_payload": inv.payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "",
        });
        if let Some(exp) = expiration {
            sp["subscription_expiration_date"] = json!(exp);
            sp["is_recurring"] = json!(true);
            if first {
                sp["is_first_recurring"] = json!(true);
            }
        }
        let m = json!({
            "message_id": message_id,
            "from": user_json(&info),
            "chat": private_chat_json(&info),
            "date": now,
            "successful_payment": sp,
        });
        self.record_message(inv.bot_id, user_id, false, &m);
        self.users.get_mut(&user_id).expect("exists").started.insert(inv.bot_id);
        let rec = PaymentRecord {
            telegram_payment_charge_id: charge.clone(),
            bot_id: inv.bot_id,
            user_id,
            currency: inv.currency.clone(),
            total_amount: inv.total_amount,
            invoice_payload: inv.payload.clone(),
            subscription_period: inv.subscription_period,
            subscription_expiration_date: expiration,
            is_recurring: expiration.is_some(),
            is_first_recurring: expiration.is_some() && first,
            subscription_canceled: false,
            refunded: false,
            message_id,
        };
        self.payments.insert(charge, rec.clone());
        self.emit(inv.bot_id, "message", m);
        rec
    }

    pub(crate) fn abandon_payment(&mut self, query_id: &str) {
        self.pending_checkouts.remove(query_id);
    }

    /// Charges the next period of a Stars subscription.
    pub(crate) fn renew_subscription(&mut self, charge: &str, now: i64) -> Result<PaymentRecord, ControlError> {
        let prev =
            self.payments.get(charge).cloned().ok_or_else(|| ControlError::not_found(format!("payment {charge}")))?;
        let Some(period) = prev.subscription_period else {
            return Err(ControlError::conflict("NOT_A_SUBSCRIPTION", "the payment is not a subscription"));
        };
        if prev.subscription_canceled {
            return Err(ControlError::conflict("SUBSCRIPTION_CANCELED", "the subscription was cancelled by the bot"));
        }
        if prev.refunded {
            return Err(ControlError::conflict("REFUNDED", "the payment was refunded"));
        }
        let expiration = prev.subscription_expiration_date.unwrap_or(now) + period;
        let inv = Invoice {
            bot_id: prev.bot_id,
            title: String::new(),
            payload: prev.invoice_payload.clone(),
            currency: prev.currency.clone(),
            total_amount: prev.total_amount,
            subscription_period: Some(period),
        };
        Ok(self.record_payment(prev.user_id, inv, Some(expiration), false, now))
    }
}
