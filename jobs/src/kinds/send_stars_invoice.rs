//! The args and defaults of `send-stars-invoice`; how it runs is in
//! [`crate::catalog::send_stars_invoice`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendStarsInvoice {
    /// `checkout_requests.id`.
    pub request_id: Uuid,
}

impl JobSpec for SendStarsInvoice {
    const KIND: &'static str = "send-stars-invoice";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.request_id.to_string())
    }
}
