//! The args and defaults of `revoke-misused-link`; how it runs is in
//! [`crate::catalog::revoke_misused_link`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeMisusedLink {
    /// `invite_links.id`.
    pub link_id: Uuid,
    /// Who used it.
    pub intruder: i64,
}

impl JobSpec for RevokeMisusedLink {
    const KIND: &'static str = "revoke-misused-link";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.link_id, self.intruder))
    }
}
