//! The args and defaults of `issue-invite`; how it runs is in
//! [`crate::catalog::issue_invite`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueInvite {
    /// `grants.id`.
    pub grant_id: Uuid,
    /// `chats.id`.
    pub chat_id: Uuid,
    /// Why a new link is needed (part of the idempotency key: one link per reason).
    pub reason: String,
}

impl JobSpec for IssueInvite {
    const KIND: &'static str = "issue-invite";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}:{}", self.grant_id, self.chat_id, self.reason))
    }
}
