//! The args and defaults of `verify-chat`; how it runs is in
//! [`crate::catalog::verify_chat`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyChat {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// One per request to verify.
    pub attempt: Uuid,
    /// The owner (or admin) to tell in the project's bot what the check found (a chat
    /// added from Telegram); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_to: Option<i64>,
}

impl JobSpec for VerifyChat {
    const KIND: &'static str = "verify-chat";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.chat_id, self.attempt))
    }
}
