//! Two worker processes and one api process on one database.

use std::time::Duration;

use futures::StreamExt;
use gatehouse_jobs::{
    catalog::diagnostics::{Probe, ProbeFailure},
    queue::{RunAt, enqueue},
};
use gatehouse_tests::{TestDb, drain_all, insert_connected_bot, wait_until};

use crate::harness::{Proc, free_port};

const PROBES: usize = 9_000;
const UPDATES: usize = 1_000;
const BOT: i64 = 8_000_001;
const SECRET: &str = "scale-secret";

async fn metrics(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap()
}

/// The value of the first sample of `series` whose line contains every `label`.
fn sample(text: &str, series: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(series))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn two_workers_and_an_api_run_ten_thousand_jobs_each_exactly_once() {
    let db = TestDb::new().await;
    insert_connected_bot(&db.pool, BOT, SECRET).await;
    let (api_port, m1, m2) = (free_port(), free_port(), free_port());
    let _api = Proc::start("api", &db.url, &[("GATEHOUSE_LISTEN", format!("127.0.0.1:{api_port}"))]);
    let _w1 = Proc::start("worker", &db.url, &[("GATEHOUSE_METRICS_LISTEN", format!("127.0.0.1:{m1}"))]);
    let _w2 = Proc::start("worker", &db.url, &[("GATEHOUSE_METRICS_LISTEN", format!("127.0.0.1:{m2}"))]);
    let api = format!("http://127.0.0.1:{api_port}");
    wait_until(Duration::from_secs(30), "the api to be ready", || async {
        reqwest::get(format!("{api}/readyz")).await.map(|r| r.status().is_success()).unwrap_or(false)
    })
    .await;

    // 9,000 jobs written by a producer, 1,000 arriving as Telegram webhooks through the api.
    let producer = async {
        let mut tx = db.pool.begin().await.unwrap();
        for i in 0..PROBES {
            let probe = Probe { key: format!("p{i}"), sleep_ms: 0, fail_first: 0, failure: ProbeFailure::Transient };
            enqueue(&mut tx, &probe, RunAt::Now).await.unwrap();
            if i % 500 == 499 {
                tx.commit().await.unwrap();
                tx = db.pool.begin().await.unwrap();
            }
        }
        tx.commit().await.unwrap();
    };
    let http = reqwest::Client::new();
    let webhooks = futures::stream::iter(0..UPDATES)
        .map(|i| {
            let request = http
                .post(format!("{api}/hooks/telegram/{BOT}"))
                .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                .body(format!(r#"{{"update_id": {i}, "message": {{"message_id": {i}, "date": 0, "chat": {{"id": 1, "type": "private"}}, "text": "hi"}}}}"#))
                .send();
            async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(16)
        .collect::<Vec<u16>>();
    let ((), statuses) = tokio::join!(producer, webhooks);
    assert!(statuses.iter().all(|s| *s == 200), "every webhook accepted");

    drain_all(&db.pool, Duration::from_secs(180)).await;

    // Side effects, counted: each probe started once and finished once.
    let runs: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT probe_key, count(*) FILTER (WHERE phase = 'started'), count(*) FILTER (WHERE phase = 'finished')
         FROM diagnostic_probe_runs GROUP BY probe_key",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(runs.len(), PROBES);
    let twice: Vec<_> = runs.iter().filter(|(_, s, f)| *s != 1 || *f != 1).collect();
    assert!(twice.is_empty(), "jobs that did not run exactly once: {:?}", &twice[..twice.len().min(10)]);
    let workers = db.count("SELECT count(DISTINCT split_part(worker, ':', 1)) FROM diagnostic_probe_runs").await;
    assert_eq!(workers, 2, "both worker processes took part");

    // The webhook jobs: every one done, each in a single run.
    let jobs = db.jobs().await;
    let updates: Vec<_> = jobs.iter().filter(|j| j.kind.as_deref() == Some("process-telegram-update")).collect();
    assert_eq!(updates.len(), UPDATES);
    assert!(updates.iter().all(|j| j.status == "Done" && j.attempts == 1));
    assert_eq!(db.count("SELECT count(*) FROM apalis.jobs WHERE attempts <> 1").await, 0, "no job ran twice");

    // The api's and the workers' /metrics carry real values.
    let api_metrics = reqwest::get(format!("{api}/metrics")).await.unwrap().text().await.unwrap();
    let accepted = sample(&api_metrics, "gatehouse_webhooks_total", &["outcome=\"accepted\""]).unwrap();
    assert_eq!(accepted, UPDATES as f64);
    assert_eq!(
        sample(&api_metrics, "gatehouse_jobs_enqueued_total", &["kind=\"process-telegram-update\""]),
        Some(UPDATES as f64)
    );
    assert!(
        sample(
            &api_metrics,
            "gatehouse_http_requests_total",
            &["route=\"/hooks/telegram/{bot_id}\"", "status=\"200\""]
        )
        .unwrap()
            >= UPDATES as f64
    );
    assert!(sample(&api_metrics, "gatehouse_webhook_latency_seconds_count", &[]).unwrap() >= UPDATES as f64);
    let (w1, w2) = (metrics(m1).await, metrics(m2).await);
    let succeeded = |text: &str, kind: &str| {
        sample(text, "gatehouse_jobs_succeeded_total", &[&format!("kind=\"{kind}\"")]).unwrap_or(0.0)
    };
    assert_eq!(succeeded(&w1, "probe") + succeeded(&w2, "probe"), PROBES as f64);
    assert_eq!(succeeded(&w1, "process-telegram-update") + succeeded(&w2, "process-telegram-update"), UPDATES as f64);
    for text in [&w1, &w2] {
        assert!(sample(text, "gatehouse_jobs_started_total", &[]).is_some());
        assert!(sample(text, "gatehouse_job_duration_seconds_count", &[]).is_some());
    }
    // Gauges refresh every 5 s in every worker: wait for one that has seen the drained queue.
    wait_until(Duration::from_secs(15), "the queue gauges to show the finished jobs", || async {
        let text = metrics(m1).await;
        let done = sample(&text, "gatehouse_queue_depth", &["queue=\"bulk\"", "state=\"done\""]).unwrap_or(0.0);
        let age = sample(&text, "gatehouse_queue_oldest_available_age_seconds", &["queue=\"bulk\""]);
        // At least the probes: a maintenance tick (prune) may have run too.
        let ok = done >= PROBES as f64 && age == Some(0.0);
        if !ok {
            eprintln!(
                "gauges so far: done={done} age={age:?}\n{}",
                text.lines().filter(|l| l.contains("queue_")).collect::<Vec<_>>().join("\n")
            );
        }
        ok
    })
    .await;
}
