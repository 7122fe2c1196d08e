//! `set-owner-commands`: the command list of one staff member's chat with the bot.
//! Owner commands are set with a `chat` scope so that only the owner and their
//! admins see them; everyone else sees the public list. Taking an admin away
//! deletes their scoped list.

use serde_json::json;

pub use crate::kinds::set_owner_commands::SetOwnerCommands;
use crate::runtime::{Job, JobContext};
use crate::{
    queue::JobError,
    texts::{self, Lang},
};

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
