//! Membership operations shared by several jobs: who is removed and how, the links that
//! let members in, the rights a bot needs, expiring what is due, and delivering what a
//! member is told. Each takes a [`crate::runtime::JobContext`]; the jobs in
//! [`crate::catalog`] are short calls into these.
//!
//! # Layout
//!
//! - [`removal`]: the kick (one `unbanChatMember` for a member the record knows, else
//!   read, ban, unban; never for administrators or the whitelist), the chat's
//!   administrators read and recorded, revoking a link, revoking a user's open links.
//! - [`links`]: a personal invite link for a grant and chat, issued once per action;
//!   `hand_out`, the one way a member is given a way in (never a link that may be
//!   spent), and the record of a link possibly misused.
//! - [`rights`]: what keeps the bot from managing a chat.
//! - [`expiry`]: grants whose end has passed, expired with their kick enqueued.
//! - [`messages`]: delivering a recorded message once; telling the owner once per key.

pub mod expiry;
pub mod links;
pub mod messages;
pub mod removal;
pub mod rights;
