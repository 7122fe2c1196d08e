//! The in-process integration tests, one binary (linking one binary instead of one per
//! area saves most of the build on a small machine): each area is a module.

mod bot;
mod broadcast;
mod conformance;
mod console;
mod console_browser;
mod events;
mod fuzz;
mod integrator_api;
mod lifecycle;
mod lifecycle_resilience;
pub mod lost_updates;
mod mcp;
mod membership_page;
mod one_call_removal;
mod operator;
mod owner_setup;
mod payments_access_codes;
mod payments_reminders;
mod payments_signatures;
mod payments_stars;
mod payments_stripe;
mod promise_properties;
mod queue;
mod rate_budgets;
mod rate_limits;
mod reliability;
mod setup_api;
mod wakeup;
mod webhook;
