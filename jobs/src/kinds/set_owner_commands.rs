//! The args and defaults of `set-owner-commands`; how it runs is in
//! [`crate::catalog::set_owner_commands`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetOwnerCommands {
    /// The project.
    pub project_id: Uuid,
    /// The owner or admin.
    pub telegram_user_id: i64,
    /// `true`: show the owner commands; `false`: back to the public list.
    pub admin: bool,
}

impl JobSpec for SetOwnerCommands {
    const KIND: &'static str = "set-owner-commands";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        None // the last request wins; setting a list twice is harmless
    }
}
