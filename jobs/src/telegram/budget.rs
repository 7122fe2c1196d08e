//! The process's side of the rate budgets every worker shares (DESIGN §1 rule 4).
//!
//! Telegram limits a bot token, however many processes call with it, so the budget is
//! in Postgres ([`crate::store::budget`]): a slot schedule per bot. A process does not
//! go there for every call. It *leases* a few of the bot's next slots in one statement
//! (as many as it has callers waiting, at most the next [`BudgetSettings::lease`] of the
//! bot's budget) and hands them out itself; each call sleeps until its slot and goes.
//!
//! The budget is a sliding window, as Telegram counts: a bot may make its limit of calls
//! at once, and never more than its limit within one *window*, a second widened by
//! [`BudgetSettings::headroom_percent`] (5 %: 1.053 s) so that network jitter cannot put
//! two windows' calls into one second at Telegram, whichever worker made them. Consecutive
//! calls of a bot are at least half an average slot apart (17.5 ms at 30/s), so that a burst
//! does not queue at Telegram: a bot with one job in flight makes that job's calls almost
//! back to back, and a saturated bot still runs at one average slot per call.
//!
//! # Lanes
//!
//! Interactive work (a paying user's link, replies) may take any slot. While interactive
//! work runs (an interactive slot within the last [`RESERVE_HOLD`]), lifecycle and bulk
//! work take at most (limit − [`BudgetSettings::interactive_reserve`]) slots per window;
//! when none has run for that long, the reserve is lent to them. Background work leases
//! only the next lease's worth ahead, so an interactive call finds a slot within one lease
//! even while a mass expiry drains, and holds the reserve from then on.
//!
//! # When there is no budget
//!
//! A background job takes one of its bot's *seats* in the process at its first call and
//! keeps it until it ends: four per bot and process keep a bot's budget busy without letting
//! its backlog fill every worker slot (waiting for slots) while other bots wait behind it. A job that finds no seat is snoozed before it makes any call.
//!
//! A call waits in its job at most [`BudgetSettings::max_wait`]. Beyond that it fails with
//! [`NoSlot::Until`] and its job is snoozed: a background job to its place in the bot's
//! *plan* (a cursor that advances by the calls the bot's jobs have been making, per snoozed
//! job), so a backlog
//! of thousands comes due one job after another at the budget's pace instead of all at
//! once; an interactive job to the time the budget frees.
//!
//! # 429
//!
//! A 429 pauses the bot (or the chat, for a message) in Postgres for `retry_after`; every
//! lease respects the pause, so every worker stops within one lease.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::{config::BudgetSettings, metrics as m, queue::Queue, store::budget as store};

/// How late a leased slot may still be used. A window is a second plus the headroom (5 %:
/// 53 ms); a call later than this could crowd the next window's calls into one second
/// together with it, beyond what the rest of the margin absorbs, so its slot is dropped.
const LATE: Duration = Duration::from_millis(20);

/// Budget a snoozed background job is planned to use, in calls, until the bot's jobs have
/// shown what they use (a kick makes three: getChatMember, banChatMember, unbanChatMember).
const PLANNED_CALLS_PER_JOB: f64 = 3.0;

/// How long after an interactive call its bot's interactive reserve is held back from
/// background work. Longer than the gaps between the calls of one interactive job (a link
/// is an unban, an invite link and a message), short enough that a mass expiry gets the
/// whole limit soon after the last user was served.
pub const RESERVE_HOLD: Duration = Duration::from_secs(2);

/// Background jobs of one bot running at once in one process while its budget is
/// contended. A job waits for its bot's slots between its calls; four per process keep a
/// bot's budget busy while jobs do their database work between calls or hand over to the
/// next job (with two, a mass expiry used 0.88 of the limit; with four, see
/// ops/bench/README.md), and leave the other worker slots to other bots instead of to one
/// bot's backlog waiting for slots.
const SEATS_PER_BOT: usize = 4;

/// How long a bot's own limits (`bot_rate_limits`) are kept before they are read again.
const LIMITS_TTL: Duration = Duration::from_secs(30);

/// Which budget a call spends: the lane of its job's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Replies, links for a paying user, pre-checkout answers: may take every slot.
    Interactive,
    /// Lifecycle and bulk work: only above the interactive reserve.
    Background,
}

impl Lane {
    /// The lane of a queue.
    pub fn of(queue: Queue) -> Self {
        match queue {
            Queue::Interactive => Lane::Interactive,
            Queue::Lifecycle | Queue::Bulk => Lane::Background,
        }
    }

    /// The `lane` metric label.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Background => "background",
        }
    }

    fn index(self) -> usize {
        match self {
            Lane::Interactive => 0,
            Lane::Background => 1,
        }
    }
}

/// What a call needs from the budget.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    /// The bot (the number before ':' in its token).
    pub bot: i64,
    /// Its lane.
    pub lane: Lane,
    /// The chat, when the call sends a message there (chat budgets apply).
    pub message_chat: Option<i64>,
}

/// Why a call may not go now.
#[derive(Debug)]
pub enum NoSlot {
    /// No budget before `until` (beyond the wait limit): snooze the job to `run_at`.
    Until {
        /// When the bot (or chat) budget frees.
        until: DateTime<Utc>,
        /// When the job should run again (its place in the plan, for background work).
        run_at: DateTime<Utc>,
        /// `bot` or `chat`.
        scope: &'static str,
    },
    /// The budget could not be read.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for NoSlot {
    fn from(e: sqlx::Error) -> Self {
        NoSlot::Database(e)
    }
}

/// A bot's budget: its limits per window, and the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Calls per window, any lane.
    pub limit: i32,
    /// Calls per window for lifecycle and bulk work while the interactive reserve is held.
    pub background_limit: i32,
    /// The window, in seconds: one second widened by the headroom.
    pub window: f64,
    /// Between two messages to one private chat.
    pub chat_interval: f64,
    /// Between two messages to one group or channel.
    pub group_interval: f64,
}

impl Pace {
    /// The pace of a bot with these limits (its own where set, else the defaults).
    pub fn new(defaults: &BudgetSettings, own: &store::BotLimits) -> Self {
        let pick = |own: Option<i32>, default: u32| own.map_or(default, |v| v.max(0) as u32);
        let calls = pick(own.calls_per_second, defaults.calls_per_second).max(1);
        let reserve = pick(own.interactive_reserve, defaults.interactive_reserve).min(calls - 1);
        let chat = pick(own.chat_messages_per_second, defaults.chat_messages_per_second).max(1);
        let group = pick(own.group_messages_per_minute, defaults.group_messages_per_minute).max(1);
        let share = f64::from(100 - defaults.headroom_percent.min(50)) / 100.0;
        let chat_interval = 1.0 / (f64::from(chat) * share);
        Self {
            limit: calls as i32,
            background_limit: (calls - reserve) as i32,
            window: 1.0 / share,
            chat_interval,
            group_interval: (60.0 / (f64::from(group) * share)).max(chat_interval),
        }
    }

    /// Seconds of budget one call uses when the bot's budget is used in full.
    pub fn interval(&self) -> f64 {
        self.window / f64::from(self.limit)
    }
}

/// A leased slot: when to call, on this process's clock and on the database's.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: Instant,
    db_at: DateTime<Utc>,
}

/// Known to have no room before `retry_at` (local) / `until` (database time).
#[derive(Debug, Clone, Copy)]
struct Busy {
    retry_at: Instant,
    until: DateTime<Utc>,
}

#[derive(Default)]
struct LaneSlots {
    queue: VecDeque<Slot>,
    busy: Option<Busy>,
    /// The last slot leased: while it is ahead of now, callers wait for this bot's budget.
    last_leased: Option<Instant>,
}

#[derive(Default)]
struct LaneState {
    slots: Mutex<LaneSlots>,
    /// Held by the one caller that leases for everyone waiting in this lane.
    fetch: tokio::sync::Mutex<()>,
    waiting: AtomicUsize,
    /// Jobs of this bot holding a seat (background lane).
    seated: AtomicUsize,
}

impl LaneState {
    /// The earliest slot still usable; later-than-usable slots are dropped.
    fn pop(&self, lane: Lane) -> Option<Slot> {
        let mut slots = self.slots.lock().expect("budget lock");
        let now = Instant::now();
        while let Some(slot) = slots.queue.pop_front() {
            if slot.at + LATE >= now {
                return Some(slot);
            }
            metrics::counter!(m::TELEGRAM_BUDGET_SLOTS_WASTED, "lane" => lane.name()).increment(1);
        }
        None
    }

    fn give_back(&self, slot: Slot) {
        if slot.at + LATE >= Instant::now() {
            self.slots.lock().expect("budget lock").queue.push_front(slot);
        }
    }
}

struct BotBudget {
    pace: Mutex<Option<(Pace, Instant)>>,
    lanes: [LaneState; 2],
    /// Calls per background job of this bot, a moving average over the jobs that ended.
    calls_per_job: Mutex<f64>,
}

/// A background job's seat at its bot's budget in this process, held until the job ends.
pub struct Seat {
    bot: Arc<BotBudget>,
    calls: usize,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.bot.lanes[Lane::Background.index()].seated.fetch_sub(1, Ordering::SeqCst);
        if self.calls > 0 {
            let mut average = self.bot.calls_per_job.lock().expect("budget lock");
            *average = 0.8 * *average + 0.2 * self.calls as f64;
        }
    }
}

/// Where a job's client keeps its seat (shared by its clones).
pub type SeatCell = Mutex<Option<Seat>>;

/// Counts a waiting caller for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One process's share of every bot's budget. One per worker process: the leases it holds
/// are its own.
pub struct Budgets {
    pool: PgPool,
    settings: BudgetSettings,
    bots: Mutex<HashMap<i64, Arc<BotBudget>>>,
}

impl Budgets {
    /// Budgets kept in the database behind `pool`, with these defaults.
    pub fn new(pool: PgPool, settings: BudgetSettings) -> Self {
        Self { pool, settings, bots: Mutex::new(HashMap::new()) }
    }

    fn bot(&self, bot: i64) -> Arc<BotBudget> {
        let mut bots = self.bots.lock().expect("budget lock");
        bots.entry(bot)
            .or_insert_with(|| {
                Arc::new(BotBudget {
                    pace: Mutex::new(None),
                    lanes: Default::default(),
                    calls_per_job: Mutex::new(PLANNED_CALLS_PER_JOB),
                })
            })
            .clone()
    }

    /// The bot's pace, read again from `bot_rate_limits` every 30 s.
    pub async fn pace(&self, bot: i64) -> Result<Pace, sqlx::Error> {
        let budget = self.bot(bot);
        if let Some((pace, read_at)) = *budget.pace.lock().expect("budget lock")
            && read_at.elapsed() < LIMITS_TTL
        {
            return Ok(pace);
        }
        let own = store::limits(&self.pool, bot).await?.unwrap_or_default();
        let pace = Pace::new(&self.settings, &own);
        *budget.pace.lock().expect("budget lock") = Some((pace, Instant::now()));
        Ok(pace)
    }

    /// Plans background jobs of a bot that are enqueued together (a mass expiry's kicks),
    /// each making about `calls[i]` calls: when each should start, one after another at the
    /// bot's pace from the next free place in its plan. Jobs planned so come due as the
    /// budget can serve them, so a worker slot does not hold a job that waits for its
    /// bot's next window while other bots' work waits for a slot, and a job is claimed
    /// once instead of being snoozed again and again. Planned at the full limit, as
    /// snoozed jobs are: when interactive work holds its reserve, jobs come a little early
    /// and wait in their job for a slot. A job that costs more than planned is still
    /// served: the seat and the snooze are the fallback.
    pub async fn plan_ahead(&self, bot: i64, calls: &[f64]) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
        let interval = self.pace(bot).await?.interval();
        let costs: Vec<f64> = calls.iter().map(|c| c.clamp(0.0, 1_000.0) * interval).collect();
        let total: f64 = costs.iter().sum();
        let start = match store::plan(&self.pool, bot, total).await? {
            Some(start) => start,
            None => {
                store::ensure(&self.pool, bot, 0).await?;
                store::plan(&self.pool, bot, total).await?.unwrap_or_else(Utc::now)
            }
        };
        let mut at = 0.0;
        Ok(costs
            .iter()
            .map(|cost| {
                let planned = start + chrono::Duration::microseconds((at * 1e6) as i64);
                at += cost;
                planned
            })
            .collect())
    }

    /// Waits until the call may go (at most the wait limit), or says when it may. A
    /// background call first takes a seat for its job (kept in `seat` until the job ends).
    pub async fn before_call(&self, need: Need, seat: &SeatCell) -> Result<(), NoSlot> {
        let started = Instant::now();
        let deadline = started + self.settings.max_wait;
        let budget = self.bot(need.bot);
        let pace = self.pace(need.bot).await?;
        let lane = &budget.lanes[need.lane.index()];
        if need.lane == Lane::Background && !self.sit(&budget, seat) {
            // Not before one lease: a seat frees when a job ends, and no sooner matters.
            let until = Utc::now() + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
            return Err(self.snooze(need, until, "bot", &pace).await);
        }
        loop {
            let slot = match self.take(need, &pace, lane, deadline).await {
                Ok(slot) => slot,
                Err(NoSlot::Until { until, scope, .. }) => return Err(self.snooze(need, until, scope, &pace).await),
                Err(e) => return Err(e),
            };
            if let Some(chat) = need.message_chat {
                let interval = if chat < 0 { pace.group_interval } else { pace.chat_interval };
                match store::take_chat_slot(&self.pool, need.bot, chat, slot.db_at, interval).await {
                    Ok(None) => {}
                    Ok(Some(free_at)) => {
                        lane.give_back(slot);
                        let wait = (free_at - Utc::now()).to_std().unwrap_or_default();
                        if Instant::now() + wait > deadline {
                            return Err(self.snooze(need, free_at, "chat", &pace).await);
                        }
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(e) => {
                        lane.give_back(slot);
                        return Err(e.into());
                    }
                }
            }
            tokio::time::sleep_until(slot.at).await;
            if Instant::now() > slot.at + LATE {
                metrics::counter!(m::TELEGRAM_BUDGET_SLOTS_WASTED, "lane" => need.lane.name()).increment(1);
                continue;
            }
            metrics::histogram!(m::TELEGRAM_BUDGET_WAIT, "lane" => need.lane.name())
                .record(started.elapsed().as_secs_f64());
            if let Some(seat) = seat.lock().expect("seat lock").as_mut() {
                seat.calls += 1;
            }
            return Ok(());
        }
    }

    /// A 429: pauses the bot (or the chat, for a message) for `retry_after` seconds, for
    /// every worker. Best effort: the job is snoozed whether or not this is written.
    pub async fn rate_limited(&self, need: Need, retry_after: u64) {
        let scope = if need.message_chat.is_some() { "chat" } else { "bot" };
        metrics::counter!(m::TELEGRAM_RATE_LIMITED, "scope" => scope).increment(1);
        metrics::counter!(m::TELEGRAM_PAUSED_SECONDS, "scope" => scope).increment(retry_after);
        let seconds = retry_after.clamp(1, crate::telegram::MAX_RETRY_AFTER_SECS) as f64;
        let chat = need.message_chat.unwrap_or(0);
        if let Err(e) = store::record_rate_limited(&self.pool, need.bot).await {
            tracing::warn!(bot = need.bot, error = %e, "429 from Telegram: the count could not be written");
        }
        match store::pause(&self.pool, need.bot, chat, seconds).await {
            Ok(until) => tracing::warn!(bot = need.bot, chat, %until, "429 from Telegram: paused for every worker"),
            Err(e) => tracing::warn!(bot = need.bot, error = %e, "429 from Telegram: the pause could not be written"),
        }
        if need.message_chat.is_none() {
            let busy = Busy {
                retry_at: Instant::now() + Duration::from_secs_f64(seconds),
                until: crate::clock::plus_secs(Utc::now(), seconds as i64).unwrap_or(DateTime::<Utc>::MAX_UTC),
            };
            for lane in &self.bot(need.bot).lanes {
                let mut slots = lane.slots.lock().expect("budget lock");
                slots.queue.clear();
                slots.busy = Some(busy);
            }
        }
    }

    /// Takes a seat for the job unless it has one; false when every seat is taken.
    fn sit(&self, budget: &Arc<BotBudget>, seat: &SeatCell) -> bool {
        let mut seat = seat.lock().expect("seat lock");
        if seat.is_some() {
            return true;
        }
        let lane = &budget.lanes[Lane::Background.index()];
        let seated = &lane.seated;
        // Seats only count while the bot's budget is what jobs wait for (its slots are
        // leased ahead of now); otherwise a job does not wait and holds no worker slot long.
        let contended = {
            let slots = lane.slots.lock().expect("budget lock");
            slots.busy.is_some() || slots.last_leased.is_some_and(|t| t > Instant::now())
        };
        if seated.fetch_add(1, Ordering::SeqCst) >= SEATS_PER_BOT && contended {
            seated.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        *seat = Some(Seat { bot: budget.clone(), calls: 0 });
        true
    }

    /// The next slot of `lane`, leased for everyone waiting when none is left.
    async fn take(&self, need: Need, pace: &Pace, lane: &LaneState, deadline: Instant) -> Result<Slot, NoSlot> {
        let _waiting = Waiting::new(&lane.waiting);
        let background = need.lane == Lane::Background;
        let horizon = if background { self.settings.lease } else { self.settings.max_wait };
        loop {
            if let Some(slot) = lane.pop(need.lane) {
                return Ok(slot);
            }
            let _fetching = lane.fetch.lock().await;
            if let Some(slot) = lane.pop(need.lane) {
                return Ok(slot);
            }
            let busy = lane.slots.lock().expect("budget lock").busy;
            if let Some(busy) = busy {
                if busy.retry_at > deadline {
                    return Err(NoSlot::Until { until: busy.until, run_at: busy.until, scope: "bot" });
                }
                tokio::time::sleep_until(busy.retry_at).await;
            }
            let wanted = lane.waiting.load(Ordering::SeqCst).max(1) as i32;
            let request = store::LeaseRequest {
                telegram_bot_id: need.bot,
                background,
                wanted,
                limit: pace.limit,
                background_limit: pace.background_limit,
                window: pace.window,
                horizon: horizon.as_secs_f64(),
                reserve_hold: RESERVE_HOLD.as_secs_f64(),
            };
            let asked = Instant::now();
            let Some(lease) = store::lease(&self.pool, request).await? else {
                store::ensure(&self.pool, need.bot, 0).await?;
                continue;
            };
            metrics::counter!(m::TELEGRAM_BUDGET_LEASES, "lane" => need.lane.name()).increment(1);
            // The database's clock, on ours: its `now` was read about halfway through the round-trip.
            let mid = asked + asked.elapsed() / 2;
            let local = |t: DateTime<Utc>| mid + (t - lease.now).to_std().unwrap_or_default();
            let mut slots = lane.slots.lock().expect("budget lock");
            if lease.slots.is_empty() {
                // Full for the next `horizon`: try again when half of it has room.
                let next_free =
                    lease.next_free.unwrap_or(lease.now + chrono::Duration::from_std(horizon).unwrap_or_default());
                let retry_at = local(next_free).checked_sub(horizon / 2).unwrap_or(mid);
                slots.busy = Some(Busy { retry_at: retry_at.max(mid), until: next_free });
            } else {
                slots.busy = None;
                for &db_at in &lease.slots {
                    slots.queue.push_back(Slot { at: local(db_at), db_at });
                    slots.last_leased = Some(local(db_at));
                }
            }
        }
    }

    /// A call that found no budget in time: when its job should run again. Background
    /// jobs take their place in the bot's plan; interactive jobs come back when it frees.
    async fn snooze(&self, need: Need, until: DateTime<Utc>, scope: &'static str, pace: &Pace) -> NoSlot {
        metrics::counter!(m::TELEGRAM_BUDGET_SNOOZES, "lane" => need.lane.name(), "reason" => scope).increment(1);
        let run_at = if need.lane == Lane::Background && scope == "bot" {
            let calls = *self.bot(need.bot).calls_per_job.lock().expect("budget lock");
            // Planned at the full limit: when interactive work holds its reserve, jobs come
            // due a little early and wait for a seat, rather than the budget waiting for jobs.
            let cost = calls.max(1.0) * pace.interval();
            match store::plan(&self.pool, need.bot, cost).await {
                Ok(Some(planned)) => planned.max(until),
                Ok(None) => until,
                Err(e) => return NoSlot::Database(e),
            }
        } else {
            until
        };
        NoSlot::Until { until, run_at, scope }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BudgetSettings {
        BudgetSettings {
            calls_per_second: 30,
            chat_messages_per_second: 1,
            group_messages_per_minute: 20,
            interactive_reserve: 3,
            headroom_percent: 5,
            lease: Duration::from_millis(250),
            max_wait: Duration::from_millis(1000),
        }
    }

    #[test]
    fn the_window_is_widened_by_the_headroom_and_background_leaves_the_reserve() {
        let pace = Pace::new(&settings(), &store::BotLimits::default());
        assert_eq!((pace.limit, pace.background_limit), (30, 27));
        assert!((pace.window - 1.0 / 0.95).abs() < 1e-9, "{pace:?}");
        assert!((1.0 / pace.interval() - 28.5).abs() < 1e-9, "{pace:?}");
        assert!((pace.chat_interval - 1.0 / 0.95).abs() < 1e-9);
        assert!((pace.group_interval - 3.0 / 0.95).abs() < 1e-9);
    }

    #[test]
    fn a_bots_own_limits_override_the_defaults() {
        let own = store::BotLimits { calls_per_second: Some(10), interactive_reserve: Some(50), ..Default::default() };
        let pace = Pace::new(&settings(), &own);
        assert_eq!(pace.limit, 10);
        // A reserve as large as the limit still leaves background work one call per window.
        assert_eq!(pace.background_limit, 1);
    }

    #[test]
    fn queues_map_to_lanes() {
        assert_eq!(Lane::of(Queue::Interactive), Lane::Interactive);
        assert_eq!(Lane::of(Queue::Lifecycle), Lane::Background);
        assert_eq!(Lane::of(Queue::Bulk), Lane::Background);
    }
}
