//! The args and defaults of `send-manager-message`; how it runs is in
//! [`crate::catalog::send_manager_message`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendManagerMessage {
    /// `manager_messages.id`.
    pub message_id: Uuid,
}

impl JobSpec for SendManagerMessage {
    const KIND: &'static str = "send-manager-message";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.message_id.to_string())
    }
}
