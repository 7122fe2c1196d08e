//! The args and defaults of `grant-access`; how it runs is in
//! [`crate::catalog::grant_access`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantAccess {
    /// `grants.id`.
    pub grant_id: Uuid,
}

impl JobSpec for GrantAccess {
    const KIND: &'static str = "grant-access";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.grant_id.to_string())
    }
}
