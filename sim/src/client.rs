//! [`SimClient`]: a typed async client of the control API, so tests need not write JSON.

use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::SimError;
use crate::model::*;
use crate::stripe::{CompleteRequest, EmitRequest, Emitted, StripeAccount, StripeDelivery};

/// Typed client of the simulator's control API (`{base}/sim/...`).
#[derive(Debug, Clone)]
pub struct SimClient {
    base: String,
    http: reqwest::Client,
}

impl SimClient {
    /// A client for the simulator at `base_url` (`http://HOST:PORT`).
    pub fn new(base_url: &str) -> Self {
        Self { base: base_url.trim_end_matches('/').to_string(), http: reqwest::Client::new() }
    }

    /// The simulator's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<Value>) -> Result<T, SimError> {
        let mut req = self.http.request(method, format!("{}/sim{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            return Err(SimError::Control {
                status,
                code: v["error"].as_str().unwrap_or("UNKNOWN").to_string(),
                message: v["message"].as_str().unwrap_or_default().to_string(),
            });
        }
        Ok(resp.json().await?)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, SimError> {
        self.send(Method::GET, path, None).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: impl Serialize) -> Result<T, SimError> {
        self.send(Method::POST, path, Some(json!(body))).await
    }

    async fn put<T: DeserializeOwned>(&self, path: &str, body: impl Serialize) -> Result<T, SimError> {
        self.send(Method::PUT, path, Some(json!(body))).await
    }

    // ---------------------------------------------------------------- world building

    /// Creates a bot.
    pub async fn create_bot(&self, bot: NewBot) -> Result<BotInfo, SimError> {
        self.post("/bots", bot).await
    }

    /// Creates a bot with a username and generated id and token.
    pub async fn create_bot_named(&self, username: &str) -> Result<BotInfo, SimError> {
        self.create_bot(NewBot { username: Some(username.to_string()), ..NewBot::default() }).await
    }

    /// Lists bots.
    pub async fn bots(&self) -> Result<Vec<BotInfo>, SimError> {
        self.get("/bots").await
    }

    /// Creates a user (`id` 0 = generated).
    pub async fn create_user(&self, user: UserInfo) -> Result<UserInfo, SimError> {
        self.post("/users", user).await
    }

    /// Creates a user with a first name and generated id.
    pub async fn create_user_named(&self, first_name: &str) -> Result<UserInfo, SimError> {
        self.create_user(UserInfo { first_name: first_name.to_string(), ..UserInfo::default() }).await
    }

    /// Creates a channel or group (`id` 0 = generated).
    pub async fn create_chat(&self, chat: ChatInfo) -> Result<ChatInfo, SimError> {
        self.post("/chats", chat).await
    }

    /// Creates a private channel (no username) with a generated id.
    pub async fn create_channel(&self, title: &str) -> Result<ChatInfo, SimError> {
        self.create_chat(ChatInfo {
            id: 0,
            kind: ChatKind::Channel,
            title: title.to_string(),
            username: None,
            join_by_request: false,
            description: None,
            creator_id: None,
        })
        .await
    }

    /// Puts a user or bot into a status in a chat (emits the matching updates).
    pub async fn set_member(&self, chat_id: i64, user_id: i64, status: MemberStatus) -> Result<MemberView, SimError> {
        self.post(&format!("/chats/{chat_id}/members"), SetMember { user_id, status }).await
    }

    /// Makes a user or bot an administrator with rights.
    pub async fn add_admin(&self, chat_id: i64, user_id: i64, rights: AdminRights) -> Result<MemberView, SimError> {
        self.set_member(chat_id, user_id, MemberStatus::Administrator { rights, custom_title: None }).await
    }

    /// Makes a user an ordinary member (no invite link).
    pub async fn add_member(&self, chat_id: i64, user_id: i64) -> Result<MemberView, SimError> {
        self.set_member(chat_id, user_id, MemberStatus::Member { until_date: None }).await
    }

    // ---------------------------------------------------------------- world queries

    /// Everything about a chat: members, bans, links with usage, join requests.
    pub async fn chat(&self, chat_id: i64) -> Result<ChatState, SimError> {
        self.get(&format!("/chats/{chat_id}")).await
    }

    /// The status of one user in a chat.
    pub async fn member(&self, chat_id: i64, user_id: i64) -> Result<MemberView, SimError> {
        self.get(&format!("/chats/{chat_id}/members/{user_id}")).await
    }

    /// An invite link with its usage.
    pub async fn link(&self, url: &str) -> Result<LinkView, SimError> {
        let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("url", url).finish();
        self.get(&format!("/links?{q}")).await
    }

    /// Messages of conversations, filtered by bot and/or user (private chat id).
    pub async fn messages(&self, bot_id: Option<i64>, user_id: Option<i64>) -> Result<Vec<MessageRecord>, SimError> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(b) = bot_id {
            q.append_pair("bot", &b.to_string());
        }
        if let Some(u) = user_id {
            q.append_pair("user", &u.to_string());
        }
        self.get(&format!("/messages?{}", q.finish())).await
    }

    /// Messages a user received from a bot.
    pub async fn messages_to(&self, user_id: i64, bot_id: i64) -> Result<Vec<MessageRecord>, SimError> {
        Ok(self.messages(Some(bot_id), Some(user_id)).await?.into_iter().filter(|m| m.from_bot).collect())
    }

    /// Updates generated for a bot (delivered, pending or dropped).
    pub async fn updates(&self, bot_id: i64) -> Result<Vec<UpdateRecord>, SimError> {
        self.get(&format!("/bots/{bot_id}/updates")).await
    }

    /// The call log, filtered.
    pub async fn calls(&self, filter: &CallFilter) -> Result<Vec<CallRecord>, SimError> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(m) = &filter.method {
            q.append_pair("method", m);
        }
        if let Some(b) = filter.bot {
            q.append_pair("bot", &b.to_string());
        }
        if let Some(c) = &filter.chat {
            q.append_pair("chat", c);
        }
        if let Some(s) = filter.since {
            q.append_pair("since", &s.to_string());
        }
        if let Some(s) = filter.after_seq {
            q.append_pair("after_seq", &s.to_string());
        }
        self.get(&format!("/calls?{}", q.finish())).await
    }

    /// Calls of one method (any bot).
    pub async fn calls_of(&self, method: &str) -> Result<Vec<CallRecord>, SimError> {
        self.calls(&CallFilter { method: Some(method.to_string()), ..CallFilter::default() }).await
    }

    /// Counters.
    pub async fn counters(&self) -> Result<Counters, SimError> {
        self.get("/counters").await
    }

    /// Restores the seed world and clears log, counters, faults and payments.
    pub async fn reset(&self) -> Result<(), SimError> {
        self.post::<Value>("/reset", json!({})).await.map(|_| ())
    }

    // ---------------------------------------------------------------- user actions

    /// The user sends a text (or a command such as `/start PAYLOAD`) to a bot.
    pub async fn send_text(&self, user_id: i64, bot_id: i64, text: &str) -> Result<MessageRecord, SimError> {
        self.post(&format!("/users/{user_id}/send"), json!({ "bot_id": bot_id, "text": text })).await
    }

    /// The user sends a bot a text with entities, a photo or a document, maybe as a reply.
    pub async fn send_message(
        &self,
        user_id: i64,
        bot_id: i64,
        message: &UserMessage,
    ) -> Result<MessageRecord, SimError> {
        let mut body = serde_json::to_value(message).unwrap_or_else(|_| json!({}));
        body["bot_id"] = json!(bot_id);
        self.post(&format!("/users/{user_id}/send"), body).await
    }

    /// The user forwards a post of a chat to a bot (a message with `forward_origin`).
    pub async fn forward_from_chat(
        &self,
        user_id: i64,
        bot_id: i64,
        from_chat_id: i64,
        text: &str,
    ) -> Result<MessageRecord, SimError> {
        self.post(
            &format!("/users/{user_id}/forward"),
            json!({ "bot_id": bot_id, "from_chat_id": from_chat_id, "text": text }),
        )
        .await
    }

    /// The user presses an inline button; returns the callback query id.
    pub async fn press_button(
        &self,
        user_id: i64,
        bot_id: i64,
        message_id: i64,
        callback_data: &str,
    ) -> Result<String, SimError> {
        let v: Value = self
            .post(
                &format!("/users/{user_id}/press"),
                json!({ "bot_id": bot_id, "message_id": message_id, "callback_data": callback_data }),
            )
            .await?;
        Ok(v["callback_query_id"].as_str().unwrap_or_default().to_string())
    }

    /// The bot's answer to a callback query (`None` while unanswered).
    pub async fn callback_answer(&self, callback_query_id: &str) -> Result<Option<Value>, SimError> {
        let v: Value = self.get(&format!("/callback_queries/{callback_query_id}")).await?;
        Ok(v.get("answer").cloned().filter(|a| !a.is_null()))
    }

    /// The user opens an invite link (joins, or sends a join request if the link needs one).
    pub async fn join_by_link(&self, user_id: i64, invite_link: &str) -> Result<JoinOutcome, SimError> {
        self.post(&format!("/users/{user_id}/join"), json!({ "invite_link": invite_link })).await
    }

    /// The user joins a public chat by its username.
    pub async fn join_public(&self, user_id: i64, chat_id: i64) -> Result<JoinOutcome, SimError> {
        self.post(&format!("/users/{user_id}/join"), json!({ "chat_id": chat_id })).await
    }

    /// The user sends a join request to a chat (without a link).
    pub async fn request_join(&self, user_id: i64, chat_id: i64) -> Result<JoinOutcome, SimError> {
        self.post(&format!("/users/{user_id}/join_request"), json!({ "chat_id": chat_id })).await
    }

    /// The user leaves a chat.
    pub async fn leave(&self, user_id: i64, chat_id: i64) -> Result<MemberView, SimError> {
        self.post(&format!("/users/{user_id}/leave"), json!({ "chat_id": chat_id })).await
    }

    /// The user blocks a bot.
    pub async fn block(&self, user_id: i64, bot_id: i64) -> Result<(), SimError> {
        self.post::<Value>(&format!("/users/{user_id}/block"), json!({ "bot_id": bot_id })).await.map(|_| ())
    }

    /// The user unblocks a bot.
    pub async fn unblock(&self, user_id: i64, bot_id: i64) -> Result<(), SimError> {
        self.post::<Value>(&format!("/users/{user_id}/unblock"), json!({ "bot_id": bot_id })).await.map(|_| ())
    }

    /// The user pays an invoice with Stars. Resolves once the bot answered the pre-checkout
    /// query (or the timeout passed: `PRE_CHECKOUT_TIMEOUT`; declined: `PRE_CHECKOUT_DECLINED`).
    pub async fn pay(&self, user_id: i64, request: PayRequest) -> Result<PaymentRecord, SimError> {
        self.post(&format!("/users/{user_id}/pay"), request).await
    }

    /// Charges the next period of a Stars subscription (a new `successful_payment`).
    pub async fn renew_subscription(&self, telegram_payment_charge_id: &str) -> Result<PaymentRecord, SimError> {
        self.post(&format!("/payments/{telegram_payment_charge_id}/renew"), json!({})).await
    }

    /// All Stars payments.
    pub async fn payments(&self) -> Result<Vec<PaymentRecord>, SimError> {
        self.get("/payments").await
    }

    // ---------------------------------------------------------------- limits, faults, time

    /// Runtime settings.
    pub async fn settings(&self) -> Result<Settings, SimError> {
        self.get("/settings").await
    }

    /// Replaces the runtime settings.
    pub async fn set_settings(&self, settings: &Settings) -> Result<Settings, SimError> {
        self.put("/settings", settings).await
    }

    /// Turns rate limiting on or off for every bot.
    pub async fn set_rate_limits_enabled(&self, enabled: bool) -> Result<(), SimError> {
        let mut s = self.settings().await?;
        s.rate_limits_enabled = enabled;
        self.set_settings(&s).await.map(|_| ())
    }

    /// Sets how long a pre-checkout query waits for an answer.
    pub async fn set_pre_checkout_timeout(&self, timeout: Duration) -> Result<(), SimError> {
        let mut s = self.settings().await?;
        s.pre_checkout_timeout_ms = timeout.as_millis() as u64;
        self.set_settings(&s).await.map(|_| ())
    }

    /// getChatMember answers the previous status for `secs` seconds after a ban or removal.
    pub async fn set_stale_chat_member(&self, secs: u64) -> Result<(), SimError> {
        let mut s = self.settings().await?;
        s.stale_chat_member_secs = secs;
        self.set_settings(&s).await.map(|_| ())
    }

    /// A bot's rate limits.
    pub async fn rate_limits(&self, bot_id: i64) -> Result<RateLimits, SimError> {
        self.get(&format!("/bots/{bot_id}/rate_limits")).await
    }

    /// Replaces a bot's rate limits.
    pub async fn set_rate_limits(&self, bot_id: i64, limits: &RateLimits) -> Result<RateLimits, SimError> {
        self.put(&format!("/bots/{bot_id}/rate_limits"), limits).await
    }

    /// Adds a fault; returns all faults in force.
    pub async fn add_fault(&self, fault: &Fault) -> Result<Vec<Fault>, SimError> {
        self.post("/faults", fault).await
    }

    /// Faults in force.
    pub async fn faults(&self) -> Result<Vec<Fault>, SimError> {
        self.get("/faults").await
    }

    /// Clears call faults, update faults and stale reads.
    pub async fn clear_faults(&self) -> Result<(), SimError> {
        self.send::<Value>(Method::DELETE, "/faults", None).await.map(|_| ())
    }

    /// Drops or duplicates a bot's next updates.
    pub async fn set_update_faults(&self, bot_id: i64, faults: &UpdateFaults) -> Result<UpdateFaults, SimError> {
        self.post(&format!("/bots/{bot_id}/update_faults"), faults).await
    }

    /// Loses and repeats a bot's updates at standing rates, per kind, from a seed.
    pub async fn set_update_rates(&self, bot_id: i64, rates: &UpdateRates) -> Result<UpdateRates, SimError> {
        self.post(&format!("/bots/{bot_id}/update_rates"), rates).await
    }

    /// Webhook state of a bot.
    pub async fn webhook_state(&self, bot_id: i64) -> Result<WebhookState, SimError> {
        self.get(&format!("/bots/{bot_id}/webhook")).await
    }

    /// Waits until every pending update of the bot was delivered (`TIMEOUT` error otherwise).
    pub async fn wait_idle(&self, bot_id: i64, timeout: Duration) -> Result<WebhookState, SimError> {
        let v: Value = self.get(&format!("/bots/{bot_id}/wait_idle?timeout_ms={}", timeout.as_millis())).await?;
        serde_json::from_value(v["webhook"].clone()).map_err(|e| SimError::Control {
            status: 500,
            code: "BAD_ANSWER".into(),
            message: e.to_string(),
        })
    }

    /// Moves the simulated clock forward; returns the new time (Unix seconds).
    pub async fn advance_clock(&self, seconds: i64) -> Result<i64, SimError> {
        let v: Value = self.post("/clock/advance", json!({ "seconds": seconds })).await?;
        Ok(v["now"].as_i64().unwrap_or(0))
    }

    /// The simulated time (Unix seconds).
    pub async fn now(&self) -> Result<i64, SimError> {
        let v: Value = self.get("/clock").await?;
        Ok(v["now"].as_i64().unwrap_or(0))
    }

    // ---------------------------------------------------------------- Stripe

    /// Registers a Stripe account (secret key) and optionally its webhook endpoint.
    pub async fn add_stripe_account(&self, account: &StripeAccount) -> Result<StripeAccount, SimError> {
        self.post("/stripe/accounts", account).await
    }

    /// Sets the webhook endpoint of a Stripe account.
    pub async fn set_stripe_webhook(&self, api_key: &str, url: &str, secret: &str) -> Result<StripeAccount, SimError> {
        self.put(&format!("/stripe/accounts/{api_key}/webhook"), json!({ "url": url, "secret": secret })).await
    }

    /// Completes a checkout session: emits `checkout.session.completed` (and `invoice.paid`).
    pub async fn complete_checkout(&self, session_id: &str, request: &CompleteRequest) -> Result<Emitted, SimError> {
        self.post(&format!("/stripe/checkout_sessions/{session_id}/complete"), request).await
    }

    /// Emits Stripe events and delivers them to the account's endpoint.
    pub async fn emit_stripe_events(&self, request: &EmitRequest) -> Result<Emitted, SimError> {
        self.post("/stripe/events", request).await
    }

    /// A checkout session as the simulator holds it.
    pub async fn stripe_session(&self, session_id: &str) -> Result<Value, SimError> {
        self.get(&format!("/stripe/checkout_sessions/{session_id}")).await
    }

    /// A subscription as the simulator holds it.
    pub async fn stripe_subscription(&self, subscription_id: &str) -> Result<Value, SimError> {
        self.get(&format!("/stripe/subscriptions/{subscription_id}")).await
    }

    /// Every Stripe webhook delivery attempt.
    pub async fn stripe_deliveries(&self) -> Result<Vec<StripeDelivery>, SimError> {
        self.get("/stripe/deliveries").await
    }
}
