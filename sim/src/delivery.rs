//! Webhook delivery: one worker per bot POSTs its updates in order, one at a time, with the
//! `X-Telegram-Bot-Api-Secret-Token` header, and retries a refused update (non-2xx or network
//! error) with exponential backoff before moving on to the next one.

use std::sync::Arc;
use std::time::Duration;

use crate::server::Shared;

pub(crate) async fn run(shared: Arc<Shared>, bot_id: i64, generation: u64) {
    let mut shutdown = shared.shutdown.clone();
    let mut backoff = shared.config.webhook_retry_initial;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let (job, wake) = {
            let w = shared.world.lock().expect("world lock");
            let Some(bot) = w.bots.get(&bot_id).filter(|b| b.generation == generation) else {
                return;
            };
            if w.generation != generation {
                return;
            }
            let job = (!bot.webhook_url.is_empty())
                .then(|| bot.queue.front().cloned())
                .flatten()
                .map(|u| (u, bot.webhook_url.clone(), bot.secret_token.clone()));
            (job, bot.wake.clone())
        };
        let Some((update, url, secret)) = job else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = shutdown.changed() => return,
            }
            continue;
        };
        let mut req = shared.http.post(&url).json(&update);
        if let Some(s) = &secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        let outcome = tokio::select! {
            r = req.send() => r,
            _ = shutdown.changed() => return,
        };
        let error = match outcome {
            Ok(resp) if resp.status().is_success() => None,
            Ok(resp) => Some(format!("Wrong response from the webhook: {}", resp.status())),
            Err(e) if e.is_timeout() => Some("Read timeout expired".to_string()),
            Err(e) if e.is_connect() => Some("Connection refused".to_string()),
            Err(e) => Some(format!("Connection error: {e}")),
        };
        let now = shared.clock.now();
        {
            let mut w = shared.world.lock().expect("world lock");
            let Some(bot) = w.bots.get_mut(&bot_id).filter(|b| b.generation == generation) else {
                return;
            };
            match &error {
                None => {
                    if bot.queue.front() == Some(&update) {
                        bot.queue.pop_front();
                    }
                    bot.delivered += 1;
                }
                Some(msg) => {
                    bot.failed_attempts += 1;
                    bot.last_error = Some((now, msg.clone()));
                }
            }
            bot.changed.notify_waiters();
        }
        match error {
            None => backoff = shared.config.webhook_retry_initial,
            Some(_) => {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(shared.config.webhook_retry_max);
            }
        }
    }
}

/// Waits until the bot's webhook queue is empty (at once when no webhook is set), at most
/// `timeout`. Returns whether it is idle.
pub(crate) async fn wait_idle(shared: &Arc<Shared>, bot_id: i64, timeout: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let changed = {
            let w = shared.world.lock().expect("world lock");
            w.bots.get(&bot_id)?.changed.clone()
        };
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let w = shared.world.lock().expect("world lock");
            let bot = w.bots.get(&bot_id)?;
            // Without a webhook the queue waits for getUpdates: nothing to wait for here.
            if bot.queue.is_empty() || bot.webhook_url.is_empty() {
                return Some(true);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Some(false);
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}
