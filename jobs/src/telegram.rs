//! The Telegram gateway: every Bot API call Gatehouse makes goes through [`BotApi`],
//! which classifies each failure so the job knows what to do:
//!
//! - 429 with `parameters.retry_after` → [`TgError::RateLimited`]: snooze until then;
//! - 5xx, timeouts, connection errors → [`TgError::Transient`]: retry with backoff;
//! - other refusals (400 chat not found, 403 bot blocked or kicked, 401 bad token)
//!   → [`TgError::Rejected`]: another try cannot help;
//! - no room in the bot's shared rate budget within the wait limit → [`TgError::OverBudget`]:
//!   snooze until the budget has room (see [`budget`]).
//!
//! Every call first takes a slot from the bot's rate budget, shared by all worker
//! processes through Postgres ([`budget`]): per bot for every method (ban, unban,
//! invite links and getChatMember included, which teloxide's `Throttle` leaves out),
//! per chat and per group for messages, with interactive work ahead of bulk work.
//!
//! The token travels only in the request path; errors are stripped of the URL so
//! it never reaches a log. (teloxide's transport sleeps 10 s inside a request on a
//! 5xx; this one returns at once and lets the queue decide.)

pub mod budget;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{
    metrics as m,
    queue::{JobError, Queue},
    secret::Secret,
};
use budget::{Budgets, Lane, Need, NoSlot, SeatCell};

/// Why a Bot API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TgError {
    /// Too many requests: try again after this many seconds.
    #[error("rate limited by Telegram: retry after {retry_after} s ({method})")]
    RateLimited {
        /// `parameters.retry_after`.
        retry_after: u64,
        /// The method called.
        method: &'static str,
    },
    /// The call may succeed if tried again.
    #[error("{method}: {detail}")]
    Transient {
        /// The method called.
        method: &'static str,
        /// What happened.
        detail: String,
    },
    /// Gatehouse's shared budget for the bot (or chat) has no room in time: run the job
    /// again at `run_at` (not a failure, not an attempt).
    #[error("no rate budget for {method} before {until} ({scope})")]
    OverBudget {
        /// When the budget frees.
        until: DateTime<Utc>,
        /// When the job should run again (its place in the bot's plan).
        run_at: DateTime<Utc>,
        /// `bot` or `chat`.
        scope: &'static str,
        /// The method called.
        method: &'static str,
    },
    /// Telegram refused the call for a reason another try does not change.
    #[error("{method}: {code} {description}")]
    Rejected {
        /// The method called.
        method: &'static str,
        /// `error_code`.
        code: u16,
        /// `description`.
        description: String,
    },
}

impl TgError {
    /// Telegram's description, lower-cased, when it refused the call.
    pub fn description(&self) -> Option<String> {
        match self {
            TgError::Rejected { description, .. } => Some(description.to_lowercase()),
            _ => None,
        }
    }

    /// The user blocked the bot (or deleted their account): messages cannot reach them.
    pub fn is_unreachable_user(&self) -> bool {
        matches!(self, TgError::Rejected { code: 403, .. })
            || self.description().is_some_and(|d| d.contains("chat not found") && d.contains("user"))
    }

    /// The target is an administrator of the chat.
    pub fn is_admin_target(&self) -> bool {
        self.description().is_some_and(|d| d.contains("administrator") || d.contains("chat owner"))
    }
}

impl From<TgError> for JobError {
    fn from(e: TgError) -> Self {
        match e {
            TgError::RateLimited { retry_after, .. } => JobError::Snooze {
                // retry_after is Telegram's to set and can be anything: past a day it is
                // taken as a day, and the job looks again then.
                until: crate::clock::plus_secs(Utc::now(), retry_after.clamp(1, MAX_RETRY_AFTER_SECS) as i64)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
                reason: e.to_string(),
            },
            TgError::OverBudget { run_at, .. } => JobError::Snooze { until: run_at, reason: e.to_string() },
            TgError::Transient { .. } => JobError::Retry(e.to_string()),
            TgError::Rejected { .. } => JobError::Permanent(e.to_string()),
        }
    }
}

/// The longest `retry_after` Gatehouse waits for in one snooze (a day).
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// A bot's Bot API client.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    token: Secret<String>,
    budget: Option<(Arc<Budgets>, Lane)>,
    /// The job's seat at its bot's budget (background lanes), shared by clones.
    seat: Arc<SeatCell>,
}

/// Methods that send a message into a chat: they also spend that chat's budget.
fn is_message(method: &str) -> bool {
    method.starts_with("send") || matches!(method, "copyMessage" | "forwardMessage")
}

/// The numeric `chat_id` of a call, if it has one.
fn chat_of(params: &Value) -> Option<i64> {
    match params.get("chat_id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The bot id of a token in the form BotFather gives, `<bot id>:<secret>`: checks
/// `^[0-9]{1,20}:[A-Za-z0-9_-]{30,64}$` and that the id is a positive 64-bit number.
/// Never echo the token in an error about it.
pub fn bot_id_of_token(token: &str) -> Option<i64> {
    let (id, secret) = token.split_once(':')?;
    let id_ok = (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
    let secret_ok = (30..=64).contains(&secret.len())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !id_ok || !secret_ok {
        return None;
    }
    id.parse::<i64>().ok().filter(|id| *id > 0)
}

/// The HTTP client every job shares (connection pooling; `timeout` per call).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(64)
        .build()
        .expect("the HTTP client builds")
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    result: Option<Value>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

/// A Telegram user, as Gatehouse needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// User id.
    pub id: i64,
    /// True for bots.
    #[serde(default)]
    pub is_bot: bool,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// @username without the @.
    pub username: Option<String>,
    /// IETF language tag of the user's client.
    pub language_code: Option<String>,
}

/// A chat member's status and the rights that matter here.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMember {
    /// creator, administrator, member, restricted, left, kicked.
    pub status: String,
    /// Who.
    pub user: User,
    /// Administrators: may invite.
    #[serde(default)]
    pub can_invite_users: bool,
    /// Administrators: may ban.
    #[serde(default)]
    pub can_restrict_members: bool,
    /// Restricted users: whether they are in the chat.
    #[serde(default)]
    pub is_member: Option<bool>,
}

impl ChatMember {
    /// In the chat right now (any status that counts as inside).
    pub fn is_inside(&self) -> bool {
        match self.status.as_str() {
            "creator" | "administrator" | "member" => true,
            "restricted" => self.is_member.unwrap_or(true),
            _ => false,
        }
    }

    /// An owner or administrator: never removed.
    pub fn is_admin(&self) -> bool {
        matches!(self.status.as_str(), "creator" | "administrator")
    }
}

/// A chat, as `getChat` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    /// Chat id.
    pub id: i64,
    /// private, group, supergroup, channel.
    #[serde(rename = "type")]
    pub kind: String,
    /// Title of a group or channel.
    pub title: Option<String>,
}

/// An invite link.
#[derive(Debug, Clone, Deserialize)]
pub struct InviteLink {
    /// The link.
    pub invite_link: String,
    /// Its name.
    pub name: Option<String>,
    /// When it expires (unix time).
    pub expire_date: Option<i64>,
    /// How many may be inside through it at once.
    pub member_limit: Option<i64>,
}

/// A sent message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Its id in the chat.
    pub message_id: i64,
}

impl BotApi {
    /// A client for the bot with `token`, against `base` (`TELEGRAM_API_URL`).
    pub fn new(http: reqwest::Client, base: &str, token: Secret<String>) -> Self {
        Self { http, base: base.trim_end_matches('/').to_string(), token, budget: None, seat: Arc::default() }
    }

    /// Takes every call from the shared `budgets`, in the lane of `queue` (the queue
    /// of the job making the calls).
    pub fn with_budget(mut self, budgets: Arc<Budgets>, queue: Queue) -> Self {
        self.budget = Some((budgets, Lane::of(queue)));
        self
    }

    /// The bot id: the number before ':' in the token.
    pub fn bot_id(&self) -> Option<i64> {
        self.token.expose().split(':').next()?.parse().ok()
    }

    /// Calls `method` with `params` and parses `result`.
    pub async fn call<T: DeserializeOwned>(&self, method: &'static str, params: Value) -> Result<T, TgError> {
        let result = self.call_budgeted(method, params).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(TgError::RateLimited { .. }) => "rate_limited",
            Err(TgError::OverBudget { .. }) => "over_budget",
            Err(TgError::Transient { .. }) => "transient",
            Err(TgError::Rejected { .. }) => "rejected",
        };
        metrics::counter!(m::TELEGRAM_CALLS, "method" => method, "outcome" => outcome).increment(1);
        result
    }

    async fn call_budgeted<T: DeserializeOwned>(&self, method: &'static str, params: Value) -> Result<T, TgError> {
        let budget = match (&self.budget, self.bot_id()) {
            (Some((budgets, lane)), Some(bot)) => {
                let message_chat = if is_message(method) { chat_of(&params) } else { None };
                Some((budgets, Need { bot, lane: *lane, message_chat }))
            }
            _ => None,
        };
        if let Some((budgets, need)) = &budget {
            match budgets.before_call(*need, &self.seat).await {
                Ok(()) => {}
                Err(NoSlot::Until { until, run_at, scope }) => {
                    return Err(TgError::OverBudget { until, run_at, scope, method });
                }
                Err(NoSlot::Database(e)) => {
                    return Err(TgError::Transient { method, detail: format!("rate budget: database: {e}") });
                }
            }
        }
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose());
        let transient = |detail: String| TgError::Transient { method, detail };
        let response =
            self.http.post(url).json(&params).send().await.map_err(|e| transient(e.without_url().to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transient(e.without_url().to_string()))?;
        let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
        let retry_after = envelope.as_ref().and_then(|e| e.parameters.as_ref()?.retry_after);
        if status.as_u16() == 429 || envelope.as_ref().and_then(|e| e.error_code) == Some(429) {
            // Telegram's to set, so anything: bounded before any arithmetic uses it.
            let retry_after = retry_after.unwrap_or(1).clamp(1, MAX_RETRY_AFTER_SECS);
            if let Some((budgets, need)) = &budget {
                budgets.rate_limited(*need, retry_after).await;
            }
            return Err(TgError::RateLimited { retry_after, method });
        }
        if status.is_server_error() {
            return Err(transient(format!("HTTP {status}")));
        }
        let Some(envelope) = envelope else {
            return Err(transient(format!("HTTP {status}: the answer is not a Bot API envelope")));
        };
        if !envelope.ok {
            let code = envelope.error_code.unwrap_or(status.as_u16());
            let description = envelope.description.unwrap_or_default();
            if code >= 500 {
                return Err(transient(format!("{code} {description}")));
            }
            return Err(TgError::Rejected { method, code, description });
        }
        serde_json::from_value(envelope.result.unwrap_or(Value::Null)).map_err(|e| TgError::Rejected {
            method,
            code: 200,
            description: format!("unexpected result: {e}"),
        })
    }

    /// `getMe`.
    pub async fn get_me(&self) -> Result<User, TgError> {
        self.call("getMe", json!({})).await
    }

    /// `setWebhook`.
    pub async fn set_webhook(&self, url: &str, secret: &str, allowed_updates: &[&str]) -> Result<bool, TgError> {
        self.call(
            "setWebhook",
            json!({"url": url, "secret_token": secret, "allowed_updates": allowed_updates, "max_connections": 40}),
        )
        .await
    }

    /// `setMyCommands`, optionally for one scope.
    pub async fn set_my_commands(&self, commands: &[(&str, &str)], scope: Option<Value>) -> Result<bool, TgError> {
        let commands: Vec<Value> = commands.iter().map(|(c, d)| json!({"command": c, "description": d})).collect();
        let mut params = json!({ "commands": commands });
        if let Some(scope) = scope {
            params["scope"] = scope;
        }
        self.call("setMyCommands", params).await
    }

    /// `getChat`.
    pub async fn get_chat(&self, chat_id: i64) -> Result<Chat, TgError> {
        self.call("getChat", json!({ "chat_id": chat_id })).await
    }

    /// `getChatMember`.
    pub async fn get_chat_member(&self, chat_id: i64, user_id: i64) -> Result<ChatMember, TgError> {
        self.call("getChatMember", json!({ "chat_id": chat_id, "user_id": user_id })).await
    }

    /// `getChatAdministrators` (lists the calling bot, not other bots).
    pub async fn get_chat_administrators(&self, chat_id: i64) -> Result<Vec<ChatMember>, TgError> {
        self.call("getChatAdministrators", json!({ "chat_id": chat_id })).await
    }

    /// `getChatMemberCount`.
    pub async fn get_chat_member_count(&self, chat_id: i64) -> Result<i64, TgError> {
        self.call("getChatMemberCount", json!({ "chat_id": chat_id })).await
    }

    /// `createChatInviteLink` for one person: `member_limit` 1, an expiry, a name.
    pub async fn create_personal_link(
        &self,
        chat_id: i64,
        name: &str,
        expire_date: i64,
    ) -> Result<InviteLink, TgError> {
        self.call(
            "createChatInviteLink",
            json!({ "chat_id": chat_id, "name": name, "expire_date": expire_date, "member_limit": 1 }),
        )
        .await
    }

    /// `createChatInviteLink` that makes joiners ask (no `member_limit`: Telegram
    /// refuses the two together); Gatehouse approves the entitled.
    pub async fn create_join_request_link(
        &self,
        chat_id: i64,
        name: &str,
        expire_date: i64,
    ) -> Result<InviteLink, TgError> {
        self.call(
            "createChatInviteLink",
            json!({ "chat_id": chat_id, "name": name, "expire_date": expire_date, "creates_join_request": true }),
        )
        .await
    }

    /// `revokeChatInviteLink`.
    pub async fn revoke_link(&self, chat_id: i64, link: &str) -> Result<InviteLink, TgError> {
        self.call("revokeChatInviteLink", json!({ "chat_id": chat_id, "invite_link": link })).await
    }

    /// `banChatMember` (forever, until unbanned).
    pub async fn ban(&self, chat_id: i64, user_id: i64) -> Result<bool, TgError> {
        self.call("banChatMember", json!({ "chat_id": chat_id, "user_id": user_id })).await
    }

    /// `unbanChatMember`. With `only_if_banned`, only lifts a ban; without, it also
    /// removes a current member.
    pub async fn unban(&self, chat_id: i64, user_id: i64, only_if_banned: bool) -> Result<bool, TgError> {
        self.call(
            "unbanChatMember",
            json!({ "chat_id": chat_id, "user_id": user_id, "only_if_banned": only_if_banned }),
        )
        .await
    }

    /// `approveChatJoinRequest` or `declineChatJoinRequest`.
    pub async fn answer_join_request(&self, chat_id: i64, user_id: i64, approve: bool) -> Result<bool, TgError> {
        let method = if approve { "approveChatJoinRequest" } else { "declineChatJoinRequest" };
        self.call(method, json!({ "chat_id": chat_id, "user_id": user_id })).await
    }

    /// `sendMessage`, with an optional inline keyboard.
    pub async fn send_message(
        &self,
        chat_id: i64,
        text: &str,
        reply_markup: Option<&Value>,
    ) -> Result<Message, TgError> {
        let mut params = json!({ "chat_id": chat_id, "text": text, "link_preview_options": {"is_disabled": true} });
        if let Some(markup) = reply_markup {
            params["reply_markup"] = markup.clone();
        }
        self.call("sendMessage", params).await
    }
    // ---------------------------------------------------------------- broadcasts and the support relay

    /// `sendMessage` with the sender's formatting (`entities`, as Telegram gave them) and
    /// reply markup, link previews as Telegram makes them.
    pub async fn send_formatted(
        &self,
        chat_id: i64,
        text: &str,
        entities: Option<&Value>,
        reply_markup: Option<&Value>,
    ) -> Result<Message, TgError> {
        let mut params = json!({ "chat_id": chat_id, "text": text });
        if let Some(entities) = entities {
            params["entities"] = entities.clone();
        }
        if let Some(markup) = reply_markup {
            params["reply_markup"] = markup.clone();
        }
        self.call("sendMessage", params).await
    }

    /// `editMessageText` of a bot's message; `reply_markup` `None` removes its keyboard.
    pub async fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: &str,
        reply_markup: Option<&Value>,
    ) -> Result<Value, TgError> {
        let mut params = json!({ "chat_id": chat_id, "message_id": message_id, "text": text,
                                 "link_preview_options": {"is_disabled": true} });
        if let Some(markup) = reply_markup {
            params["reply_markup"] = markup.clone();
        }
        self.call("editMessageText", params).await
    }

    /// `copyMessage`: the message (text, photo, document…) as its sender sent it, without
    /// a link to the original; optionally as a reply to `reply_to` in the target chat.
    pub async fn copy_message(
        &self,
        chat_id: i64,
        from_chat_id: i64,
        message_id: i64,
        reply_to: Option<i64>,
    ) -> Result<Message, TgError> {
        let mut params = json!({ "chat_id": chat_id, "from_chat_id": from_chat_id, "message_id": message_id });
        if let Some(reply_to) = reply_to {
            params["reply_parameters"] = json!({ "message_id": reply_to, "allow_sending_without_reply": true });
        }
        self.call("copyMessage", params).await
    }
}
