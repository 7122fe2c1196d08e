//! A broadcast survives a worker killed with SIGKILL mid-way: two `gatehouse worker`
//! processes send it under the simulator's rate limits; one is killed once a third of the
//! recipients have it. The other resumes the dead one's batches after the rescue time:
//! every reachable recipient gets the message, nobody gets it twice except those whose
//! call was in flight at the kill, and the broadcast is not restarted (the sends add up
//! to the recipients plus those in flight). Figures in one line starting
//! `broadcast figures:` (`--no-capture`).

use std::time::{Duration, Instant};

use gatehouse_sim::{RateLimits, Sim, SimConfig};
use gatehouse_tests::{TestDb, audience::Audience, test_config, wait_until};

use crate::harness::{Proc, is_of};

const BOT: i64 = 7_300_000_001;
const TEXT: &str = "News: the club opens a second channel on Monday";

/// The broadcast batches running now: (job id, the worker holding it).
async fn running_batches(db: &TestDb) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT id::text, lock_by FROM apalis.jobs
         WHERE status = 'Running' AND lock_by IS NOT NULL
           AND convert_from(job, 'UTF8')::jsonb ->> 'kind' = 'broadcast-batch'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_resumes_after_a_worker_is_killed_and_sends_each_message_once_but_those_in_flight() {
    let audience = Audience::new(BOT, 400_000, 300, 20, 0);
    let sim = Sim::start(SimConfig {
        rate_limits_enabled: true,
        default_limits: RateLimits { calls_per_second: 30, ..RateLimits::default() },
        seed: Some(audience.seed()),
        call_log_capacity: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let tg = sim.client();
    audience.block(&tg).await;
    let db = TestDb::new().await;
    audience.seed_db(&db.pool, &test_config(&db.url, &[])).await;
    let env = vec![
        ("TELEGRAM_API_URL", sim.base_url().to_string()),
        ("GATEHOUSE_TG_CALLS_PER_SECOND", "30".to_string()),
        ("GATEHOUSE_WORKER_CONCURRENCY", "4".to_string()),
        ("GATEHOUSE_TELEGRAM_TIMEOUT_MS", "2000".to_string()),
    ];
    let mut workers = [Proc::start("worker", &db.url, &env), Proc::start("worker", &db.url, &env)];
    wait_until(Duration::from_secs(60), "the workers to register", || async {
        db.count("SELECT count(*) FROM apalis.workers").await >= 6
    })
    .await;

    let id = audience.launch(&db.pool, TEXT).await;
    let started = Instant::now();
    // Once a third is sent, the worker running a batch is killed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let running = loop {
        let running = running_batches(&db).await;
        let sent = db.count("SELECT count(*) FROM broadcast_recipients WHERE state = 'sent'").await;
        if !running.is_empty() && sent >= 100 {
            break running;
        }
        assert!(Instant::now() < deadline, "timed out waiting for a third of the recipients, and a batch running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let victim = if is_of(&running[0].1, workers[0].pid()) { 0 } else { 1 };
    let pid = workers[victim].pid();
    workers[victim].signal("KILL");
    workers[victim].wait(Duration::from_secs(10)).await;
    let held: Vec<String> =
        running_batches(&db).await.into_iter().filter(|(_, w)| is_of(w, pid)).map(|(j, _)| j).collect();
    assert!(!held.is_empty(), "the killed worker held a batch");
    let in_flight = db.count("SELECT count(*) FROM broadcast_recipients WHERE state = 'sending'").await;
    let sent_at_kill = db.count("SELECT count(*) FROM broadcast_recipients WHERE state = 'sent'").await;

    wait_until(Duration::from_secs(180), "the broadcast to finish", || async {
        db.count("SELECT count(*) FROM broadcasts WHERE state = 'done'").await == 1
    })
    .await;
    let took = started.elapsed();
    let tally = gatehouse_jobs::store::broadcasts::tally(&db.pool, id).await.unwrap();
    let sends = audience.sends(&tg, TEXT).await;
    let twice: Vec<i64> = sends.iter().filter(|(_, n)| **n > 1).map(|(u, _)| *u).collect();
    let total_sends: usize = sends.values().sum();
    println!(
        "broadcast figures: {} recipients ({} blocked), killed with {sent_at_kill} sent and {in_flight} in flight; \
         done {:.1} s after the start; {} reached, {} unreachable, {} sent twice, {} rows resent; {} 429s",
        audience.recipients.len(),
        audience.blocked.len(),
        took.as_secs_f64(),
        sends.len(),
        tally.unreachable,
        twice.len(),
        tally.resent,
        tg.counters().await.unwrap().too_many_requests,
    );

    assert_eq!(sends.len(), audience.reachable(), "every reachable recipient got the message");
    assert!(audience.blocked.iter().all(|u| !sends.contains_key(u)));
    assert_eq!(tally.sent as usize, audience.reachable());
    assert_eq!(tally.unreachable as usize, audience.blocked.len());
    assert!(twice.len() as i64 <= in_flight, "sent twice: {twice:?}, in flight at the kill: {in_flight}");
    assert!(total_sends as i64 <= audience.reachable() as i64 + in_flight, "resumed, not restarted");
    // The killed worker's batches were rescued and finished by the other.
    let rescued: Vec<(String, i32)> =
        sqlx::query_as("SELECT status, attempts FROM apalis.jobs WHERE id::text = ANY($1)")
            .bind(&held)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rescued.len(), held.len());
    assert!(rescued.iter().all(|(status, attempts)| status == "Done" && *attempts >= 2), "{rescued:?}");
    // The owner's progress message ends with the final tally.
    wait_until(Duration::from_secs(30), "the final progress", || async {
        tg.messages_to(gatehouse_tests::audience::OWNER, BOT).await.unwrap().iter().any(|m| {
            m.text.as_deref()
                == Some(&format!(
                    "Broadcast to active subscribers done: sent {} of {} · {} unreachable",
                    audience.reachable(),
                    audience.recipients.len(),
                    audience.blocked.len()
                ))
        })
    })
    .await;
    sim.shutdown().await;
}
