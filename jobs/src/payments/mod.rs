//! Payments and subscriptions: Stripe, Telegram Stars, access codes and trials all
//! end up as `grants` rows, so the membership lifecycle (links on entitlement,
//! removal when it ends) does the Telegram side.
//!
//! # Layout
//!
//! - [`subscription`]: the state machine (`trialing`, `active`, `past_due`,
//!   `canceled`, `expired`, `banned`) as one pure [`subscription::transition`];
//!   drawn in `docs/subscriptions.md`.
//! - [`entitlement`]: [`entitlement::apply`], the one path by which any payment event
//!   changes a grant: ordering by the provider's event time, the transition, and the
//!   jobs that follow (links, removal).
//! - [`stripe`]: webhook signatures, what each Stripe event means, Checkout Sessions.
//! - [`stars`]: Telegram Stars invoices and their payloads.
//! - [`access_codes`]: [`access_codes::redeem`] and code generation.
//! - [`checkout`]: a request to pay (or start a trial) and the job that carries it out.

pub mod access_codes;
pub mod checkout;
pub mod entitlement;
pub mod stars;
pub mod stripe;
pub mod subscription;

use uuid::Uuid;

/// The deep link that brings a user back to renew a plan:
/// `https://t.me/<bot>?start=plan_<plan uuid>` (≤ 64 characters of payload, §6).
pub fn renewal_link(bot_username: Option<&str>, plan_id: Uuid) -> Option<String> {
    bot_username.filter(|u| !u.is_empty()).map(|u| format!("https://t.me/{u}?start=plan_{plan_id}"))
}
