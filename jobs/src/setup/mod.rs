//! Setting a project up: the rules behind the integrator API's setup routes and the
//! owner's commands in Telegram, written once. Each function validates what it is
//! given (with stated bounds) and writes on the caller's connection, so the caller
//! picks the transaction; errors say which field is at fault, never a secret.
//!
//! - [`projects`]: a project's handle and name; creating one.
//! - [`bot`]: a bot token as BotFather gives it; connecting the project's bot.
//! - [`plans`]: a plan's terms; creating one; taking it off sale and back.
//! - [`keys`]: minting and creating api keys.
//! - [`codes`]: creating access codes.

pub mod bot;
pub mod codes;
pub mod keys;
pub mod plans;
pub mod projects;

/// Why a setup action was refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Invalid input; the message starts with the field at fault (`name: …`).
    #[error("{0}")]
    Invalid(String),
    /// It conflicts with what exists (a taken handle, a bot of another project).
    #[error("{0}")]
    Conflict(String),
    /// The server lacks a setting it needs (names the setting, never its value).
    #[error("{0}")]
    Misconfigured(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// `Invalid` with a message.
pub(crate) fn invalid(message: impl Into<String>) -> SetupError {
    SetupError::Invalid(message.into())
}
