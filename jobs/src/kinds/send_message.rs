//! The args and defaults of `send-message`; how it runs is in
//! [`crate::catalog::send_message`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendMessage {
    /// `outbound_messages.id`.
    pub message_id: Uuid,
}

impl JobSpec for SendMessage {
    const KIND: &'static str = "send-message";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.message_id.to_string())
    }
}

/// The args of `send-notice`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendNotice {
    /// `outbound_messages.id`.
    pub message_id: Uuid,
}

impl JobSpec for SendNotice {
    const KIND: &'static str = "send-notice";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.message_id.to_string())
    }
}
