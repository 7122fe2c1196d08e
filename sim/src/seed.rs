//! The seed world: a JSON file describing the initial bots, users, chats, memberships and
//! Stripe accounts (format in `sim/README.md`). It is applied at start and on every reset.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::model::{ChatInfo, NewBot, SetMember, UserInfo};
use crate::stripe::{StripeAccount, StripeWorld};
use crate::world::World;

/// A chat of the seed with its members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedChat {
    /// The chat itself.
    #[serde(flatten)]
    pub chat: ChatInfo,
    /// Memberships (bots and administrators included), applied in order.
    #[serde(default)]
    pub members: Vec<SetMember>,
}

/// A user who has already started a bot (so the bot may message them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedStarted {
    /// User id.
    pub user_id: i64,
    /// Bot id.
    pub bot_id: i64,
}

/// An initial world.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seed {
    /// Bots.
    #[serde(default)]
    pub bots: Vec<NewBot>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserInfo>,
    /// Channels and groups, with members.
    #[serde(default)]
    pub chats: Vec<SeedChat>,
    /// Private conversations that already exist.
    #[serde(default)]
    pub started: Vec<SeedStarted>,
    /// Stripe accounts with their webhook endpoints.
    #[serde(default)]
    pub stripe_accounts: Vec<StripeAccount>,
}

impl Seed {
    /// Reads a seed file.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|e| SimError::Seed(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// Parses seed JSON.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        serde_json::from_str(text).map_err(|e| SimError::Seed(e.to_string()))
    }

    pub(crate) fn apply(&self, w: &mut World, now: i64) -> Result<(), SimError> {
        let err = |e: crate::error::ControlError| SimError::Seed(e.message);
        for b in &self.bots {
            w.create_bot(b.clone()).map_err(err)?;
        }
        for u in &self.users {
            w.create_user(u.clone()).map_err(err)?;
        }
        for c in &self.chats {
            let info = w.create_chat(c.chat.clone(), now).map_err(err)?;
            for m in &c.members {
                w.set_member(info.id, m.clone(), now).map_err(err)?;
            }
        }
        for s in &self.started {
            let user = w
                .users
                .get_mut(&s.user_id)
                .ok_or_else(|| SimError::Seed(format!("started: unknown user {}", s.user_id)))?;
            user.started.insert(s.bot_id);
        }
        // The seed is the state of the world, not news: no update is pending for it.
        for bot in w.bots.values_mut() {
            bot.queue.clear();
        }
        w.updates.clear();
        Ok(())
    }

    pub(crate) fn apply_stripe(&self, s: &mut StripeWorld) {
        for a in &self.stripe_accounts {
            s.add_account(a.clone());
        }
    }
}
