//! The args and defaults of `cancel-subscription`; how it runs is in
//! [`crate::catalog::cancel_subscription`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelSubscription {
    /// `grants.id` of a Stripe or Stars grant.
    pub grant_id: Uuid,
    /// `true`: no renewal, access until the period ends; `false`: stop it now.
    pub at_period_end: bool,
}

impl JobSpec for CancelSubscription {
    const KIND: &'static str = "cancel-subscription";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.grant_id, if self.at_period_end { "period-end" } else { "now" }))
    }
}
