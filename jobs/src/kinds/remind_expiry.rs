//! The args and defaults of `reminder-scan` (every 10 minutes) finds entitlements that end within one of the; how it runs is in
//! [`crate::catalog::remind_expiry`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Periodic, Queue};

/// The scan's args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReminderScan {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

impl Periodic for ReminderScan {
    /// Every 10 minutes: reminders before access ends (once per grant, end and offset).
    const SCHEDULE: &'static str = "0 3/10 * * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for ReminderScan {
    const KIND: &'static str = "reminder-scan";
    const QUEUE: Queue = Queue::Bulk;
    const MAX_ATTEMPTS: i32 = 3;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.to_rfc3339())
    }
}

/// One reminder's args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemindExpiry {
    /// `grants.id`.
    pub grant_id: Uuid,
    /// The end it is about (a renewal moves the end, and earns new reminders).
    pub ends_at: DateTime<Utc>,
    /// The offset, in days.
    pub days_before: i32,
}

impl JobSpec for RemindExpiry {
    const KIND: &'static str = "remind-expiry";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}:{}", self.grant_id, self.ends_at.timestamp_micros(), self.days_before))
    }
}
