//! Reminders before access ends (once per offset, in the bulk queue, with a renewal
//! link) and free trials.

use chrono::Duration;
use gatehouse_jobs::catalog::remind_expiry::ReminderScan;
use gatehouse_tests::app::TestApp;
use serde_json::json;

/// Runs the reminder scan as its schedule would, and waits for its work.
async fn scan(app: &TestApp, bot: i64) {
    app.enqueue(&ReminderScan { tick: app.clock.now() }).await;
    app.settle(&[bot]).await;
}

#[tokio::test]
async fn an_ending_entitlement_is_reminded_three_days_and_one_day_before_once_each() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let user = app.started_user(&world, "Rita").await;
    let ends = chrono::Utc::now() + Duration::days(10);
    app.grant(&world, user.id, json!(ends.to_rfc3339())).await;
    app.settle(&[world.bot.id]).await;
    let reminders = || async {
        app.texts_to(&world, user.id).await.into_iter().filter(|t| t.contains("ends on")).collect::<Vec<_>>()
    };

    scan(&app, world.bot.id).await;
    assert!(reminders().await.is_empty(), "ten days before: nothing yet");

    app.clock.advance(Duration::days(7) + Duration::minutes(1));
    scan(&app, world.bot.id).await;
    scan(&app, world.bot.id).await;
    let sent = reminders().await;
    assert_eq!(sent.len(), 1, "once: {sent:?}");
    assert!(sent[0].contains(&format!("https://t.me/club_bot?start=plan_{}", world.plan_id)), "{sent:?}");

    app.clock.advance(Duration::days(2));
    scan(&app, world.bot.id).await;
    scan(&app, world.bot.id).await;
    assert_eq!(reminders().await.len(), 2);

    let queues: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT job_type FROM apalis.jobs WHERE convert_from(job, 'UTF8')::jsonb ->> 'kind' = 'remind-expiry'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(queues, ["bulk"]);
}

#[tokio::test]
async fn reminder_offsets_are_set_per_project() {
    let app = TestApp::start().await;
    let world = app.world().await;
    sqlx::query("UPDATE projects SET reminder_days = '{5}' WHERE id = $1::uuid")
        .bind(&world.project_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let user = app.started_user(&world, "Sam").await;
    app.grant(&world, user.id, json!((chrono::Utc::now() + Duration::days(6)).to_rfc3339())).await;
    app.settle(&[world.bot.id]).await;

    app.clock.advance(Duration::days(1) + Duration::minutes(1));
    scan(&app, world.bot.id).await;
    app.clock.advance(Duration::days(4));
    scan(&app, world.bot.id).await;

    let sent: Vec<String> = app.texts_to(&world, user.id).await.into_iter().filter(|t| t.contains("ends on")).collect();
    assert_eq!(sent.len(), 1, "only the five-day reminder: {sent:?}");
}

#[tokio::test]
async fn a_free_trial_gives_access_once_per_user_and_plan() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let plan = app
        .plan(
            &world,
            json!({"name": "Try me", "price": 900, "currency": "USD", "duration_days": 30, "recurring": true,
                   "trial_days": 3}),
        )
        .await;
    let user = app.started_user(&world, "Tia").await;

    let answer = app.checkout(&world, user.id, &plan, "trial").await;

    assert!(answer["grant_id"].is_string(), "{answer}");
    let (state, days): (String, f64) = sqlx::query_as(
        "SELECT state, extract(epoch FROM ends_at - starts_at)::float8 / 86400 FROM grants WHERE source = 'trial'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(state, "trialing");
    assert!((days - 3.0).abs() < 0.01, "{days}");
    assert_eq!(app.invite_links_to(&world, user.id).await.len(), 1);
    let (status, body) = app
        .post(
            &format!("/v1/projects/{}/checkout", world.project_id),
            &world.key,
            json!({"telegram_user_id": user.id, "plan_id": plan, "provider": "trial"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}
