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
    /// The creator to tell in the platform bot how the connection went (a token pasted
    /// there); `None` for the integrator API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce: Option<Announce>,
}

/// Whom the platform bot tells how a connection went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announce {
    /// The creator's Telegram user id.
    pub telegram_user_id: i64,
    /// Their client's `language_code`.
    pub language_code: Option<String>,
}

impl JobSpec for ConnectBot {
    const KIND: &'static str = "connect-bot";
    const QUEUE: Queue = Queue::Interactive;
    const MAX_ATTEMPTS: i32 = 8;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.bot_id, self.attempt))
    }
}
