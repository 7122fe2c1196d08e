//! The args and defaults of `relay-message` (the support relay); how it runs is in
//! [`crate::catalog::relay_message`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// Copies one message between a subscriber and a staff member (`copyMessage`: text,
/// photos and documents as they were sent), in the interactive lane.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelayMessage {
    /// The project (its bot relays).
    pub project_id: Uuid,
    /// The chat the message is in.
    pub from_chat_id: i64,
    /// The message there.
    pub message_id: i64,
    /// Where the copy goes.
    pub to: i64,
    /// A staff member's chat: the header sent first (who wrote, their subscription);
    /// a reply to it or to the copy goes back to `subscriber`.
    pub header: Option<String>,
    /// The subscriber the copy stands for (`to` is staff) or goes to (`to` is them).
    pub subscriber: i64,
    /// The update relayed (`tg:<bot>:<update_id>`): with `to`, the copy's dedupe key.
    pub cause: String,
}

impl JobSpec for RelayMessage {
    const KIND: &'static str = "relay-message";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.cause, self.to))
    }
}
