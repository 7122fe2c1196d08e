//! The args and defaults of `count-members` (daily tick) fans out to one `daily-member-count` per managed; how it runs is in
//! [`crate::catalog::daily_member_count`].

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Periodic, Queue};

/// The daily tick.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountMembers {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

impl Periodic for CountMembers {
    /// Daily, shortly after midnight UTC.
    const SCHEDULE: &'static str = "0 5 0 * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for CountMembers {
    const KIND: &'static str = "count-members";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.date_naive().to_string())
    }
}

/// One chat's count for one day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DailyMemberCount {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// The day counted (UTC).
    pub day: NaiveDate,
}

impl JobSpec for DailyMemberCount {
    const KIND: &'static str = "daily-member-count";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.chat_id, self.day))
    }
}
