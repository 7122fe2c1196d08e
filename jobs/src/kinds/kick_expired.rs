//! The args and defaults of `kick-expired`; how it runs is in
//! [`crate::catalog::kick_expired`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KickExpired {
    /// `grants.id`.
    pub grant_id: Uuid,
    /// The end being acted on: one job per (entitlement, end).
    pub ends_at: DateTime<Utc>,
}

impl JobSpec for KickExpired {
    const KIND: &'static str = "kick-expired";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.grant_id, self.ends_at.timestamp_micros()))
    }
}
