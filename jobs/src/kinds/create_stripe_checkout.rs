//! The args and defaults of `create-stripe-checkout`; how it runs is in
//! [`crate::catalog::create_stripe_checkout`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateStripeCheckout {
    /// `checkout_requests.id`.
    pub request_id: Uuid,
}

impl JobSpec for CreateStripeCheckout {
    const KIND: &'static str = "create-stripe-checkout";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.request_id.to_string())
    }
}
