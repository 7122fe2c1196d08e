//! The args and defaults of `refund-stars-payment`; how it runs is in
//! [`crate::catalog::refund_stars_payment`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundStarsPayment {
    /// Project.
    pub project_id: Uuid,
    /// The payer.
    pub telegram_user_id: i64,
    /// `telegram_payment_charge_id`.
    pub charge_id: String,
}

impl JobSpec for RefundStarsPayment {
    const KIND: &'static str = "refund-stars-payment";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.project_id, self.charge_id))
    }
}
