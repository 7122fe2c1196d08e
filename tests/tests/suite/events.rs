//! Events and signed outbound webhooks: events written with the change they report,
//! delivered signed to a local receiver, retried, an endpoint disabled after its
//! failure window, the private-address guard, the README's worked example.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use gatehouse_jobs::{
    catalog::deliver_webhook::WebhookRetryScan,
    store::{
        self,
        events::{EventType, NewEvent},
    },
    webhooks,
};
use gatehouse_tests::{app::TestApp, drain, receiver::Receiver};
use serde_json::{Value, json};
use uuid::Uuid;

const ALLOW_PRIVATE: (&str, &str) = ("GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE", "true");

/// Registers an endpoint for `project_id` directly in the store; returns its id and secret.
async fn endpoint(app: &TestApp, project_id: &str, url: &str, types: &[&str]) -> (Uuid, String) {
    let secret = webhooks::new_secret();
    let key = app.config.encryption_key().unwrap();
    let id = Uuid::now_v7();
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let new = store::webhooks::NewEndpoint {
        id,
        project_id: project_id.parse().unwrap(),
        url,
        event_types: &types,
        enabled: true,
        secret_sealed: &gatehouse_jobs::crypto::seal(key, secret.expose()),
    };
    store::webhooks::insert(&app.db.pool, &new, app.clock.now()).await.unwrap();
    (id, secret.expose().clone())
}

/// Writes one event the way every site does, in a transaction of its own, and commits.
async fn record(app: &TestApp, project_id: &str, kind: EventType, data: Value) -> store::events::Event {
    let mut tx = app.db.pool.begin().await.unwrap();
    let event = NewEvent::new(project_id.parse().unwrap(), kind, data);
    let stored = store::events::record(&mut tx, event, app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    stored
}

/// Runs the retry scan now (as the scheduler does every 30 s) and waits for what it enqueued.
async fn retry_scan(app: &TestApp) {
    app.enqueue(&WebhookRetryScan { tick: Utc::now() + TimeDelta::microseconds(rand_micros()) }).await;
    drain(&app.db.pool, Duration::from_secs(30)).await;
}

fn rand_micros() -> i64 {
    (Uuid::new_v4().as_u128() % 1_000_000) as i64
}

async fn events_of(app: &TestApp, project_id: &str) -> Vec<store::events::Event> {
    store::events::page(&app.db.pool, project_id.parse().unwrap(), 0, &[], 1000).await.unwrap()
}

async fn deliveries(app: &TestApp, endpoint_id: Uuid) -> Vec<store::webhooks::Delivery> {
    store::webhooks::deliveries_of(&app.db.pool, endpoint_id, None, 1000).await.unwrap()
}

#[tokio::test]
async fn a_member_s_journey_is_delivered_to_a_local_receiver_that_verifies_every_signature() {
    let app = TestApp::start_with(Default::default(), &[ALLOW_PRIVATE]).await;
    let world = app.world().await;
    let receiver = Receiver::start(0).await;
    let (_, secret) = endpoint(&app, &world.project_id, &receiver.url(), &[]).await;
    let alice = app.started_user(&world, "Alice").await;

    app.grant(&world, alice.id, json!((Utc::now() + TimeDelta::hours(1)).to_rfc3339())).await;
    app.settle(&[world.bot.id]).await;
    let link = app.invite_links_to(&world, alice.id).await.remove(0);
    app.tg.join_by_link(alice.id, &link).await.unwrap();
    app.settle(&[world.bot.id]).await;

    let all = events_of(&app, &world.project_id).await;
    assert_eq!(all[0].kind, "chat.ready", "the world's channel was verified before the endpoint existed");
    let events = &all[1..];
    let types: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(types, ["link.issued", "member.joined", "link.revoked"], "{events:?}");
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [2, 3, 4]);
    assert_eq!(events[1].data["member"]["telegram_user_id"], json!(alice.id));
    assert_eq!(events[1].data["via"], "own_link");

    let received = receiver.received();
    assert_eq!(received.len(), 3, "one request per event");
    let now = Utc::now().timestamp();
    for request in &received {
        webhooks::verify(&request.signature, &secret, &request.body, now, webhooks::TOLERANCE_SECS)
            .expect("the signature verifies with the endpoint's secret");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["id"].as_str().unwrap(), request.event_id, "Gatehouse-Event-Id is the event's id");
        assert_eq!(body["project_id"], json!(world.project_id));
        assert!(webhooks::verify(&request.signature, "whsec_wrong", &request.body, now, 300).is_err());
    }
    let mut delivered: Vec<String> = received.iter().map(|r| r.event_id.clone()).collect();
    delivered.sort();
    let mut written: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    written.sort();
    assert_eq!(delivered, written);
}

#[tokio::test]
async fn a_receiver_failing_five_times_gets_the_same_event_on_the_sixth_attempt() {
    let app = TestApp::start_with(Default::default(), &[ALLOW_PRIVATE]).await;
    let world = app.world().await;
    let receiver = Receiver::start(5).await;
    let (endpoint_id, secret) = endpoint(&app, &world.project_id, &receiver.url(), &["chat.ready"]).await;
    let event = record(&app, &world.project_id, EventType::ChatReady, json!({"chat": {"id": world.chat_uuid}})).await;
    drain(&app.db.pool, Duration::from_secs(30)).await;
    assert_eq!(receiver.count(), 1);

    for failed in 1..=5 {
        // Not due yet: the scan sends nothing before the backoff has passed.
        retry_scan(&app).await;
        assert_eq!(receiver.count(), failed as usize, "nothing before the backoff");
        app.clock.advance(webhooks::retry_delay(failed) + TimeDelta::seconds(1));
        retry_scan(&app).await;
        assert_eq!(receiver.count(), failed as usize + 1, "attempt {} went out", failed + 1);
    }

    let received = receiver.received();
    let answered: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [500, 500, 500, 500, 500, 200]);
    assert!(received.iter().all(|r| r.event_id == event.id.to_string()), "one event id throughout");
    let last = received.last().unwrap();
    webhooks::verify(&last.signature, &secret, &last.body, app.clock.now().timestamp(), 300).unwrap();
    let delivery = deliveries(&app, endpoint_id).await.remove(0);
    assert_eq!((delivery.state.as_str(), delivery.attempts), ("succeeded", 6));
    let log = store::webhooks::attempts_of(&app.db.pool, delivery.id).await.unwrap();
    assert_eq!(log.iter().map(|a| a.status).collect::<Vec<_>>(), [500, 500, 500, 500, 500, 200].map(Some));
    assert_eq!(log[0].response_head, "receiver down");
    let endpoint = store::webhooks::endpoint(&app.db.pool, endpoint_id).await.unwrap().unwrap();
    assert!(endpoint.enabled && endpoint.failing_since.is_none(), "a success clears the failure window");

    retry_scan(&app).await;
    assert_eq!(receiver.count(), 6, "a delivered event is not sent again");
}

#[tokio::test]
async fn an_endpoint_failing_for_three_days_is_disabled_and_an_event_says_so() {
    let app = TestApp::start_with(Default::default(), &[ALLOW_PRIVATE]).await;
    let world = app.world().await;
    let receiver = Receiver::start(usize::MAX).await;
    let (endpoint_id, _) = endpoint(&app, &world.project_id, &receiver.url(), &[]).await;
    record(&app, &world.project_id, EventType::ChatReady, json!({})).await;
    drain(&app.db.pool, Duration::from_secs(30)).await;
    assert_eq!(receiver.count(), 1);

    // Two days and 23 hours later: still enabled, still retried.
    app.clock.advance(TimeDelta::days(3) - TimeDelta::hours(1));
    retry_scan(&app).await;
    assert_eq!(receiver.count(), 2);
    let endpoint = store::webhooks::endpoint(&app.db.pool, endpoint_id).await.unwrap().unwrap();
    assert!(endpoint.enabled, "inside the window");

    app.clock.advance(TimeDelta::hours(2));
    retry_scan(&app).await;
    assert_eq!(receiver.count(), 3);
    let endpoint = store::webhooks::endpoint(&app.db.pool, endpoint_id).await.unwrap().unwrap();
    assert!(!endpoint.enabled, "disabled after 3 days of failures");
    assert_eq!(endpoint.disabled_reason.as_deref(), Some("every delivery failed for 3 days"));
    let delivery = deliveries(&app, endpoint_id).await.remove(0);
    assert_eq!(delivery.state, "failed", "given up after its 3-day window");
    let events = events_of(&app, &world.project_id).await;
    let disabled = events.iter().find(|e| e.kind == "webhook_endpoint.disabled").expect("an event says so");
    assert_eq!(disabled.data["webhook_endpoint"]["id"], json!(endpoint_id));

    // A disabled endpoint gets nothing more.
    record(&app, &world.project_id, EventType::ChatReady, json!({})).await;
    app.clock.advance(TimeDelta::days(1));
    retry_scan(&app).await;
    assert_eq!(receiver.count(), 3);
    assert_eq!(deliveries(&app, endpoint_id).await.len(), 1, "no delivery is made for a disabled endpoint");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_never_connected_to_without_the_setting() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let receiver = Receiver::start(0).await;
    // A name the edge's check lets through (not `localhost`, not an IP literal) that
    // resolves to loopback: the resolver is the guard that counts.
    let name = loopback_name().await;
    let url = format!("https://{name}:{}/hook", receiver.addr.port());
    let (endpoint_id, _) = endpoint(&app, &world.project_id, &url, &[]).await;
    let literal = format!("https://127.0.0.1:{}/hook", receiver.addr.port());
    let (literal_id, _) = endpoint(&app, &world.project_id, &literal, &[]).await;
    let plain = receiver.url();
    let (plain_id, _) = endpoint(&app, &world.project_id, &plain, &[]).await;
    record(&app, &world.project_id, EventType::ChatReady, json!({})).await;
    drain(&app.db.pool, Duration::from_secs(30)).await;

    assert_eq!(receiver.count(), 0, "no connection reached the receiver");
    for id in [endpoint_id, literal_id, plain_id] {
        let delivery = deliveries(&app, id).await.remove(0);
        assert_eq!((delivery.state.as_str(), delivery.attempts), ("pending", 1), "a failed attempt, retried later");
        let log = store::webhooks::attempts_of(&app.db.pool, delivery.id).await.unwrap();
        let error = log[0].error.clone().unwrap_or_default();
        assert!(log[0].status.is_none() && error.contains("refused"), "{error}");
    }
    assert!(webhooks::check_url(&literal, false).is_err() && webhooks::check_url(&literal, true).is_ok());
}

/// A host name that resolves only to loopback addresses: the machine's own name on the
/// development machines (`/etc/hosts`), else `localhost` (then the edge's check refuses it first).
async fn loopback_name() -> String {
    let mut candidates: Vec<String> =
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| vec![h.trim().to_string()]).unwrap_or_default();
    candidates.extend(["localhost.localdomain".to_string(), "ip6-localhost".to_string()]);
    for name in candidates.into_iter().filter(|n| !n.is_empty()) {
        let found = tokio::net::lookup_host((name.as_str(), 0)).await.map(|f| f.collect::<Vec<_>>());
        if let Ok(found) = found
            && !found.is_empty()
            && found.iter().all(|a| a.ip().is_loopback())
        {
            assert!(webhooks::check_url(&format!("https://{name}/"), false).is_ok());
            return name;
        }
    }
    "localhost".to_string()
}

#[tokio::test]
async fn a_change_that_rolls_back_leaves_no_event_and_takes_no_sequence_number() {
    let app = TestApp::start_with(Default::default(), &[ALLOW_PRIVATE]).await;
    let world = app.world().await;
    let receiver = Receiver::start(0).await;
    let (endpoint_id, _) = endpoint(&app, &world.project_id, &receiver.url(), &[]).await;
    let alice = app.started_user(&world, "Alice").await;
    app.settle(&[world.bot.id]).await;
    let project_id: Uuid = world.project_id.parse().unwrap();
    let before = events_of(&app, &world.project_id).await.len() as i64;
    let subscriber = store::subscribers::find(&app.db.pool, project_id, alice.id).await.unwrap().unwrap();
    let target = gatehouse_jobs::payments::entitlement::Target {
        project_id,
        subscriber_id: subscriber.id,
        plan_id: world.plan_id.parse().unwrap(),
        source: "stripe",
        external_ref: "sub_rolled_back",
    };
    let change = gatehouse_jobs::payments::entitlement::Change {
        event: gatehouse_jobs::payments::subscription::Event::Pay,
        ends: gatehouse_jobs::payments::entitlement::Ends::At(Some(Utc::now() + TimeDelta::days(30))),
        occurred_at: Utc::now(),
    };

    // The real path of a payment: the grant, its jobs and its events in one transaction,
    // which then rolls back (a later statement of the job failed).
    let mut tx = app.db.pool.begin().await.unwrap();
    gatehouse_jobs::payments::entitlement::apply(&mut tx, target, change, Utc::now()).await.unwrap();
    let inside: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(inside, before + 3, "created, payment.succeeded and activated, inside the transaction");
    tx.rollback().await.unwrap();

    assert_eq!(app.db.count("SELECT count(*) FROM events").await, before, "no event for the rolled-back change");
    assert_eq!(app.db.count("SELECT count(*) FROM webhook_deliveries").await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM grants WHERE external_ref = 'sub_rolled_back'").await, 0);

    let mut tx = app.db.pool.begin().await.unwrap();
    gatehouse_jobs::payments::entitlement::apply(&mut tx, target, change, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let events = events_of(&app, &world.project_id).await.split_off(before as usize);
    let types: Vec<(&str, i64)> = events.iter().map(|e| (e.kind.as_str(), e.sequence)).collect();
    assert_eq!(
        types,
        [
            ("subscription.created", before + 1),
            ("payment.succeeded", before + 2),
            ("subscription.activated", before + 3)
        ],
        "the committed change has its events, numbered on from the last: the rollback gave its numbers back"
    );
    assert_eq!(events[2].data["subscription"]["telegram_user_id"], json!(alice.id));
    drain(&app.db.pool, Duration::from_secs(30)).await;
    let received: Vec<String> = receiver.received().into_iter().map(|r| r.event_id).collect();
    for event in &events {
        assert!(received.contains(&event.id.to_string()), "{} delivered", event.kind);
    }
    // The grant's own job made its link afterwards: that is one more event, delivered too.
    let after = events_of(&app, &world.project_id).await.len() as i64 - before;
    assert_eq!(deliveries(&app, endpoint_id).await.len() as i64, after);
}

#[tokio::test]
async fn concurrent_writers_of_one_project_get_strictly_increasing_sequence_numbers_in_commit_order() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let project_id: Uuid = world.project_id.parse().unwrap();
    let before = events_of(&app, &world.project_id).await.len() as i64;
    let mut writers = Vec::new();
    for writer in 0..8 {
        let pool = app.db.pool.clone();
        writers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for n in 0..25 {
                let mut tx = pool.begin().await.unwrap();
                let event = NewEvent::new(project_id, EventType::ChatReady, json!({"writer": writer, "n": n}));
                let stored = store::events::record(&mut tx, event, Utc::now()).await.unwrap();
                if n % 5 == 4 {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    mine.push(stored.sequence);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for writer in writers {
        let mine = writer.await.unwrap();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "each writer's numbers increase: {mine:?}");
        all.extend(mine);
    }
    all.sort_unstable();
    assert_eq!(all, (before + 1..=before + 160).collect::<Vec<i64>>(), "unique, and rollbacks left no gap");
    let stored = events_of(&app, &world.project_id).await;
    assert_eq!(stored.len() as i64, before + 160);
}

/// The README's worked example of checking a signature, checked here: the secret, the
/// timestamp, the body and the signature it shows.
#[test]
fn the_readme_s_worked_verification_example_holds() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("#### Worked example").nth(1).expect("the README has the worked example");
    let value_of = |label: &str| {
        let item = |l: &str| l.trim_start().trim_start_matches("- ").to_string();
        let line = section.lines().map(item).find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{label}"));
        line[label.len()..].trim().trim_matches('`').to_string()
    };
    let secret = value_of("secret:");
    let t: i64 = value_of("t:").parse().unwrap();
    let body = value_of("body:");
    let signed_payload = value_of("signed payload:");
    let v1 = value_of("v1:");
    let header = value_of("Gatehouse-Signature:");
    assert_eq!(signed_payload, format!("{t}.{body}"));
    assert_eq!(webhooks::signature(&secret, t, body.as_bytes()), v1);
    assert_eq!(header, format!("t={t},v1={v1}"));
    webhooks::verify(&header, &secret, body.as_bytes(), t + 10, webhooks::TOLERANCE_SECS).unwrap();
}

/// The API's endpoint path of the world's project.
fn endpoints_path(project_id: &str) -> String {
    format!("/v1/projects/{project_id}/webhook-endpoints")
}

#[tokio::test]
async fn an_endpoint_is_managed_through_the_api_its_secret_shown_once_and_rotated_with_two_signatures() {
    let app = TestApp::start_with(Default::default(), &[ALLOW_PRIVATE]).await;
    let world = app.world().await;
    let receiver = Receiver::start(0).await;
    let path = endpoints_path(&world.project_id);

    let (status, created) =
        app.post(&path, &world.key, json!({"url": receiver.url(), "event_types": ["chat.ready", "link.issued"]})).await;
    assert_eq!(status, 201, "{created}");
    let endpoint = &created["data"];
    let id = endpoint["id"].as_str().unwrap().to_string();
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{endpoint}");
    assert_eq!(endpoint["event_types"], json!(["chat.ready", "link.issued"]));
    let sealed = store::webhooks::endpoint(&app.db.pool, id.parse().unwrap()).await.unwrap().unwrap().secret_sealed;
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret), "the secret is stored sealed");

    let (status, listed) = app.get(&path, &world.key).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(listed["data"][0].get("secret").is_none(), "shown once: never listed");
    assert!(listed.get("next_cursor").is_some(), "{listed}");
    let (status, shown) = app.get(&format!("{path}/{id}"), &world.key).await;
    assert_eq!((status, shown["data"].get("secret")), (200, None));

    // Only the types asked for are delivered.
    record(&app, &world.project_id, EventType::MemberLeft, json!({})).await;
    let ready = record(&app, &world.project_id, EventType::ChatReady, json!({})).await;
    drain(&app.db.pool, Duration::from_secs(30)).await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(receiver.received()[0].event_id, ready.id.to_string());

    let (status, rotated) = app.post(&format!("{path}/{id}/rotate-secret"), &world.key, json!({})).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    record(&app, &world.project_id, EventType::LinkIssued, json!({})).await;
    drain(&app.db.pool, Duration::from_secs(30)).await;
    let signed = receiver.received().pop().unwrap();
    assert_eq!(signed.signature.matches("v1=").count(), 2, "two signatures during the rotation");
    let now = Utc::now().timestamp();
    webhooks::verify(&signed.signature, &new_secret, &signed.body, now, 300).expect("the new secret verifies");
    webhooks::verify(&signed.signature, &secret, &signed.body, now, 300).expect("the previous one still does");
    app.clock.advance(TimeDelta::hours(25));
    record(&app, &world.project_id, EventType::LinkIssued, json!({})).await;
    drain(&app.db.pool, Duration::from_secs(30)).await;
    let later = receiver.received().pop().unwrap();
    assert_eq!(later.signature.matches("v1=").count(), 1, "the previous secret stops signing after 24 h");
    let now = app.clock.now().timestamp();
    assert!(webhooks::verify(&later.signature, &secret, &later.body, now, 300).is_err());

    let (status, log) = app.get(&format!("{path}/{id}/deliveries"), &world.key).await;
    assert_eq!(status, 200, "{log}");
    let deliveries = log["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    let first = deliveries.last().unwrap();
    assert_eq!(first["event_id"], json!(ready.id));
    assert_eq!(first["state"], "succeeded");
    assert_eq!(first["log"][0]["status"], 200);
    assert_eq!(first["log"][0]["response_head"], "ok");
    let delivery_id = first["id"].as_str().unwrap();
    let (status, _) = app.post(&format!("{path}/{id}/deliveries/{delivery_id}/redeliver"), &world.key, json!({})).await;
    assert_eq!(status, 202);
    drain(&app.db.pool, Duration::from_secs(30)).await;
    let again = receiver.received().pop().unwrap();
    assert_eq!(again.event_id, ready.id.to_string(), "the same event, the same id");

    let (status, changed) = app
        .call(reqwest::Method::PATCH, &format!("{path}/{id}"), Some(&world.key), Some(json!({"enabled": false})))
        .await;
    assert_eq!((status, &changed["data"]["enabled"]), (200, &json!(false)), "{changed}");
    let (status, _) = app.call(reqwest::Method::DELETE, &format!("{path}/{id}"), Some(&world.key), None).await;
    assert_eq!(status, 200);
    let (status, _) = app.get(&format!("{path}/{id}"), &world.key).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_http_or_loopback_url_is_refused_at_registration_without_the_setting() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let path = endpoints_path(&world.project_id);
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/",
        "https://169.254.169.254/",
    ] {
        let (status, body) = app.post(&path, &world.key, json!({"url": url})).await;
        assert_eq!(status, 422, "{url}: {body}");
    }
    let (status, body) = app
        .post(&path, &world.key, json!({"url": "https://example.com/hook", "event_types": ["member.vanished"]}))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app.post(&path, &world.key, json!({"url": "https://example.com/hook"})).await;
    assert_eq!(status, 201, "a public https URL is accepted: {body}");
}

#[tokio::test]
async fn events_are_polled_after_a_sequence_filtered_by_type_and_paged() {
    let app = TestApp::start().await;
    let world = app.world().await;
    for n in 0..5 {
        record(&app, &world.project_id, EventType::MemberLeft, json!({"n": n})).await;
        record(&app, &world.project_id, EventType::ChatReady, json!({"n": n})).await;
    }
    let path = format!("/v1/projects/{}/events", world.project_id);
    let (status, all) = app.get(&format!("{path}?limit=4"), &world.key).await;
    assert_eq!(status, 200, "{all}");
    let page: Vec<i64> = all["data"].as_array().unwrap().iter().map(|e| e["sequence"].as_i64().unwrap()).collect();
    assert_eq!(page, [1, 2, 3, 4]);
    let next = all["next_cursor"].as_str().unwrap();
    let (_, rest) = app.get(&format!("{path}?cursor={next}&limit=100"), &world.key).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 7, "11 events: the world's chat.ready and 10");
    assert!(rest["next_cursor"].is_null());
    let (_, same) = app.get(&format!("{path}?after=4&limit=100"), &world.key).await;
    assert_eq!(same["data"], rest["data"], "after=<last sequence seen> reads on the same");

    let (_, left) = app.get(&format!("{path}?types=member.left&after=3"), &world.key).await;
    let left = left["data"].as_array().unwrap();
    assert_eq!(left.len(), 4, "{left:?}");
    assert!(left.iter().all(|e| e["type"] == "member.left" && e["sequence"].as_i64().unwrap() > 3));
    assert_eq!(left[0]["data"]["n"], 1);

    let (status, _) = app.get(&format!("{path}?types=member.vanished"), &world.key).await;
    assert_eq!(status, 422);
    let (status, _) = app.get(&format!("{path}?after=-1"), &world.key).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_key_without_webhooks_manage_can_neither_read_events_nor_manage_endpoints() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (status, made) = app
        .post(
            &format!("/v1/projects/{}/keys", world.project_id),
            &world.key,
            json!({"name": "plans only", "abilities": ["plans:read"]}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let weak = made["data"]["api_key"].as_str().expect("the new key").to_string();
    let (status, body) = app.get(&format!("/v1/projects/{}/events", world.project_id), &weak).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("TOKEN_MISSING_ABILITY")), "{body}");
    let (status, _) =
        app.post(&endpoints_path(&world.project_id), &weak, json!({"url": "https://example.com/hook"})).await;
    assert_eq!(status, 403);
    let (status, _) = app.get(&endpoints_path(&world.project_id), &weak).await;
    assert_eq!(status, 403);
}
