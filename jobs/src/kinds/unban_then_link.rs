//! The args and defaults of `unban-then-link`; how it runs is in
//! [`crate::catalog::unban_then_link`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnbanThenLink {
    /// `grants.id`.
    pub grant_id: Uuid,
    /// `chats.id`.
    pub chat_id: Uuid,
    /// Empty for the admission itself; else why the link is asked for again (e.g.
    /// `links:<update>` for `/links`): a new key, and the link is sent again.
    #[serde(default)]
    pub reason: String,
}

impl JobSpec for UnbanThenLink {
    const KIND: &'static str = "unban-then-link";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(match self.reason.as_str() {
            "" => format!("{}:{}", self.grant_id, self.chat_id),
            reason => format!("{}:{}:{reason}", self.grant_id, self.chat_id),
        })
    }
}
