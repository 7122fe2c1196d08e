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
}

impl JobSpec for VerifyChat {
    const KIND: &'static str = "verify-chat";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.chat_id, self.attempt))
    }
}
