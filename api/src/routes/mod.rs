//! Route handlers, one module per area.

pub mod compat;
pub mod console;
pub mod health;
pub mod page;
pub mod stripe;
pub mod telegram;
pub mod v1;
