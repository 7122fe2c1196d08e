//! Plain serde types of the control API, shared by the server and [`crate::SimClient`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A bot registered in the simulator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BotInfo {
    /// Telegram user id of the bot.
    pub id: i64,
    /// Bot API token (`<id>:<secret>`).
    pub token: String,
    /// Username without `@`.
    pub username: String,
    /// Display name.
    pub first_name: String,
}

/// Request body of `POST /sim/bots`. Every field is optional: a missing id or token is generated.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewBot {
    /// Bot id; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Token; `<id>:<random>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Username; `bot<id>_bot` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Display name; the username when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
}

/// A (human) Telegram user.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserInfo {
    /// User id; generated when absent on creation.
    #[serde(default)]
    pub id: i64,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Username without `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// IETF language tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

/// Kind of a group chat.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// A broadcast channel.
    Channel,
    /// A supergroup.
    Supergroup,
    /// A basic group.
    Group,
}

impl ChatKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChatKind::Channel => "channel",
            ChatKind::Supergroup => "supergroup",
            ChatKind::Group => "group",
        }
    }
}

/// A channel or group. A chat with a `username` is public.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatInfo {
    /// Chat id (`-100…` for channels and supergroups); generated when 0 on creation.
    #[serde(default)]
    pub id: i64,
    /// Channel, supergroup or group.
    #[serde(rename = "type")]
    pub kind: ChatKind,
    /// Title.
    pub title: String,
    /// Public username without `@`; private chat when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// For public chats: joining by username sends a join request instead.
    #[serde(default)]
    pub join_by_request: bool,
    /// Description shown by getChat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Creator (owner) user id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_id: Option<i64>,
}

/// Administrator rights, as in Telegram's `ChatAdministratorRights`. Missing fields are false.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
#[allow(missing_docs)]
pub struct AdminRights {
    pub is_anonymous: bool,
    pub can_manage_chat: bool,
    pub can_delete_messages: bool,
    pub can_manage_video_chats: bool,
    pub can_restrict_members: bool,
    pub can_promote_members: bool,
    pub can_change_info: bool,
    pub can_invite_users: bool,
    pub can_post_stories: bool,
    pub can_edit_stories: bool,
    pub can_delete_stories: bool,
    pub can_post_messages: bool,
    pub can_edit_messages: bool,
    pub can_pin_messages: bool,
    pub can_manage_topics: bool,
}

impl AdminRights {
    /// Every right.
    pub fn all() -> Self {
        Self {
            is_anonymous: false,
            can_manage_chat: true,
            can_delete_messages: true,
            can_manage_video_chats: true,
            can_restrict_members: true,
            can_promote_members: true,
            can_change_info: true,
            can_invite_users: true,
            can_post_stories: true,
            can_edit_stories: true,
            can_delete_stories: true,
            can_post_messages: true,
            can_edit_messages: true,
            can_pin_messages: true,
            can_manage_topics: true,
        }
    }

    /// What a membership bot needs: manage chat, invite users, restrict members, post messages.
    pub fn membership_bot() -> Self {
        Self {
            can_manage_chat: true,
            can_invite_users: true,
            can_restrict_members: true,
            can_post_messages: true,
            ..Self::default()
        }
    }
}

/// The status of a user (or bot) in a chat, tagged by `status` as in Telegram's `ChatMember`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MemberStatus {
    /// Owner of the chat.
    Creator {
        /// Hidden in the member list.
        #[serde(default)]
        is_anonymous: bool,
        /// Custom title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom_title: Option<String>,
    },
    /// Administrator with rights.
    Administrator {
        /// The rights.
        #[serde(default)]
        rights: AdminRights,
        /// Custom title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom_title: Option<String>,
    },
    /// Ordinary member.
    Member {
        /// End of a paid subscription membership, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_date: Option<i64>,
    },
    /// Restricted user.
    Restricted {
        /// Whether the user is still a member.
        #[serde(default = "yes")]
        is_member: bool,
        /// Restriction end (0 = forever).
        #[serde(default)]
        until_date: i64,
    },
    /// Not a member.
    Left,
    /// Banned (`until_date` 0 = forever).
    Kicked {
        /// Ban end in Unix seconds, 0 = forever.
        #[serde(default)]
        until_date: i64,
    },
}

fn yes() -> bool {
    true
}

impl MemberStatus {
    /// The status name Telegram uses.
    pub fn name(&self) -> &'static str {
        match self {
            MemberStatus::Creator { .. } => "creator",
            MemberStatus::Administrator { .. } => "administrator",
            MemberStatus::Member { .. } => "member",
            MemberStatus::Restricted { .. } => "restricted",
            MemberStatus::Left => "left",
            MemberStatus::Kicked { .. } => "kicked",
        }
    }

    /// Whether the user is currently in the chat.
    pub fn is_present(&self) -> bool {
        match self {
            MemberStatus::Creator { .. } | MemberStatus::Administrator { .. } | MemberStatus::Member { .. } => true,
            MemberStatus::Restricted { is_member, .. } => *is_member,
            MemberStatus::Left | MemberStatus::Kicked { .. } => false,
        }
    }

    /// Whether the user is the creator or an administrator.
    pub fn is_admin(&self) -> bool {
        matches!(self, MemberStatus::Creator { .. } | MemberStatus::Administrator { .. })
    }
}

/// Request body of `POST /sim/chats/{chat_id}/members`: put a user or bot into a status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetMember {
    /// User or bot id.
    pub user_id: i64,
    /// The new status (`{"status":"administrator","rights":{…}}`, `{"status":"member"}`…).
    #[serde(flatten)]
    pub status: MemberStatus,
}

/// One row of a chat's member list in world queries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberView {
    /// User or bot id.
    pub user_id: i64,
    /// Whether it is a bot.
    pub is_bot: bool,
    /// Current status (bans past their `until_date` read as `left`).
    #[serde(flatten)]
    pub status: MemberStatus,
    /// Invite link used for the current membership, if joined by link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_via_link: Option<String>,
    /// When the status was last set (Unix seconds).
    pub since: i64,
}

/// An invite link with its usage, as the world sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkView {
    /// Full link.
    pub invite_link: String,
    /// Chat the link belongs to.
    pub chat_id: i64,
    /// Creator (bot or user id).
    pub creator_id: i64,
    /// Name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Expiry (Unix seconds), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_date: Option<i64>,
    /// Simultaneous member limit, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_limit: Option<u32>,
    /// Joins through the link need approval.
    pub creates_join_request: bool,
    /// Primary link of the chat.
    pub is_primary: bool,
    /// Revoked.
    pub is_revoked: bool,
    /// Expired at the current simulated time.
    pub is_expired: bool,
    /// Members now in the chat who joined with this link (what `member_limit` counts).
    pub members_now: u32,
    /// Joins ever made with this link.
    pub joins_total: u32,
    /// Pending join requests made with this link.
    pub pending_join_requests: u32,
}

/// A pending join request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinRequestView {
    /// Requesting user.
    pub user_id: i64,
    /// Link used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_link: Option<String>,
    /// When it was sent.
    pub date: i64,
}

/// Everything the world knows about one chat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatState {
    /// The chat.
    pub chat: ChatInfo,
    /// What `getChatMemberCount` answers.
    pub member_count: u32,
    /// Present members (creator, administrators, members, restricted members).
    pub members: Vec<MemberView>,
    /// Banned users (bans in force only).
    pub banned: Vec<MemberView>,
    /// Users who left or were removed (and are not banned).
    pub left: Vec<MemberView>,
    /// Invite links, oldest first.
    pub links: Vec<LinkView>,
    /// Pending join requests.
    pub join_requests: Vec<JoinRequestView>,
}

/// A message in a chat, as recorded by the world.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageRecord {
    /// The bot whose conversation this is.
    pub bot_id: i64,
    /// Chat id (the user id for private chats).
    pub chat_id: i64,
    /// Message id.
    pub message_id: i64,
    /// Sent by the bot (true) or by the user (false).
    pub from_bot: bool,
    /// Text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Inline keyboard or other reply markup, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<Value>,
    /// The full Telegram `Message` object.
    pub message: Value,
}

/// What a user sends to a bot through the control API: a text (with entities, as a
/// client that formats would send them), a photo or a document with a caption, and
/// optionally as a reply to a message of the conversation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UserMessage {
    /// The text (a message with a photo or document has a caption instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The text's (or caption's) entities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Value>,
    /// Send a photo.
    #[serde(default)]
    pub photo: bool,
    /// Send a document with this file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// The photo's or document's caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The message of the conversation this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_message_id: Option<i64>,
}

/// One Bot API call in the call log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallRecord {
    /// Sequence number, increasing from 1.
    pub seq: u64,
    /// Simulated time of the call (Unix milliseconds).
    pub time_ms: i64,
    /// Calling bot (absent for unknown tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<i64>,
    /// Method in canonical spelling (`sendMessage`), or as sent when unknown.
    pub method: String,
    /// Parameters as received (form and query values are strings).
    pub params: Value,
    /// HTTP status answered (0 when the connection was dropped).
    pub status: u16,
    /// The answer body.
    pub response: Value,
}

/// Filters of `GET /sim/calls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallFilter {
    /// Method name, case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Calling bot id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<i64>,
    /// `chat_id` parameter, compared as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    /// Only calls at or after this simulated time (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Only calls with a sequence number greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<u64>,
}

/// Counters of one bot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BotCounters {
    /// Calls made.
    pub calls: u64,
    /// Calls per canonical method name.
    pub calls_per_method: BTreeMap<String, u64>,
    /// 429 answers (rate limits and injected faults).
    pub too_many_requests: u64,
    /// Calls refused by the rate limiter.
    pub rate_violations: u64,
}

/// Counters of the whole simulator.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counters {
    /// Bot API calls made.
    pub calls: u64,
    /// Calls per canonical method name.
    pub calls_per_method: BTreeMap<String, u64>,
    /// 429 answers (rate limits and injected faults).
    pub too_many_requests: u64,
    /// Calls refused by the rate limiter.
    pub rate_violations: u64,
    /// Per bot id.
    pub per_bot: BTreeMap<i64, BotCounters>,
}

/// Rate limits of one bot. Defaults are Telegram's documented figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RateLimits {
    /// Whether limits apply to this bot (the global switch must be on too).
    pub enabled: bool,
    /// Calls per second, all methods together.
    pub calls_per_second: u32,
    /// Messages per second to one chat.
    pub messages_per_second_per_chat: u32,
    /// Messages per minute to one group, supergroup or channel.
    pub messages_per_minute_per_group: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { enabled: true, calls_per_second: 30, messages_per_second_per_chat: 1, messages_per_minute_per_group: 20 }
    }
}

/// An injected fault on Bot API calls (`POST /sim/faults`).
///
/// A fault matches a call when `method` (case-insensitive, absent = any), `bot_id` (absent =
/// any) and every `when` parameter (compared as text) match. A matching fault first waits
/// `latency_ms`, then drops the connection if `drop_connection`, else answers `error_code` with
/// `description` (and `parameters.retry_after`) if `error_code` is set, else lets the call
/// proceed; with `after_effect` the call is carried out before that answer. It applies
/// `times` times (absent = until cleared).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Fault {
    /// Method name, case-insensitive; any when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only this bot; any when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<i64>,
    /// Parameter values the call must carry, e.g. `{"chat_id": -1001}`.
    pub when: Map<String, Value>,
    /// How many calls it applies to; unlimited when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// HTTP status and `error_code` to answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u16>,
    /// Error description; a Telegram-like default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `parameters.retry_after` of the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Latency added before answering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Close the connection without answering.
    pub drop_connection: bool,
    /// Carry the call out first, then answer with the fault (`drop_connection` or
    /// `error_code`): the effect happened, the caller cannot tell (a worker that died
    /// after its call, a timeout after Telegram acted).
    pub after_effect: bool,
}

/// Update delivery faults of one bot (`POST /sim/bots/{id}/update_faults`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct UpdateFaults {
    /// The next N updates get an `update_id` but are never delivered.
    pub drop_next: u32,
    /// The next N updates are delivered twice (same `update_id`).
    pub duplicate_next: u32,
}

/// Standing loss and repetition of a bot's updates, per update kind
/// (`POST /sim/bots/{id}/update_rates`): each update of a listed kind is lost with
/// probability `lose` and, when not lost, delivered twice with probability `repeat`.
/// The draws come from `seed`, so a run can be repeated exactly. `drop_next` and
/// `duplicate_next` ([`UpdateFaults`]) apply first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct UpdateRates {
    /// Seed of the draws (setting the rates starts the sequence again).
    pub seed: u64,
    /// By update kind (`chat_member`, `chat_join_request`…); kinds not listed are never lost.
    pub kinds: std::collections::BTreeMap<String, KindRates>,
}

/// The rates of one update kind, each from 0 to 1.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct KindRates {
    /// Share of updates lost (given an `update_id`, never delivered).
    pub lose: f64,
    /// Share of the delivered updates delivered twice (same `update_id`).
    pub repeat: f64,
}

impl UpdateRates {
    /// The same rates for each of `kinds`.
    pub fn for_kinds(seed: u64, kinds: &[&str], lose: f64, repeat: f64) -> Self {
        Self { seed, kinds: kinds.iter().map(|k| (k.to_string(), KindRates { lose, repeat })).collect() }
    }
}

/// Result of a user joining a chat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinOutcome {
    /// `joined` or `requested` (the link or chat needs approval).
    pub outcome: String,
    /// The chat.
    pub chat_id: i64,
}

/// A successful Stars payment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentRecord {
    /// Unique charge id.
    pub telegram_payment_charge_id: String,
    /// Receiving bot.
    pub bot_id: i64,
    /// Paying user.
    pub user_id: i64,
    /// Currency (`XTR`).
    pub currency: String,
    /// Amount in Stars.
    pub total_amount: i64,
    /// Invoice payload.
    pub invoice_payload: String,
    /// Subscription period in seconds, for subscription invoices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_period: Option<i64>,
    /// Subscription end, for subscription payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date: Option<i64>,
    /// Part of a subscription.
    pub is_recurring: bool,
    /// First payment of a subscription.
    pub is_first_recurring: bool,
    /// The subscription was cancelled with editUserStarSubscription.
    pub subscription_canceled: bool,
    /// Refunded with refundStarPayment.
    pub refunded: bool,
    /// Message id of the `successful_payment` service message.
    pub message_id: i64,
}

/// What to pay in `POST /sim/users/{id}/pay`: an invoice message or an invoice link.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PayRequest {
    /// Bot that sent the invoice.
    pub bot_id: i64,
    /// Message id of an invoice the bot sent to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// An invoice link created with createInvoiceLink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_link: Option<String>,
}

/// Webhook state of a bot, for assertions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookState {
    /// Webhook URL, empty when none.
    pub url: String,
    /// Updates waiting for delivery (or for getUpdates).
    pub pending: u32,
    /// Updates delivered with a 2xx answer.
    pub delivered: u64,
    /// Delivery attempts that failed.
    pub failed_attempts: u64,
    /// `allowed_updates` in force, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_updates: Option<Vec<String>>,
    /// Last delivery error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_message: Option<String>,
}

/// An update as it was generated for a bot (for assertions on what was sent).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdateRecord {
    /// The bot.
    pub bot_id: i64,
    /// The update id.
    pub update_id: i64,
    /// Kind (`message`, `chat_member`…).
    pub kind: String,
    /// Whether it was dropped by an update fault or rate.
    pub dropped: bool,
    /// Whether it was delivered twice.
    #[serde(default)]
    pub repeated: bool,
    /// The full update.
    pub update: Value,
}

/// Runtime settings (`PUT /sim/settings`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Settings {
    /// Global rate-limit switch.
    pub rate_limits_enabled: bool,
    /// How long a pre-checkout query waits for answerPreCheckoutQuery (Telegram: 10 s).
    pub pre_checkout_timeout_ms: u64,
    /// For this many seconds after a ban (or a removal), getChatMember keeps answering the
    /// previous status. 0 = off.
    pub stale_chat_member_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { rate_limits_enabled: true, pre_checkout_timeout_ms: 10_000, stale_chat_member_secs: 0 }
    }
}
