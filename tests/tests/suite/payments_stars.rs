//! Telegram Stars end to end: invoices, pre-checkout answers (also under a backlog of
//! bulk work), payments, renewals and refunds, against the simulator.

use std::time::{Duration, Instant};

use gatehouse_jobs::{
    catalog::diagnostics::{Probe, ProbeFailure},
    queue::{self, RunAt},
};
use gatehouse_sim::{MemberStatus, PayRequest, PaymentRecord, UserInfo};
use gatehouse_tests::app::{TestApp, World};
use serde_json::json;

struct Shop {
    app: TestApp,
    world: World,
    monthly: String,
    pass: String,
}

async fn shop() -> Shop {
    let app = TestApp::start().await;
    let world = app.world().await;
    let monthly = app
        .plan(
            &world,
            json!({"name": "Stars Monthly", "price": 500, "currency": "USD", "stars_price": 250,
                   "duration_days": 30, "recurring": true}),
        )
        .await;
    let pass = app
        .plan(
            &world,
            json!({"name": "Week Pass", "price": 100, "currency": "USD", "stars_price": 50, "duration_days": 7}),
        )
        .await;
    Shop { app, world, monthly, pass }
}

impl Shop {
    /// Asks for a Stars checkout and returns the invoice link the user was sent.
    async fn invoice(&self, user: &UserInfo, plan: &str) -> String {
        self.app.checkout(&self.world, user.id, plan, "stars").await;
        let texts = self.app.texts_to(&self.world, user.id).await;
        texts
            .iter()
            .rev()
            .find_map(|t| t.split_whitespace().find(|w| w.starts_with("https://t.me/$")).map(str::to_string))
            .unwrap_or_else(|| panic!("no invoice link in {texts:?}"))
    }

    async fn pay(&self, user: &UserInfo, link: &str) -> Result<PaymentRecord, gatehouse_sim::SimError> {
        let request = PayRequest { bot_id: self.world.bot.id, message_id: None, invoice_link: Some(link.to_string()) };
        self.app.tg.pay(user.id, request).await
    }

    async fn grant(&self, user: i64) -> (String, Option<chrono::DateTime<chrono::Utc>>) {
        sqlx::query_as(
            "SELECT g.state, g.ends_at FROM grants g JOIN subscribers s ON s.id = g.subscriber_id
             WHERE s.telegram_user_id = $1 AND g.source = 'stars'",
        )
        .bind(user)
        .fetch_one(&self.app.db.pool)
        .await
        .unwrap()
    }

    async fn join(&self, user: i64) {
        let links = self.app.invite_links_to(&self.world, user).await;
        assert_eq!(links.len(), 1, "{links:?}");
        self.app.tg.join_by_link(user, &links[0]).await.unwrap();
        self.app.settle(&[self.world.bot.id]).await;
    }

    async fn is_member(&self, user: i64) -> bool {
        let status = self.app.tg.member(self.world.channel.id, user).await.unwrap().status;
        matches!(status, MemberStatus::Member { .. })
    }
}

#[tokio::test]
async fn a_recurring_plan_is_invoiced_in_stars_as_a_thirty_day_subscription() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Ann").await;
    shop.invoice(&user, &shop.monthly).await;
    let calls = shop.app.tg.calls_of("createInvoiceLink").await.unwrap();
    assert_eq!(calls.len(), 1);
    let params = &calls[0].params;
    assert_eq!(params["currency"], "XTR");
    assert_eq!(params["subscription_period"].to_string().trim_matches('"'), "2592000");
    assert!(params["prices"].to_string().contains("250"), "{params}");
}

#[tokio::test]
async fn paying_with_stars_gives_the_user_a_link_once() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Ben").await;
    let link = shop.invoice(&user, &shop.monthly).await;

    let payment = shop.pay(&user, &link).await.expect("pre-checkout approved");
    shop.app.settle(&[shop.world.bot.id]).await;

    let (state, ends_at) = shop.grant(user.id).await;
    assert_eq!(state, "active");
    assert_eq!(ends_at.map(|t| t.timestamp()), payment.subscription_expiration_date);
    shop.join(user.id).await;
    assert!(shop.is_member(user.id).await);
    let answers = shop.app.tg.calls_of("answerPreCheckoutQuery").await.unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].params["ok"].to_string().trim_matches('"'), "true");
}

#[tokio::test]
async fn a_stars_renewal_extends_access_without_a_second_link() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Cat").await;
    let link = shop.invoice(&user, &shop.monthly).await;
    let first = shop.pay(&user, &link).await.unwrap();
    shop.app.settle(&[shop.world.bot.id]).await;
    shop.join(user.id).await;

    let renewal = shop.app.tg.renew_subscription(&first.telegram_payment_charge_id).await.unwrap();
    shop.app.settle(&[shop.world.bot.id]).await;

    let (state, ends_at) = shop.grant(user.id).await;
    assert_eq!(state, "active");
    assert_eq!(ends_at.map(|t| t.timestamp()), renewal.subscription_expiration_date);
    assert_eq!(renewal.subscription_expiration_date.unwrap() - first.subscription_expiration_date.unwrap(), 2_592_000);
    assert_eq!(shop.app.invite_links_to(&shop.world, user.id).await.len(), 1, "no second link");
    assert_eq!(shop.app.db.count("SELECT count(*) FROM grants WHERE source = 'stars'").await, 1);
}

#[tokio::test]
async fn a_one_time_stars_purchase_extends_a_running_pass() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Dee").await;
    let link = shop.invoice(&user, &shop.pass).await;
    shop.pay(&user, &link).await.unwrap();
    shop.app.settle(&[shop.world.bot.id]).await;
    let (_, first_end) = shop.grant(user.id).await;
    let link = shop.invoice(&user, &shop.pass).await;
    shop.pay(&user, &link).await.unwrap();
    shop.app.settle(&[shop.world.bot.id]).await;
    let (state, ends_at) = shop.grant(user.id).await;
    assert_eq!(state, "active");
    assert_eq!(ends_at.unwrap() - first_end.unwrap(), chrono::Duration::days(7));
    assert_eq!(shop.app.invite_links_to(&shop.world, user.id).await.len(), 1);
}

#[tokio::test]
async fn a_lifetime_plan_bought_with_stars_never_ends() {
    let shop = shop().await;
    let lifetime = shop
        .app
        .plan(&shop.world, json!({"name": "Forever", "price": 9900, "currency": "USD", "stars_price": 5000}))
        .await;
    let user = shop.app.started_user(&shop.world, "Lou").await;
    let link = shop.invoice(&user, &lifetime).await;
    shop.pay(&user, &link).await.unwrap();
    shop.app.settle(&[shop.world.bot.id]).await;
    assert_eq!(shop.grant(user.id).await, ("active".to_string(), None));
    assert_eq!(shop.app.invite_links_to(&shop.world, user.id).await.len(), 1);
}

#[tokio::test]
async fn an_owner_refund_returns_the_stars_and_ends_access() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Eve").await;
    let link = shop.invoice(&user, &shop.monthly).await;
    let payment = shop.pay(&user, &link).await.unwrap();
    shop.app.settle(&[shop.world.bot.id]).await;
    shop.join(user.id).await;

    let (status, body) = shop
        .app
        .post(
            &format!("/v1/projects/{}/stars/refunds", shop.world.project_id),
            &shop.world.key,
            json!({"telegram_user_id": user.id, "telegram_payment_charge_id": payment.telegram_payment_charge_id}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    shop.app.settle(&[shop.world.bot.id]).await;

    let payments = shop.app.tg.payments().await.unwrap();
    assert!(payments.iter().any(|p| p.telegram_payment_charge_id == payment.telegram_payment_charge_id && p.refunded));
    assert_eq!(shop.grant(user.id).await.0, "expired");
    assert!(!shop.is_member(user.id).await, "removed after the refund");
    let renewed = shop.app.tg.renew_subscription(&payment.telegram_payment_charge_id).await;
    assert!(renewed.is_err(), "a refunded subscription does not renew");
}

#[tokio::test]
async fn a_refund_of_an_unknown_charge_is_not_found() {
    let shop = shop().await;
    let (status, body) = shop
        .app
        .post(
            &format!("/v1/projects/{}/stars/refunds", shop.world.project_id),
            &shop.world.key,
            json!({"telegram_user_id": 5, "telegram_payment_charge_id": "stxnothing"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_plan_taken_off_sale_is_declined_at_pre_checkout() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Fin").await;
    let link = shop.invoice(&user, &shop.monthly).await;
    sqlx::query("UPDATE plans SET on_sale = false WHERE id = $1::uuid")
        .bind(&shop.monthly)
        .execute(&shop.app.db.pool)
        .await
        .unwrap();

    let refused = shop.pay(&user, &link).await.unwrap_err();

    assert!(refused.to_string().contains("PRE_CHECKOUT_DECLINED"), "{refused}");
    shop.app.settle(&[shop.world.bot.id]).await;
    assert_eq!(shop.app.db.count("SELECT count(*) FROM grants WHERE source = 'stars'").await, 0);
}

#[tokio::test]
async fn a_banned_user_is_declined_at_pre_checkout() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Gil").await;
    let link = shop.invoice(&user, &shop.monthly).await;
    sqlx::query("UPDATE subscribers SET status = 'banned' WHERE telegram_user_id = $1")
        .bind(user.id)
        .execute(&shop.app.db.pool)
        .await
        .unwrap();

    let refused = shop.pay(&user, &link).await.unwrap_err();

    assert!(refused.to_string().contains("PRE_CHECKOUT_DECLINED"), "{refused}");
}

/// A thousand bulk jobs queued (each taking 20 ms, four at a time: seconds of work)
/// must not delay the answer: the simulator gives the bot only one second here.
#[tokio::test]
async fn a_pre_checkout_is_answered_within_a_second_under_a_backlog_of_a_thousand_bulk_jobs() {
    let shop = shop().await;
    let user = shop.app.started_user(&shop.world, "Hop").await;
    let link = shop.invoice(&user, &shop.monthly).await;
    shop.app.tg.set_pre_checkout_timeout(Duration::from_secs(1)).await.unwrap();
    let mut tx = shop.app.db.pool.begin().await.unwrap();
    for n in 0..1_000 {
        let probe =
            Probe { key: format!("backlog-{n}"), sleep_ms: 20, fail_first: 0, failure: ProbeFailure::default() };
        queue::enqueue(&mut tx, &probe, RunAt::Now).await.unwrap();
    }
    tx.commit().await.unwrap();

    let started = Instant::now();
    let paid = shop.pay(&user, &link).await;
    let latency = started.elapsed();

    let backlog = shop.app.db.count("SELECT count(*) FROM diagnostic_probe_runs WHERE phase = 'finished'").await;
    println!("pre-checkout answered in {latency:?} with {} of 1000 bulk jobs still to run", 1000 - backlog);
    assert!(paid.is_ok(), "answered within the simulator's 1 s: {paid:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert!(backlog < 900, "the backlog was still there when the answer went out ({backlog} done)");
}
