//! The args and defaults of `revoke-link`; how it runs is in
//! [`crate::catalog::revoke_link`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeLink {
    /// `invite_links.id`.
    pub link_id: Uuid,
    /// Why, for the audit trail.
    pub reason: String,
}

impl JobSpec for RevokeLink {
    const KIND: &'static str = "revoke-link";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.link_id.to_string())
    }
}
