//! Updates: emitting them into a bot's queue, webhooks, getUpdates.

use serde_json::{Value, json};

use super::{Bot, World};
use crate::error::ApiError;
use crate::model::*;
use crate::params::Params;

/// Update kinds Telegram leaves out when `allowed_updates` is empty or was never set.
const NOT_BY_DEFAULT: [&str; 3] = ["chat_member", "message_reaction", "message_reaction_count"];

impl Bot {
    fn allows(&self, kind: &str) -> bool {
        match &self.allowed_updates {
            Some(list) if !list.is_empty() => list.iter().any(|k| k == kind),
            _ => !NOT_BY_DEFAULT.contains(&kind),
        }
    }
}

impl World {
    /// Generates an update for a bot, honouring `allowed_updates` and update faults.
    pub(crate) fn emit(&mut self, bot_id: i64, kind: &str, payload: Value) {
        let Some(bot) = self.bots.get_mut(&bot_id) else {
            return;
        };
        if !bot.allows(kind) {
            return;
        }
        let update_id = bot.next_update_id;
        bot.next_update_id += 1;
        let mut update = json!({ "update_id": update_id });
        update[kind] = payload;
        let rates = bot.update_rates.kinds.get(kind).copied().unwrap_or_default();
        // Both draws are taken for every update of a listed kind, so the sequence of
        // outcomes depends on the seed and the order of updates alone.
        let (lose, repeat) = if rates == KindRates::default() {
            (false, false)
        } else {
            use rand::Rng;
            let (a, b): (f64, f64) = (bot.update_draws.random(), bot.update_draws.random());
            (a < rates.lose, b < rates.repeat)
        };
        let mut repeated = false;
        let dropped = if bot.update_faults.drop_next > 0 {
            bot.update_faults.drop_next -= 1;
            true
        } else {
            lose
        };
        if !dropped {
            bot.queue.push_back(update.clone());
            if bot.update_faults.duplicate_next > 0 {
                bot.update_faults.duplicate_next -= 1;
                repeated = true;
            } else {
                repeated = repeat;
            }
            if repeated {
                bot.queue.push_back(update.clone());
            }
            bot.wake.notify_one();
            bot.changed.notify_waiters();
        }
        self.updates.push_back(UpdateRecord { bot_id, update_id, kind: kind.to_string(), dropped, repeated, update });
        while self.updates.len() > self.call_log_capacity.max(1) {
            self.updates.pop_front();
        }
    }

    /// `setWebhook`.
    pub(super) fn set_webhook(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let url = p.str("url").unwrap_or_default();
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ApiError::bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"));
        }
        let secret = p.str("secret_token").filter(|s| !s.is_empty());
        if let Some(s) = &secret
            && (s.len() > 256 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(ApiError::bad_request("secret token contains unallowed characters"));
        }
        let max_connections = match p.i64("max_connections")? {
            None => 40,
            Some(n) if (1..=100).contains(&n) => n as u32,
            Some(_) => {
                return Err(ApiError::bad_request("bad webhook: max_connections must be between 1 and 100"));
            }
        };
        let allowed = Self::allowed_param(p)?;
        let bot = self.bots.get_mut(&bot_id).expect("caller exists");
        bot.webhook_url = url;
        bot.secret_token = secret;
        bot.max_connections = max_connections;
        if let Some(a) = allowed {
            bot.allowed_updates = Some(a);
        }
        if p.bool("drop_pending_updates") {
            bot.queue.clear();
        }
        bot.last_error = None;
        bot.wake.notify_one();
        bot.changed.notify_waiters();
        Ok(json!(true))
    }

    /// `deleteWebhook`.
    pub(super) fn delete_webhook(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let bot = self.bots.get_mut(&bot_id).expect("caller exists");
        bot.webhook_url.clear();
        bot.secret_token = None;
        if p.bool("drop_pending_updates") {
            bot.queue.clear();
        }
        bot.changed.notify_waiters();
        Ok(json!(true))
    }

    /// `getWebhookInfo`.
    pub(super) fn get_webhook_info(&self, bot_id: i64) -> Result<Value, ApiError> {
        let bot = &self.bots[&bot_id];
        let mut v = json!({
            "url": bot.webhook_url,
            "has_custom_certificate": false,
            "pending_update_count": bot.queue.len(),
        });
        if !bot.webhook_url.is_empty() {
            v["max_connections"] = json!(bot.max_connections);
            v["ip_address"] = json!("127.0.0.1");
        }
        if let Some(a) = &bot.allowed_updates {
            v["allowed_updates"] = json!(a);
        }
        if let Some((date, msg)) = &bot.last_error {
            v["last_error_date"] = json!(date);
            v["last_error_message"] = json!(msg);
        }
        Ok(v)
    }

    pub(super) fn get_updates(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let allowed = Self::allowed_param(p)?;
        let offset = p.i64("offset")?.unwrap_or(0);
        let limit = p.i64("limit")?.unwrap_or(100).clamp(1, 100) as usize;
        let bot = self.bots.get_mut(&bot_id).expect("caller exists");
        if !bot.webhook_url.is_empty() {
            return Err(ApiError::new(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            ));
        }
        if let Some(a) = allowed {
            bot.allowed_updates = Some(a);
        }
        let before = bot.queue.len();
        if offset > 0 {
            bot.queue.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
        } else if offset < 0 {
            let keep = (-offset) as usize;
            while bot.queue.len() > keep {
                bot.queue.pop_front();
            }
        }
        if bot.queue.len() != before {
            bot.changed.notify_waiters();
        }
        Ok(Value::Array(bot.queue.iter().take(limit).cloned().collect()))
    }

    fn allowed_param(p: &Params) -> Result<Option<Vec<String>>, ApiError> {
        match p.json("allowed_updates")? {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())),
            Some(_) => Err(ApiError::bad_request("can't parse allowed_updates JSON array")),
        }
    }
}
