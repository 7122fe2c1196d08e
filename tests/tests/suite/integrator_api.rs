//! The integrator API's contract: keys and abilities on every route, project isolation,
//! `Idempotency-Key`, the per-key limit across api processes, cursor paging, CSV
//! exports, deep links, analytics and the TGmembership-compatible API.

use std::sync::Arc;

use chrono::Timelike;
use gatehouse_jobs::access::Ability;
use gatehouse_sim::SimConfig;
use gatehouse_tests::{
    TEST_ADMIN_TOKEN,
    app::{TestApp, World},
    serve_api_with, test_config,
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// Every `/v1` route a project key can call: method, path (`{p}` = the project), a body
/// that passes validation where one is needed, and the ability it needs.
fn routes(world: &World) -> Vec<(Method, String, Option<Value>, Ability)> {
    let plan = world.plan_id.clone();
    let some = Uuid::new_v4();
    let r = |m: Method, path: &str, body: Option<Value>, a: Ability| (m, format!("/v1/projects/{{p}}{path}"), body, a);
    vec![
        r(
            Method::PUT,
            "/bot",
            Some(json!({"token": "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})),
            Ability::ProjectWrite,
        ),
        r(Method::GET, "/bot", None, Ability::ProjectRead),
        r(Method::PUT, "/bot/limits", Some(json!({"calls_per_second": 5})), Ability::ProjectWrite),
        r(Method::POST, "/chats", Some(json!({"chat_id": -100_999})), Ability::ProjectWrite),
        r(Method::GET, "/chats", None, Ability::ProjectRead),
        r(
            Method::POST,
            "/plans",
            Some(
                json!({"name": "P", "price": 100, "currency": "USD", "duration_days": 30, "chat_ids": [world.channel.id]}),
            ),
            Ability::PlansWrite,
        ),
        r(Method::GET, "/plans", None, Ability::PlansRead),
        r(Method::POST, "/grants", Some(json!({"telegram_user_id": 777, "plan_id": plan})), Ability::MembersWrite),
        r(Method::DELETE, &format!("/grants/{some}"), None, Ability::MembersWrite),
        r(Method::POST, "/admins", Some(json!({"telegram_user_id": 777})), Ability::ProjectWrite),
        r(Method::DELETE, "/admins/777", None, Ability::ProjectWrite),
        r(Method::POST, "/access-tokens", Some(json!({"plan_id": plan})), Ability::AccessCodesWrite),
        r(Method::POST, "/whitelist", Some(json!({"telegram_user_id": 777})), Ability::MembersWrite),
        r(Method::DELETE, "/whitelist/777", None, Ability::MembersWrite),
        r(Method::GET, "/members/777", None, Ability::MembersRead),
        r(
            Method::PUT,
            "/stripe",
            Some(json!({"secret_key": "sk_test_x", "webhook_secret": "whsec_x"})),
            Ability::ProjectWrite,
        ),
        r(Method::GET, "/stripe", None, Ability::ProjectRead),
        r(
            Method::POST,
            "/checkout",
            Some(json!({"telegram_user_id": 777, "plan_id": plan, "provider": "stripe"})),
            Ability::PaymentsWrite,
        ),
        r(Method::GET, &format!("/checkout/{some}"), None, Ability::PaymentsRead),
        r(Method::POST, "/access-codes", Some(json!({"plan_id": plan})), Ability::AccessCodesWrite),
        r(Method::GET, "/access-codes", None, Ability::AccessCodesRead),
        r(
            Method::POST,
            "/stars/refunds",
            Some(json!({"telegram_user_id": 777, "telegram_payment_charge_id": "c1"})),
            Ability::PaymentsWrite,
        ),
        r(Method::POST, "/keys", Some(json!({"name": "k", "abilities": ["keys:manage"]})), Ability::KeysManage),
        r(Method::GET, "/keys", None, Ability::KeysManage),
        r(Method::DELETE, &format!("/keys/{some}"), None, Ability::KeysManage),
        r(Method::GET, "/deep-link", None, Ability::DistributionRead),
        r(Method::GET, "/subscribers", None, Ability::MembersRead),
        r(Method::GET, "/subscriptions", None, Ability::MembersRead),
        r(Method::GET, "/payments", None, Ability::PaymentsRead),
        r(Method::GET, "/audit", None, Ability::MembersRead),
        r(Method::GET, "/analytics", None, Ability::AnalyticsRead),
        r(Method::GET, "/events", None, Ability::WebhooksManage),
        r(
            Method::POST,
            "/webhook-endpoints",
            Some(json!({"url": "https://example.com/hook"})),
            Ability::WebhooksManage,
        ),
        r(Method::GET, "/webhook-endpoints", None, Ability::WebhooksManage),
        r(Method::GET, &format!("/webhook-endpoints/{some}"), None, Ability::WebhooksManage),
        r(
            Method::PATCH,
            &format!("/webhook-endpoints/{some}"),
            Some(json!({"enabled": false})),
            Ability::WebhooksManage,
        ),
        r(Method::DELETE, &format!("/webhook-endpoints/{some}"), None, Ability::WebhooksManage),
        r(Method::POST, &format!("/webhook-endpoints/{some}/rotate-secret"), Some(json!({})), Ability::WebhooksManage),
        r(Method::GET, &format!("/webhook-endpoints/{some}/deliveries"), None, Ability::WebhooksManage),
        r(
            Method::POST,
            &format!("/webhook-endpoints/{some}/deliveries/{some}/redeliver"),
            Some(json!({})),
            Ability::WebhooksManage,
        ),
    ]
}

async fn call(app: &TestApp, method: Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    app.call(method, path, Some(key), body).await
}

/// A new key of the world's project holding `abilities`.
async fn key_with(app: &TestApp, world: &World, abilities: &[&str]) -> String {
    let (status, body) = app
        .post(
            &format!("/v1/projects/{}/keys", world.project_id),
            &world.key,
            json!({"name": "test", "abilities": abilities}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["data"]["api_key"].as_str().unwrap().to_string()
}

/// A second project with its own key (and no bot).
async fn other_project(app: &TestApp, handle: &str) -> (String, String) {
    let (status, body) = app
        .post("/v1/projects", TEST_ADMIN_TOKEN, json!({"handle": handle, "name": handle, "owner_telegram_id": 42}))
        .await;
    assert_eq!(status, 201, "{body}");
    (body["data"]["project_id"].as_str().unwrap().into(), body["data"]["api_key"].as_str().unwrap().into())
}

#[tokio::test]
async fn each_route_refuses_a_key_without_its_ability_and_serves_one_with_only_it() {
    let app = TestApp::start().await;
    let world = app.world().await;
    for (method, path, body, ability) in routes(&world) {
        let path = path.replace("{p}", &world.project_id);
        let others: Vec<&str> = Ability::EVERY.iter().filter(|a| **a != ability).map(|a| a.as_str()).collect();
        let without = key_with(&app, &world, &others).await;
        let (status, answer) = call(&app, method.clone(), &path, &without, body.clone()).await;
        assert_eq!(status, 403, "{method} {path} without {ability}: {answer}");
        assert_eq!(answer["error"]["code"], "TOKEN_MISSING_ABILITY", "{method} {path}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(ability.as_str()), "{answer}");

        let only = key_with(&app, &world, &[ability.as_str()]).await;
        let (status, answer) = call(&app, method.clone(), &path, &only, body.clone()).await;
        assert_ne!(status, 403, "{method} {path} with only {ability}: {answer}");
        assert_ne!(status, 401, "{method} {path} with only {ability}: {answer}");
    }
}

#[tokio::test]
async fn no_route_lets_a_key_reach_another_project() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (_, intruder_key) = other_project(&app, "intruder").await;
    for (method, path, body, _) in routes(&world) {
        let path = path.replace("{p}", &world.project_id);
        let (status, answer) = call(&app, method.clone(), &path, &intruder_key, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "RESOURCE_NOT_FOUND", "{answer}");
    }
    // The compatible API: the intruder's key on this project's bot is refused.
    let (status, answer) = app.get(&format!("/bot{}/{intruder_key}/getPlans", world.bot.id), "").await;
    assert_eq!(status, 401, "{answer}");
}

#[tokio::test]
async fn keys_are_shown_once_listed_without_secrets_revoked_at_once_and_never_wider_than_their_maker() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let keys = format!("/v1/projects/{}/keys", world.project_id);
    let (status, made) =
        app.post(&keys, &world.key, json!({"name": "shop", "abilities": ["plans:read", "keys:manage"]})).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["data"]["api_key"].as_str().unwrap().to_string();
    let key_id = made["data"]["key_id"].as_str().unwrap().to_string();
    assert!(secret.starts_with(&made["data"]["prefix"].as_str().unwrap()[..3]));

    let (status, listed) = app.get(&keys, &world.key).await;
    assert_eq!(status, 200, "{listed}");
    let text = listed.to_string();
    assert!(!text.contains(&secret), "a list never shows a secret: {text}");
    let shop = listed["data"].as_array().unwrap().iter().find(|k| k["key_id"] == key_id.as_str()).unwrap();
    assert_eq!(shop["name"], "shop");
    assert_eq!(shop["abilities"], json!(["plans:read", "keys:manage"]));
    assert!(shop["last_used_at"].is_null(), "not used yet: {shop}");

    // Used: its last use shows; it may not make a key with an ability it lacks.
    let (status, _) = app.get(&format!("/v1/projects/{}/plans", world.project_id), &secret).await;
    assert_eq!(status, 200);
    let (status, wider) = app.post(&keys, &secret, json!({"name": "wider", "abilities": ["members:write"]})).await;
    assert_eq!(status, 403, "{wider}");
    assert_eq!(wider["error"]["code"], "TOKEN_MISSING_ABILITY");
    let (status, star) = app.post(&keys, &secret, json!({"name": "all", "abilities": ["*"]})).await;
    assert_eq!(status, 403, "{star}");
    let (status, bad) = app.post(&keys, &world.key, json!({"name": "x", "abilities": ["plans:delete"]})).await;
    assert_eq!((status, bad["error"]["fields"].clone()), (422, json!(["abilities"])), "{bad}");
    let (_, listed) = app.get(&keys, &world.key).await;
    let shop = listed["data"].as_array().unwrap().iter().find(|k| k["key_id"] == key_id.as_str()).unwrap();
    assert!(shop["last_used_at"].is_string(), "{shop}");

    // Revoked: refused from the next request on.
    let (status, _) = app.call(Method::DELETE, &format!("{keys}/{key_id}"), Some(&world.key), None).await;
    assert_eq!(status, 204);
    let (status, answer) = app.get(&format!("/v1/projects/{}/plans", world.project_id), &secret).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"]["code"], "AUTHENTICATION_REQUIRED");
    let (status, _) = app.call(Method::DELETE, &format!("{keys}/{key_id}"), Some(&world.key), None).await;
    assert_eq!(status, 404, "revoked twice");

    // Expired: refused once its time has passed.
    let soon = (app.clock.now() + chrono::Duration::minutes(5)).to_rfc3339();
    let (status, made) =
        app.post(&keys, &world.key, json!({"name": "brief", "abilities": ["plans:read"], "expires_at": soon})).await;
    assert_eq!(status, 201, "{made}");
    let brief = made["data"]["api_key"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/v1/projects/{}/plans", world.project_id), &brief).await.0, 200);
    app.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(app.get(&format!("/v1/projects/{}/plans", world.project_id), &brief).await.0, 401);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let url = format!("{}/v1/projects/{}/plans", app.api.url(), world.project_id);
    let body =
        json!({"name": "Gold", "price": 1500, "currency": "EUR", "duration_days": 30, "chat_ids": [world.channel.id]});
    let send = |body: Value, key: &'static str| {
        app.http.post(&url).bearer_auth(&world.key).header("Idempotency-Key", key).json(&body).send()
    };
    let first = send(body.clone(), "plan-gold").await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone(), "plan-gold").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first, "the same answer");
    assert_eq!(app.db.count("SELECT count(*) FROM plans WHERE name = 'Gold'").await, 1, "and nothing done twice");

    let mut other = body.clone();
    other["price"] = json!(1600);
    let conflict = send(other, "plan-gold").await.unwrap();
    assert_eq!(conflict.status(), 409);
    assert_eq!(conflict.json::<Value>().await.unwrap()["error"]["code"], "CONFLICT");

    // A request refused for its content is replayed too (it is an answer, not an outage).
    let invalid = json!({"name": "Bad", "price": -1, "currency": "EUR", "chat_ids": [world.channel.id]});
    assert_eq!(send(invalid.clone(), "plan-bad").await.unwrap().status(), 422);
    let replay = send(invalid, "plan-bad").await.unwrap();
    assert_eq!((replay.status().as_u16(), replay.headers()["idempotent-replayed"].to_str().unwrap()), (422, "true"));

    // Keys are per credential: another key may use the same one.
    let second_key = key_with(&app, &world, &["plans:write"]).await;
    let theirs = app
        .http
        .post(&url)
        .bearer_auth(&second_key)
        .header("Idempotency-Key", "plan-gold")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.db.count("SELECT count(*) FROM plans WHERE name = 'Gold'").await, 2);

    let bad_key = app.http.post(&url).bearer_auth(&world.key).header("Idempotency-Key", "a b").json(&body).send();
    assert_eq!(bad_key.await.unwrap().status(), 422);
}

#[tokio::test]
async fn the_per_key_limit_holds_across_two_api_processes_with_retry_after() {
    let app = TestApp::start_with(SimConfig::default(), &[("GATEHOUSE_API_RATE_LIMIT_PER_MINUTE", "10")]).await;
    let world = app.world().await;
    let fresh = key_with(&app, &world, &["plans:read"]).await;
    // The world spent some of this minute's calls: move the clock (which both apis
    // read) to the start of the next minute.
    let second = app.clock.now().second();
    app.clock.advance(chrono::Duration::seconds(i64::from(61 - second)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Arc::new(test_config(&app.db.url, &[("GATEHOUSE_API_RATE_LIMIT_PER_MINUTE", "10")]));
    let other = serve_api_with(listener, config, app.db.pool.clone(), app.clock.clone()).await;
    let apis = [app.api.url(), other.url()];
    let path = format!("/v1/projects/{}/plans", world.project_id);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let response = app.http.get(format!("{}{path}", apis[i % 2])).bearer_auth(&world.key).send().await.unwrap();
        let status = response.status().as_u16();
        if status == 429 {
            let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait), "Retry-After: {wait}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "RATE_LIMITED");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [vec![200; 10], vec![429; 2]].concat(), "ten calls a minute in all, whichever process");
    // Another key of the same project has its own count.
    let (status, _) = app.get(&path, &fresh).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn paging_a_list_that_grows_while_it_is_read_shows_every_row_once() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let insert = |from: i64, to: i64| {
        let pool = app.db.pool.clone();
        let project = world.project_id.clone();
        async move {
            sqlx::query(
                "INSERT INTO subscribers (id, project_id, telegram_user_id, username, created_at)
                 SELECT gen_random_uuid(), $1::uuid, n, 'user' || n, now() - (1000 - n) * interval '1 second'
                 FROM generate_series($2::bigint, $3::bigint) n",
            )
            .bind(project)
            .bind(from)
            .bind(to)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    insert(1, 95).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/v1/projects/{}/subscribers?limit=10", world.project_id);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.get(&path, &world.key).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["data"].as_array().unwrap().iter().map(|s| s["telegram_user_id"].as_i64().unwrap()));
        pages += 1;
        if pages == 3 {
            // New subscribers arrive while the list is read: some sort before the cursor,
            // some after it.
            insert(500, 510).await;
            sqlx::query("UPDATE subscribers SET created_at = now() - interval '2000 seconds' WHERE telegram_user_id BETWEEN 500 AND 505")
                .execute(&app.db.pool)
                .await
                .unwrap();
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    for n in 1..=95 {
        assert!(seen.contains(&n), "{n} was there from the start and must be seen");
    }
    let (status, bad) =
        app.get(&format!("/v1/projects/{}/subscribers?cursor=nonsense", world.project_id), &world.key).await;
    assert_eq!((status, bad["error"]["fields"].clone()), (422, json!(["cursor"])), "{bad}");
    let (status, _) = app.get(&format!("/v1/projects/{}/subscribers?limit=101", world.project_id), &world.key).await;
    assert_eq!(status, 422);
}

/// The resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_hundred_thousand_subscribers_export_as_csv_streamed_in_bounded_memory() {
    use futures::StreamExt;
    let app = TestApp::start().await;
    let world = app.world().await;
    sqlx::query(
        "INSERT INTO subscribers (id, project_id, telegram_user_id, username, first_name)
         SELECT gen_random_uuid(), $1::uuid, n, 'user' || n, CASE WHEN n = 7 THEN '=cmd, \"x\"' ELSE 'Name ' || n END
         FROM generate_series(1, 100000) n",
    )
    .bind(&world.project_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let before = rss_kib();
    let response = app
        .http
        .get(format!("{}/v1/projects/{}/subscribers?status=lapsed", app.api.url(), world.project_id))
        .bearer_auth(&world.key)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(response.headers().get("content-length").is_none(), "streamed, not built whole");
    let mut body = response.bytes_stream();
    let (mut lines, mut bytes, mut peak, mut carry) = (0usize, 0usize, 0u64, Vec::new());
    let (mut header, mut defused) = (None, false);
    let wanted = "\n7,user7,\"'=cmd, \"\"x\"\"\"";
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        if header.is_none() {
            header = Some(String::from_utf8_lossy(&chunk).lines().next().unwrap().to_string());
        }
        // Look for user 7's row across chunk boundaries.
        carry.extend_from_slice(&chunk);
        defused |= String::from_utf8_lossy(&carry).contains(wanted);
        carry = carry[carry.len().saturating_sub(64)..].to_vec();
        peak = peak.max(rss_kib());
    }
    assert_eq!(lines, 100_001, "a header and every row");
    assert!(header.unwrap().starts_with("telegram_user_id,username,first_name"));
    assert!(defused, "free text is quoted and a formula defused");
    let grown_mib = peak.saturating_sub(before) / 1024;
    let size_mib = bytes / (1024 * 1024);
    assert!(bytes > 4 * 1024 * 1024, "the export is {bytes} bytes");
    assert!(grown_mib < 32, "memory grew {grown_mib} MiB for a {size_mib} MiB export");
}

#[tokio::test]
async fn the_deep_link_follows_the_precedence_and_names_each_failure() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let base = format!("/v1/projects/{}/deep-link", world.project_id);
    let (_, code) = app
        .post(&format!("/v1/projects/{}/access-codes", world.project_id), &world.key, json!({"plan_id": world.plan_id}))
        .await;
    let code_id = code["data"]["id"].as_str().unwrap().to_string();
    let link = |query: String| {
        let app = &app;
        let path = format!("{base}{query}");
        let key = world.key.clone();
        async move { app.get(&path, &key).await }
    };
    let plan = &world.plan_id;
    let cases = [
        (format!("?access_code={code_id}&plan_id={plan}&custom=ad1"), code_id.clone()),
        (format!("?plan_id={plan}&custom=ad1"), format!("plan_{plan}")),
        ("?custom=summer-24".to_string(), "summer-24".to_string()),
        (String::new(), format!("project_{}", world.project_id)),
    ];
    for (query, payload) in cases {
        let (status, body) = link(query.clone()).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(
            body,
            json!({"data": {"project_id": world.project_id, "bot_url": "https://t.me/club_bot",
                             "start_payload": payload, "deep_link": format!("https://t.me/club_bot?start={payload}")}})
        );
    }
    let failure = |status: u16, code: &str| (status, code.to_string());
    let cases = [
        (format!("?plan_id={}", Uuid::new_v4()), failure(404, "RESOURCE_NOT_FOUND")),
        ("?plan_id=pln_123".to_string(), failure(422, "VALIDATION_FAILED")),
        (format!("?access_code={}", Uuid::new_v4()), failure(404, "RESOURCE_NOT_FOUND")),
        ("?custom=has%20space".to_string(), failure(422, "VALIDATION_FAILED")),
        (format!("?custom={}", "a".repeat(65)), failure(422, "VALIDATION_FAILED")),
    ];
    for (query, expected) in cases {
        let (status, body) = link(query.clone()).await;
        assert_eq!((status, body["error"]["code"].as_str().unwrap().to_string()), expected, "{query}: {body}");
    }
    let (status, body) = app.get("/v1/projects/not-a-uuid/deep-link", &world.key).await;
    assert_eq!((status, body["error"]["code"].clone()), (404, json!("RESOURCE_NOT_FOUND")));
    let (other, other_key) = other_project(&app, "nobot").await;
    let (status, body) = app.get(&format!("/v1/projects/{other}/deep-link"), &other_key).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["reason"], "no_bot_attached");
    let reader = key_with(&app, &world, &["plans:read"]).await;
    let (status, body) = app.get(&base, &reader).await;
    assert_eq!((status, body["error"]["code"].clone()), (403, json!("TOKEN_MISSING_ABILITY")));

    // The access code's link redeems the code in the bot.
    let user = app.started_user(&world, "Dee").await;
    app.settle(&[world.bot.id]).await;
    app.tg.send_text(user.id, world.bot.id, &format!("/start {code_id}")).await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert_eq!(app.invite_links_to(&world, user.id).await.len(), 1, "the code's link let Dee in");
}

#[tokio::test]
async fn lists_and_analytics_report_what_happened() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let alice = app.started_user(&world, "Alice").await;
    app.grant(&world, alice.id, json!(null)).await;
    app.settle(&[world.bot.id]).await;
    let p = &world.project_id;

    let (status, subs) = app.get(&format!("/v1/projects/{p}/subscribers?status=entitled"), &world.key).await;
    assert_eq!(status, 200, "{subs}");
    assert_eq!(subs["data"].as_array().unwrap().len(), 1);
    assert_eq!(subs["data"][0]["telegram_user_id"], alice.id);
    let (_, by_name) = app.get(&format!("/v1/projects/{p}/subscribers?q=nobody_here"), &world.key).await;
    assert_eq!(by_name["data"], json!([]));
    let (_, inside) = app.get(&format!("/v1/projects/{p}/subscribers?chat_id={}", world.channel.id), &world.key).await;
    assert_eq!(inside["data"].as_array().unwrap().len(), 0, "Alice has a link but has not joined");

    let (status, grants) = app.get(&format!("/v1/projects/{p}/subscriptions?state=active"), &world.key).await;
    assert_eq!(status, 200, "{grants}");
    assert_eq!(grants["data"][0]["source"], "manual");
    assert_eq!(grants["data"][0]["entitled"], true);
    let (status, bad) = app.get(&format!("/v1/projects/{p}/subscriptions?state=happy"), &world.key).await;
    assert_eq!((status, bad["error"]["fields"].clone()), (422, json!(["state"])));

    let (status, audit) = app.get(&format!("/v1/projects/{p}/audit?telegram_user_id={}", alice.id), &world.key).await;
    assert_eq!(status, 200, "{audit}");
    assert!(audit["data"].as_array().unwrap().iter().any(|a| a["action"] == "link_issued"), "{audit}");

    let (_, code) = app
        .post(
            &format!("/v1/projects/{p}/access-codes"),
            &world.key,
            json!({"plan_id": world.plan_id, "code": "SECRET-42"}),
        )
        .await;
    assert_eq!(code["data"]["code"], "SECRET-42");
    let (_, codes) = app.get(&format!("/v1/projects/{p}/access-codes"), &world.key).await;
    assert_eq!(codes["data"][0]["code"], "SE*****42", "masked in lists");

    // A Stars payment recorded as the worker would; and counts for two days.
    sqlx::query(
        "INSERT INTO payment_events (id, project_id, provider, external_id, kind, occurred_at, payload, outcome, grant_id)
         SELECT gen_random_uuid(), $1::uuid, 'stars', 'ch_1', 'successful_payment', now(),
                '{\"total_amount\": 250, \"currency\": \"XTR\"}', 'applied', g.id
         FROM grants g WHERE g.project_id = $1::uuid",
    )
    .bind(p)
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO member_counts (chat_id, day, members) VALUES ($1::uuid, current_date - 1, 10), ($1::uuid, current_date, 12)",
    )
    .bind(&world.chat_uuid)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (status, payments) = app.get(&format!("/v1/projects/{p}/payments"), &world.key).await;
    assert_eq!(status, 200, "{payments}");
    assert_eq!(
        (payments["data"][0]["amount"].clone(), payments["data"][0]["currency"].clone()),
        (json!("250"), json!("XTR"))
    );

    let (status, figures) = app.get(&format!("/v1/projects/{p}/analytics?period=7d"), &world.key).await;
    assert_eq!(status, 200, "{figures}");
    let f = &figures["data"];
    assert_eq!(f["subscribers"]["active"], 1, "{f}");
    assert_eq!(f["subscribers"]["new"], 1, "{f}");
    assert_eq!(f["revenue"]["total"], json!([{"currency": "XTR", "amount_minor": 250, "amount": "250"}]), "{f}");
    assert_eq!(f["revenue"]["by_provider"][0]["provider"], "stars");
    assert_eq!(f["revenue"]["by_plan"][0]["plan_id"], world.plan_id.as_str());
    assert_eq!(f["member_counts"][0]["chat_id"], world.channel.id);
    assert_eq!(f["member_counts"][0]["days"].as_array().unwrap().len(), 2);
    let (status, _) = app.get(&format!("/v1/projects/{p}/analytics?period=2w"), &world.key).await;
    assert_eq!(status, 422);
}

/// The compatible API's answer to `GET /bot{id}/{key}/{method}?{query}`, as raw text.
async fn compat(app: &TestApp, bot: i64, key: &str, method_and_query: &str) -> (u16, String) {
    let response = app.http.get(format!("{}/bot{bot}/{key}/{method_and_query}", app.api.url())).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_compatible_api_answers_byte_for_byte_like_the_reference() {
    let app = TestApp::start().await;
    let world = app.world().await;
    // A fresh database: the world's plan is plan 1. Make it the reference's plan.
    sqlx::query("UPDATE plans SET name = 'My first plan', price_minor = 999, currency = 'EUR' WHERE id = $1::uuid")
        .bind(&world.plan_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, text) = compat(&app, world.bot.id, &world.key, "getPlans?plan_id=1").await;
    assert_eq!(status, 200);
    assert_eq!(
        text,
        r#"{"ok":true,"code":200,"result":[{"plan_id":"1","plan_name":"My first plan","duration":"1 month","cost":"9.99","currency":"EUR","recurring":"0"}]}"#
    );
    let (_, text) = compat(&app, world.bot.id, &world.key, "GETPLANS?limit=1").await;
    assert!(text.contains(r#""plan_id":"1""#), "method names are case-insensitive: {text}");

    let (status, text) = compat(&app, world.bot.id, &world.key, "addMember?plan_id=1").await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = text.split('"').collect();
    assert!(
        text.starts_with(r#"{"ok":true,"code":200,"result":{"bot_username":"club_bot","access_token":""#),
        "{text}"
    );
    let token = answer["result"]["access_token"].as_str().unwrap();
    assert_eq!(answer["result"]["link"], format!("https://t.me/club_bot?start=accesstoken_{token}"));
    assert!(keys.contains(&"link"));
    // The token works: whoever opens the link first gets plan 1.
    let user = app.started_user(&world, "Tok").await;
    app.tg.send_text(user.id, world.bot.id, &format!("/start accesstoken_{token}")).await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert_eq!(app.invite_links_to(&world, user.id).await.len(), 1);

    // chatsGrowth with the reference's sample: a chat -1000000000000 counted three days.
    let chat = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO chats (id, project_id, telegram_chat_id, status) VALUES ($1, $2::uuid, -1000000000000, 'ready')",
    )
    .bind(chat)
    .bind(&world.project_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO member_counts (chat_id, day, members) VALUES
         ($1, '2021-02-28', 90), ($1, '2021-03-01', 100), ($1, '2021-03-02', 116), ($1, '2021-03-03', 144), ($1, '2021-03-04', 150)",
    )
    .bind(chat)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (status, text) = compat(
        &app,
        world.bot.id,
        &world.key,
        "chatsGrowth?chat_id=-1000000000000&start_date=2021-03-01&limit=3&order=ASC",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        text,
        r#"{"ok":true,"code":200,"result":{"-1000000000000":{"0":{"date":"2021-03-01","members":"100"},"1":{"date":"2021-03-02","members":"116"},"2":{"date":"2021-03-03","members":"144"}}}}"#
    );
    let (_, text) = compat(&app, world.bot.id, &world.key, "chatsGrowth?chat_id=-1000000000000&limit=2").await;
    assert!(
        text.contains(r#"{"0":{"date":"2021-03-04","members":"150"},"1":{"date":"2021-03-03","members":"144"}}"#),
        "{text}"
    );

    // getMember / extendMember / removeMember / getMembers.
    let alice = app.started_user(&world, "Alice").await;
    app.grant(&world, alice.id, json!((app.clock.now() + chrono::Duration::days(3)).to_rfc3339())).await;
    app.settle(&[world.bot.id]).await;
    let (status, text) = compat(&app, world.bot.id, &world.key, &format!("getMember?user_id={}", alice.id)).await;
    assert_eq!(status, 200, "{text}");
    let member: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(member["result"]["status"], "active");
    assert_eq!(member["result"]["user_id"], alice.id.to_string());
    let (status, text) =
        compat(&app, world.bot.id, &world.key, &format!("extendMember?user_id={}&days=10", alice.id)).await;
    assert_eq!(status, 200, "{text}");
    let expected = (app.clock.now() + chrono::Duration::days(13)).format("%Y-%m-%d").to_string();
    assert!(text.contains(&expected), "13 days from now in all: {text}");
    let (_, text) = compat(&app, world.bot.id, &world.key, "getMembers?status=active&limit=10").await;
    let members: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(members["result"].as_array().unwrap().len(), 2, "Alice and Tok: {text}");
    let (status, text) = compat(&app, world.bot.id, &world.key, &format!("removeMember?user_id={}", alice.id)).await;
    assert_eq!(status, 200, "{text}");
    app.settle(&[world.bot.id]).await;
    let (_, text) = compat(&app, world.bot.id, &world.key, &format!("getMember?user_id={}", alice.id)).await;
    assert!(text.contains(r#""status":"expired""#), "{text}");

    // Failures, each in the envelope with its status.
    let failures = [
        ("getPlans?limit=0", 400, "limit"),
        ("getPlans?limit=abc", 400, "limit"),
        ("addMember", 400, "plan_id"),
        ("addMember?plan_id=999", 400, "plan_id"),
        ("chatsGrowth?start_date=2021-13-01", 400, "start_date"),
        ("chatsGrowth?limit=32", 400, "limit"),
        ("chatsGrowth?order=UP", 400, "order"),
        ("extendMember?user_id=1&days=0", 400, "days"),
        ("sendMoney", 404, "method"),
    ];
    for (call, status, named) in failures {
        let (got, text) = compat(&app, world.bot.id, &world.key, call).await;
        assert_eq!(got, status, "{call}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((body["ok"].clone(), body["code"].clone()), (json!(false), json!(status)), "{text}");
        assert!(body["description"].as_str().unwrap().contains(named), "{call}: {text}");
    }
    let (status, _) = compat(&app, world.bot.id, "gh_wrong", "getPlans").await;
    assert_eq!(status, 401);
    let (status, _) = compat(&app, world.bot.id + 1, &world.key, "getPlans").await;
    assert_eq!(status, 401, "a key of another bot's project");
    let reader = key_with(&app, &world, &["plans:read"]).await;
    let (status, _) = compat(&app, world.bot.id, &reader, "addMember?plan_id=1").await;
    assert_eq!(status, 403, "the key lacks access-codes:write");
}

#[tokio::test]
async fn errors_carry_the_stable_codes() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let p = &world.project_id;
    let (status, body) = app.call(Method::GET, &format!("/v1/projects/{p}/plans"), None, None).await;
    assert_eq!((status, body["error"]["code"].clone()), (401, json!("AUTHENTICATION_REQUIRED")));
    let (status, body) = app.post(&format!("/v1/projects/{p}/plans"), &world.key, json!({"name": "x"})).await;
    assert_eq!((status, body["error"]["code"].clone()), (422, json!("VALIDATION_FAILED")), "{body}");
    assert!(body["error"]["fields"].as_array().is_some_and(|f| !f.is_empty()), "{body}");
    let (status, body) = app
        .post("/v1/projects", TEST_ADMIN_TOKEN, json!({"handle": "club", "name": "x", "owner_telegram_id": 1}))
        .await;
    assert_eq!((status, body["error"]["code"].clone()), (409, json!("CONFLICT")));
    let (status, body) = app.get("/v1/nowhere", &world.key).await;
    assert_eq!((status, body["error"]["code"].clone()), (404, json!("RESOURCE_NOT_FOUND")));
}
