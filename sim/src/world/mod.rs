//! The simulated Telegram world: bots, users, chats, memberships, invite links, messages,
//! payments, pending updates, the call log, counters, rate-limit windows and faults.
//!
//! Everything lives behind one mutex ([`crate::server::Shared::world`]); no method here awaits.
//!
//! This file holds the state and [`World::call`], which hands each Bot API method to its
//! implementation in a submodule:
//!
//! * `setup` — creating bots, users and chats, and finding them again.
//! * `access` — resolving `chat_id`; what the calling bot may see and do in a chat.
//! * `bot` — getMe, logOut, close, and the bot's command lists.
//! * `updates` — emitting updates; setWebhook, deleteWebhook, getWebhookInfo, getUpdates.
//! * `messages` — sendMessage, editMessageText, copyMessage, deleteMessage, answerCallbackQuery; users
//!   writing to bots, pressing buttons and blocking them.
//! * `chats` — getChat, and the control API's view of a chat.
//! * `members` — status changes and their updates; getChatMember, getChatMemberCount,
//!   getChatAdministrators, banChatMember, unbanChatMember; setting members, users leaving.
//! * `joins` — users joining by link or username, join requests, approve/declineChatJoinRequest.
//! * `links` — invite links: export, create, edit, revoke; their JSON and control views.
//! * `payments` — sendInvoice, createInvoiceLink, answerPreCheckoutQuery, refundStarPayment,
//!   editUserStarSubscription; users paying, subscriptions renewing.
//! * `rate` — rate-limit windows.
//! * `calls` — the call log, counters and injected faults.

mod access;
mod bot;
mod calls;
mod chats;
mod joins;
mod links;
mod members;
mod messages;
mod payments;
mod rate;
mod setup;
mod updates;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use crate::error::ApiError;
use crate::model::*;
use crate::params::Params;
use crate::render::bot_user_json;

use rate::RateWindows;

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
    pub(crate) update_rates: UpdateRates,
    /// Draws for `update_rates`, seeded by it.
    pub(crate) update_draws: rand::rngs::StdRng,
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
    "copyMessage",
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

pub(crate) fn canonical_method(name: &str) -> Option<&'static str> {
    METHODS.iter().copied().find(|m| m.eq_ignore_ascii_case(name))
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

    /// Executes one Bot API method (not getUpdates' waiting, which the HTTP layer does).
    pub(crate) fn call(
        &mut self,
        bot_id: i64,
        method: &str,
        p: &Params,
        now: i64,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        match method {
            "getMe" => self.get_me(bot_id),
            "logOut" | "close" => Self::end_session(),
            "setWebhook" => self.set_webhook(bot_id, p),
            "deleteWebhook" => self.delete_webhook(bot_id, p),
            "getWebhookInfo" => self.get_webhook_info(bot_id),
            "getUpdates" => self.get_updates(bot_id, p),
            "sendMessage" => self.send_message(bot_id, p, now),
            "editMessageText" => self.edit_message_text(bot_id, p, now),
            "copyMessage" => self.copy_message(bot_id, p, now),
            "deleteMessage" => self.delete_message(bot_id, p),
            "answerCallbackQuery" => self.answer_callback_query(bot_id, p),
            "setMyCommands" => self.set_my_commands(bot_id, p, now),
            "getMyCommands" => self.get_my_commands(bot_id, p, now),
            "deleteMyCommands" => self.delete_my_commands(bot_id, p, now),
            "getChat" => self.get_chat(bot_id, p, now),
            "getChatMember" => self.get_chat_member(bot_id, p, now, now_ms),
            "getChatMemberCount" => self.get_chat_member_count(bot_id, p, now),
            "getChatAdministrators" => self.get_chat_administrators(bot_id, p, now),
            "exportChatInviteLink" => self.export_chat_invite_link(bot_id, p, now),
            "createChatInviteLink" => self.create_chat_invite_link(bot_id, p, now),
            "editChatInviteLink" => self.edit_chat_invite_link(bot_id, p, now),
            "revokeChatInviteLink" => self.revoke_chat_invite_link(bot_id, p, now),
            "banChatMember" => self.ban_chat_member(bot_id, p, now, now_ms),
            "unbanChatMember" => self.unban_chat_member(bot_id, p, now, now_ms),
            "approveChatJoinRequest" => self.approve_chat_join_request(bot_id, p, now),
            "declineChatJoinRequest" => self.decline_chat_join_request(bot_id, p, now),
            "sendInvoice" => self.send_invoice(bot_id, p, now),
            "createInvoiceLink" => self.create_invoice_link(bot_id, p),
            "answerPreCheckoutQuery" => self.answer_pre_checkout_query(bot_id, p),
            "refundStarPayment" => self.refund_star_payment(bot_id, p),
            "editUserStarSubscription" => self.edit_user_star_subscription(bot_id, p),
            _ => Err(ApiError::not_found()),
        }
    }
}
