//! The args and defaults of `redeem-access-code`; how it runs is in
//! [`crate::catalog::redeem_access_code`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedeemAccessCode {
    /// Project.
    pub project_id: Uuid,
    /// The user who sent the code.
    pub telegram_user_id: i64,
    /// Their language.
    pub language_code: Option<String>,
    /// The code.
    pub code: String,
    /// The update that carried it (`tg:<bot>:<update>`): one redemption per update.
    pub cause: String,
}

impl JobSpec for RedeemAccessCode {
    const KIND: &'static str = "redeem-access-code";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.cause.clone())
    }
}
