//! Route handlers, one module per area.

pub mod compat;
pub mod health;
pub mod stripe;
pub mod telegram;
pub mod v1;
