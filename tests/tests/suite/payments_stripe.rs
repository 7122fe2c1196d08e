//! Stripe end to end: the real api and worker against the simulator's Stripe
//! (checkout sessions, signed webhook deliveries, renewals, failures,
//! cancellations, deletions and refunds, delivered twice and in reverse order),
//! asserting the grants, the chat and what the subscriber was sent.

use chrono::{DateTime, Duration, Utc};
use gatehouse_jobs::catalog::expiry_scan::ExpiryScan;
use gatehouse_sim::{
    MemberStatus, UserInfo,
    stripe::{CompleteRequest, EmitRequest, EventSpec},
};
use gatehouse_tests::app::{TestApp, World};
use serde_json::{Value, json};
use uuid::Uuid;

const WEBHOOK_SECRET: &str = "whsec_test_payments";

/// A project selling a recurring plan through Stripe.
struct Shop {
    app: TestApp,
    world: World,
    plan_id: String,
    api_key: String,
}

/// A subscriber who went through checkout.
struct Subscriber {
    user: UserInfo,
    subscription: String,
}

async fn shop() -> Shop {
    let app = TestApp::start().await;
    let world = app.world().await;
    let api_key = app.connect_stripe(&world, WEBHOOK_SECRET).await;
    let plan_id = app
        .plan(
            &world,
            json!({"name": "Club Monthly", "price": 900, "currency": "EUR", "duration_days": 30, "recurring": true}),
        )
        .await;
    Shop { app, world, plan_id, api_key }
}

impl Shop {
    /// A user who asked for a checkout and completed it (delivered as `delivery` says).
    async fn subscribe(&self, name: &str, delivery: CompleteRequest) -> Subscriber {
        let user = self.app.started_user(&self.world, name).await;
        let answer = self.app.checkout(&self.world, user.id, &self.plan_id, "stripe").await;
        let checkout_id: Uuid = answer["checkout_id"].as_str().unwrap().parse().unwrap();
        let session: String = sqlx::query_scalar("SELECT external_id FROM checkout_requests WHERE id = $1")
            .bind(checkout_id)
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap();
        let emitted = self.app.tg.complete_checkout(&session, &delivery).await.unwrap();
        assert!(emitted.deliveries.iter().all(|d| d.status == Some(200)), "{:?}", emitted.deliveries);
        self.app.settle(&[self.world.bot.id]).await;
        let session = self.app.tg.stripe_session(&session).await.unwrap();
        Subscriber { user, subscription: session["subscription"].as_str().unwrap().to_string() }
    }

    async fn emit(&self, events: Vec<EventSpec>, twice: bool, reverse: bool) {
        let emitted = self
            .app
            .tg
            .emit_stripe_events(&EmitRequest { api_key: self.api_key.clone(), events, twice, reverse })
            .await
            .unwrap();
        assert!(emitted.deliveries.iter().all(|d| d.status == Some(200)), "{:?}", emitted.deliveries);
        self.app.settle(&[self.world.bot.id]).await;
    }

    /// The user's Stripe grant: state and end.
    async fn grant(&self, user: i64) -> (String, Option<DateTime<Utc>>) {
        sqlx::query_as(
            "SELECT g.state, g.ends_at FROM grants g JOIN subscribers s ON s.id = g.subscriber_id
             WHERE s.telegram_user_id = $1 AND g.source = 'stripe'",
        )
        .bind(user)
        .fetch_one(&self.app.db.pool)
        .await
        .unwrap()
    }

    /// The simulator's `current_period_end` of a subscription.
    async fn period_end(&self, subscription: &str) -> DateTime<Utc> {
        let sub = self.app.tg.stripe_subscription(subscription).await.unwrap();
        DateTime::from_timestamp(sub["current_period_end"].as_i64().unwrap(), 0).unwrap()
    }

    async fn join(&self, user: i64) {
        let links = self.app.invite_links_to(&self.world, user).await;
        assert_eq!(links.len(), 1, "one link: {links:?}");
        self.app.tg.join_by_link(user, &links[0]).await.unwrap();
        self.app.settle(&[self.world.bot.id]).await;
        assert!(self.is_member(user).await);
    }

    async fn is_member(&self, user: i64) -> bool {
        let status = self.app.tg.member(self.world.channel.id, user).await.unwrap().status;
        matches!(status, MemberStatus::Member { .. })
    }

    /// Moves Gatehouse's clock and runs the expiry scan, as the schedule would.
    async fn later(&self, by: Duration) {
        self.app.clock.advance(by);
        self.app.enqueue(&ExpiryScan { tick: self.app.clock.now() }).await;
        self.app.settle(&[self.world.bot.id]).await;
    }
}

fn event(kind: &str, subscription: &str) -> EventSpec {
    EventSpec { kind: kind.into(), subscription: Some(subscription.into()), ..EventSpec::default() }
}

fn cancel_at_period_end(subscription: &str, flag: bool) -> EventSpec {
    EventSpec { cancel_at_period_end: Some(flag), ..event("customer.subscription.updated", subscription) }
}

fn in_order() -> CompleteRequest {
    CompleteRequest::default()
}

#[tokio::test]
async fn a_completed_stripe_checkout_gives_the_user_a_link_to_the_plans_chat() {
    let shop = shop().await;
    let sub = shop.subscribe("Alice", in_order()).await;

    let texts = shop.app.texts_to(&shop.world, sub.user.id).await;
    assert!(texts.iter().any(|t| t.contains("/stripe/pay/cs_")), "the checkout URL was sent: {texts:?}");
    let (state, ends_at) = shop.grant(sub.user.id).await;
    assert_eq!(state, "active");
    assert_eq!(ends_at, Some(shop.period_end(&sub.subscription).await));
    shop.join(sub.user.id).await;
    let session = shop.app.tg.calls_of("createChatInviteLink").await.unwrap();
    assert_eq!(session.len(), 1);
}

#[tokio::test]
async fn the_checkout_session_carries_the_project_plan_and_user_in_its_metadata() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Meta").await;
    let answer = shop.app.checkout(&shop.world, user.id, &shop.plan_id, "stripe").await;
    let session: String = sqlx::query_scalar("SELECT external_id FROM checkout_requests WHERE id = $1::uuid")
        .bind(answer["checkout_id"].as_str().unwrap())
        .fetch_one(&shop.app.db.pool)
        .await
        .unwrap();
    let session = shop.app.tg.stripe_session(&session).await.unwrap();
    assert_eq!(session["mode"], "subscription");
    assert_eq!(session["metadata"]["gatehouse_project"], json!(shop.world.project_id));
    assert_eq!(session["metadata"]["gatehouse_plan"], json!(shop.plan_id));
    assert_eq!(session["metadata"]["gatehouse_user"], json!(user.id.to_string()));
    assert_eq!(session["metadata"]["gatehouse_ref"], answer["checkout_id"]);
    let (status, shown) = shop
        .app
        .get(
            &format!("/v1/projects/{}/checkout/{}", shop.world.project_id, answer["checkout_id"].as_str().unwrap()),
            &shop.world.key,
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["data"]["state"], "sent");
    assert_eq!(shown["data"]["url"], session["url"]);
}

#[tokio::test]
async fn a_renewal_extends_access_without_sending_a_second_link() {
    let shop = shop().await;
    let sub = shop.subscribe("Bob", in_order()).await;
    shop.join(sub.user.id).await;
    let (_, first_end) = shop.grant(sub.user.id).await;

    shop.emit(vec![event("invoice.paid", &sub.subscription)], false, false).await;

    let (state, ends_at) = shop.grant(sub.user.id).await;
    assert_eq!(state, "active");
    assert_eq!(ends_at, Some(shop.period_end(&sub.subscription).await));
    assert_eq!(ends_at.unwrap() - first_end.unwrap(), Duration::days(30));
    assert_eq!(shop.app.invite_links_to(&shop.world, sub.user.id).await.len(), 1);
    shop.later(Duration::days(31)).await;
    assert!(shop.is_member(sub.user.id).await, "renewed: still inside after the first period");
}

#[tokio::test]
async fn a_failed_payment_is_past_due_and_removed_after_the_grace_period() {
    let shop = shop().await;
    let sub = shop.subscribe("Carol", in_order()).await;
    shop.join(sub.user.id).await;
    let paid_until = shop.period_end(&sub.subscription).await;

    shop.emit(vec![event("invoice.payment_failed", &sub.subscription)], false, false).await;

    let (state, ends_at) = shop.grant(sub.user.id).await;
    assert_eq!(state, "past_due");
    assert_eq!(ends_at, Some(paid_until + Duration::days(3)), "paid period plus the project's grace period");
    let texts = shop.app.texts_to(&shop.world, sub.user.id).await;
    assert_eq!(texts.iter().filter(|t| t.contains("did not go through")).count(), 1, "{texts:?}");

    shop.later(Duration::days(32)).await;
    assert!(shop.is_member(sub.user.id).await, "within the grace period");
    shop.later(Duration::days(2)).await;
    assert!(!shop.is_member(sub.user.id).await, "removed after the grace period");
    assert_eq!(shop.grant(sub.user.id).await.0, "expired");
    let texts = shop.app.texts_to(&shop.world, sub.user.id).await;
    let renew = format!("https://t.me/club_bot?start=plan_{}", shop.plan_id);
    assert!(texts.last().unwrap().contains(&renew), "the last message links to renewal: {texts:?}");
}

#[tokio::test]
async fn a_failed_payment_paid_within_the_grace_period_keeps_access() {
    let shop = shop().await;
    let sub = shop.subscribe("Dan", in_order()).await;
    shop.join(sub.user.id).await;

    shop.emit(vec![event("invoice.payment_failed", &sub.subscription)], false, false).await;
    shop.emit(vec![event("invoice.paid", &sub.subscription)], false, false).await;

    assert_eq!(shop.grant(sub.user.id).await.0, "active");
    shop.later(Duration::days(34)).await;
    assert!(shop.is_member(sub.user.id).await);
    assert_eq!(shop.app.invite_links_to(&shop.world, sub.user.id).await.len(), 1);
}

#[tokio::test]
async fn a_cancellation_at_period_end_keeps_access_until_the_period_ends() {
    let shop = shop().await;
    let sub = shop.subscribe("Erin", in_order()).await;
    shop.join(sub.user.id).await;
    let end = shop.period_end(&sub.subscription).await;

    shop.emit(vec![cancel_at_period_end(&sub.subscription, true)], false, false).await;

    assert_eq!(shop.grant(sub.user.id).await, ("canceled".to_string(), Some(end)));
    shop.later(Duration::days(29)).await;
    assert!(shop.is_member(sub.user.id).await, "cancelled, but the period is paid");
    shop.later(Duration::days(2)).await;
    assert!(!shop.is_member(sub.user.id).await, "the period ended");
    assert_eq!(shop.grant(sub.user.id).await.0, "expired");
}

#[tokio::test]
async fn a_withdrawn_cancellation_makes_the_subscription_active_again() {
    let shop = shop().await;
    let sub = shop.subscribe("Fay", in_order()).await;
    shop.emit(vec![cancel_at_period_end(&sub.subscription, true)], false, false).await;
    shop.emit(vec![cancel_at_period_end(&sub.subscription, false)], false, false).await;
    assert_eq!(shop.grant(sub.user.id).await.0, "active");
}

#[tokio::test]
async fn deletion_and_refund_remove_access_at_once() {
    let shop = shop().await;
    let deleted = shop.subscribe("Gus", in_order()).await;
    let refunded = shop.subscribe("Hal", in_order()).await;
    shop.join(deleted.user.id).await;
    shop.join(refunded.user.id).await;

    shop.emit(vec![event("customer.subscription.deleted", &deleted.subscription)], false, false).await;
    shop.emit(vec![event("charge.refunded", &refunded.subscription)], false, false).await;

    for user in [deleted.user.id, refunded.user.id] {
        assert!(!shop.is_member(user).await, "{user} removed");
        assert_eq!(shop.grant(user).await.0, "expired");
        let texts = shop.app.texts_to(&shop.world, user).await;
        assert!(texts.last().unwrap().contains("has ended"), "{texts:?}");
    }
}

/// Every event twice, newest first, against the same events in order for another
/// subscriber: the same final state, one link, no message twice.
#[tokio::test]
async fn events_delivered_twice_and_in_reverse_order_end_as_they_do_in_order() {
    let shop = shop().await;
    let ordered = shop.subscribe("Ivy", in_order()).await;
    let shuffled = shop.subscribe("Jon", CompleteRequest { twice: true, reverse: true, customer_email: None }).await;
    let sequence = |sub: &str| {
        vec![
            event("invoice.paid", sub),
            event("invoice.payment_failed", sub),
            event("invoice.paid", sub),
            cancel_at_period_end(sub, true),
        ]
    };

    shop.emit(sequence(&ordered.subscription), false, false).await;
    shop.emit(sequence(&shuffled.subscription), true, true).await;

    for sub in [&ordered, &shuffled] {
        let end = shop.period_end(&sub.subscription).await;
        assert_eq!(shop.grant(sub.user.id).await, ("canceled".to_string(), Some(end)), "{}", sub.user.first_name);
        assert_eq!(shop.app.invite_links_to(&shop.world, sub.user.id).await.len(), 1);
        let texts = shop.app.texts_to(&shop.world, sub.user.id).await;
        let mut unique = texts.clone();
        unique.dedup();
        assert_eq!(unique, texts, "no message sent twice");
    }

    let ending = |sub: &str| vec![event("customer.subscription.deleted", sub), event("charge.refunded", sub)];
    shop.emit(ending(&ordered.subscription), false, false).await;
    shop.emit(ending(&shuffled.subscription), true, true).await;
    for sub in [&ordered, &shuffled] {
        assert_eq!(shop.grant(sub.user.id).await.0, "expired", "{}", sub.user.first_name);
        let texts = shop.app.texts_to(&shop.world, sub.user.id).await;
        assert_eq!(texts.iter().filter(|t| t.contains("has ended")).count(), 1, "{texts:?}");
    }
    let events: i64 = shop.app.db.count("SELECT count(*) FROM payment_events WHERE provider = 'stripe'").await;
    let distinct = shop.app.tg.stripe_deliveries().await.unwrap();
    let ids: std::collections::BTreeSet<_> = distinct.iter().map(|d| d.event_id.clone()).collect();
    assert_eq!(events as usize, ids.len(), "each event stored once");
}

#[tokio::test]
async fn an_old_event_arriving_after_a_deletion_does_not_reopen_access() {
    let shop = shop().await;
    let sub = shop.subscribe("Kim", in_order()).await;
    shop.join(sub.user.id).await;
    // invoice.paid is older than the deletion but delivered after it.
    shop.emit(
        vec![event("invoice.paid", &sub.subscription), event("customer.subscription.deleted", &sub.subscription)],
        false,
        true,
    )
    .await;
    assert_eq!(shop.grant(sub.user.id).await.0, "expired");
    assert!(!shop.is_member(sub.user.id).await);
    assert_eq!(shop.app.invite_links_to(&shop.world, sub.user.id).await.len(), 1);
}

#[tokio::test]
async fn a_one_time_stripe_purchase_grants_the_plans_duration() {
    let shop = shop().await;
    let plan =
        shop.app.plan(&shop.world, json!({"name": "Pass", "price": 1500, "currency": "USD", "duration_days": 7})).await;
    let user = shop.app.started_user(&shop.world, "Lee").await;
    let answer = shop.app.checkout(&shop.world, user.id, &plan, "stripe").await;
    let session: String = sqlx::query_scalar("SELECT external_id FROM checkout_requests WHERE id = $1::uuid")
        .bind(answer["checkout_id"].as_str().unwrap())
        .fetch_one(&shop.app.db.pool)
        .await
        .unwrap();
    shop.app.tg.complete_checkout(&session, &in_order()).await.unwrap();
    shop.app.settle(&[shop.world.bot.id]).await;
    let (state, ends_at) = shop.grant(user.id).await;
    assert_eq!(state, "active");
    let days = (ends_at.unwrap() - Utc::now()).num_hours();
    assert!((7 * 24 - 2..=7 * 24).contains(&days), "about 7 days: {days} h");
    assert_eq!(shop.app.invite_links_to(&shop.world, user.id).await.len(), 1);
    // A refund of the one-time payment ends it.
    let refund = EventSpec {
        checkout_session: Some(session),
        ..EventSpec { kind: "charge.refunded".into(), ..Default::default() }
    };
    shop.emit(vec![refund], false, false).await;
    assert_eq!(shop.grant(user.id).await.0, "expired");
}

#[tokio::test]
async fn a_checkout_for_a_project_without_stripe_is_refused() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (status, body) = app
        .post(
            &format!("/v1/projects/{}/checkout", world.project_id),
            &world.key,
            json!({"telegram_user_id": 42, "plan_id": world.plan_id, "provider": "stripe"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let _: Value = body;
}
