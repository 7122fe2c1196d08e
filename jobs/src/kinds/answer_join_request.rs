//! The args and defaults of `answer-join-request`; how it runs is in
//! [`crate::catalog::answer_join_request`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerJoinRequest {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// Who asks.
    pub telegram_user_id: i64,
    /// The update that carried the request (the idempotency key).
    pub cause: String,
}

impl JobSpec for AnswerJoinRequest {
    const KIND: &'static str = "answer-join-request";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.cause.clone())
    }
}
