//! The args and defaults of `process-telegram-update`; how it runs is in
//! [`crate::catalog::process_telegram_update`].

use serde::{Deserialize, Serialize};

use crate::queue::{JobSpec, Queue};

/// The args: which bot received it, and the update itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessTelegramUpdate {
    /// Telegram's id of the bot the update was sent to.
    pub bot_id: i64,
    /// `update_id`.
    pub update_id: i64,
    /// The whole update.
    pub update: serde_json::Value,
}

impl JobSpec for ProcessTelegramUpdate {
    const KIND: &'static str = "process-telegram-update";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("tg:{}:{}", self.bot_id, self.update_id))
    }
}
