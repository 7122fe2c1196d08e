//! All SQL lives here, in small named functions grouped by what they touch.

pub mod audit;
pub mod bots;
pub mod budget;
pub mod conversation;
pub mod diagnostics;
pub mod lifecycle;
pub mod messages;
pub mod payments;
pub mod queue;
pub mod setup;
