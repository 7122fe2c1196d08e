//! The args and defaults of `consistency-sweep` (scheduled) fans out to one `sweep-chat` per managed chat,; how it runs is in
//! [`crate::catalog::consistency_sweep`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Periodic, Queue};

/// The scheduled tick.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

impl Periodic for Sweep {
    /// Every 15 minutes: reconcile desired and observed membership.
    const SCHEDULE: &'static str = "30 */15 * * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for Sweep {
    const KIND: &'static str = "consistency-sweep";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.to_rfc3339())
    }
}

/// One chat's sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepChat {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// The sweep it belongs to.
    pub tick: DateTime<Utc>,
}

impl JobSpec for SweepChat {
    const KIND: &'static str = "sweep-chat";
    const QUEUE: Queue = Queue::Bulk;
    /// One getChatMember per known member, under the bot's budget: a large chat takes minutes.
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.chat_id, self.tick.to_rfc3339()))
    }
}
