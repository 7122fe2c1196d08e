//! The args and defaults of `ban-subscriber`; how it runs is in
//! [`crate::catalog::ban_subscriber`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BanSubscriber {
    /// The project.
    pub project_id: Uuid,
    /// Who.
    pub telegram_user_id: i64,
    /// `true` to ban, `false` to unban.
    pub ban: bool,
    /// The owner's command that asked (idempotency key).
    pub cause: String,
}

impl JobSpec for BanSubscriber {
    const KIND: &'static str = "ban-subscriber";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.cause.clone())
    }
}
