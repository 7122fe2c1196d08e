//! The args and defaults of `delete-message`; how it runs is in
//! [`crate::catalog::delete_message`].

use serde::{Deserialize, Serialize};

use crate::queue::{JobSpec, Queue};

/// The args: a message a user sent to one of the bots Gatehouse runs (a bot token
/// pasted to the platform bot), to delete at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteMessage {
    /// Telegram's id of the bot whose chat holds it (the platform bot or a project's).
    pub telegram_bot_id: i64,
    /// The chat.
    pub chat_id: i64,
    /// The message.
    pub message_id: i64,
}

impl JobSpec for DeleteMessage {
    const KIND: &'static str = "delete-message";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}:{}", self.telegram_bot_id, self.chat_id, self.message_id))
    }
}
