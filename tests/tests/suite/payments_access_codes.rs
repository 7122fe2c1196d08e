//! Access codes: created through the api, redeemed with `/start <code>`, never beyond
//! their cap — even when users race for the last use.

use std::sync::Arc;

use gatehouse_jobs::{
    payments::access_codes::{self, RedeemOutcome},
    queue::Queue,
    runtime::JobContext,
    telegram::{User, budget::Budgets},
};
use gatehouse_tests::app::{TestApp, World};
use serde_json::{Value, json};
use uuid::Uuid;

async fn create_code(app: &TestApp, world: &World, body: Value) -> (u16, Value) {
    app.post(&format!("/v1/projects/{}/access-codes", world.project_id), &world.key, body).await
}

/// A job context like a worker's, to call `redeem` directly.
fn context(app: &TestApp) -> JobContext {
    JobContext {
        pool: app.db.pool.clone(),
        config: app.config.clone(),
        worker: Arc::from("test"),
        job_id: "test".into(),
        attempt: 1,
        http: reqwest::Client::new(),
        clock: app.clock.clone(),
        queue: Queue::Interactive,
        budgets: Arc::new(Budgets::new(app.db.pool.clone(), app.config.telegram_budget.clone())),
    }
}

fn user(id: i64) -> User {
    User { id, is_bot: false, first_name: format!("User {id}"), username: None, language_code: None }
}

#[tokio::test]
async fn a_code_is_created_with_a_deep_link_and_generated_when_absent() {
    let app = TestApp::start().await;
    let world = app.world().await;

    let (status, body) = create_code(&app, &world, json!({"plan_id": world.plan_id, "max_uses": 1})).await;

    assert_eq!(status, 201, "{body}");
    let body = &body["data"];
    let code = body["code"].as_str().unwrap();
    assert!(access_codes::is_code_shaped(code), "{code}");
    assert_eq!(body["deep_link"], json!(format!("https://t.me/club_bot?start={code}")));
    let (status, body) = create_code(&app, &world, json!({"plan_id": world.plan_id, "code": code})).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = create_code(&app, &world, json!({"plan_id": Uuid::new_v4(), "code": "OTHER1"})).await;
    assert_eq!(status, 422);
    let (status, _) = create_code(&app, &world, json!({"plan_id": world.plan_id, "max_uses": 0})).await;
    assert_eq!(status, 422);
    let (status, _) = create_code(&app, &world, json!({"plan_id": world.plan_id, "code": "no spaces"})).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn start_with_a_code_gives_the_user_a_link_and_a_second_use_is_refused() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (_, body) =
        create_code(&app, &world, json!({"plan_id": world.plan_id, "code": "WELCOME-1", "max_uses": 1})).await;
    assert_eq!(body["data"]["code"], "WELCOME-1");
    let first = app.started_user(&world, "First").await;
    let second = app.started_user(&world, "Second").await;
    app.settle(&[world.bot.id]).await;

    app.tg.send_text(first.id, world.bot.id, "/start WELCOME-1").await.unwrap();
    app.settle(&[world.bot.id]).await;
    app.tg.send_text(second.id, world.bot.id, "/start WELCOME-1").await.unwrap();
    app.settle(&[world.bot.id]).await;

    assert_eq!(app.invite_links_to(&world, first.id).await.len(), 1);
    assert!(app.invite_links_to(&world, second.id).await.is_empty());
    let texts = app.texts_to(&world, second.id).await;
    assert!(texts.iter().any(|t| t.contains("no longer valid")), "{texts:?}");
    assert_eq!(app.db.count("SELECT uses::bigint FROM access_codes").await, 1);
    assert_eq!(app.db.count("SELECT count(*) FROM grants WHERE source = 'access_code'").await, 1);
}

#[tokio::test]
async fn two_users_racing_for_a_single_use_code_leave_exactly_one_winner() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ctx = context(&app);
    let project: Uuid = world.project_id.parse().unwrap();
    for round in 0..10 {
        let code = format!("RACE-{round}");
        let (status, _) =
            create_code(&app, &world, json!({"plan_id": world.plan_id, "code": code, "max_uses": 1})).await;
        assert_eq!(status, 201);
        let (a, b) = (ctx.clone(), ctx.clone());
        let (code_a, code_b) = (code.clone(), code.clone());
        let one = tokio::spawn(async move { access_codes::redeem(&a, project, &user(9000 + round), &code_a).await });
        let two = tokio::spawn(async move { access_codes::redeem(&b, project, &user(9100 + round), &code_b).await });
        let outcomes = [one.await.unwrap().unwrap(), two.await.unwrap().unwrap()];

        let winners = outcomes.iter().filter(|o| matches!(o, RedeemOutcome::Redeemed { .. })).count();
        assert_eq!(winners, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.contains(&RedeemOutcome::UsedUp), "round {round}: {outcomes:?}");
    }
    assert_eq!(app.db.count("SELECT count(*) FROM grants WHERE source = 'access_code'").await, 10);
    assert_eq!(app.db.count("SELECT count(*) FROM access_code_redemptions").await, 10);
    assert_eq!(app.db.count("SELECT count(*) FROM access_codes WHERE uses <> 1").await, 0);
}

#[tokio::test]
async fn a_multi_use_code_stops_at_its_cap_at_its_expiry_and_once_per_user() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ctx = context(&app);
    let project: Uuid = world.project_id.parse().unwrap();
    create_code(&app, &world, json!({"plan_id": world.plan_id, "code": "TWICE", "max_uses": 2, "duration_days": 3}))
        .await;
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    create_code(&app, &world, json!({"plan_id": world.plan_id, "code": "SOON", "max_uses": null, "expires_at": soon}))
        .await;

    assert!(matches!(
        access_codes::redeem(&ctx, project, &user(1), "TWICE").await.unwrap(),
        RedeemOutcome::Redeemed { .. }
    ));
    assert_eq!(access_codes::redeem(&ctx, project, &user(1), "TWICE").await.unwrap(), RedeemOutcome::AlreadyRedeemed);
    assert!(matches!(
        access_codes::redeem(&ctx, project, &user(2), "TWICE").await.unwrap(),
        RedeemOutcome::Redeemed { .. }
    ));
    assert_eq!(access_codes::redeem(&ctx, project, &user(3), "TWICE").await.unwrap(), RedeemOutcome::UsedUp);
    assert_eq!(access_codes::redeem(&ctx, project, &user(3), "NOPE").await.unwrap(), RedeemOutcome::Unknown);

    assert!(matches!(
        access_codes::redeem(&ctx, project, &user(4), "SOON").await.unwrap(),
        RedeemOutcome::Redeemed { .. }
    ));
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(access_codes::redeem(&ctx, project, &user(5), "SOON").await.unwrap(), RedeemOutcome::UsedUp);

    let days: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM ends_at - starts_at)::float8 / 86400 FROM grants g
         JOIN subscribers s ON s.id = g.subscriber_id WHERE s.telegram_user_id = 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!((days - 3.0).abs() < 0.01, "the code's own duration: {days}");
    assert_eq!(app.db.count("SELECT uses::bigint FROM access_codes WHERE code = 'TWICE'").await, 2);
}
