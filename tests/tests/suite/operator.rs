//! What the operator's view is built on: the worker records every failed run with its
//! time and its job's project, the leader rolls finished runs up per minute, a 429 is
//! counted per bot, and the dashboard and alert rules name only metrics that exist.

use std::{collections::BTreeSet, time::Duration};

use gatehouse_jobs::{
    catalog::diagnostics::{Probe, ProbeFailure},
    queue::{RunAt, enqueue},
    store::{self, operator::FailedRun},
};
use gatehouse_tests::{TestDb, drain, drain_all, insert_connected_bot, spawn_worker, test_config};
use uuid::Uuid;

#[tokio::test]
async fn the_worker_records_each_failed_run_with_its_time_and_the_retry_that_follows() {
    let db = TestDb::new().await;
    let config = std::sync::Arc::new(test_config(&db.url, &[]));
    let mut conn = db.pool.acquire().await.unwrap();
    let probe = Probe { key: "fails-once".into(), sleep_ms: 0, fail_first: 1, failure: ProbeFailure::Transient };
    let gatehouse_jobs::queue::Enqueued::New(id) = enqueue(&mut conn, &probe, RunAt::Now).await.unwrap() else {
        panic!("new job")
    };
    let worker = spawn_worker(config).await;
    // The retry comes after its backoff (1–2 s): wait for it.
    drain_all(&db.pool, Duration::from_secs(30)).await;
    worker.stop().await;

    let runs = store::operator::failed_runs(&db.pool, &id).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].attempt, 1);
    assert_eq!(runs[0].error, "probe: transient failure as asked");
    let shown = gatehouse_jobs::operator::show(&db.pool, &id).await.unwrap().unwrap();
    assert_eq!(shown.line.state, "done");
    assert_eq!(shown.project_id, None, "a probe is of no project");
}

#[tokio::test]
async fn a_failed_run_is_filed_under_the_project_its_ids_lead_to() {
    let db = TestDb::new().await;
    let project = insert_connected_bot(&db.pool, 6001, "secret").await;
    let chat = Uuid::new_v4();
    sqlx::query("INSERT INTO chats (id, project_id, telegram_chat_id) VALUES ($1, $2, -100)")
        .bind(chat)
        .bind(project)
        .execute(&db.pool)
        .await
        .unwrap();
    let broadcast = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO broadcasts (id, project_id, cause, owner_telegram_id, lang, segment, text)
         VALUES ($1, $2, 'tg:6001:1', 1, 'en', 'all', 'hello')",
    )
    .bind(broadcast)
    .bind(project)
    .execute(&db.pool)
    .await
    .unwrap();
    let (endpoint, event, delivery) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    sqlx::query(
        "WITH e AS (INSERT INTO webhook_endpoints (id, project_id, url, secret_sealed, created_at, updated_at)
                    VALUES ($1, $4, 'https://example.com/hook', '\\x00', now(), now())),
              ev AS (INSERT INTO events (id, project_id, sequence, type, created_at, data)
                     VALUES ($2, $4, 1, 'member.joined', now(), '{}'))
         INSERT INTO webhook_deliveries (id, endpoint_id, event_id, state, created_at, window_start)
         VALUES ($3, $1, $2, 'pending', now(), now())",
    )
    .bind(endpoint)
    .bind(event)
    .bind(delivery)
    .bind(project)
    .execute(&db.pool)
    .await
    .unwrap();
    let cases = [
        ("by-chat", serde_json::json!({"chat_id": chat.to_string(), "telegram_user_id": 1})),
        ("by-bot", serde_json::json!({"bot_id": 6001, "update_id": 5})),
        ("by-project", serde_json::json!({"project_id": project.to_string()})),
        ("by-broadcast", serde_json::json!({"broadcast_id": broadcast.to_string(), "batch": 0})),
        ("by-delivery", serde_json::json!({"delivery_id": delivery.to_string(), "round": 0, "attempt": 1})),
        // A message deleted from the project's bot: Telegram's numbers, no UUID.
        ("by-telegram-bot", serde_json::json!({"telegram_bot_id": 6001, "chat_id": 5, "message_id": 7})),
    ];
    for (job_id, args) in &cases {
        let run = FailedRun {
            job_id,
            attempt: 1,
            kind: "remove-member",
            queue: "lifecycle",
            args: args.clone(),
            error: "Forbidden",
        };
        store::operator::record_failed_run(&db.pool, &run).await.unwrap();
        assert_eq!(store::operator::project_of(&db.pool, job_id).await.unwrap(), Some(project), "{job_id}");
    }
    let stray = FailedRun {
        job_id: "stray",
        attempt: 1,
        kind: "remove-member",
        queue: "lifecycle",
        args: serde_json::json!({"chat_id": Uuid::new_v4().to_string()}),
        error: "x",
    };
    store::operator::record_failed_run(&db.pool, &stray).await.unwrap();
    assert_eq!(store::operator::project_of(&db.pool, "stray").await.unwrap(), None);

    // A claim on a bot id that getMe never verified (a squatter's) gets none of its failed
    // runs: the same rule as the project's job list.
    let squatter = insert_connected_bot(&db.pool, 6002, "other").await;
    sqlx::query("UPDATE bots SET verified_at = NULL WHERE project_id = $1")
        .bind(squatter)
        .execute(&db.pool)
        .await
        .unwrap();
    let unverified = FailedRun {
        job_id: "unverified",
        attempt: 1,
        kind: "process-telegram-update",
        queue: "interactive",
        args: serde_json::json!({"bot_id": 6002, "update_id": 1}),
        error: "x",
    };
    store::operator::record_failed_run(&db.pool, &unverified).await.unwrap();
    assert_eq!(store::operator::project_of(&db.pool, "unverified").await.unwrap(), None);
}

#[tokio::test]
async fn the_throughput_rollup_counts_runs_ended_per_minute_and_queue() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    for n in 0..3 {
        let probe = Probe { key: format!("ok-{n}"), sleep_ms: 0, fail_first: 0, failure: ProbeFailure::Transient };
        enqueue(&mut conn, &probe, RunAt::Now).await.unwrap();
    }
    let dead = Probe { key: "dead".into(), sleep_ms: 0, fail_first: 1, failure: ProbeFailure::Permanent };
    enqueue(&mut conn, &dead, RunAt::Now).await.unwrap();
    let worker = spawn_worker(std::sync::Arc::new(test_config(&db.url, &[]))).await;
    drain(&db.pool, Duration::from_secs(30)).await;
    worker.stop().await;

    let since = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let totals = |minutes: &[store::operator::Throughput]| {
        let bulk = minutes.iter().filter(|m| m.queue == "bulk");
        bulk.fold((0, 0), |(s, f), m| (s + m.succeeded, f + m.failed))
    };
    store::operator::roll_up_throughput(&db.pool).await.unwrap();
    let first = store::operator::throughput(&db.pool, since).await.unwrap();
    store::operator::roll_up_throughput(&db.pool).await.unwrap();
    let again = store::operator::throughput(&db.pool, since).await.unwrap();
    // The worker's own periodic jobs (the scheduler's first ticks) run beside the probes.
    let done: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE job_type = 'bulk' AND status = 'Done'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let (succeeded, failed) = totals(&first);
    assert!(succeeded >= 3, "{first:?}");
    assert_eq!(i64::from(succeeded), done, "{first:?}");
    assert_eq!(failed, 1, "the dead probe: {first:?}");
    assert_eq!(totals(&again), (succeeded, failed), "recounting a minute does not count it twice");
}

#[tokio::test]
async fn a_429_is_counted_for_its_bot_in_the_bots_view() {
    let db = TestDb::new().await;
    insert_connected_bot(&db.pool, 6002, "secret").await;
    insert_connected_bot(&db.pool, 6003, "secret").await;
    let config = test_config(&db.url, &[]);
    let budgets = gatehouse_jobs::telegram::budget::Budgets::new(db.pool.clone(), config.telegram_budget.clone());
    let need = gatehouse_jobs::telegram::budget::Need {
        bot: 6002,
        lane: gatehouse_jobs::telegram::budget::Lane::Interactive,
        message_chat: None,
    };
    budgets.rate_limited(need, 3).await;
    let bots = gatehouse_jobs::operator::bots(&db.pool, &config, None).await.unwrap();
    let of = |id: i64| bots.iter().find(|b| b.telegram_bot_id == id).unwrap();
    assert_eq!(of(6002).rate_limited_last_hour, 1);
    assert!(of(6002).paused_until.is_some(), "the 429 paused the bot");
    assert_eq!(of(6003).rate_limited_last_hour, 0);
    assert!(of(6003).paused_until.is_none());
}

/// Every metric name `jobs/src/metrics.rs` defines.
fn defined_metrics() -> BTreeSet<String> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../jobs/src/metrics.rs")).unwrap();
    source
        .lines()
        .filter(|l| l.trim_start().starts_with("pub const") && l.contains(": &str"))
        .filter_map(|l| l.split('"').nth(1).map(str::to_string))
        .collect()
}

/// Every `gatehouse_…` name in a text, with the suffixes Prometheus adds to
/// histograms (`_bucket`, `_sum`, `_count`) taken off.
fn referenced_metrics(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("gatehouse_") {
        let start = i + at;
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if before_ok {
            let name = &text[start..end];
            let name = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
            names.insert(name.to_string());
        }
        i = end.max(start + 1);
    }
    names
}

#[test]
fn the_dashboard_and_the_alert_rules_name_only_metrics_that_exist() {
    let defined = defined_metrics();
    assert!(defined.len() > 20, "metrics.rs read: {defined:?}");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let dashboard = std::fs::read_to_string(format!("{root}/ops/grafana/gatehouse.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
    let mut missing = Vec::new();
    for file in ["ops/grafana/gatehouse.json", "ops/prometheus/alerts.yml", "ops/prometheus/alerts_test.yml"] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let names = referenced_metrics(&text);
        assert!(!names.is_empty(), "{file} names no metric");
        for name in names {
            // Alert and group names are not metrics (`gatehouse-queues` has no underscore).
            if !defined.contains(&name) {
                missing.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(missing.is_empty(), "names not in jobs/src/metrics.rs: {missing:#?}");
}

#[test]
fn the_metric_name_check_catches_a_name_that_does_not_exist() {
    let defined = defined_metrics();
    let names = referenced_metrics(r#"rate(gatehouse_jobs_started_total[5m]) / gatehouse_jobs_vanished_total"#);
    let unknown: Vec<_> = names.iter().filter(|n| !defined.contains(*n)).collect();
    assert_eq!(unknown, ["gatehouse_jobs_vanished_total"]);
    let hist = referenced_metrics("gatehouse_job_duration_seconds_bucket");
    assert!(hist.iter().all(|n| defined.contains(n)), "{hist:?}");
}
