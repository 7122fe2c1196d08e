//! The args and defaults of `process-stripe-event`; how it runs is in
//! [`crate::catalog::process_stripe_event`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessStripeEvent {
    /// `payment_events.id`.
    pub event_id: Uuid,
}

impl JobSpec for ProcessStripeEvent {
    const KIND: &'static str = "process-stripe-event";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.event_id.to_string())
    }
}
