//! The args and defaults of `answer-pre-checkout`; how it runs is in
//! [`crate::catalog::answer_pre_checkout`].

use serde::{Deserialize, Serialize};

use crate::queue::{JobSpec, Queue};

/// The args: the query as Telegram sent it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerPreCheckout {
    /// Telegram's id of the bot.
    pub bot_id: i64,
    /// `pre_checkout_query.id`.
    pub query_id: String,
    /// The payer.
    pub telegram_user_id: i64,
    /// The payer's language.
    pub language_code: Option<String>,
    /// `invoice_payload`.
    pub payload: String,
    /// `currency`.
    pub currency: String,
    /// `total_amount`.
    pub total_amount: i64,
}

impl JobSpec for AnswerPreCheckout {
    const KIND: &'static str = "answer-pre-checkout";
    const QUEUE: Queue = Queue::Interactive;
    // A late answer is useless: a few quick tries only.
    const MAX_ATTEMPTS: i32 = 3;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.bot_id, self.query_id))
    }
}
