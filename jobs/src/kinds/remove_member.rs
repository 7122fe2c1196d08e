//! The args and defaults of `remove-member`; how it runs is in
//! [`crate::catalog::remove_member`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveMember {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// Who.
    pub telegram_user_id: i64,
    /// Why, for the audit trail.
    pub reason: String,
    /// What caused it (an update, a sweep tick): the idempotency key.
    pub cause: String,
}

impl JobSpec for RemoveMember {
    const KIND: &'static str = "remove-member";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}:{}", self.chat_id, self.telegram_user_id, self.cause))
    }
}
