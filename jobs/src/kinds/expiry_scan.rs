//! The args and defaults of `expiry-scan`; how it runs is in
//! [`crate::catalog::expiry_scan`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::queue::{JobSpec, Periodic, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpiryScan {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

impl Periodic for ExpiryScan {
    /// Every minute: entitlements that ended are expired and their members removed.
    const SCHEDULE: &'static str = "0 * * * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for ExpiryScan {
    const KIND: &'static str = "expiry-scan";
    const QUEUE: Queue = Queue::Lifecycle;
    const MAX_ATTEMPTS: i32 = 3;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.to_rfc3339())
    }
}
