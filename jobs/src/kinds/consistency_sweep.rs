//! The args and defaults of `consistency-sweep` (scheduled) fans out to one `sweep-chat` per managed chat,; how it runs is in
//! [`crate::catalog::consistency_sweep`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Periodic, Queue};

/// The scheduled tick.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

/// The time between two sweeps, as [`Sweep`]'s schedule says. A member whose access ends
/// within it is not re-checked by the sweep: the removal that comes first settles them.
pub const SWEEP_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

impl Periodic for Sweep {
    /// Every 15 minutes: reconcile desired and observed membership.
    const SCHEDULE: &'static str = "30 */15 * * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for Sweep {
    const KIND: &'static str = "consistency-sweep";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.to_rfc3339())
    }
}

/// One chat's sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepChat {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// The sweep it belongs to.
    pub tick: DateTime<Utc>,
}

impl JobSpec for SweepChat {
    const KIND: &'static str = "sweep-chat";
    const QUEUE: Queue = Queue::Bulk;
    /// One getChatMember per known member, under the bot's budget: a large chat takes minutes.
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.chat_id, self.tick.to_rfc3339()))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_sweep_interval_is_the_time_between_two_ticks_of_its_schedule() {
        let schedule = cron::Schedule::from_str(Sweep::SCHEDULE).expect("the schedule parses");
        let ticks: Vec<_> = schedule.upcoming(Utc).take(8).collect();
        for pair in ticks.windows(2) {
            assert_eq!(pair[1] - pair[0], SWEEP_INTERVAL, "ticks {} and {}", pair[0], pair[1]);
        }
    }
}
