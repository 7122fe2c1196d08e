//! The membership page (`/p/{handle}`) end to end: the real api and worker against the
//! simulator. Over plain HTTP: the plans, the 404 page, languages, security headers,
//! sign-in with the Login Widget and as a Mini App (valid, tampered, another bot's,
//! stale), sessions bound to their project and user, CSRF, links and cancel through
//! the bot's jobs. In headless Chromium: a visitor who sees the plans, is refused
//! with a tampered sign-in, signs in, pays through the simulator's Stripe checkout
//! and sees the active subscription and the chat link; the Russian page; a phone.
//! Screenshots of each screen go to `artifacts/screenshots/`.
//!
//! The tests run on the current-thread runtime, as most of the suite does: on a
//! multi-threaded one, a worker still running when the test's database is dropped
//! restarts its streams in a blocking pause that holds the runtime's shutdown for minutes.

use std::time::Duration;

use fantoccini::Locator;
use gatehouse_api::telegram_login::{sign_init_data, sign_widget};
use gatehouse_jobs::catalog::{cancel_subscription::CancelSubscription, unban_then_link::UnbanThenLink};
use gatehouse_sim::UserInfo;
use gatehouse_tests::{
    app::{TestApp, World},
    browser,
};
use reqwest::{StatusCode, header};
use serde_json::json;

const WEBHOOK_SECRET: &str = "whsec_test_membership_page";

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The Login Widget's redirect query for `user`, signed with `token`, dated `auth_date`.
fn widget_query(user: &UserInfo, token: &str, auth_date: i64) -> Vec<(String, String)> {
    let id = user.id.to_string();
    let date = auth_date.to_string();
    let username = user.username.clone().unwrap_or_else(|| "visitor".into());
    let fields = [
        ("id", id.as_str()),
        ("first_name", user.first_name.as_str()),
        ("username", username.as_str()),
        ("photo_url", "https://t.me/i/userpic/320/visitor.jpg"),
        ("auth_date", date.as_str()),
    ];
    let hash = sign_widget(&fields, token);
    let mut pairs: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    pairs.push(("hash".into(), hash));
    pairs
}

fn widget_url(app: &TestApp, pairs: &[(String, String)]) -> String {
    format!("{}/p/club/auth/telegram?{}", app.api.url(), serde_urlencoded::to_string(pairs).unwrap())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs `user` in through the widget; returns the `Cookie` header value.
async fn sign_in(app: &TestApp, world: &World, user: &UserInfo) -> String {
    let response = client().get(widget_url(app, &widget_query(user, &world.bot.token, now()))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

async fn get(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    lang: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = client().get(format!("{}{path}", app.api.url()));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(lang) = lang {
        request = request.header(header::ACCEPT_LANGUAGE, lang);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = client()
        .post(format!("{}{path}", app.api.url()))
        .header(header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response.headers().get(header::LOCATION).map(|l| l.to_str().unwrap().to_string());
    (status, location.unwrap_or_default())
}

/// The CSRF token in a page's forms.
fn csrf_in(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_page_lists_the_plans_with_prices_chats_and_telegram_links() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let yearly = app
        .plan(&world, json!({"name": "Yearly <VIP>", "price": 4900, "currency": "EUR", "duration_days": 365, "recurring": true, "trial_days": 7}))
        .await;

    let (status, headers, html) = get(&app, "/p/club", None, None).await;

    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(html.contains("The Club"));
    assert!(html.contains("Monthly") && html.contains("5.00 USD") && html.contains("30 days"));
    assert!(html.contains("Yearly &lt;VIP&gt;"), "names are escaped");
    assert!(html.contains("49.00 EUR") && html.contains("7 days free") && html.contains("renews automatically"));
    assert!(html.contains("Club Channel"), "the chats each plan includes");
    assert!(html.contains(&format!("https://t.me/{}?start=plan_{}", world.bot.username, world.plan_id)));
    assert!(html.contains(&format!("https://t.me/{}?start=plan_{yearly}", world.bot.username)));
    assert!(
        html.contains("telegram-widget.js")
            && html.contains(&format!("data-telegram-login=\"{}\"", world.bot.username))
    );
    // Signed out: no pay form.
    assert!(!html.contains("/p/club/checkout"));
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline")
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(headers.contains_key(header::REFERRER_POLICY));
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains(" style="), "no inline style");
}

#[tokio::test]
async fn an_unknown_handle_is_a_404_page() {
    let app = TestApp::start().await;
    let (status, headers, html) = get(&app, "/p/nobody-here", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(html.contains("Page not found"));
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let long = format!("/p/{}", "x".repeat(500));
    assert_eq!(get(&app, &long, None, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_speaks_russian_by_accept_language_and_by_choice() {
    let app = TestApp::start().await;
    let _world = app.world().await;

    let (_, _, html) = get(&app, "/p/club", None, Some("ru-RU,ru;q=0.9,en;q=0.5")).await;
    assert!(html.contains("<html lang=\"ru\"") && html.contains("Тарифы") && html.contains("Продолжить в Telegram"));
    assert!(html.contains("30 дней"));

    let (_, headers, html) = get(&app, "/p/club?lang=en", None, Some("ru")).await;
    assert!(html.contains("<html lang=\"en\"") && html.contains("Continue in Telegram"));
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("gh_lang=en;"), "{cookie}");

    let (_, _, html) = get(&app, "/p/club?lang=ru", None, None).await;
    assert!(html.contains("Тарифы"));
}

#[tokio::test]
async fn a_correctly_signed_widget_sign_in_sets_a_signed_http_only_cookie() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let user = app.tg.create_user_named("Ada").await.unwrap();

    let response =
        client().get(widget_url(&app, &widget_query(&user, &world.bot.token, now() - 60))).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/p/club/account");
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("gh_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/p/club", "Max-Age=604800"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "the test's public URL is http");
    let session = cookie.split(';').next().unwrap();
    let (status, _, html) = get(&app, "/p/club/account", Some(session), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("You have no subscription yet."));
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT first_name FROM subscribers s JOIN projects p ON p.id = s.project_id WHERE p.handle = 'club' AND telegram_user_id = $1",
    )
    .bind(user.id)
    .fetch_optional(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(stored.as_deref(), Some("Ada"), "the subscriber is recorded");
}

#[tokio::test]
async fn a_tampered_foreign_or_stale_widget_sign_in_is_refused_without_a_cookie() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let user = app.tg.create_user_named("Eve").await.unwrap();
    let other_bot = app.tg.create_bot_named("other_bot").await.unwrap();
    let good = widget_query(&user, &world.bot.token, now() - 60);

    let mut cases: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i].1 = if bad[i].0 == "id" { "1".into() } else { format!("{}0", bad[i].1) };
        cases.push((format!("{} tampered", good[i].0), bad));
    }
    cases.push(("another bot's signature".into(), widget_query(&user, &other_bot.token, now() - 60)));
    cases.push(("auth_date over a day old".into(), widget_query(&user, &world.bot.token, now() - 86_401)));
    cases.push(("no hash".into(), good.iter().filter(|(k, _)| k != "hash").cloned().collect()));

    for (case, pairs) in cases {
        let response = client().get(widget_url(&app, &pairs)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert!(response.headers().get(header::SET_COOKIE).is_none(), "{case}: no cookie");
        assert!(response.text().await.unwrap().contains("Sign-in refused"), "{case}");
    }
}

#[tokio::test]
async fn a_mini_app_sign_in_is_verified_with_the_web_app_key() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let user = app.tg.create_user_named("Mini").await.unwrap();
    let init_data = |token: &str, auth_date: i64, tamper: bool| {
        let user_json = json!({"id": user.id, "first_name": "Mini", "language_code": "ru"}).to_string();
        let date = auth_date.to_string();
        let fields =
            [("query_id", "AAHdF6IQAAAAAN0XohDhrOrc"), ("user", user_json.as_str()), ("auth_date", date.as_str())];
        let hash = sign_init_data(&fields, token);
        let mut pairs: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if tamper {
            pairs[1].1 = pairs[1].1.replace("Mini", "Maxi");
        }
        pairs.push(("hash".into(), hash));
        serde_urlencoded::to_string(pairs).unwrap()
    };
    let submit = |data: String| {
        let url = format!("{}/p/club/auth/webapp", app.api.url());
        async move { client().post(url).form(&[("init_data", data)]).send().await.unwrap() }
    };

    let ok = submit(init_data(&world.bot.token, now() - 5, false)).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert!(ok.headers()[header::SET_COOKIE].to_str().unwrap().starts_with("gh_session="));

    let widget_key_signed = {
        // Signed with the Login Widget's key instead of the Web App key.
        let user_json = json!({"id": user.id, "first_name": "Mini"}).to_string();
        let date = now().to_string();
        let fields = [("user", user_json.as_str()), ("auth_date", date.as_str())];
        let hash = sign_widget(&fields, &world.bot.token);
        serde_urlencoded::to_string([
            ("user", user_json.as_str()),
            ("auth_date", date.as_str()),
            ("hash", hash.as_str()),
        ])
        .unwrap()
    };
    let other_bot = app.tg.create_bot_named("other_app_bot").await.unwrap();
    // A valid initData posted from another site signs nobody in.
    let cross_site = client()
        .post(format!("{}/p/club/auth/webapp", app.api.url()))
        .header(header::ORIGIN, "https://elsewhere.example")
        .form(&[("init_data", init_data(&world.bot.token, now() - 5, false))])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert!(cross_site.headers().get(header::SET_COOKIE).is_none());

    for (case, data) in [
        ("tampered user", init_data(&world.bot.token, now() - 5, true)),
        ("another bot", init_data(&other_bot.token, now() - 5, false)),
        ("stale", init_data(&world.bot.token, now() - 86_401, false)),
        ("the widget's key", widget_key_signed),
    ] {
        let refused = submit(data).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert!(refused.headers().get(header::SET_COOKIE).is_none(), "{case}");
    }
}

#[tokio::test]
async fn a_session_shows_only_its_own_user_in_its_own_project() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.started_user(&world, "Ada").await;
    let bob = app.started_user(&world, "Bob").await;
    app.grant(&world, bob.id, json!(null)).await;
    app.settle(&[world.bot.id]).await;
    // A second project, with Bob's grant there too.
    let (status, other) = app
        .post(
            "/v1/projects",
            gatehouse_tests::TEST_ADMIN_TOKEN,
            json!({"handle": "other", "name": "Other", "owner_telegram_id": 1}),
        )
        .await;
    assert_eq!(status, 201, "{other}");

    let ada_cookie = sign_in(&app, &world, &ada).await;
    let (status, _, html) = get(&app, "/p/club/account", Some(&ada_cookie), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("You have no subscription yet."), "Ada sees none of Bob's grants");
    assert!(!html.contains("Monthly"));

    // Ada's cookie is not a session in another project.
    let (status, headers, _) = get(&app, "/p/other/account", Some(&ada_cookie), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/p/other");

    // A forged or altered cookie is no session.
    let forged = format!("{}x", ada_cookie);
    let (status, _, _) = get(&app, "/p/club/account", Some(&forged), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let bob_cookie = sign_in(&app, &world, &bob).await;
    let (_, _, html) = get(&app, "/p/club/account", Some(&bob_cookie), None).await;
    assert!(html.contains("Monthly") && html.contains("Active"));
}

#[tokio::test]
async fn every_post_needs_the_sessions_csrf_token() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.started_user(&world, "Ada").await;
    let bob = app.started_user(&world, "Bob").await;
    let ada_cookie = sign_in(&app, &world, &ada).await;
    let bob_cookie = sign_in(&app, &world, &bob).await;
    let (_, _, html) = get(&app, "/p/club", Some(&bob_cookie), None).await;
    let bobs_token = csrf_in(&html);

    for path in ["/p/club/checkout", "/p/club/account/links", "/p/club/sign-out", "/p/club/account/cancel"] {
        let form = [("plan_id", world.plan_id.as_str()), ("provider", "stripe"), ("grant_id", world.plan_id.as_str())];
        assert_eq!(post(&app, path, &ada_cookie, &form).await.0, StatusCode::FORBIDDEN, "{path} without a token");
        let mut with_bobs = form.to_vec();
        with_bobs.push(("csrf", &bobs_token));
        assert_eq!(
            post(&app, path, &ada_cookie, &with_bobs).await.0,
            StatusCode::FORBIDDEN,
            "{path} with another session's token"
        );
    }
    assert!(app.db.enqueued::<UnbanThenLink>().await.is_empty());
}

#[tokio::test]
async fn fresh_links_are_asked_for_through_the_bots_job_and_shown_when_made() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.started_user(&world, "Ada").await;
    let grant = app.grant(&world, ada.id, json!(null)).await;
    app.settle(&[world.bot.id]).await;
    let cookie = sign_in(&app, &world, &ada).await;
    let (_, _, html) = get(&app, "/p/club/account", Some(&cookie), None).await;
    let first: Vec<String> = app.invite_links_to(&world, ada.id).await;
    assert_eq!(first.len(), 1);
    assert!(html.contains(&first[0]), "the open link is shown");

    let (status, location) = post(&app, "/p/club/account/links", &cookie, &[("csrf", &csrf_in(&html))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/p/club/account?links=1");
    let jobs = app.db.enqueued::<UnbanThenLink>().await;
    let asked: Vec<_> = jobs.iter().filter(|j| j.args.reason.starts_with("page:")).collect();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].args.grant_id.to_string(), grant);
    assert_eq!(asked[0].args.chat_id.to_string(), world.chat_uuid);
    app.settle(&[world.bot.id]).await;
    let links = app.invite_links_to(&world, ada.id).await;
    assert_eq!(links.len(), 2, "a fresh link was issued and sent");
    let (_, _, html) = get(&app, "/p/club/account", Some(&cookie), None).await;
    assert!(html.contains(&links[1]), "the fresh link is on the page");
}

#[tokio::test]
async fn cancel_at_period_end_is_enqueued_only_for_the_users_own_subscription() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.connect_stripe(&world, WEBHOOK_SECRET).await;
    let plan = app
        .plan(
            &world,
            json!({"name": "Club Monthly", "price": 900, "currency": "EUR", "duration_days": 30, "recurring": true}),
        )
        .await;
    let ada = app.started_user(&world, "Ada").await;
    let bob = app.started_user(&world, "Bob").await;
    for user in [&ada, &bob] {
        let answer = app.checkout(&world, user.id, &plan, "stripe").await;
        let session: String = sqlx::query_scalar("SELECT external_id FROM checkout_requests WHERE id = $1::uuid")
            .bind(answer["checkout_id"].as_str().unwrap())
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        app.tg.complete_checkout(&session, &Default::default()).await.unwrap();
    }
    app.settle(&[world.bot.id]).await;
    let grant_of = |user: i64| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>(
                "SELECT g.id FROM grants g JOIN subscribers s ON s.id = g.subscriber_id WHERE s.telegram_user_id = $1 AND g.source = 'stripe'",
            )
            .bind(user)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (ada_grant, bob_grant) = (grant_of(ada.id).await, grant_of(bob.id).await);
    let cookie = sign_in(&app, &world, &ada).await;
    let (_, _, html) = get(&app, "/p/club/account", Some(&cookie), None).await;
    assert!(html.contains("Renews on") && html.contains("Cancel renewal"));
    let csrf = csrf_in(&html);

    let bobs = bob_grant.to_string();
    let (status, _) = post(&app, "/p/club/account/cancel", &cookie, &[("csrf", &csrf), ("grant_id", &bobs)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another user's subscription");
    let adas = ada_grant.to_string();
    let (status, location) =
        post(&app, "/p/club/account/cancel", &cookie, &[("csrf", &csrf), ("grant_id", &adas)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/p/club/account?canceled=1");

    let cancels = app.db.enqueued::<CancelSubscription>().await;
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].args.grant_id, ada_grant);
    assert!(cancels[0].args.at_period_end);
    app.settle(&[world.bot.id]).await;
    let (_, _, html) = get(&app, "/p/club/account", Some(&cookie), None).await;
    assert!(html.contains("Not renewing") && html.contains("Access until"), "{html}");
}

#[tokio::test]
async fn a_web_checkout_waits_for_its_job_then_sends_the_visitor_to_stripe() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.connect_stripe(&world, WEBHOOK_SECRET).await;
    let ada = app.started_user(&world, "Ada").await;
    let cookie = sign_in(&app, &world, &ada).await;
    let (_, _, html) = get(&app, "/p/club", Some(&cookie), None).await;
    assert!(html.contains("Pay by card"));

    let form = [("csrf", csrf_in(&html)), ("plan_id", world.plan_id.clone()), ("provider", "stripe".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, location) = post(&app, "/p/club/checkout", &cookie, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/p/club/checkout/"), "{location}");
    // Another visitor cannot see it.
    let bob = app.started_user(&world, "Bob").await;
    let bob_cookie = sign_in(&app, &world, &bob).await;
    assert_eq!(get(&app, &location, Some(&bob_cookie), None).await.0, StatusCode::NOT_FOUND);

    app.settle(&[world.bot.id]).await;
    let (status, _, html) = get(&app, &location, Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK);
    let stripe_url = &payment_link(&html);
    assert!(stripe_url.contains("/stripe/pay/cs_test_"), "{stripe_url}");
    let session_id = stripe_url.rsplit('/').next().unwrap();
    let session = app.tg.stripe_session(session_id).await.unwrap();
    assert_eq!(session["success_url"], format!("{}/p/club/account?paid=1", app.api.url()));
    // The page sends the visitor on; nothing is sent in Telegram for a web checkout.
    assert!(!app.texts_to(&world, ada.id).await.iter().any(|t| t.contains("/stripe/pay/")));
}

/// Where a ready checkout's page sends the visitor: its link, which its refresh also
/// follows (a refresh, not a 303, so that the CSP's `form-action 'self'` does not block the
/// redirect chain of the checkout form).
fn payment_link(html: &str) -> String {
    let link = html.split(r#"id="to-payment" href=""#).nth(1).expect("a link to the payment page");
    let url = link.split('"').next().unwrap().replace("&amp;", "&");
    let refresh = format!(r#"http-equiv="refresh" content="0; url={}""#, url.replace('&', "&amp;"));
    assert!(html.contains(&refresh), "the page goes there by itself: {html}");
    url
}

// ---- In a real browser -------------------------------------------------------------

async fn wait_for_text(browser: &browser::Browser, text: &str, timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let source = browser.source().await.unwrap();
        if source.contains(text) {
            return source;
        }
        assert!(std::time::Instant::now() < deadline, "{text:?} did not appear; the page is:\n{source}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn in_a_browser_a_visitor_signs_in_pays_with_stripe_and_gets_the_chat_link() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.connect_stripe(&world, WEBHOOK_SECRET).await;
    app.plan(&world, json!({"name": "Yearly", "price": 4900, "currency": "USD", "duration_days": 365, "recurring": true, "trial_days": 7}))
        .await;
    let visitor = app.started_user(&world, "Ada").await;
    let browser = browser::open(1280, 900).await;
    let base = app.api.url();

    // The plans.
    browser.goto(&format!("{base}/p/club?lang=en")).await.unwrap();
    let html = browser.source().await.unwrap();
    assert!(html.contains("Monthly") && html.contains("5.00 USD") && html.contains("Club Channel"));
    browser.find(Locator::LinkText("Continue in Telegram")).await.expect("a Continue in Telegram link");
    browser.screenshot("page-plans").await;

    // A tampered sign-in is refused.
    let mut tampered = widget_query(&visitor, &world.bot.token, now());
    tampered[0].1 = "1".into();
    browser.goto(&widget_url(&app, &tampered)).await.unwrap();
    wait_for_text(&browser, "Sign-in refused", Duration::from_secs(5)).await;
    browser.screenshot("page-sign-in-refused").await;
    assert!(browser.get_all_cookies().await.unwrap().iter().all(|c| c.name() != "gh_session"));

    // A correctly signed one lands on the account.
    browser.goto(&widget_url(&app, &widget_query(&visitor, &world.bot.token, now()))).await.unwrap();
    wait_for_text(&browser, "You have no subscription yet.", Duration::from_secs(5)).await;
    assert!(browser.current_url().await.unwrap().path().ends_with("/p/club/account"));
    browser.screenshot("page-account-empty").await;

    // Pay by card: a waiting page, then the simulator's Stripe checkout.
    browser.goto(&format!("{base}/p/club")).await.unwrap();
    browser.screenshot("page-plans-signed-in").await;
    browser.find(Locator::Css("button[data-provider=stripe]")).await.unwrap().click().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let pay = loop {
        if let Ok(pay) = browser.find(Locator::Id("pay")).await {
            break pay;
        }
        if std::time::Instant::now() > deadline {
            let url = browser.current_url().await.unwrap();
            let checkouts: Vec<(String, Option<String>)> =
                sqlx::query_as("SELECT state, url FROM checkout_requests").fetch_all(&app.db.pool).await.unwrap();
            panic!(
                "no Stripe checkout page after 2 minutes: at {url}, checkouts {checkouts:?}, page:\n{}",
                browser.source().await.unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(browser.current_url().await.unwrap().path().starts_with("/stripe/pay/cs_test_"));
    browser.screenshot("page-stripe-checkout").await;
    pay.click().await.unwrap();

    // Back on the account: the active subscription and the personal link.
    let html = wait_for_text(&browser, "https://t.me/+", Duration::from_secs(120)).await;
    assert!(html.contains("Monthly") && html.contains("Active"), "{html}");
    assert!(html.contains("Your chat links"));
    browser.screenshot("page-account-active").await;
    // The page shows the link once it is made; the message that also sends it in
    // Telegram is a job of its own.
    app.settle(&[world.bot.id]).await;
    let links = app.invite_links_to(&world, visitor.id).await;
    assert!(links.iter().any(|l| html.contains(l.as_str())), "the link on the page is the one issued for the visitor");

    // Keyboard: the skip link is the first stop.
    browser.find(Locator::Css("body")).await.unwrap().send_keys("\u{e004}").await.unwrap();
    let active = browser.active_element().await.unwrap();
    assert_eq!(active.attr("class").await.unwrap().as_deref(), Some("skip"));

    // Sign out.
    browser.find(Locator::Css("form[action$='/sign-out'] button")).await.unwrap().click().await.unwrap();
    wait_for_text(&browser, "Sign in with Telegram", Duration::from_secs(5)).await;
    browser.goto(&format!("{base}/p/club/account")).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/p/club");
}

#[tokio::test]
async fn in_a_browser_the_russian_page_on_a_phone() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.plan(&world, json!({"name": "Годовой", "price": 4900, "currency": "USD", "duration_days": 365, "recurring": true, "trial_days": 3}))
        .await;
    let visitor = app.started_user(&world, "Анна").await;
    let browser = browser::open(390, 844).await;
    let base = app.api.url();

    browser.goto(&format!("{base}/p/club?lang=ru")).await.unwrap();
    let html = browser.source().await.unwrap();
    assert!(html.contains("Тарифы") && html.contains("Годовой") && html.contains("3 дня бесплатно"));
    // Nothing wider than the phone's screen.
    let width = browser.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap();
    assert!(width.as_i64().unwrap() <= 390, "the page scrolls sideways: {width}");
    browser.screenshot("page-plans-ru-phone").await;

    // The choice sticks.
    browser.goto(&format!("{base}/p/club")).await.unwrap();
    assert!(browser.source().await.unwrap().contains("Тарифы"));

    app.grant(&world, visitor.id, json!(null)).await;
    app.settle(&[world.bot.id]).await;
    browser.goto(&widget_url(&app, &widget_query(&visitor, &world.bot.token, now()))).await.unwrap();
    wait_for_text(&browser, "Ваши ссылки в чаты", Duration::from_secs(5)).await;
    let html = browser.source().await.unwrap();
    assert!(html.contains("Активна") && html.contains("https://t.me/+"));
    browser.screenshot("page-account-ru-phone").await;
}

#[tokio::test]
async fn a_stars_payment_on_the_web_sends_the_visitor_to_the_invoice_link() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let plan = app
        .plan(
            &world,
            json!({"name": "Stars Monthly", "price": 500, "currency": "USD", "stars_price": 250, "duration_days": 30}),
        )
        .await;
    let ada = app.started_user(&world, "Ada").await;
    let cookie = sign_in(&app, &world, &ada).await;
    let (_, _, html) = get(&app, "/p/club", Some(&cookie), None).await;
    assert!(html.contains("Pay with Telegram Stars") && html.contains("250 Stars"));
    assert!(!html.contains("Pay by card"), "the project has no Stripe");

    let csrf = csrf_in(&html);
    let (status, _) =
        post(&app, "/p/club/checkout", &cookie, &[("csrf", &csrf), ("plan_id", &world.plan_id), ("provider", "stars")])
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the world's plan has no Stars price");
    let (status, location) =
        post(&app, "/p/club/checkout", &cookie, &[("csrf", &csrf), ("plan_id", &plan), ("provider", "stars")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    app.settle(&[world.bot.id]).await;
    let (status, _, html) = get(&app, &location, Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK);
    let invoice = payment_link(&html);
    let stored: String = sqlx::query_scalar("SELECT url FROM checkout_requests WHERE provider = 'stars'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(invoice, stored, "the visitor goes to the invoice link the job made");
    assert!(!app.texts_to(&world, ada.id).await.iter().any(|t| t.contains(&invoice)), "not also sent in Telegram");
}

#[tokio::test]
async fn the_checkout_page_waits_without_holding_the_request() {
    let mut app = TestApp::start().await;
    let world = app.world().await;
    app.connect_stripe(&world, WEBHOOK_SECRET).await;
    let ada = app.started_user(&world, "Ada").await;
    let cookie = sign_in(&app, &world, &ada).await;
    let (_, _, html) = get(&app, "/p/club", Some(&cookie), None).await;
    // No worker: the job stays queued and the page answers at once, asking to be reloaded.
    app.worker.take().expect("the worker").stop().await;
    let csrf = csrf_in(&html);
    let (_, location) = post(
        &app,
        "/p/club/checkout",
        &cookie,
        &[("csrf", &csrf), ("plan_id", &world.plan_id), ("provider", "stripe")],
    )
    .await;
    let (status, _, html) = get(&app, &location, Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Preparing your payment") && html.contains(r#"http-equiv="refresh" content="1""#));
}
