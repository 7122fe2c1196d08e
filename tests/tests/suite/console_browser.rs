//! `/console` in headless Chromium: an operator signs in, finds an injected failed job
//! with its reason within the first screen, retries it and sees it succeed; a project
//! key sees only its own project's jobs. Screenshots go to `artifacts/screenshots/`
//! (`console-*.png`).

use std::time::Duration;

use fantoccini::Locator;
use gatehouse_jobs::{
    catalog::diagnostics::{Probe, ProbeFailure},
    store::operator::{Filter, State},
};
use gatehouse_tests::{
    TEST_ADMIN_TOKEN,
    app::TestApp,
    browser, drain, insert_connected_bot,
    operator::{Left, api_key, job_of_project, status_of},
};

/// The viewport: a laptop screen.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 800;

async fn sign_in(browser: &browser::Browser, base: &str, token: &str) {
    browser.goto(&format!("{base}/console")).await.unwrap();
    let url = browser.current_url().await.unwrap();
    assert_eq!(url.path(), "/console/sign-in", "the console asks for a sign-in first");
    browser.find(Locator::Id("token")).await.unwrap().send_keys(token).await.unwrap();
    browser.find(Locator::Css("form[action='/console/sign-in'] button")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("failed")).await.expect("the dashboard");
    let url = browser.current_url().await.unwrap();
    assert_eq!(url.path(), "/console");
    assert!(url.query().is_none(), "no token in a URL: {url}");
}

/// The bottom edge of an element, in CSS pixels from the top of the viewport.
async fn bottom_of(browser: &browser::Browser, element: &fantoccini::elements::Element) -> f64 {
    let arg = serde_json::to_value(element).unwrap();
    browser.execute("return arguments[0].getBoundingClientRect().bottom", vec![arg]).await.unwrap().as_f64().unwrap()
}

#[tokio::test]
async fn an_operator_finds_the_failed_job_and_its_reason_on_the_first_screen_retries_it_and_sees_it_succeed() {
    let app = TestApp::start().await;
    // Some history around the job that matters: other projects' dead and failing jobs,
    // work that succeeded.
    for (n, bot) in [8001i64, 8002].into_iter().enumerate() {
        let p = insert_connected_bot(&app.db.pool, bot, "secret").await;
        job_of_project(&app.db.pool, p, n as i64, Left::Failed, "transient: Telegram answered 502 Bad Gateway").await;
        job_of_project(&app.db.pool, p, 10 + n as i64, Left::Pending { later: true }, "").await;
    }
    for n in 0..5 {
        app.enqueue(&Probe { key: format!("fine-{n}"), sleep_ms: 0, fail_first: 0, failure: ProbeFailure::Transient })
            .await;
    }
    // The injected failure: a job that fails permanently on its first run, and succeeds when run again.
    let injected = Probe { key: "injected".into(), sleep_ms: 0, fail_first: 1, failure: ProbeFailure::Permanent };
    app.enqueue(&injected).await;
    drain(&app.db.pool, Duration::from_secs(30)).await;
    let dead =
        gatehouse_jobs::operator::list(&app.db.pool, &Filter { state: Some(State::Dead), ..Filter::default() }, 10)
            .await
            .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let id = dead[0].id.clone();
    gatehouse_jobs::store::operator::roll_up_throughput(&app.db.pool).await.unwrap();

    let browser = browser::open(WIDTH, HEIGHT).await;
    sign_in(&browser, &app.api.url(), TEST_ADMIN_TOKEN).await;
    let row = browser.find(Locator::Css(&format!("tr[data-job='{id}']"))).await.expect("the failed job is listed");
    let text = row.text().await.unwrap();
    assert!(
        text.contains("probe") && text.contains("probe: permanent failure as asked") && text.contains("dead"),
        "{text}"
    );
    let bottom = bottom_of(&browser, &row).await;
    assert!(bottom <= f64::from(HEIGHT), "the failed job is below the first screen ({bottom} px)");
    let shot = browser.screenshot("console-failed-job").await;
    println!("screenshot: {}", shot.display());

    row.find(Locator::Css("button.retry")).await.unwrap().click().await.unwrap();
    let notice = browser.wait().for_element(Locator::Css("p.notice")).await.unwrap();
    assert!(notice.text().await.unwrap().contains(&format!("Job {id} will run again now.")));
    drain(&app.db.pool, Duration::from_secs(30)).await;
    assert_eq!(status_of(&app.db.pool, &id).await, "Done", "the retried job succeeded");
    gatehouse_jobs::store::operator::roll_up_throughput(&app.db.pool).await.unwrap();

    browser.goto(&format!("{}/console", app.api.url())).await.unwrap();
    browser.wait().for_element(Locator::Id("failed")).await.unwrap();
    let rows = browser.find_all(Locator::Css(&format!("tr[data-job='{id}']"))).await.unwrap();
    assert!(rows.is_empty(), "the job left the failed list");
    let failed = browser.find(Locator::Id("failed")).await.unwrap().text().await.unwrap();
    assert!(failed.contains("0 dead, 2 failing"), "{failed}");
    let shot = browser.screenshot("console-after-retry").await;
    println!("screenshot: {}", shot.display());
}

#[tokio::test]
async fn a_project_key_sees_only_its_own_projects_jobs_in_the_browser() {
    let app = TestApp::start().await;
    let mine = insert_connected_bot(&app.db.pool, 8101, "secret").await;
    let theirs = insert_connected_bot(&app.db.pool, 8102, "secret").await;
    let my_job = job_of_project(&app.db.pool, mine, 1, Left::Dead, "Bad Request: CHAT_ADMIN_REQUIRED").await;
    let my_failing = job_of_project(&app.db.pool, mine, 2, Left::Failed, "transient: timed out after 15s").await;
    let their_job = job_of_project(&app.db.pool, theirs, 3, Left::Dead, "Forbidden: bot was blocked by the user").await;
    let key = api_key(&app.db.pool, mine, &["jobs:read", "jobs:write"]).await;

    let browser = browser::open(WIDTH, HEIGHT).await;
    sign_in(&browser, &app.api.url(), &key).await;
    for id in [&my_job, &my_failing] {
        browser.find(Locator::Css(&format!("tr[data-job='{id}']"))).await.expect("its own job is listed");
    }
    let page = browser.source().await.unwrap();
    assert!(!page.contains(&their_job) && !page.contains("bot was blocked"), "another project's job is shown");
    assert!(!page.contains("8102"), "another project's bot is shown");
    let shot = browser.screenshot("console-project-key").await;
    println!("screenshot: {}", shot.display());
}
