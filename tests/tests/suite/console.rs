//! `/console` over HTTP: who may sign in and how (a form and a signed cookie, never a
//! token in a URL), what a project key sees and may do, CSRF, security headers, and
//! that every action is audited. The browser tests are in `console_browser.rs`.

use std::sync::Arc;

use gatehouse_tests::{
    TEST_ADMIN_TOKEN, TestDb, insert_connected_bot,
    operator::{Left, api_key, audit_actions, job_of_project, status_of},
    spawn_api, test_config,
};
use reqwest::{StatusCode, header};

struct Console {
    url: String,
    http: reqwest::Client,
}

impl Console {
    async fn start(db: &TestDb) -> (Self, gatehouse_tests::Running) {
        let config = Arc::new(test_config(&db.url, &[]));
        let api = spawn_api(config, db.pool.clone()).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        (Console { url: api.url(), http }, api)
    }

    /// Signs in with `token`; returns the status and the cookie set, if any.
    async fn sign_in(&self, token: &str) -> (StatusCode, Option<String>) {
        let response =
            self.http.post(format!("{}/console/sign-in", self.url)).form(&[("token", token)]).send().await.unwrap();
        let cookie = response.headers().get(header::SET_COOKIE).map(|v| v.to_str().unwrap().to_string());
        (response.status(), cookie)
    }

    /// The dashboard with this cookie: status and body.
    async fn dashboard(&self, cookie: &str) -> (StatusCode, String) {
        let response =
            self.http.get(format!("{}/console", self.url)).header(header::COOKIE, pair(cookie)).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, cookie: &str, csrf: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .header(header::COOKIE, pair(cookie))
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap()
    }
}

/// `name=value` of a Set-Cookie value.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// The CSRF token a page's forms carry.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_console_asks_for_a_sign_in_and_the_admin_token_signs_in_with_a_signed_http_only_cookie() {
    let db = TestDb::new().await;
    let (console, _api) = Console::start(&db).await;
    let response = console.http.get(format!("{}/console", console.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/console/sign-in");

    let form = console.http.get(format!("{}/console/sign-in", console.url)).send().await.unwrap();
    let headers = form.headers().clone();
    let page = form.text().await.unwrap();
    assert!(page.contains("method=\"post\"") && page.contains("type=\"password\""), "{page}");
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

    let (status, cookie) = console.sign_in(TEST_ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/console"),
        "{cookie}"
    );
    assert!(!cookie.contains(TEST_ADMIN_TOKEN), "the cookie names the session, never the token");
    let (status, page) = console.dashboard(&cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Failed and dead jobs") && page.contains("Queues") && page.contains("/metrics"), "{page}");
    assert!(page.contains("http-equiv=\"refresh\""), "the dashboard refreshes itself");

    // A tampered cookie is no session.
    let tampered = cookie.replacen("gatehouse_console=", "gatehouse_console=x", 1);
    let response = console
        .http
        .get(format!("{}/console", console.url))
        .header(header::COOKIE, pair(&tampered))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_wrong_token_or_a_key_without_jobs_read_is_refused() {
    let db = TestDb::new().await;
    let project = insert_connected_bot(&db.pool, 7001, "secret").await;
    let no_jobs = api_key(&db.pool, project, &["projects:write"]).await;
    let (console, _api) = Console::start(&db).await;
    for wrong in ["not-the-token", no_jobs.as_str(), "", &"x".repeat(600)] {
        let (status, cookie) = console.sign_in(wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");
        assert!(cookie.is_none());
    }
}

#[tokio::test]
async fn a_project_key_sees_only_its_own_projects_failed_jobs() {
    let db = TestDb::new().await;
    let mine = insert_connected_bot(&db.pool, 7002, "secret").await;
    let theirs = insert_connected_bot(&db.pool, 7003, "secret").await;
    let my_job = job_of_project(&db.pool, mine, 1, Left::Dead, "Bad Request: CHAT_ADMIN_REQUIRED").await;
    let their_job = job_of_project(&db.pool, theirs, 2, Left::Dead, "Forbidden: bot was blocked").await;
    let key = api_key(&db.pool, mine, &["jobs:read"]).await;
    let (console, _api) = Console::start(&db).await;

    let (_, cookie) = console.sign_in(&key).await;
    let (status, page) = console.dashboard(&cookie.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&my_job) && page.contains("CHAT_ADMIN_REQUIRED"));
    assert!(!page.contains(&their_job) && !page.contains("bot was blocked"), "another project's job leaked");
    assert!(!page.contains("7003"), "another project's bot leaked");
    assert!(!page.contains("id=\"queues\""), "every project's queues are the admin's");
    assert!(!page.contains("/retry"), "jobs:read may not act");

    let (_, admin) = console.sign_in(TEST_ADMIN_TOKEN).await;
    let (_, page) = console.dashboard(&admin.unwrap()).await;
    assert!(page.contains(&my_job) && page.contains(&their_job), "the admin sees everything");
}

#[tokio::test]
async fn acting_needs_jobs_write_the_sessions_csrf_token_and_the_keys_own_project_and_is_audited() {
    let db = TestDb::new().await;
    let mine = insert_connected_bot(&db.pool, 7004, "secret").await;
    let theirs = insert_connected_bot(&db.pool, 7005, "secret").await;
    let my_job = job_of_project(&db.pool, mine, 1, Left::Dead, "Forbidden").await;
    let their_job = job_of_project(&db.pool, theirs, 2, Left::Dead, "Forbidden").await;
    let my_failing = job_of_project(&db.pool, mine, 3, Left::Failed, "502").await;
    let reader = api_key(&db.pool, mine, &["jobs:read"]).await;
    let writer = api_key(&db.pool, mine, &["jobs:read", "jobs:write"]).await;
    let (console, _api) = Console::start(&db).await;

    let reader = console.sign_in(&reader).await.1.unwrap();
    let (_, page) = console.dashboard(&reader).await;
    let response = console.post(&format!("/console/jobs/{my_job}/retry"), &reader, &csrf_of(&page)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(status_of(&db.pool, &my_job).await, "Killed");

    let writer = console.sign_in(&writer).await.1.unwrap();
    let (_, page) = console.dashboard(&writer).await;
    let csrf = csrf_of(&page);
    // Without the session's token, nothing happens.
    let response = console.post(&format!("/console/jobs/{my_job}/retry"), &writer, "forged").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = console
        .post(&format!("/console/jobs/{my_job}/retry"), &writer, &csrf_of(&console.dashboard(&reader).await.1))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "another session's token");
    assert_eq!(status_of(&db.pool, &my_job).await, "Killed");

    // Another project's job is out of reach, even by id.
    let response = console.post(&format!("/console/jobs/{their_job}/retry"), &writer, &csrf).await;
    assert_eq!(response.headers()[header::LOCATION], format!("/console?notice=not-retried&job={their_job}"));
    assert_eq!(status_of(&db.pool, &their_job).await, "Killed");

    let response = console.post(&format!("/console/jobs/{my_job}/retry"), &writer, &csrf).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], format!("/console?notice=retried&job={my_job}"));
    assert_eq!(status_of(&db.pool, &my_job).await, "Pending");
    assert_eq!(audit_actions(&db.pool, &my_job).await, ["job_retried"]);

    let response = console.post(&format!("/console/jobs/{my_failing}/cancel"), &writer, &csrf).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&db.pool, &my_failing).await, "Killed");
    assert_eq!(audit_actions(&db.pool, &my_failing).await, ["job_cancelled"]);
    let (project, reason): (Option<uuid::Uuid>, String) =
        sqlx::query_as("SELECT project_id, reason FROM audit_log WHERE job_id = $1")
            .bind(&my_failing)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(project, Some(mine));
    assert!(reason.contains("api key"), "{reason}");

    let bad = console.post("/console/jobs/a%20b%3B/retry", &writer, &csrf).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_revoked_key_is_signed_out_at_once() {
    let db = TestDb::new().await;
    let project = insert_connected_bot(&db.pool, 7006, "secret").await;
    let key = api_key(&db.pool, project, &["*"]).await;
    let (console, _api) = Console::start(&db).await;
    let cookie = console.sign_in(&key).await.1.unwrap();
    assert_eq!(console.dashboard(&cookie).await.0, StatusCode::OK);
    sqlx::query("UPDATE api_keys SET revoked_at = now()").execute(&db.pool).await.unwrap();
    assert_eq!(console.dashboard(&cookie).await.0, StatusCode::SEE_OTHER);
}
