//! `set-owner-commands`: the command list of one staff member's chat with the bot.
//! Owner commands are set with a `chat` scope so that only the owner and their
//! admins see them; everyone else sees the public list. Taking an admin away
//! deletes their scoped list.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::runtime::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    texts::{self, Lang},
};

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

impl Job for SetOwnerCommands {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let api = ctx.bot_api(self.project_id).await?;
        let scope = json!({"type": "chat", "chat_id": self.telegram_user_id});
        if self.admin {
            api.set_my_commands(&texts::owner_commands(Lang::En), Some(scope)).await?;
        } else {
            api.call::<bool>("deleteMyCommands", json!({"scope": scope})).await?;
        }
        Ok(())
    }
}
