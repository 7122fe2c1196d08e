//! Nothing one input or one fault can stop: rows a worker cannot decode, jobs that panic,
//! dates past the calendar, claims on someone else's bot, values Postgres cannot store,
//! snoozes and backoff, links written before they are made, migration history, and the
//! HTTP server's limits. Each test reproduces what was seen before the fix.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use gatehouse_jobs::{
    catalog::{
        diagnostics::{Probe, ProbeFailure},
        process_telegram_update::ProcessTelegramUpdate,
    },
    queue::{Envelope, RunAt, enqueue},
};
use gatehouse_sim::{Fault, UserInfo};
use gatehouse_tests::{
    TEST_ADMIN_TOKEN, TestDb, app::TestApp, drain, drain_all, insert_connected_bot, spawn_api, spawn_worker,
    test_config, wait_until,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn probe(key: &str) -> Probe {
    Probe { key: key.into(), sleep_ms: 0, fail_first: 0, failure: ProbeFailure::Transient }
}

/// Writes a row straight into a queue, bypassing `enqueue`'s checks (as a bad release,
/// a manual fix or a row written by another version could).
async fn insert_raw(db: &TestDb, queue: &str, bytes: &[u8]) -> String {
    let id = ulid_like();
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata)
         VALUES ($1, $2, $3, 'Pending', 0, 12, now(), 0, ''::hstore)",
    )
    .bind(&id)
    .bind(queue)
    .bind(bytes)
    .execute(&db.pool)
    .await
    .unwrap();
    id
}

fn ulid_like() -> String {
    // 26 characters of Crockford base32, like apalis's ids; a v7 uuid keeps them ordered.
    let n = uuid::Uuid::now_v7().as_u128();
    let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26).rev().map(|i| alphabet[((n >> (i * 5)) & 31) as usize] as char).collect()
}

/// A probe's envelope, as a worker of any queue would run it.
fn probe_row(key: &str) -> Vec<u8> {
    serde_json::to_vec(&Envelope { kind: "probe".into(), args: serde_json::to_value(probe(key)).unwrap() }).unwrap()
}

async fn job(db: &TestDb, id: &str) -> gatehouse_jobs::store::queue::JobRow {
    db.jobs().await.into_iter().find(|j| j.id == id).expect("the job row")
}

async fn finished(db: &TestDb, key: &str) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM diagnostic_probe_runs WHERE probe_key = $1 AND phase = 'finished')",
    )
    .bind(key)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

// 1. Poison rows ----------------------------------------------------------------------

#[tokio::test]
async fn an_update_nested_too_deep_for_a_worker_is_refused_at_the_webhook() {
    let db = TestDb::new().await;
    insert_connected_bot(&db.pool, 7_000_101, "deep-secret").await;
    let api = spawn_api(Arc::new(test_config(&db.url, &[])), db.pool.clone()).await;
    // 126 levels: within serde_json's 128, deeper than a worker can read once wrapped.
    let body = format!(r#"{{"update_id": 1, "message": {}1{}}}"#, "[".repeat(124), "]".repeat(124));
    let status = reqwest::Client::new()
        .post(format!("{}/hooks/telegram/7000101", api.url()))
        .header("X-Telegram-Bot-Api-Secret-Token", "deep-secret")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
    assert!(db.jobs().await.is_empty(), "nothing a worker could not read was enqueued");
}

#[tokio::test]
async fn a_row_too_deep_to_decode_is_killed_with_its_reason_and_the_queue_goes_on() {
    let db = TestDb::new().await;
    let deep = format!(r#"{{"kind":"probe","args":{}1{}}}"#, "[".repeat(130), "]".repeat(130));
    let poison = insert_raw(&db, "interactive", deep.as_bytes()).await;
    let after = insert_raw(&db, "interactive", &probe_row("after-deep")).await;
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    drain_all(&db.pool, Duration::from_secs(30)).await;
    let row = job(&db, &poison).await;
    assert_eq!(row.status, "Killed");
    assert!(row.last_result.unwrap().to_string().contains("cannot be decoded"), "the reason is kept");
    assert_eq!(job(&db, &after).await.status, "Done", "the interactive queue kept running");
    assert!(finished(&db, "after-deep").await);
    worker.stop().await;
}

#[tokio::test]
async fn a_row_that_is_not_json_is_killed_and_the_worker_stream_starts_again() {
    let db = TestDb::new().await;
    let garbage = insert_raw(&db, "interactive", b"\xff\xfe not json at all").await;
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    wait_until(Duration::from_secs(30), "the garbage row killed", || async {
        job(&db, &garbage).await.status == "Killed"
    })
    .await;
    // The stream that could not read it was started again: new work still runs.
    let after = insert_raw(&db, "interactive", &probe_row("after-garbage")).await;
    wait_until(Duration::from_secs(30), "work after the garbage row", || async {
        job(&db, &after).await.status == "Done"
    })
    .await;
    worker.stop().await;
}

/// The worker's completer writes job starts and acknowledgements in batches, apart from
/// the stream's claims (worker/src/backend.rs): one it cannot write ends the stream, as a
/// failed write of apalis's own did, and the row is rescued and run again, not left
/// `Running` under a worker that goes on.
#[tokio::test]
async fn an_acknowledgement_the_database_refuses_ends_the_stream_and_the_job_runs_again() {
    let db = TestDb::new().await;
    // The first write that ends a job Done fails (a sequence's value is not rolled back).
    sqlx::raw_sql(
        "CREATE SEQUENCE refuse_first_ack;
         CREATE FUNCTION refuse_first_ack() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.status = 'Done' AND OLD.status <> 'Done' AND nextval('refuse_first_ack') = 1 THEN
                 RAISE EXCEPTION 'acknowledgement refused for the test';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_first_ack BEFORE UPDATE ON apalis.jobs
             FOR EACH ROW EXECUTE FUNCTION refuse_first_ack();",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let row = insert_raw(&db, "interactive", &probe_row("refused-ack")).await;
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    wait_until(Duration::from_secs(60), "the job done after its refused acknowledgement", || async {
        job(&db, &row).await.status == "Done"
    })
    .await;
    let runs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM diagnostic_probe_runs WHERE probe_key = 'refused-ack' AND phase = 'finished'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(runs, 2, "run once, its acknowledgement refused, rescued and run again");
    let refused: i64 = sqlx::query_scalar("SELECT last_value FROM refuse_first_ack").fetch_one(&db.pool).await.unwrap();
    assert!(refused >= 2, "the second acknowledgement went through the same trigger");
    // The restarted stream runs new work.
    let after = insert_raw(&db, "interactive", &probe_row("after-refused-ack")).await;
    wait_until(Duration::from_secs(30), "work after the refused acknowledgement", || async {
        job(&db, &after).await.status == "Done"
    })
    .await;
    worker.stop().await;
}

// 2. Panics ----------------------------------------------------------------------------

#[tokio::test]
async fn a_job_that_panics_ends_killed_with_the_panic_message_and_the_worker_goes_on() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    enqueue(&mut conn, &Probe { fail_first: 99, failure: ProbeFailure::Panic, ..probe("panics") }, RunAt::Now)
        .await
        .unwrap();
    enqueue(&mut conn, &probe("after-panic"), RunAt::Now).await.unwrap();
    drop(conn);
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    drain_all(&db.pool, Duration::from_secs(30)).await;
    let rows = db.jobs().await;
    let panicked = rows.iter().find(|j| j.idempotency_key.as_deref() == Some("probe:panics")).unwrap();
    assert_eq!((panicked.status.as_str(), panicked.attempts), ("Killed", 1), "not Running, not run again");
    assert!(panicked.last_result.as_ref().unwrap().to_string().contains("panicking as asked"));
    assert!(finished(&db, "after-panic").await);
    worker.stop().await;
}

// 6. Backoff ---------------------------------------------------------------------------

#[tokio::test]
async fn snoozes_do_not_lengthen_the_backoff_of_a_later_failure() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let job = Probe { fail_first: 10, failure: ProbeFailure::RateLimitedThenTransient(0), ..probe("snoozy") };
    enqueue(&mut conn, &job, RunAt::Now).await.unwrap();
    drop(conn);
    let worker = spawn_worker(Arc::new(test_config(&db.url, &[]))).await;
    // Ten snoozes, one failure, one success: the failure is the first, so its backoff is
    // the first (1–2 s), not the eleventh (over 17 minutes).
    wait_until(Duration::from_secs(60), "the probe finishes", || finished(&db, "snoozy")).await;
    let starts: Vec<chrono::DateTime<Utc>> = sqlx::query_scalar(
        "SELECT at FROM diagnostic_probe_runs WHERE probe_key = 'snoozy' AND phase = 'started' ORDER BY at",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(starts.len(), 12);
    let backoff = starts[11] - starts[10];
    assert!(backoff < chrono::Duration::seconds(5), "waited {backoff} after one failure");
    assert!(backoff >= chrono::Duration::milliseconds(900), "retried at once: {backoff}");
    worker.stop().await;
}

// 3. Dates past the calendar -----------------------------------------------------------

#[tokio::test]
async fn a_duration_or_trial_past_the_bounds_is_refused_naming_the_field() {
    let app = TestApp::start().await;
    let world = app.world().await;
    for (field, value) in
        [("duration_days", 2_147_483_647i64), ("trial_days", 2_147_483_647), ("duration_days", 36_601)]
    {
        let mut plan = json!({"name": "Forever", "price": 500, "currency": "USD", "duration_days": 30,
                              "recurring": true, "trial_days": 0, "chat_ids": [world.channel.id]});
        plan[field] = json!(value);
        let (status, body) = app.post(&format!("/v1/projects/{}/plans", world.project_id), &world.key, plan).await;
        assert_eq!(status, 422, "{field}={value}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with(field), "{body}");
    }
}

#[tokio::test]
async fn a_stored_period_past_the_calendar_fails_its_job_with_a_reason_and_the_bot_goes_on() {
    let app = TestApp::start().await;
    let world = app.world().await;
    // A plan row from before the bounds existed.
    sqlx::query("UPDATE plans SET duration_days = 2147483647 WHERE id = $1::uuid")
        .bind(&world.plan_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, code) = app
        .post(
            &format!("/v1/projects/{}/access-codes", world.project_id),
            &world.key,
            json!({"plan_id": world.plan_id, "code": "HUGE-PERIOD"}),
        )
        .await;
    assert_eq!(status, 201, "{code}");
    let user = app.started_user(&world, "Ada").await;
    app.tg.send_text(user.id, world.bot.id, "/start HUGE-PERIOD").await.unwrap();
    app.settle(&[world.bot.id]).await;
    let failed: Vec<_> = app.db.jobs().await.into_iter().filter(|j| j.status == "Killed").collect();
    assert!(
        failed.iter().any(|j| j.last_result.as_ref().unwrap().to_string().contains("outside the calendar")),
        "{failed:?}"
    );
    assert!(app.db.jobs().await.iter().all(|j| j.status != "Running"), "nothing left Running");
    // The worker is alive: the bot still answers.
    let before = app.texts_to(&world, user.id).await.len();
    app.tg.send_text(user.id, world.bot.id, "/help").await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert!(app.texts_to(&world, user.id).await.len() > before, "the bot answered after the failure");
}

#[tokio::test]
async fn a_retry_after_of_any_size_snoozes_at_most_a_day_and_never_panics() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let user = app.started_user(&world, "Bo").await;
    // The /start reply goes out first: only the /help reply meets the 429.
    app.settle(&[world.bot.id]).await;
    app.tg
        .add_fault(&Fault {
            method: Some("sendMessage".into()),
            times: Some(1),
            error_code: Some(429),
            retry_after: Some(u64::MAX),
            ..Fault::default()
        })
        .await
        .unwrap();
    app.tg.send_text(user.id, world.bot.id, "/help").await.unwrap();
    wait_until(Duration::from_secs(30), "a job snoozed by the 429", || async {
        app.db.jobs().await.iter().any(|j| j.status == "Pending" && j.run_at > Utc::now() + chrono::Duration::hours(1))
    })
    .await;
    let snoozed =
        app.db.jobs().await.into_iter().filter(|j| j.run_at > Utc::now() + chrono::Duration::hours(1)).count();
    assert!(snoozed >= 1);
    assert!(
        app.db.jobs().await.iter().all(|j| j.run_at <= Utc::now() + chrono::Duration::hours(25)),
        "bounded to a day"
    );
    assert!(app.db.jobs().await.iter().all(|j| j.status != "Running" || j.run_at <= Utc::now()));
}

// 4. Bot-id squatting ------------------------------------------------------------------

#[tokio::test]
async fn a_claim_on_someone_elses_bot_id_with_a_made_up_token_blocks_nobody() {
    let app = TestApp::start().await;
    let bot = app.tg.create_bot_named("real_bot").await.unwrap();
    let project = |handle: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app
                .post(
                    "/v1/projects",
                    TEST_ADMIN_TOKEN,
                    json!({"handle": handle, "name": handle, "owner_telegram_id": 1}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            (
                body["data"]["project_id"].as_str().unwrap().to_string(),
                body["data"]["api_key"].as_str().unwrap().to_string(),
            )
        }
    };
    let put_bot = |project_id: String, key: String, token: String| {
        let app = &app;
        async move {
            app.call(
                reqwest::Method::PUT,
                &format!("/v1/projects/{project_id}/bot"),
                Some(&key),
                Some(json!({"token": token})),
            )
            .await
        }
    };
    // The squatter claims the public bot id first, with a token it made up, and sets limits.
    let (squatter, squatter_key) = project("squatter").await;
    let fake = format!("{}:{}", bot.id, "A".repeat(35));
    assert_eq!(put_bot(squatter.clone(), squatter_key.clone(), fake).await.0, 202);
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/projects/{squatter}/bot/limits"),
            Some(&squatter_key),
            Some(json!({"calls_per_second": 1})),
        )
        .await;
    assert_eq!(status, 409, "limits need a verified bot: {body}");
    app.settle(&[]).await;
    let (_, view) = app.get(&format!("/v1/projects/{squatter}/bot"), &squatter_key).await;
    assert_eq!(view["data"]["status"], "failed", "{view}");

    // The real owner connects the bot: nobody stands in the way.
    let (owner, owner_key) = project("owner").await;
    let (status, body) = put_bot(owner.clone(), owner_key.clone(), bot.token.clone()).await;
    assert_eq!(status, 202, "{body}");
    app.settle(&[]).await;
    let (_, view) = app.get(&format!("/v1/projects/{owner}/bot"), &owner_key).await;
    assert_eq!(view["data"]["status"], "connected", "{view}");
    assert_eq!(view["data"]["limits"]["calls_per_second"], serde_json::Value::Null, "no limits left by the squatter");

    // Now the bot id is taken: a second claim is refused at once.
    let (other, other_key) = project("other").await;
    let (status, _) = put_bot(other, other_key, format!("{}:{}", bot.id, "B".repeat(35))).await;
    assert_eq!(status, 409);
}

// 5. Values Postgres cannot store --------------------------------------------------------

#[tokio::test]
async fn a_nul_character_in_a_request_is_422_naming_the_field_not_503() {
    let app = TestApp::start().await;
    let (status, body) = app
        .post(
            "/v1/projects",
            TEST_ADMIN_TOKEN,
            json!({"handle": "nul", "name": "bad\u{0}name", "owner_telegram_id": 5}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("name:"), "{body}");
}

#[tokio::test]
async fn a_nul_character_in_a_telegram_name_is_stripped_and_the_user_answered() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let user = app.tg.create_user(UserInfo { first_name: "Nu\u{0}ll".into(), ..UserInfo::default() }).await.unwrap();
    app.tg.send_text(user.id, world.bot.id, "/help").await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert!(!app.texts_to(&world, user.id).await.is_empty(), "the user was answered");
    let stored: Option<String> = sqlx::query_scalar("SELECT first_name FROM subscribers WHERE telegram_user_id = $1")
        .bind(user.id)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
        .flatten();
    assert_eq!(stored.as_deref(), Some("Null"));
    assert!(app.db.jobs().await.iter().all(|j| j.status == "Done"), "nothing failed or retried");
}

// 9. Out-of-range Telegram ids -------------------------------------------------------------

#[tokio::test]
async fn a_user_id_above_i64_max_never_wraps_to_a_negative_id() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let update = json!({
        "update_id": 77,
        "message": {"message_id": 1, "date": 1_700_000_000,
                    "chat": {"id": 9_223_372_036_854_775_807i64, "type": "private"},
                    "from": {"id": u64::MAX, "is_bot": false, "first_name": "Huge"},
                    "text": "/start"}
    });
    app.enqueue(&ProcessTelegramUpdate { bot_id: world.bot.id, update_id: 77, update }).await;
    drain_all(&app.db.pool, Duration::from_secs(30)).await;
    let negative = app.db.count("SELECT count(*) FROM subscribers WHERE telegram_user_id < 0").await;
    assert_eq!(negative, 0, "no subscriber under a wrapped id");
    let key = format!("process-telegram-update:tg:{}:77", world.bot.id);
    let row = app.db.jobs().await.into_iter().find(|j| j.idempotency_key.as_deref() == Some(key.as_str())).unwrap();
    assert_eq!(row.status, "Killed", "{row:?}");
    assert!(row.last_result.unwrap().to_string().contains("out of range"));
}

// 7. Links written before they are made ------------------------------------------------

#[tokio::test]
async fn a_links_row_exists_before_telegram_makes_it_and_a_retry_completes_it() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let user = app.started_user(&world, "Cy").await;
    // The first createChatInviteLink never answers: a crash between Telegram making the link
    // and Gatehouse recording it looks like this from Gatehouse's side.
    app.tg
        .add_fault(&Fault {
            method: Some("createChatInviteLink".into()),
            times: Some(1),
            drop_connection: true,
            ..Fault::default()
        })
        .await
        .unwrap();
    app.grant(&world, user.id, serde_json::Value::Null).await;
    wait_until(Duration::from_secs(30), "a pending link row", || async {
        app.db.count("SELECT count(*) FROM invite_links WHERE state = 'pending' AND link IS NULL").await == 1
    })
    .await;
    app.settle(&[world.bot.id]).await;
    assert_eq!(app.db.count("SELECT count(*) FROM invite_links").await, 1, "the retry completed the same row");
    assert_eq!(app.db.count("SELECT count(*) FROM invite_links WHERE state = 'open' AND link IS NOT NULL").await, 1);
    assert_eq!(app.invite_links_to(&world, user.id).await.len(), 1, "the user got one link");
    // Telegram was asked twice (the dropped call, then the retry): no link was made that
    // Gatehouse has no row for.
    assert_eq!(app.tg.calls_of("createChatInviteLink").await.unwrap().len(), 2, "no untracked link was made");
}

// 8. Migration history -------------------------------------------------------------------

async fn fresh_database() -> (String, String) {
    let name = format!("gatehouse_test_hist_{}", uuid::Uuid::new_v4().simple());
    (format!("{}/{name}", gatehouse_tests::PG_SERVER), name)
}

async fn drop_database(name: &str) {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", gatehouse_tests::PG_SERVER)).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// Migrates a database with an earlier release's migrations (kept in `tests/fixtures/`),
/// then with today's: it must succeed and leave the database ready.
async fn upgrade_from(release: &str) {
    let (url, name) = fresh_database().await;
    gatehouse_jobs::db::create_database_if_missing(&url).await.unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url).await.unwrap();
    // The queue's own schema, as `gatehouse migrate` sets it up.
    gatehouse_jobs::db::setup_queue(&pool).await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(format!("migrations-{release}"));
    sqlx::migrate::Migrator::new(dir).await.unwrap().run(&pool).await.expect("the old release migrates");
    assert!(!gatehouse_jobs::db::is_ready(&pool).await, "{release}: not ready before today's migrations");
    gatehouse_jobs::db::migrate(&url).await.unwrap_or_else(|e| panic!("{release} → today: {e}"));
    assert!(gatehouse_jobs::db::is_ready(&pool).await, "{release}: ready after today's migrations");
    let lease: bool =
        sqlx::query_scalar("SELECT to_regproc('gatehouse_lease_slots') IS NOT NULL").fetch_one(&pool).await.unwrap();
    assert!(lease);
    pool.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn a_database_of_each_earlier_release_migrates_to_today() {
    upgrade_from("4c32162").await;
    upgrade_from("cc8b2f7").await;
}

#[tokio::test]
async fn readiness_requires_every_migration_applied_with_its_checksum() {
    let db = TestDb::new().await;
    assert!(gatehouse_jobs::db::is_ready(&db.pool).await);
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 20261121000002")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(!gatehouse_jobs::db::is_ready(&db.pool).await, "an old migration applied from another text");
    assert_eq!(gatehouse_jobs::db::unapplied_migrations(&db.pool).await.unwrap(), vec![20261121000002]);
}

// 9. The HTTP server's limits -------------------------------------------------------------

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let db = TestDb::new().await;
    let config = test_config(&db.url, &[("GATEHOUSE_HTTP_HEADER_TIMEOUT_MS", "300")]);
    let api = spawn_api(Arc::new(config), db.pool.clone()).await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(tokio::net::TcpStream::connect(api.addr).await.unwrap());
    }
    let mut half = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // A kept-alive connection that was served once and then goes quiet.
    let mut kept = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 256];
    let n = kept.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    for mut stream in idle.into_iter().chain([half, kept]) {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a connection that sent no complete request stayed open");
    }
}

#[tokio::test]
async fn connections_past_the_limit_wait_to_be_served() {
    let db = TestDb::new().await;
    let config = test_config(&db.url, &[("GATEHOUSE_HTTP_MAX_CONNECTIONS", "2")]);
    let api = spawn_api(Arc::new(config), db.pool.clone()).await;
    let a = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = format!("{}/healthz", api.url());
    let third = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third connection was served past the limit of 2");
    drop(a);
    let status = tokio::time::timeout(Duration::from_secs(15), third).await.expect("served once a slot freed");
    assert_eq!(status.unwrap().unwrap(), 200);
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_is_answered_408() {
    let db = TestDb::new().await;
    let config = test_config(&db.url, &[("GATEHOUSE_HTTP_REQUEST_TIMEOUT_MS", "300")]);
    let api = spawn_api(Arc::new(config), db.pool.clone()).await;
    let mut stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_ADMIN_TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("answered").unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
}

#[tokio::test]
async fn the_api_is_503_only_while_the_database_is_unreachable() {
    let db = TestDb::new().await;
    let proxy = gatehouse_tests::PgProxy::start().await;
    let pool = gatehouse_jobs::db::pool(&proxy.url(&db.name), 4).unwrap();
    let api = spawn_api(Arc::new(test_config(&db.url, &[])), pool).await;
    let http = reqwest::Client::new();
    let create = |handle: &'static str| {
        http.post(format!("{}/v1/projects", api.url()))
            .bearer_auth(TEST_ADMIN_TOKEN)
            .json(&json!({"handle": handle, "name": "P", "owner_telegram_id": 1}))
            .send()
    };
    assert_eq!(create("up").await.unwrap().status(), 201);
    proxy.cut();
    assert_eq!(create("down").await.unwrap().status(), 503);
    proxy.restore();
    assert_eq!(create("back").await.unwrap().status(), 201);
    // A conflict is the client's, whatever the database's state.
    assert_eq!(create("back").await.unwrap().status(), 409);
    drain(&db.pool, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_callers_id_is_echoed() {
    let db = TestDb::new().await;
    let api = spawn_api(Arc::new(test_config(&db.url, &[])), db.pool.clone()).await;
    let http = reqwest::Client::new();
    let fresh = http.get(format!("{}/healthz", api.url())).send().await.unwrap();
    let id = fresh.headers().get("x-request-id").expect("a request id").to_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    let echoed = http.get(format!("{}/nowhere", api.url())).header("x-request-id", "edge-123").send().await.unwrap();
    assert_eq!(echoed.status(), 404);
    assert_eq!(echoed.headers().get("x-request-id").unwrap(), "edge-123");
    let unsafe_id = http.get(format!("{}/healthz", api.url())).header("x-request-id", "a b\tc").send().await.unwrap();
    assert_ne!(unsafe_id.headers().get("x-request-id").unwrap(), "a b\tc", "a caller's id is checked first");
}
