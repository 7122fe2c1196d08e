//! The in-process integration tests, one binary (linking one binary instead of one per
//! area saves most of the build on a small machine): each area is a module.

mod bot;
mod fuzz;
mod integrator_api;
mod lifecycle;
mod lifecycle_resilience;
mod mcp;
mod payments_access_codes;
mod payments_reminders;
mod payments_signatures;
mod payments_stars;
mod payments_stripe;
mod queue;
mod rate_budgets;
mod rate_limits;
mod reliability;
mod setup_api;
mod webhook;
