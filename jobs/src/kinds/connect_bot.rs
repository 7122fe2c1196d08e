//! The args and defaults of `connect-bot`; how it runs is in
//! [`crate::catalog::connect_bot`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectBot {
    /// `bots.id`.
    pub bot_id: Uuid,
    /// One per request to connect (a new token is a new attempt).
    pub attempt: Uuid,
}

impl JobSpec for ConnectBot {
    const KIND: &'static str = "connect-bot";
    const QUEUE: Queue = Queue::Interactive;
    const MAX_ATTEMPTS: i32 = 8;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.bot_id, self.attempt))
    }
}
