//! The promise as a property: random schedules of grants, renewals, joins, leaves,
//! strangers opening payers' links or coming in without one, lost and repeated
//! updates (standing rates and single ones) and the clock passing ends; after every
//! sweep:
//!
//! - every entitled payer gets in (after `/links` where needed);
//! - nobody Gatehouse has seen inside is there without an entitlement, and in
//!   join-request chats nobody is there without one at all;
//! - everyone inside whom Gatehouse has not seen is counted (`unknown_members` equals
//!   them exactly, chats here being far below the sweep's re-check bound);
//! - nobody is left banned.
//!
//! [`CASES`] schedules per run, each in a chat of its own in one running system.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use gatehouse_jobs::catalog::{consistency_sweep::Sweep, expiry_scan::ExpiryScan};
use gatehouse_sim::{AdminRights, UpdateFaults, UpdateRates, UserInfo};
use gatehouse_tests::app::{TestApp, World};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;

use super::lost_updates::{JOIN_KINDS, get_in, inside, start};

/// What the schedules came to, over a run: promise checks made, payers who got in
/// only after `/links`, and people counted inside unseen at a check.
struct Seen {
    checks: AtomicUsize,
    after_links: AtomicUsize,
    unseen: AtomicUsize,
}

static SEEN: Seen = Seen { checks: AtomicUsize::new(0), after_links: AtomicUsize::new(0), unseen: AtomicUsize::new(0) };

/// Schedules per run: each takes a few seconds against the real system.
pub const CASES: u32 = 24;
const PAYERS: usize = 3;
const STRANGERS: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    /// A grant (or a renewal, for a payer who has one) ending in `hours`.
    Grant {
        payer: usize,
        hours: i64,
    },
    /// The payer opens the newest link the bot sent them.
    Join {
        payer: usize,
    },
    /// A stranger opens a payer's newest link.
    StrangerUsesLink {
        stranger: usize,
        payer: usize,
    },
    /// A stranger comes in without a Gatehouse link (added by hand; in join-request
    /// chats, a request without a link).
    StrangerJoins {
        stranger: usize,
    },
    /// Someone leaves.
    Leave {
        payer: usize,
    },
    StrangerLeaves {
        stranger: usize,
    },
    /// The next update is lost / delivered twice.
    LoseNext,
    RepeatNext,
    /// Gatehouse's clock moves on, and the expiry scan runs.
    Advance {
        hours: i64,
    },
    /// The sweep runs; the promise is checked.
    Sweep,
}

#[derive(Debug, Clone)]
struct Schedule {
    join_request: bool,
    lose_percent: u8,
    repeat_percent: u8,
    seed: u64,
    ops: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PAYERS;
    let s = 0..STRANGERS;
    prop_oneof![
        3 => (p.clone(), 1i64..72).prop_map(|(payer, hours)| Op::Grant { payer, hours }),
        3 => p.clone().prop_map(|payer| Op::Join { payer }),
        3 => (s.clone(), p.clone()).prop_map(|(stranger, payer)| Op::StrangerUsesLink { stranger, payer }),
        1 => s.clone().prop_map(|stranger| Op::StrangerJoins { stranger }),
        1 => p.prop_map(|payer| Op::Leave { payer }),
        1 => s.prop_map(|stranger| Op::StrangerLeaves { stranger }),
        1 => Just(Op::LoseNext),
        1 => Just(Op::RepeatNext),
        1 => (1i64..48).prop_map(|hours| Op::Advance { hours }),
        2 => Just(Op::Sweep),
    ]
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        any::<bool>(),
        prop_oneof![1 => Just(0u8), 3 => Just(20), 2 => Just(50)],
        prop_oneof![Just(0u8), Just(10)],
        any::<u64>(),
        proptest::collection::vec(op(), 3..12),
    )
        .prop_map(|(join_request, lose_percent, repeat_percent, seed, ops)| Schedule {
            join_request,
            lose_percent,
            repeat_percent,
            seed,
            ops,
        })
}

/// One schedule's chat, plan and people, in the shared system.
struct Case {
    world: World,
    plan_id: String,
    payers: Vec<UserInfo>,
    strangers: Vec<UserInfo>,
    /// When each payer's entitlement ends (Gatehouse's clock), if they were granted.
    entitled_until: HashMap<usize, chrono::DateTime<chrono::Utc>>,
}

async fn new_case(app: &TestApp, base: &World, schedule: &Schedule, n: usize) -> Case {
    let channel = app.tg.create_channel(&format!("Case {n}")).await.unwrap();
    app.tg.add_admin(channel.id, base.bot.id, AdminRights::all()).await.unwrap();
    let strategy = if schedule.join_request { "join_request" } else { "single_use_link" };
    let chat_uuid = app.add_chat(&base.project_id, &base.key, channel.id, strategy, &base.bot).await;
    let (status, plan) = app
        .post(
            &format!("/v1/projects/{}/plans", base.project_id),
            &base.key,
            json!({"name": format!("Plan {n}"), "price": 100, "currency": "USD", "duration_days": 30,
                   "recurring": false, "trial_days": 0, "chat_ids": [channel.id]}),
        )
        .await;
    assert_eq!(status, 201, "{plan}");
    let world = World {
        project_id: base.project_id.clone(),
        key: base.key.clone(),
        bot: base.bot.clone(),
        owner: base.owner.clone(),
        channel,
        chat_uuid,
        plan_id: plan["data"]["plan_id"].as_str().unwrap().to_string(),
    };
    let mut payers = Vec::new();
    for i in 0..PAYERS {
        payers.push(app.started_user(&world, &format!("P{n}x{i}")).await);
    }
    let mut strangers = Vec::new();
    for i in 0..STRANGERS {
        strangers.push(app.tg.create_user_named(&format!("S{n}x{i}")).await.unwrap());
    }
    let rates = UpdateRates::for_kinds(
        schedule.seed,
        JOIN_KINDS,
        f64::from(schedule.lose_percent) / 100.0,
        f64::from(schedule.repeat_percent) / 100.0,
    );
    app.tg.set_update_rates(base.bot.id, &rates).await.unwrap();
    app.settle(&[base.bot.id]).await;
    let plan_id = world.plan_id.clone();
    Case { world, plan_id, payers, strangers, entitled_until: HashMap::new() }
}

async fn run(app: &TestApp, case: &mut Case, op: &Op) {
    let (tg, world) = (&app.tg, &case.world);
    let bot = world.bot.id;
    match *op {
        Op::Grant { payer, hours } => {
            let ends = app.clock.now() + chrono::Duration::hours(hours);
            let (status, body) = app
                .post(
                    &format!("/v1/projects/{}/grants", world.project_id),
                    &world.key,
                    json!({"telegram_user_id": case.payers[payer].id, "plan_id": case.plan_id,
                           "expires_at": ends.to_rfc3339(), "note": "property"}),
                )
                .await;
            assert_eq!(status, 202, "{body}");
            let until = case.entitled_until.entry(payer).or_insert(ends);
            *until = (*until).max(ends);
        }
        Op::Join { payer } => {
            if let Some(link) = app.invite_links_to(world, case.payers[payer].id).await.last() {
                let _ = tg.join_by_link(case.payers[payer].id, link).await;
            }
        }
        Op::StrangerUsesLink { stranger, payer } => {
            if let Some(link) = app.invite_links_to(world, case.payers[payer].id).await.last() {
                let _ = tg.join_by_link(case.strangers[stranger].id, link).await;
            }
        }
        Op::StrangerJoins { stranger } => {
            let user = case.strangers[stranger].id;
            if world_is_join_request(app, world).await {
                let _ = tg.request_join(user, world.channel.id).await;
            } else if !inside(&tg.member(world.channel.id, user).await.unwrap().status) {
                tg.add_member(world.channel.id, user).await.unwrap();
            }
        }
        Op::Leave { payer } => {
            let _ = tg.leave(case.payers[payer].id, world.channel.id).await;
        }
        Op::StrangerLeaves { stranger } => {
            let _ = tg.leave(case.strangers[stranger].id, world.channel.id).await;
        }
        Op::LoseNext => {
            tg.set_update_faults(bot, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
        }
        Op::RepeatNext => {
            tg.set_update_faults(bot, &UpdateFaults { drop_next: 0, duplicate_next: 1 }).await.unwrap();
        }
        Op::Advance { hours } => {
            app.clock.advance(chrono::Duration::hours(hours));
            app.enqueue(&ExpiryScan { tick: app.clock.now() }).await;
        }
        Op::Sweep => {
            app.enqueue(&Sweep { tick: app.clock.now() }).await;
        }
    }
    app.settle(&[bot]).await;
}

async fn world_is_join_request(app: &TestApp, world: &World) -> bool {
    let strategy: String = sqlx::query_scalar("SELECT join_strategy FROM chats WHERE telegram_chat_id = $1")
        .bind(world.channel.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    strategy == "join_request"
}

/// The promise, right after a sweep.
async fn check(app: &TestApp, case: &Case, join_request: bool) -> Result<(), String> {
    let world = &case.world;
    let now = app.clock.now();
    let entitled = |i: usize| case.entitled_until.get(&i).is_some_and(|until| *until > now);
    let chat = app.tg.chat(world.channel.id).await.unwrap();
    if !chat.banned.is_empty() {
        return Err(format!("left banned: {:?}", chat.banned));
    }
    let seen: Vec<i64> = sqlx::query_scalar(
        "SELECT m.telegram_user_id FROM memberships m JOIN chats c ON c.id = m.chat_id
         WHERE c.telegram_chat_id = $1 AND m.status IN ('creator', 'administrator', 'member', 'restricted')",
    )
    .bind(world.channel.id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut unseen = 0;
    for member in chat.members.iter().filter(|m| m.user_id != world.owner.id && m.user_id != world.bot.id) {
        let payer = case.payers.iter().position(|p| p.id == member.user_id);
        let allowed = payer.is_some_and(entitled);
        if !seen.contains(&member.user_id) {
            unseen += 1;
        }
        if !allowed && join_request {
            return Err(format!("{} is inside a join-request chat without an entitlement", member.user_id));
        }
        if !allowed && seen.contains(&member.user_id) {
            return Err(format!("{} was seen inside without an entitlement and left there", member.user_id));
        }
    }
    let counted: Option<i32> = sqlx::query_scalar("SELECT unknown_members FROM chats WHERE telegram_chat_id = $1")
        .bind(world.channel.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    if counted.unwrap_or(0) != unseen {
        return Err(format!("{unseen} inside unseen, {counted:?} reported"));
    }
    for (i, payer) in case.payers.iter().enumerate().filter(|(i, _)| entitled(*i)) {
        match get_in(app, world, payer.id).await {
            None => return Err(format!("payer {i} ({}) is kept out", payer.id)),
            Some(0) => {}
            Some(_) => {
                SEEN.after_links.fetch_add(1, Relaxed);
            }
        }
    }
    SEEN.checks.fetch_add(1, Relaxed);
    SEEN.unseen.fetch_add(unseen as usize, Relaxed);
    Ok(())
}

#[test]
fn after_every_sweep_no_payer_is_kept_out_and_nobody_is_inside_unentitled_and_unreported() {
    let started = std::time::Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (app, base) = rt.block_on(start("single_use_link"));
    let mut runner =
        TestRunner::new(Config { cases: CASES, max_shrink_iters: 8, failure_persistence: None, ..Config::default() });
    let n = AtomicUsize::new(0);
    let result = runner.run(&schedule(), |schedule| {
        let n = n.fetch_add(1, Relaxed) + 1;
        rt.block_on(async {
            let mut case = new_case(&app, &base, &schedule, n).await;
            let mut ops = schedule.ops.clone();
            ops.push(Op::Sweep);
            for op in &ops {
                run(&app, &mut case, op).await;
                if matches!(op, Op::Sweep) {
                    check(&app, &case, schedule.join_request)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("{e}\nafter {op:?} in {schedule:?}")))?;
                }
            }
            // Rates of this case end with it.
            app.tg.set_update_rates(base.bot.id, &UpdateRates::default()).await.unwrap();
            Ok(())
        })
    });
    println!(
        "promise properties: {} schedules in {:.0} s, {} checks after sweeps, {} payers in only after /links, \
         {} people counted inside unseen",
        n.into_inner(),
        started.elapsed().as_secs_f64(),
        SEEN.checks.load(Relaxed),
        SEEN.after_links.load(Relaxed),
        SEEN.unseen.load(Relaxed),
    );
    // The system stops inside its runtime; the runtime is left to end in the background
    // (a blocking task of the worker would otherwise hold the drop).
    rt.block_on(async move { drop(app) });
    rt.shutdown_background();
    if let Err(e) = result {
        panic!("{e}");
    }
}
