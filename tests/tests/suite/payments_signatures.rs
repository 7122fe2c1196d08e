//! `POST /hooks/stripe/{project_id}`: only deliveries signed with a secret in force,
//! recently, over the exact body are stored; each event once.

use gatehouse_sim::stripe::sign;
use gatehouse_tests::app::{TestApp, World};
use serde_json::json;

const SECRET: &str = "whsec_first_secret";

struct Hook {
    app: TestApp,
    world: World,
    http: reqwest::Client,
}

async fn hook() -> Hook {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.connect_stripe(&world, SECRET).await;
    Hook { app, world, http: reqwest::Client::new() }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn event(id: &str) -> String {
    json!({"id": id, "object": "event", "type": "invoice.paid", "created": now(), "data": {"object": {"id": "in_1"}}})
        .to_string()
}

impl Hook {
    fn url(&self) -> String {
        format!("{}/hooks/stripe/{}", self.app.api.url(), self.world.project_id)
    }

    async fn deliver(&self, body: &str, signature: Option<String>) -> u16 {
        let mut request = self.http.post(self.url()).header("content-type", "application/json").body(body.to_string());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        request.send().await.unwrap().status().as_u16()
    }

    async fn stored(&self) -> i64 {
        self.app.db.count("SELECT count(*) FROM payment_events WHERE provider = 'stripe'").await
    }

    async fn rotate(&self, secret: &str) {
        let (status, body) = self
            .app
            .call(
                reqwest::Method::PUT,
                &format!("/v1/projects/{}/stripe", self.world.project_id),
                Some(&self.world.key),
                Some(json!({"secret_key": "sk_test_rotated", "webhook_secret": secret})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn a_signed_event_is_stored_and_processed_once_however_often_it_arrives() {
    let hook = hook().await;
    let body = event("evt_once");

    for _ in 0..3 {
        assert_eq!(hook.deliver(&body, Some(sign(SECRET, now(), &body))).await, 200);
    }

    assert_eq!(hook.stored().await, 1);
    let jobs = hook.app.db.jobs().await;
    assert_eq!(jobs.iter().filter(|j| j.kind.as_deref() == Some("process-stripe-event")).count(), 1);
}

#[tokio::test]
async fn a_wrong_secret_a_stale_timestamp_a_tampered_body_or_no_header_is_refused_and_stores_nothing() {
    let hook = hook().await;
    let body = event("evt_refused");

    assert_eq!(hook.deliver(&body, Some(sign("whsec_wrong_secret", now(), &body))).await, 400, "wrong secret");
    assert_eq!(hook.deliver(&body, Some(sign(SECRET, now() - 301, &body))).await, 400, "stale timestamp");
    let tampered = body.replace("in_1", "in_2");
    assert_eq!(hook.deliver(&tampered, Some(sign(SECRET, now(), &body))).await, 400, "tampered body");
    assert_eq!(hook.deliver(&body, None).await, 400, "missing header");
    assert_eq!(hook.deliver(&body, Some("t=1,v0=abc".into())).await, 400, "malformed header");

    assert_eq!(hook.stored().await, 0);
    assert_eq!(hook.deliver(&body, Some(sign(SECRET, now() - 200, &body))).await, 200, "within the tolerance");
}

#[tokio::test]
async fn a_signature_header_with_several_v1_values_passes_if_any_matches() {
    let hook = hook().await;
    let body = event("evt_many");
    let t = now();
    let good = sign(SECRET, t, &body);
    let header = format!("t={t},v1={},{}", "ab".repeat(32), good.split_once(',').unwrap().1);
    assert_eq!(hook.deliver(&body, Some(header)).await, 200);
}

#[tokio::test]
async fn during_a_rotation_the_previous_secret_is_accepted_until_the_next_change() {
    let hook = hook().await;
    let second = "whsec_second_secret";
    let third = "whsec_third_secret";

    hook.rotate(second).await;
    let body = event("evt_rot_1");
    assert_eq!(hook.deliver(&body, Some(sign(SECRET, now(), &body))).await, 200, "previous secret");
    let body = event("evt_rot_2");
    assert_eq!(hook.deliver(&body, Some(sign(second, now(), &body))).await, 200, "new secret");

    hook.rotate(third).await;
    let body = event("evt_rot_3");
    assert_eq!(hook.deliver(&body, Some(sign(SECRET, now(), &body))).await, 400, "two changes ago");
    assert_eq!(hook.deliver(&body, Some(sign(second, now(), &body))).await, 200);
    let body = event("evt_rot_4");
    assert_eq!(hook.deliver(&body, Some(sign(third, now(), &body))).await, 200);
    assert_eq!(hook.stored().await, 4);
}

#[tokio::test]
async fn secrets_are_stored_sealed_and_never_shown() {
    let hook = hook().await;
    let (status, body) = hook.app.get(&format!("/v1/projects/{}/stripe", hook.world.project_id), &hook.world.key).await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains(SECRET) && !body.to_string().contains("sk_test_"), "{body}");
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT webhook_secret_sealed FROM stripe_settings")
        .fetch_one(&hook.app.db.pool)
        .await
        .unwrap();
    assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
}

#[tokio::test]
async fn a_project_without_stripe_settings_is_not_found() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let body = event("evt_nowhere");
    let status = reqwest::Client::new()
        .post(format!("{}/hooks/stripe/{}", app.api.url(), world.project_id))
        .header("Stripe-Signature", sign(SECRET, now(), &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
}
