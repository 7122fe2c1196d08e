//! The args and defaults of `connect-manager-bot`; how it runs is in
//! [`crate::catalog::connect_manager_bot`].

use serde::{Deserialize, Serialize};

use crate::queue::{JobSpec, Queue};

/// The args: which configuration it sets up (a digest of the token and the public
/// URL), so that every worker start enqueues it and it runs once per configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectManagerBot {
    /// Hex of SHA-256 over the platform bot's token and `GATEHOUSE_PUBLIC_URL`.
    pub configuration: String,
}

impl JobSpec for ConnectManagerBot {
    const KIND: &'static str = "connect-manager-bot";
    const QUEUE: Queue = Queue::Interactive;
    const MAX_ATTEMPTS: i32 = 8;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.configuration.clone())
    }
}
