//! The core of Gatehouse: configuration, the database, the durable queue, the job
//! catalog and the store. Nothing here knows about HTTP routing.
//!
//! # Layout
//!
//! - [`access`]: the abilities an api key can hold, checked on every route that needs one.
//! - [`config`]: typed configuration from the environment; [`secret`]: redacted secrets.
//! - [`db`]: connecting, creating the database, migrations, readiness.
//! - [`queue`]: the three priority queues, [`queue::enqueue`] with idempotency keys,
//!   [`queue::JobError`] (retry, snooze, permanent) and the retry backoff.
//! - [`runtime`]: what every job runs in, below the catalog: the [`runtime::Job`] trait
//!   and [`runtime::JobContext`] (database, clock, Bot API, audit trail).
//! - [`kinds`]: what each job kind is, below every module that enqueues one: its args,
//!   its kind string, queue, attempts and timeout ([`queue::JobSpec`]) and, for periodic
//!   jobs, its schedule ([`queue::Periodic`]). Anything may enqueue a kind; only the
//!   catalog runs one.
//! - [`catalog`]: one file per job kind with its short `run` calling the domain modules,
//!   and the index over them: [`catalog::dispatch`] and the periodic jobs the scheduler
//!   runs. The layers, from the bottom: `store` and `telegram`, `queue` and `runtime`,
//!   `kinds`, the domain (`membership`, `payments`, `conversation`), `catalog`.
//! - [`membership`]: the operations several jobs share: removing a member (a kick),
//!   revoking links, issuing a personal link, the rights a bot needs, expiring what is
//!   due, delivering what a member is told.
//! - [`conversation`]: the membership bot's commands, for subscribers and owners, and
//!   the platform bot where creators sign up (`GATEHOUSE_MANAGER_BOT_TOKEN`).
//! - [`setup`]: the rules of setting a project up (projects, bots, plans, api keys,
//!   access codes), written once for the integrator API and the owner's commands.
//! - [`store`]: all SQL, in small named functions, one module per table or aggregate
//!   (`grants` answers every "who is entitled?" through the SQL functions of migration
//!   `20261201000041_entitlement.sql`); each function takes the caller's executor, so
//!   the caller picks the transaction.
//! - [`telegram`]: the Bot API gateway with classified errors; [`crypto`]: sealed
//!   tokens and hashed keys; [`clock`]: time that tests can move; [`texts`]: what users read.
//! - [`webhooks`]: outbound webhooks: the signature, the guard against private
//!   addresses, the client (the jobs are `catalog::deliver_webhook`).
//! - [`metrics`]: the names of every metric Gatehouse exports; [`money`]: minor units
//!   and their decimal form, by currency.
//! - [`operator`]: the operator's view (`gatehouse jobs`, `gatehouse bots`, `/console`):
//!   job args with secrets redacted, retry, cancel, pause and resume, each audited.
//! - [`payments`]: Stripe, Telegram Stars, access codes, trials and the subscription
//!   state machine (`docs/subscriptions.md`).

#![warn(missing_docs)]

pub mod access;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod crypto;
pub mod db;
pub mod kinds;
pub mod membership;
pub mod metrics;
pub mod money;
pub mod operator;
pub mod payments;
pub mod queue;
pub mod runtime;
pub mod secret;
pub mod setup;
pub mod store;
pub mod telegram;
pub mod texts;
pub mod webhooks;

pub use config::Config;
pub use secret::Secret;
