//! Route handlers, one module per area.

pub mod console;
pub mod health;
pub mod stripe;
pub mod telegram;
pub mod v1;
