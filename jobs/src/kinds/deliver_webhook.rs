//! The args and defaults of `deliver-webhook`; how it runs is in
//! [`crate::catalog::deliver_webhook`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Periodic, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverWebhook {
    /// The delivery (event × endpoint).
    pub delivery_id: Uuid,
    /// Its round: the microsecond timestamp of the round's start (`window_start`).
    pub round: i64,
    /// Which attempt of the delivery this is (from 1).
    pub attempt: i32,
}

impl JobSpec for DeliverWebhook {
    const KIND: &'static str = "deliver-webhook";
    // Bulk: deliveries never spend Telegram budget, are at least once and minutes late
    // at worst, and must not delay a paying user's reply or a removal.
    const QUEUE: Queue = Queue::Bulk;
    // Attempts of the job itself are for database trouble; failed HTTP attempts are
    // the delivery's own, scheduled by the scan.
    const MAX_ATTEMPTS: i32 = 5;
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}:{}", self.delivery_id, self.round, self.attempt))
    }
}

/// The args: enqueues every delivery attempt that is due.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookRetryScan {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

impl Periodic for WebhookRetryScan {
    /// Every 30 seconds (the shortest retry delay is a minute).
    const SCHEDULE: &'static str = "0/30 * * * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for WebhookRetryScan {
    const KIND: &'static str = "webhook-retry-scan";
    const QUEUE: Queue = Queue::Bulk;
    const MAX_ATTEMPTS: i32 = 3;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.to_rfc3339())
    }
}
