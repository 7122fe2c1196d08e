//! `connect-manager-bot`: points the platform bot's webhook (`GATEHOUSE_MANAGER_BOT_TOKEN`)
//! at `POST /hooks/manager` with the secret derived from its token, and sets its
//! commands. Every worker start enqueues it; it runs once per configuration.

pub use crate::kinds::connect_manager_bot::ConnectManagerBot;
use crate::runtime::{Job, JobContext};
use crate::{
    config::Config,
    queue::JobError,
    texts::{self, Lang},
};

/// The updates the platform bot asks Telegram for.
pub const MANAGER_UPDATES: &[&str] = &["message", "callback_query"];

impl ConnectManagerBot {
    /// The job for this configuration, if it has a platform bot.
    pub fn for_config(config: &Config) -> Option<Self> {
        use sha2::Digest;
        let manager = config.manager_bot.as_ref()?;
        let digest = sha2::Sha256::new()
            .chain_update(manager.token.expose().as_bytes())
            .chain_update(b"\0")
            .chain_update(config.public_url.as_bytes())
            .finalize();
        Some(Self { configuration: hex::encode(digest) })
    }
}

impl Job for ConnectManagerBot {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(manager) = ctx.config.manager_bot.as_ref() else { return Ok(()) };
        let api = ctx.manager_api()?;
        let me = api.get_me().await?;
        if me.id != manager.telegram_bot_id {
            return Err(JobError::Permanent(format!(
                "GATEHOUSE_MANAGER_BOT_TOKEN belongs to bot {}, not {}",
                me.id, manager.telegram_bot_id
            )));
        }
        let url = format!("{}/hooks/manager", ctx.config.public_url);
        api.set_webhook(&url, manager.webhook_secret().expose(), MANAGER_UPDATES).await?;
        api.set_my_commands(&texts::manager_commands(Lang::En), None).await?;
        let ru = serde_json::json!({"type": "default"});
        api.call::<bool>(
            "setMyCommands",
            serde_json::json!({"commands": commands_json(&texts::manager_commands(Lang::Ru)), "scope": ru, "language_code": "ru"}),
        )
        .await?;
        tracing::info!(bot = me.id, username = ?me.username, "platform bot connected");
        Ok(())
    }
}

fn commands_json(commands: &[(&str, &str)]) -> Vec<serde_json::Value> {
    commands.iter().map(|(c, d)| serde_json::json!({"command": c, "description": d})).collect()
}
