//! Rate limits: sliding windows of accepted calls per bot, per chat and per group.

use std::collections::{HashMap, VecDeque};

use super::World;

/// Sliding windows of accepted calls, for rate limiting.
#[derive(Default)]
pub(crate) struct RateWindows {
    calls: VecDeque<i64>,
    per_chat: HashMap<i64, VecDeque<i64>>,
    per_group: HashMap<i64, VecDeque<i64>>,
}

/// Checks a window: `Err(retry_after_secs)` when `limit` calls already happened in `window_ms`.
fn window_check(w: &mut VecDeque<i64>, limit: u32, window_ms: i64, now_ms: i64) -> Result<(), u64> {
    while w.front().is_some_and(|&t| t <= now_ms - window_ms) {
        w.pop_front();
    }
    if w.len() as u64 >= u64::from(limit) {
        let oldest = w.front().copied().unwrap_or(now_ms);
        let wait_ms = (oldest + window_ms - now_ms).max(1);
        return Err(((wait_ms + 999) / 1000) as u64);
    }
    Ok(())
}

/// Methods that send a message and count against the per-chat and per-group limits.
const MESSAGE_METHODS: &[&str] = &["sendMessage", "sendInvoice", "copyMessage"];

impl World {
    /// Applies the rate limits of `bot_id` to one call. `Err(retry_after)` when over a limit.
    pub(crate) fn check_rate(&mut self, bot_id: i64, method: &str, chat: Option<i64>, now_ms: i64) -> Result<(), u64> {
        if !self.settings.rate_limits_enabled {
            return Ok(());
        }
        let is_group = chat.is_some_and(|c| self.chats.contains_key(&c));
        let Some(bot) = self.bots.get_mut(&bot_id) else {
            return Ok(());
        };
        if !bot.limits.enabled {
            return Ok(());
        }
        let limits = bot.limits.clone();
        let r = &mut bot.rate;
        window_check(&mut r.calls, limits.calls_per_second, 1_000, now_ms)?;
        let message_chat = chat.filter(|_| MESSAGE_METHODS.contains(&method));
        if let Some(c) = message_chat {
            window_check(r.per_chat.entry(c).or_default(), limits.messages_per_second_per_chat, 1_000, now_ms)?;
            if is_group {
                window_check(r.per_group.entry(c).or_default(), limits.messages_per_minute_per_group, 60_000, now_ms)?;
            }
        }
        r.calls.push_back(now_ms);
        if let Some(c) = message_chat {
            r.per_chat.entry(c).or_default().push_back(now_ms);
            if is_group {
                r.per_group.entry(c).or_default().push_back(now_ms);
            }
        }
        Ok(())
    }

    pub(crate) fn count_violation(&mut self, bot_id: i64) {
        self.counters.rate_violations += 1;
        self.counters.per_bot.entry(bot_id).or_default().rate_violations += 1;
    }
}
