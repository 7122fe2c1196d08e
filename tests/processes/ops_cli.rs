//! `gatehouse jobs` and `gatehouse bots`, run as the binary an operator runs, against a
//! database arranged as workers leave it: tables by default, `--json` for scripts,
//! every retry, cancel, pause and resume audited.

use std::process::Command;

use gatehouse_tests::{
    TestDb,
    operator::{Left, audit_actions, job_of_project, status_of},
};
use serde_json::Value;

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn gatehouse(db: &TestDb, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run gatehouse");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(db: &TestDb, args: &[&str]) -> Value {
    let out = gatehouse(db, args);
    assert!(out.ok, "gatehouse {args:?} failed: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout))
}

async fn project(db: &TestDb, bot: i64) -> uuid::Uuid {
    gatehouse_tests::insert_connected_bot(&db.pool, bot, "secret-of-the-webhook").await
}

#[tokio::test]
async fn jobs_stats_counts_each_queue_and_state_with_the_oldest_age() {
    let db = TestDb::new().await;
    let p = project(&db, 5001).await;
    job_of_project(&db.pool, p, 1, Left::Dead, "Forbidden: bot was kicked").await;
    job_of_project(&db.pool, p, 2, Left::Dead, "Forbidden: bot was kicked").await;
    job_of_project(&db.pool, p, 3, Left::Failed, "timed out").await;
    job_of_project(&db.pool, p, 4, Left::Pending { later: false }, "").await;

    let stats = json(&db, &["jobs", "stats", "--json"]);
    let count = |state: &str| {
        stats["states"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["queue"] == "interactive" && s["state"] == state)
            .map(|s| s["jobs"].as_i64().unwrap())
    };
    assert_eq!(count("dead"), Some(2));
    assert_eq!(count("failed"), Some(1));
    assert_eq!(count("pending"), Some(1));
    assert!(stats["states"][0]["oldest_age_secs"].is_i64());

    let table = gatehouse(&db, &["jobs", "stats"]);
    assert!(table.ok, "{}", table.stderr);
    assert!(table.stdout.contains("QUEUE") && table.stdout.contains("OLDEST"), "{}", table.stdout);
    assert!(table.stdout.lines().any(|l| l.starts_with("interactive") && l.contains("dead") && l.contains(" 2 ")));
}

#[tokio::test]
async fn jobs_list_filters_by_state_kind_and_project() {
    let db = TestDb::new().await;
    let a = project(&db, 5002).await;
    let b = project(&db, 5003).await;
    let dead_a = job_of_project(&db.pool, a, 1, Left::Dead, "Bad Request: chat not found").await;
    let dead_b = job_of_project(&db.pool, b, 2, Left::Dead, "Forbidden").await;
    let pending = job_of_project(&db.pool, a, 3, Left::Pending { later: false }, "").await;

    let dead = json(&db, &["jobs", "list", "--state", "dead", "--json"]);
    let ids: Vec<&str> = dead.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&dead_a.as_str()) && ids.contains(&dead_b.as_str()));
    assert_eq!(dead[0]["kind"], "set-owner-commands");

    let of_a = json(&db, &["jobs", "list", "--state", "dead", "--project", &a.to_string(), "--json"]);
    assert_eq!(of_a.as_array().unwrap().len(), 1);
    assert_eq!(of_a[0]["id"], dead_a.as_str());
    assert_eq!(of_a[0]["last_error"], "Bad Request: chat not found");

    let waiting = json(&db, &["jobs", "list", "--state", "pending", "--kind", "set-owner-commands", "--json"]);
    assert_eq!(waiting.as_array().unwrap().len(), 1);
    assert_eq!(waiting[0]["id"], pending.as_str());
    let none = json(&db, &["jobs", "list", "--kind", "remove-member", "--json"]);
    assert_eq!(none.as_array().unwrap().len(), 0);

    let table = gatehouse(&db, &["jobs", "list", "--state", "dead"]);
    assert!(table.stdout.contains(&dead_a) && table.stdout.contains("Bad Request: chat not found"), "{}", table.stdout);

    // Bounds are checked before anything runs.
    for bad in [
        &["jobs", "list", "--limit", "0"][..],
        &["jobs", "list", "--state", "lost"],
        &["jobs", "list", "--kind", "DROP TABLE"],
    ] {
        let out = gatehouse(&db, bad);
        assert!(!out.ok, "{bad:?} was accepted");
    }
}

#[tokio::test]
async fn jobs_show_redacts_secrets_and_lists_every_error_with_its_time_and_the_audit_lines() {
    let db = TestDb::new().await;
    let p = project(&db, 5004).await;
    let id = job_of_project(&db.pool, p, 77, Left::Failed, "Telegram answered 502").await;
    // A job whose args hold a secret (an access code), and an audit line a job wrote.
    let mut conn = db.pool.acquire().await.unwrap();
    let redeem = gatehouse_jobs::catalog::redeem_access_code::RedeemAccessCode {
        project_id: p,
        telegram_user_id: 9,
        language_code: None,
        code: "SECRET-CODE-123".into(),
        cause: "tg:5004:1".into(),
    };
    let gatehouse_jobs::queue::Enqueued::New(secret_job) =
        gatehouse_jobs::queue::enqueue(&mut conn, &redeem, gatehouse_jobs::queue::RunAt::Now).await.unwrap()
    else {
        panic!("new job")
    };
    gatehouse_jobs::store::audit::record(
        &db.pool,
        gatehouse_jobs::store::audit::Entry {
            project_id: p,
            telegram_user_id: Some(77),
            chat_id: None,
            action: "kept",
            reason: "still entitled",
            job_id: Some(&id),
            details: serde_json::json!({}),
        },
    )
    .await
    .unwrap();

    let shown = json(&db, &["jobs", "show", &id, "--json"]);
    assert_eq!(shown["state"], "failed");
    assert_eq!(shown["attempts"], 2);
    assert_eq!(shown["project_id"], p.to_string());
    let errors = shown["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[1]["attempt"], 2);
    assert_eq!(errors[1]["error"], "Telegram answered 502");
    assert!(errors[0]["at"].is_string());
    assert_eq!(shown["audit"][0]["action"], "kept");

    let secret = gatehouse(&db, &["jobs", "show", &secret_job]);
    assert!(secret.ok, "{}", secret.stderr);
    assert!(!secret.stdout.contains("SECRET-CODE-123"), "{}", secret.stdout);
    assert!(secret.stdout.contains("[redacted]"), "{}", secret.stdout);
    let secret = json(&db, &["jobs", "show", &secret_job, "--json"]);
    assert_eq!(secret["args"]["code"], "[redacted]");
    assert_eq!(secret["args"]["telegram_user_id"], 9);

    let missing = gatehouse(&db, &["jobs", "show", "01NOSUCHJOB"]);
    assert!(!missing.ok && missing.stderr.contains("no job 01NOSUCHJOB"));
}

#[tokio::test]
async fn jobs_retry_by_id_or_by_kind_and_state_runs_them_again_and_audits_each() {
    let db = TestDb::new().await;
    let p = project(&db, 5005).await;
    let one = job_of_project(&db.pool, p, 1, Left::Dead, "Forbidden").await;
    let two = job_of_project(&db.pool, p, 2, Left::Dead, "Forbidden").await;
    let failed = job_of_project(&db.pool, p, 3, Left::Failed, "502").await;
    let waiting = job_of_project(&db.pool, p, 4, Left::Pending { later: false }, "").await;

    let out = gatehouse(&db, &["jobs", "retry", &one]);
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains(&format!("retried {one}")));
    assert_eq!(status_of(&db.pool, &one).await, "Pending");
    assert_eq!(audit_actions(&db.pool, &one).await, ["job_retried"]);
    // A dead job out of attempts gets one more; its runs so far are kept.
    let (attempts, max): (i32, i32) = sqlx::query_as("SELECT attempts, max_attempts FROM apalis.jobs WHERE id = $1")
        .bind(&one)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1);
    assert!(max > attempts);

    let bulk = json(&db, &["jobs", "retry", "--kind", "set-owner-commands", "--state", "dead", "--json"]);
    assert_eq!(bulk["retried"], serde_json::json!([two]));
    assert_eq!(status_of(&db.pool, &failed).await, "Failed", "only dead jobs were asked for");
    assert_eq!(audit_actions(&db.pool, &two).await, ["job_retried"]);

    // A waiting job is not retried, and the command says so and fails.
    let out = gatehouse(&db, &["jobs", "retry", &waiting, "--json"]);
    assert!(!out.ok);
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(answer["skipped"], serde_json::json!([waiting]));
    assert!(audit_actions(&db.pool, &waiting).await.is_empty());
    // Retrying everything needs a choice.
    assert!(!gatehouse(&db, &["jobs", "retry"]).ok);
    assert!(!gatehouse(&db, &["jobs", "retry", "--state", "pending"]).ok);
}

#[tokio::test]
async fn jobs_cancel_ends_waiting_jobs_leaves_running_ones_and_audits_each() {
    let db = TestDb::new().await;
    let p = project(&db, 5006).await;
    let waiting = job_of_project(&db.pool, p, 1, Left::Pending { later: true }, "").await;
    let failed = job_of_project(&db.pool, p, 2, Left::Failed, "502").await;
    let running = job_of_project(&db.pool, p, 3, Left::Pending { later: false }, "").await;
    sqlx::query("UPDATE apalis.jobs SET status = 'Running' WHERE id = $1")
        .bind(&running)
        .execute(&db.pool)
        .await
        .unwrap();

    let out = json(&db, &["jobs", "cancel", &waiting, &failed, "--json"]);
    assert_eq!(out["cancelled"].as_array().unwrap().len(), 2);
    for id in [&waiting, &failed] {
        assert_eq!(status_of(&db.pool, id).await, "Killed");
        assert_eq!(audit_actions(&db.pool, id).await, ["job_cancelled"]);
    }
    let shown = json(&db, &["jobs", "show", &waiting, "--json"]);
    assert_eq!(shown["last_error"], gatehouse_jobs::store::operator::CANCELLED);

    let out = gatehouse(&db, &["jobs", "cancel", &running]);
    assert!(!out.ok, "a running job is its worker's");
    assert!(out.stderr.contains(&running));
    assert_eq!(status_of(&db.pool, &running).await, "Running");
    assert!(!gatehouse(&db, &["jobs", "cancel"]).ok, "cancel needs ids");
}

#[tokio::test]
async fn bots_shows_budget_use_429s_and_pause_and_pause_and_resume_are_audited() {
    let db = TestDb::new().await;
    let p = project(&db, 5007).await;
    gatehouse_jobs::store::budget::record_rate_limited(&db.pool, 5007).await.unwrap();
    gatehouse_jobs::store::budget::record_rate_limited(&db.pool, 5007).await.unwrap();

    let bots = json(&db, &["bots", "--json"]);
    assert_eq!(bots[0]["telegram_bot_id"], 5007);
    assert_eq!(bots[0]["rate_limited_last_hour"], 2);
    assert_eq!(bots[0]["paused_until"], Value::Null);
    assert_eq!(bots[0]["calls_per_second"], 30);

    let paused = json(&db, &["bots", "pause", "5007", "--for", "600", "--json"]);
    assert!(paused["paused_until"].is_string());
    let bots = json(&db, &["bots", "list", "--json"]);
    assert!(bots[0]["paused_until"].is_string(), "{bots}");
    let table = gatehouse(&db, &["bots"]);
    assert!(table.stdout.contains("paused, ends in"), "{}", table.stdout);

    let out = gatehouse(&db, &["bots", "resume", "5007"]);
    assert!(out.ok && out.stdout.contains("bot 5007 resumed"), "{}", out.stderr);
    let bots = json(&db, &["bots", "--json"]);
    assert_eq!(bots[0]["paused_until"], Value::Null);

    let actions: Vec<(String, Option<uuid::Uuid>)> =
        sqlx::query_as("SELECT action, project_id FROM audit_log WHERE action LIKE 'bot_%' ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(actions, [("bot_paused".to_string(), Some(p)), ("bot_resumed".to_string(), Some(p))]);

    assert!(!gatehouse(&db, &["bots", "pause", "999999"]).ok, "an unknown bot");
    assert!(!gatehouse(&db, &["bots", "pause", "5007", "--for", "0"]).ok, "a pause out of bounds");
    assert!(!gatehouse(&db, &["bots", "pause", "5007", "--for", "9999999"]).ok, "a pause out of bounds");
}
