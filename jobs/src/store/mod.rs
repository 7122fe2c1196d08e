//! All SQL lives here, in small named functions, one module per table (or per
//! aggregate of tables that are only ever read together). Each function takes an
//! executor (`impl PgExecutor`, a pool, or a connection of the caller's transaction),
//! so the caller decides what is written together.
//!
//! # Layout
//!
//! - [`projects`]: `projects` (and the bot's username beside them); [`admins`]:
//!   `project_admins`; [`api_keys`]: `api_keys` and the rate limit's
//!   `api_key_windows`; [`request_keys`]: `request_keys`; [`idempotent_requests`]:
//!   `idempotent_requests` (the answers replayed for an `Idempotency-Key`);
//!   [`stripe_settings`]: `stripe_settings`.
//! - [`bots`]: `bots`; [`chats`]: `chats` and `member_counts`;
//!   [`chat_administrators`]: `chat_administrators`; [`plans`]: `plans` and `plan_chats`.
//! - [`subscribers`]: `subscribers` and `start_payloads`; [`grants`]: `grants`, and
//!   every entitlement question (through the SQL functions `gatehouse_entitles` and
//!   `gatehouse_entitling_state`, migration `20261201000041`).
//! - [`links`]: `invite_links`; [`memberships`]: `memberships`, and what a join needs
//!   to know in one read.
//! - [`payments`]: `payment_events` (Stripe events, Stars charges and refunds);
//!   [`checkouts`]: `checkout_requests`; [`access_codes`]: `access_codes`,
//!   `access_code_redemptions` and `access_tokens`.
//! - [`messages`]: `outbound_messages`; [`audit`]: `audit_log`;
//!   [`manager_messages`]: `manager_messages` (what the platform bot says to creators);
//!   [`dialogs`]: `dialogs` (guided flows in progress, per bot and user).
//! - [`broadcasts`]: `broadcasts` and `broadcast_recipients` (the owner's broadcasts,
//!   each recipient's send); [`support`]: `support_settings`, `support_relays`,
//!   `support_copies` (the support relay).
//! - [`events`]: `events` and `event_sequences`, the one catalog of event types and
//!   the one way an event is written; [`webhooks`]: `webhook_endpoints`,
//!   `webhook_deliveries` and `webhook_attempts`.
//! - [`analytics`]: the integrator API's figures (subscribers, MRR, revenue, daily
//!   member counts), read across grants, payments and `member_counts`.
//! - [`queue`]: `apalis.jobs` and `apalis.workers` (writing a job, snoozes, rescue,
//!   pruning, figures); [`operator`]: what an operator reads and does to the queue
//!   (`job_errors`, `job_throughput`, jobs by state, retry, cancel); [`scheduler`]: the leader's advisory lock; [`budget`]:
//!   `rate_budgets` and `bot_rate_limits`; [`diagnostics`]: `diagnostic_probe_runs`.

pub mod access_codes;
pub mod admins;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod bots;
pub mod broadcasts;
pub mod budget;
pub mod chat_administrators;
pub mod chats;
pub mod checkouts;
pub mod diagnostics;
pub mod dialogs;
pub mod events;
pub mod grants;
pub mod idempotent_requests;
pub mod links;
pub mod manager_messages;
pub mod memberships;
pub mod messages;
pub mod operator;
pub mod payments;
pub mod plans;
pub mod projects;
pub mod queue;
pub mod request_keys;
pub mod scheduler;
pub mod stripe_settings;
pub mod subscribers;
pub mod support;
pub mod webhooks;
