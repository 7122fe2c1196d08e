//! `gatehouse migrate`: creates the database, and is safe to run twice, at once or in a row.

use std::time::Duration;

use sqlx::Connection;

use crate::harness::Proc;

#[tokio::test]
async fn migrate_creates_a_missing_database_and_is_safe_concurrently_and_repeatedly() {
    let name = format!("gatehouse_test_migrate_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{name}", gatehouse_tests::PG_SERVER);

    let mut first = Proc::start("migrate", &url, &[]);
    let mut second = Proc::start("migrate", &url, &[]);
    assert_eq!(first.wait(Duration::from_secs(60)).await.code(), Some(0));
    assert_eq!(second.wait(Duration::from_secs(60)).await.code(), Some(0));
    let mut again = Proc::start("migrate", &url, &[]);
    assert_eq!(again.wait(Duration::from_secs(60)).await.code(), Some(0));

    let mut conn = sqlx::PgConnection::connect(&url).await.expect("the database exists");
    let domain: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.unwrap();
    assert_eq!(domain, gatehouse_jobs::db::domain_migrator().iter().count() as i64);
    let queue: bool =
        sqlx::query_scalar("SELECT to_regclass('apalis.jobs') IS NOT NULL").fetch_one(&mut conn).await.unwrap();
    assert!(queue);
    conn.close().await.unwrap();

    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", gatehouse_tests::PG_SERVER)).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{name}\" WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_malformed_setting_stops_the_process_with_a_message_naming_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("worker")
        .env("GATEHOUSE_WORKER_CONCURRENCY", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GATEHOUSE_WORKER_CONCURRENCY"), "{stderr}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("api")
        .env_remove("GATEHOUSE_ADMIN_TOKEN")
        .env("GATEHOUSE_ENCRYPTION_KEY", gatehouse_tests::TEST_ENCRYPTION_KEY)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GATEHOUSE_ADMIN_TOKEN"), "{stderr}");
}
