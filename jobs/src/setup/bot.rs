//! Connecting a project's bot: the token as BotFather gives it, sealed before it is
//! stored, and `connect-bot` (getMe, setWebhook, commands) enqueued with it. Both
//! `PUT /v1/projects/{id}/bot` and a token pasted to the platform bot come here.

use sqlx::PgConnection;
use uuid::Uuid;

use super::SetupError;
use crate::{
    Config, Secret, crypto,
    kinds::connect_bot::{Announce, ConnectBot},
    queue::{self, RunAt},
    store,
};

/// What a malformed token is told (never the token itself).
pub const TOKEN_FORMAT: &str =
    "token: expected a bot token as BotFather gives it: <bot id>:<30 to 64 characters of A-Z, a-z, 0-9, '_' and '-'>";

/// A bot token in the form BotFather gives: `<bot id>:<secret>`. No `Debug`.
pub struct BotToken {
    /// The bot id, before ':'.
    pub telegram_bot_id: i64,
    /// The whole token.
    pub token: Secret<String>,
}

impl BotToken {
    /// Checks the shape ([`crate::telegram::bot_id_of_token`]). The error never contains
    /// the token.
    pub fn parse(token: String) -> Result<Self, SetupError> {
        let token = Secret::new(token.trim().to_string());
        let telegram_bot_id =
            crate::telegram::bot_id_of_token(token.expose()).ok_or_else(|| SetupError::Invalid(TOKEN_FORMAT.into()))?;
        Ok(BotToken { telegram_bot_id, token })
    }
}

/// Stores the sealed token, marks the project's bot `connecting` and enqueues
/// `connect-bot`, on `conn` (pass a transaction). `announce`: the creator to tell in
/// the platform bot how it went. Returns our id of the bot.
pub async fn connect(
    conn: &mut PgConnection,
    config: &Config,
    project_id: Uuid,
    token: &BotToken,
    announce: Option<Announce>,
) -> Result<Uuid, SetupError> {
    // The platform bot is nobody's project bot: its webhook must stay where it is.
    if config.manager_bot.as_ref().is_some_and(|m| m.telegram_bot_id == token.telegram_bot_id) {
        return Err(SetupError::Invalid("token: this is the platform bot's token, not a bot of your own".into()));
    }
    let sealing_key = config.encryption_key().map_err(|e| SetupError::Misconfigured(e.to_string()))?;
    let sealed = crypto::seal(sealing_key, token.token.expose());
    // A bot id is taken only by a claim getMe verified; an unverified claim blocks nobody.
    if store::bots::verified_elsewhere(&mut *conn, token.telegram_bot_id, project_id).await? {
        return Err(SetupError::Conflict("token: this bot is connected to another project".into()));
    }
    // A bot's own limits belong to its verified connection: moving to another bot id
    // leaves none behind on the old one.
    if let Some(old) = store::bots::of_project(&mut *conn, project_id).await?
        && old.telegram_bot_id != token.telegram_bot_id
        && old.verified_at.is_some()
    {
        store::budget::forget_limits(&mut *conn, old.telegram_bot_id).await?;
    }
    let bot_id = store::bots::upsert(&mut *conn, Uuid::new_v4(), project_id, token.telegram_bot_id, &sealed).await?;
    let job = ConnectBot { bot_id, attempt: Uuid::new_v4(), announce };
    queue::enqueue(conn, &job, RunAt::Now).await?;
    tracing::info!(%project_id, %bot_id, telegram_bot_id = token.telegram_bot_id, "bot connecting");
    Ok(bot_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAE_abcdefghijklmnopqrstuvwxyz-0123";

    #[test]
    fn a_token_gives_its_bot_id() {
        let t = BotToken::parse(format!("123456:{SECRET}")).unwrap();
        assert_eq!(t.telegram_bot_id, 123456);
        assert_eq!(t.token.expose(), &format!("123456:{SECRET}"));
    }

    #[test]
    fn a_malformed_token_is_refused_without_being_echoed() {
        for bad in [
            String::new(),
            SECRET.to_string(),
            format!(":{SECRET}"),
            format!("12a:{SECRET}"),
            format!("123:{}", &SECRET[..29]),
            format!("123:{}", "a".repeat(65)),
            format!("123:{SECRET}!"),
            format!("99999999999999999999:{SECRET}"),
            format!("0:{SECRET}"),
            format!("123:{SECRET}:x"),
        ] {
            let Err(SetupError::Invalid(message)) = BotToken::parse(bad.clone()) else {
                panic!("accepted {bad:?}");
            };
            assert!(message.starts_with("token:"));
            assert!(!message.contains(SECRET));
        }
    }
}
