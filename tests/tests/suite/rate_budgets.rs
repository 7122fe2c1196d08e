//! The shared slot schedule itself (`gatehouse_lease_slots`), against a real database:
//! what one lease grants, whatever the process that asks.

use chrono::{DateTime, Duration, Utc};
use gatehouse_jobs::store::budget::{self as store, Lease, LeaseRequest};
use gatehouse_tests::TestDb;

const BOT: i64 = 4242;
const LIMIT: i32 = 10;
const BACKGROUND_LIMIT: i32 = 7;
const WINDOW: f64 = 1.0 / 0.95;

fn request(background: bool, wanted: i32, horizon: f64) -> LeaseRequest {
    LeaseRequest {
        telegram_bot_id: BOT,
        background,
        wanted,
        limit: LIMIT,
        background_limit: BACKGROUND_LIMIT,
        window: WINDOW,
        horizon,
        reserve_hold: 2.0,
    }
}

async fn lease(db: &TestDb, request: LeaseRequest) -> Lease {
    store::lease(&db.pool, request).await.unwrap().expect("the bot has a budget row")
}

/// The window, to the microsecond the database keeps (rounded down).
fn window() -> Duration {
    Duration::microseconds((WINDOW * 1e6) as i64)
}

fn about(a: Duration, b: Duration) -> bool {
    (a - b).num_microseconds().unwrap().abs() <= 1
}

async fn budget() -> TestDb {
    let db = TestDb::new().await;
    store::ensure(&db.pool, BOT, 0).await.unwrap();
    db
}

#[tokio::test]
async fn a_bot_without_a_budget_row_gets_none_and_ensure_creates_it() {
    let db = TestDb::new().await;
    assert!(store::lease(&db.pool, request(false, 1, 1.0)).await.unwrap().is_none());
    store::ensure(&db.pool, BOT, 0).await.unwrap();
    assert_eq!(lease(&db, request(false, 1, 1.0)).await.slots.len(), 1);
}

/// Half an average slot: the least time between two calls of a bot.
fn gap() -> Duration {
    Duration::microseconds((WINDOW / (2.0 * f64::from(LIMIT)) * 1e6) as i64)
}

#[tokio::test]
async fn an_idle_bot_may_make_its_limit_of_calls_in_half_a_window_and_no_more_within_a_window() {
    let db = budget().await;
    let first = lease(&db, request(false, 15, 0.75)).await;
    assert_eq!(first.slots.len(), LIMIT as usize, "{first:?}");
    assert_eq!(first.slots[0], first.now, "the first call goes at once");
    for pair in first.slots.windows(2) {
        assert!(about(pair[1] - pair[0], gap()), "half an average slot apart, not a full one: {first:?}");
    }
    let next = first.next_free.expect("fewer than wanted: the next free slot is given");
    assert!(about(next - first.slots[0], window()), "{next} is a window after {}", first.slots[0]);

    // The next lease gets nothing before the window has passed.
    let second = lease(&db, request(false, 1, 0.75)).await;
    assert!(second.slots.is_empty(), "{second:?}");
    assert_eq!(second.next_free, Some(next));
}

#[tokio::test]
async fn over_many_leases_no_window_ever_holds_more_than_the_limit() {
    let db = budget().await;
    let mut slots: Vec<DateTime<Utc>> = Vec::new();
    // Leases of every size, interactive and background, far enough ahead for all of them.
    for (i, wanted) in [1, 3, 2, 7, 1, 1, 4, 9, 2, 5, 1, 6, 3, 8, 2, 1, 5, 4].iter().enumerate() {
        let got = lease(&db, request(i % 3 == 0, *wanted, 20.0)).await;
        assert_eq!(got.slots.len(), *wanted as usize, "the horizon is not reached: {got:?}");
        slots.extend(got.slots);
    }
    assert!(slots.windows(2).all(|w| w[0] <= w[1]), "slots are handed out in order");
    for (i, s) in slots.iter().enumerate().skip(LIMIT as usize) {
        let before = slots[i - LIMIT as usize];
        assert!(
            *s - before >= window() - Duration::microseconds(1),
            "slot {i} is {} after the slot {LIMIT} before it",
            *s - before
        );
    }
}

#[tokio::test]
async fn background_work_leaves_the_reserve_while_interactive_work_runs_and_borrows_it_otherwise() {
    // No interactive call yet: background work may take the whole limit.
    let db = budget().await;
    let all = lease(&db, request(true, 20, 0.75)).await;
    assert_eq!(all.slots.len(), LIMIT as usize);

    // An interactive call within the hold: background work takes up to limit − reserve
    // in the window, counting the interactive call.
    let db = budget().await;
    assert_eq!(lease(&db, request(false, 1, 0.75)).await.slots.len(), 1);
    let background = lease(&db, request(true, 20, 0.75)).await;
    assert_eq!(background.slots.len(), (BACKGROUND_LIMIT - 1) as usize, "{background:?}");
    // The reserve is still there for interactive work.
    let interactive = lease(&db, request(false, 20, 0.75)).await;
    assert_eq!(interactive.slots.len(), (LIMIT - BACKGROUND_LIMIT) as usize, "{interactive:?}");
}

#[tokio::test]
async fn a_pause_holds_every_lane_until_it_ends() {
    let db = budget().await;
    let until = store::pause(&db.pool, BOT, 0, 3.0).await.unwrap();
    for background in [false, true] {
        let got = lease(&db, request(background, 1, 1.0)).await;
        assert!(got.slots.is_empty(), "{got:?}");
        assert_eq!(got.next_free, Some(until));
    }
    let later = lease(&db, request(false, 2, 4.0)).await;
    assert_eq!(later.slots[0], until, "the first slot is when the pause ends");
    assert!(about(later.slots[1] - until, gap()), "{later:?}");
}
