//! # gatehouse-sim
//!
//! A Telegram Bot API and Stripe simulator: the peer every Gatehouse end-to-end test, the demo
//! and the benchmarks talk to. It follows the official Bot API semantics (error envelope and
//! descriptions, invite links, bans, member limits, join requests, webhooks, Stars payments),
//! enforces rate limits with real 429s, injects faults, plays users, keeps a call log, and signs
//! and delivers Stripe webhook events exactly as Stripe does.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gatehouse_sim::SimError> {
//! use gatehouse_sim::{Sim, SimConfig};
//! let sim = Sim::start(SimConfig::default()).await?;
//! let client = sim.client();
//! let bot = client.create_bot_named("gate_bot").await?;
//! // Point teloxide at it: Bot::new(&bot.token).set_api_url(sim.base_url().parse()?)
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! * [`server`] — [`SimConfig`], [`Sim::start`], [`SimHandle`], [`serve`]; accept loop, state.
//! * `bot_api` — `/bot<token>/<method>`: parameter parsing, faults, rate limits, call log.
//! * `world` — the simulated world and every Bot API method's semantics:
//!   * `world/mod.rs` — the state (bots, users, chats, links, invoices, …), construction, and
//!     `World::call`, which dispatches each Bot API method to one of the files below.
//!   * `world/setup.rs` — creating bots, users and chats; finding them again.
//!   * `world/access.rs` — resolving `chat_id`; the calling bot's presence and rights in a chat.
//!   * `world/bot.rs` — getMe, logOut, close, set/get/deleteMyCommands.
//!   * `world/updates.rs` — emitting updates; setWebhook, deleteWebhook, getWebhookInfo, getUpdates.
//!   * `world/messages.rs` — sendMessage, editMessageText, copyMessage, deleteMessage, answerCallbackQuery;
//!     users writing to bots, pressing buttons, blocking them.
//!   * `world/chats.rs` — getChat; the control API's view of a chat.
//!   * `world/members.rs` — status changes and their updates; getChatMember, getChatMemberCount,
//!     getChatAdministrators, banChatMember, unbanChatMember; setting members, users leaving.
//!   * `world/joins.rs` — joining by link or username, join requests, approve/declineChatJoinRequest.
//!   * `world/links.rs` — export/create/edit/revokeChatInviteLink; link JSON and control views.
//!   * `world/payments.rs` — sendInvoice, createInvoiceLink, answerPreCheckoutQuery,
//!     refundStarPayment, editUserStarSubscription; users paying, subscriptions renewing.
//!   * `world/rate.rs` — rate-limit windows.
//!   * `world/calls.rs` — the call log, counters and injected faults.
//! * `render` — Telegram JSON shapes built from the world.
//! * `delivery` — webhook delivery workers (ordered, retried with backoff).
//! * `control` — the control API under `/sim`.
//! * [`client`] — [`SimClient`], the typed control client.
//! * [`model`] — plain serde types of the control API.
//! * [`seed`] — the seed world file.
//! * [`stripe`] — Stripe signing, sending, minimal API and event emission.

pub mod client;
pub mod model;
pub mod seed;
pub mod server;
pub mod stripe;

mod bot_api;
mod clock;
mod control;
mod delivery;
mod error;
mod params;
mod render;
mod world;

pub use client::SimClient;
pub use error::SimError;
pub use model::*;
pub use seed::Seed;
pub use server::{Sim, SimConfig, SimHandle, serve};
