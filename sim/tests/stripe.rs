//! Stripe: signatures, the minimal API, and event emission.

use std::time::Duration;

use axum::http::HeaderMap;
use gatehouse_sim::stripe::{CompleteRequest, EmitRequest, EventSpec, StripeAccount, sign};
use gatehouse_sim::{Sim, SimConfig};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

struct Endpoint {
    url: String,
    rx: mpsc::UnboundedReceiver<(HeaderMap, String)>,
}

async fn endpoint() -> Endpoint {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/stripe",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stripe", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Endpoint { url, rx }
}

impl Endpoint {
    async fn next(&mut self) -> (HeaderMap, String) {
        tokio::time::timeout(Duration::from_secs(5), self.rx.recv()).await.unwrap().unwrap()
    }
}

/// Verifies a signature the way Stripe's libraries do.
fn verify(secret: &str, header: &str, body: &str) -> bool {
    let t = header.split(',').find_map(|p| p.strip_prefix("t=")).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let want = hex::encode(mac.finalize().into_bytes());
    header.split(',').filter_map(|p| p.strip_prefix("v1=")).any(|v| v == want)
}

#[test]
fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
    let header = sign("whsec_test", 1_700_000_000, r#"{"id":"evt_1"}"#);

    assert!(header.starts_with("t=1700000000,v1="));
    assert!(verify("whsec_test", &header, r#"{"id":"evt_1"}"#));
    assert!(!verify("whsec_other", &header, r#"{"id":"evt_1"}"#));
}

async fn setup() -> (gatehouse_sim::SimHandle, Endpoint, reqwest::Client) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let ep = endpoint().await;
    sim.client()
        .add_stripe_account(&StripeAccount {
            id: String::new(),
            api_key: "sk_test_gatehouse".into(),
            webhook_url: Some(ep.url.clone()),
            webhook_secret: Some("whsec_gatehouse".into()),
        })
        .await
        .unwrap();
    (sim, ep, reqwest::Client::new())
}

async fn create_session(sim: &gatehouse_sim::SimHandle, http: &reqwest::Client) -> Value {
    http.post(format!("{}/stripe/v1/checkout/sessions", sim.base_url()))
        .bearer_auth("sk_test_gatehouse")
        .form(&[
            ("mode", "subscription"),
            ("success_url", "https://example.com/ok"),
            ("line_items[0][quantity]", "1"),
            ("line_items[0][price_data][unit_amount]", "900"),
            ("line_items[0][price_data][currency]", "eur"),
            ("metadata[membership_id]", "m_1"),
            ("subscription_data[metadata][membership_id]", "m_1"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_completed_checkout_emits_signed_completed_and_paid_events_with_metadata() {
    let (sim, mut ep, http) = setup().await;
    let session = create_session(&sim, &http).await;

    sim.client().complete_checkout(session["id"].as_str().unwrap(), &CompleteRequest::default()).await.unwrap();
    let (h1, b1) = ep.next().await;
    let (h2, b2) = ep.next().await;

    assert!(session["url"].as_str().unwrap().starts_with("http"));
    for (h, b) in [(&h1, &b1), (&h2, &b2)] {
        assert!(verify("whsec_gatehouse", h["stripe-signature"].to_str().unwrap(), b));
    }
    let completed: Value = serde_json::from_str(&b1).unwrap();
    let paid: Value = serde_json::from_str(&b2).unwrap();
    assert_eq!(completed["type"], "checkout.session.completed");
    assert_eq!(completed["data"]["object"]["metadata"]["membership_id"], "m_1");
    let sub = completed["data"]["object"]["subscription"].as_str().unwrap();
    assert_eq!(paid["type"], "invoice.paid");
    assert_eq!(paid["data"]["object"]["subscription"], sub);
    assert_eq!(paid["data"]["object"]["amount_paid"], 900);
    assert!(paid["data"]["object"]["lines"]["data"][0]["period"]["end"].as_i64().is_some());
    assert!(paid["created"].as_i64() > completed["created"].as_i64());
}

#[tokio::test]
async fn events_can_be_delivered_twice_and_in_reverse_order() {
    let (sim, mut ep, http) = setup().await;
    let session = create_session(&sim, &http).await;
    let done =
        sim.client().complete_checkout(session["id"].as_str().unwrap(), &CompleteRequest::default()).await.unwrap();
    ep.next().await;
    ep.next().await;
    let sub = done.events[0]["data"]["object"]["subscription"].as_str().unwrap().to_string();

    let emitted = sim
        .client()
        .emit_stripe_events(&EmitRequest {
            api_key: "sk_test_gatehouse".into(),
            events: vec![
                EventSpec { kind: "invoice.paid".into(), subscription: Some(sub.clone()), ..Default::default() },
                EventSpec {
                    kind: "customer.subscription.updated".into(),
                    subscription: Some(sub.clone()),
                    cancel_at_period_end: Some(true),
                    ..Default::default()
                },
                EventSpec {
                    kind: "customer.subscription.deleted".into(),
                    subscription: Some(sub.clone()),
                    ..Default::default()
                },
            ],
            twice: true,
            reverse: true,
        })
        .await
        .unwrap();
    let mut order = Vec::new();
    for _ in 0..6 {
        let (_, b) = ep.next().await;
        let v: Value = serde_json::from_str(&b).unwrap();
        order.push(v["type"].as_str().unwrap().to_string());
    }

    assert_eq!(
        order,
        [
            "customer.subscription.deleted",
            "customer.subscription.deleted",
            "customer.subscription.updated",
            "customer.subscription.updated",
            "invoice.paid",
            "invoice.paid"
        ]
    );
    let created: Vec<i64> = emitted.events.iter().map(|e| e["created"].as_i64().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] < w[1]), "{created:?}");
    assert_eq!(emitted.events[1]["data"]["object"]["cancel_at_period_end"], true);
}

#[tokio::test]
async fn the_api_needs_the_secret_key_and_cancels_subscriptions() {
    let (sim, mut ep, http) = setup().await;
    let unauthorized = http
        .post(format!("{}/stripe/v1/checkout/sessions", sim.base_url()))
        .bearer_auth("sk_test_wrong")
        .form(&[("mode", "payment")])
        .send()
        .await
        .unwrap();
    let session = create_session(&sim, &http).await;
    let done =
        sim.client().complete_checkout(session["id"].as_str().unwrap(), &CompleteRequest::default()).await.unwrap();
    ep.next().await;
    ep.next().await;
    let sub = done.events[0]["data"]["object"]["subscription"].as_str().unwrap();

    let canceled: Value = http
        .delete(format!("{}/stripe/v1/subscriptions/{sub}", sim.base_url()))
        .bearer_auth("sk_test_gatehouse")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, deleted) = ep.next().await;

    assert_eq!(unauthorized.status().as_u16(), 401);
    assert_eq!(canceled["status"], "canceled");
    assert!(deleted.contains("customer.subscription.deleted"));
}
