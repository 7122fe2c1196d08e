//! Expiring what is due: grants whose end has passed are marked expired, each in the
//! transaction that enqueues its kick. The kicks of one bot are planned at its pace
//! ([`crate::telegram::budget::Budgets::plan_ahead`]): a mass expiry comes due as the bot's
//! budget can serve it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::kinds::kick_expired::KickExpired;
use crate::runtime::JobContext;
use crate::{
    queue::{self, Enqueued, JobError, RunAt},
    store,
};

/// Grants handled per transaction. Short: the batch's events are numbered in it, and the
/// project's event counter row stays locked until it commits (every job of the project that
/// records an event waits for it: the kicks, and a paying user's grant).
const BATCH: i64 = 100;

/// Calls a kick is planned to make: one per chat of its plan (a removal of a member on
/// record is one call) and the "access ended" notice. A removal that reads first makes
/// more; its job then waits for its slots or is snoozed, as any job is.
fn planned_calls(chats: i64) -> f64 {
    chats.clamp(1, 100) as f64 + 1.0
}

/// Marks every ended entitlement expired and enqueues its kick; returns how many.
pub async fn expire_due(ctx: &JobContext) -> Result<usize, JobError> {
    let mut total = 0;
    loop {
        let due = store::grants::due_expiries(&ctx.pool, ctx.now(), BATCH).await?;
        if due.is_empty() {
            return Ok(total);
        }
        let mut tx = ctx.pool.begin().await?;
        // Expired first (each row locked until the commit, so a scan running at the same
        // time finds them expired and plans nothing), then planned and enqueued.
        let mut expired = Vec::with_capacity(due.len());
        let mut events = Vec::with_capacity(due.len());
        for grant in &due {
            if let Some(event) = store::grants::expire(&mut *tx, grant.grant_id, grant.ends_at).await? {
                events.push(event);
                expired.push(grant);
            }
        }
        let run_at = plan(ctx, &expired).await;
        for grant in &expired {
            let job = KickExpired { grant_id: grant.grant_id, ends_at: grant.ends_at };
            let at = run_at.get(&grant.grant_id).map_or(RunAt::Now, |t| RunAt::At(*t));
            if let Enqueued::New(_) = queue::enqueue(&mut tx, &job, at).await? {
                total += 1;
            }
        }
        // The events last, just before the commit: the project's event counter is locked
        // from the first of them until the commit, not for the whole batch.
        for event in events {
            ctx.event_on(&mut tx, event).await?;
        }
        tx.commit().await?;
        if (due.len() as i64) < BATCH {
            return Ok(total);
        }
    }
}

/// When each kick of the batch should start, per bot at its pace. Best effort: a plan
/// that cannot be read leaves the kicks due now (the budget still paces their calls).
async fn plan(ctx: &JobContext, due: &[&store::grants::DueExpiry]) -> HashMap<Uuid, DateTime<Utc>> {
    let mut by_bot: HashMap<i64, Vec<&store::grants::DueExpiry>> = HashMap::new();
    for &grant in due {
        if let Some(bot) = grant.telegram_bot_id {
            by_bot.entry(bot).or_default().push(grant);
        }
    }
    let mut run_at = HashMap::new();
    for (bot, grants) in by_bot {
        let calls: Vec<f64> = grants.iter().map(|g| planned_calls(g.chats)).collect();
        match ctx.budgets.plan_ahead(bot, &calls).await {
            Ok(times) => run_at.extend(grants.iter().map(|g| g.grant_id).zip(times)),
            Err(e) => tracing::warn!(bot, error = %e, "the kicks could not be planned: due now"),
        }
    }
    run_at
}
