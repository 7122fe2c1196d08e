//! The test harness: a fresh database per test, the real api and worker started
//! in-process on random ports, a TCP proxy to cut the database off, and
//! [`drain`], which waits until no job is due or running instead of sleeping.
//!
//! # Layout
//!
//! - [`TestDb`]: creates `gatehouse_test_<uuid>`, migrates it, drops it afterwards.
//! - [`test_config`]: configuration for tests (short rescue time, generated secrets).
//! - [`spawn_api`], [`spawn_worker`]: real components on random ports.
//! - [`PgProxy`]: a TCP proxy in front of Postgres that a test can cut and restore.
//! - [`drain`], [`drain_all`]: wait for the queue deterministically.
//! - [`receiver::Receiver`]: an HTTP server on 127.0.0.1 that receives outbound webhooks.

pub mod app;
pub mod audience;
pub mod browser;
pub mod operator;
pub mod receiver;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use gatehouse_jobs::{Config, store::queue::JobRow};
use sqlx::PgPool;
use tokio::sync::watch;

/// The Postgres server tests use (trust auth).
pub const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// The encryption key tests use (base64 of 32 bytes: 0, 1, …, 31).
pub const TEST_ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The admin token tests use.
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Logs to the test's output when `RUST_LOG` is set.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
}

/// A database of its own for one test, migrated, dropped when the value is dropped.
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// A pool on it.
    pub pool: PgPool,
}

impl TestDb {
    /// Creates and migrates a fresh database.
    pub async fn new() -> Self {
        init_tracing();
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{PG_SERVER}/{name}");
        gatehouse_jobs::db::migrate(&url).await.expect("migrate the test database");
        let pool = gatehouse_jobs::db::pool(&url, 8).expect("pool");
        Self { name, url, pool }
    }

    /// Every job row, oldest first.
    pub async fn jobs(&self) -> Vec<JobRow> {
        gatehouse_jobs::store::queue::list(&self.pool).await.expect("list jobs")
    }

    /// Every job of type `J` written so far, oldest first: its args, idempotency key and
    /// status. Tests assert on what was enqueued by type, never by kind string.
    pub async fn enqueued<J: gatehouse_jobs::queue::JobSpec>(&self) -> Vec<EnqueuedJob<J>> {
        let rows: Vec<(Vec<u8>, Option<String>, String)> =
            sqlx::query_as("SELECT job, idempotency_key, status FROM apalis.jobs ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .expect("list jobs");
        rows.into_iter()
            .filter_map(|(bytes, key, status)| {
                let envelope: gatehouse_jobs::queue::Envelope = serde_json::from_slice(&bytes).ok()?;
                if envelope.kind != J::KIND {
                    return None;
                }
                let args = serde_json::from_value(envelope.args).expect("the args of a job of this kind");
                Some(EnqueuedJob { args, key, status })
            })
            .collect()
    }

    /// How many rows a query counts (`SELECT count(*) …`).
    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.expect("count")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop needs its own runtime: the test's may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&format!("{PG_SERVER}/postgres")).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

/// A job as [`TestDb::enqueued`] finds it.
#[derive(Debug)]
pub struct EnqueuedJob<J> {
    /// Its args.
    pub args: J,
    /// Its idempotency key (prefixed with the kind).
    pub key: Option<String>,
    /// Its status (`Pending`, `Done`, `Killed`…).
    pub status: String,
}

/// Configuration for tests: this database, short rescue and grace times, test secrets.
pub fn test_config(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("GATEHOUSE_ENCRYPTION_KEY".into(), TEST_ENCRYPTION_KEY.into()),
        ("GATEHOUSE_ADMIN_TOKEN".into(), TEST_ADMIN_TOKEN.into()),
        ("GATEHOUSE_RESCUE_AFTER_SECS".into(), "3".into()),
        ("GATEHOUSE_SHUTDOWN_GRACE_SECS".into(), "2".into()),
        ("GATEHOUSE_POLL_INTERVAL_MS".into(), "50".into()),
        ("GATEHOUSE_WORKER_CONCURRENCY".into(), "2".into()),
        ("GATEHOUSE_METRICS_LISTEN".into(), "127.0.0.1:0".into()),
        ("GATEHOUSE_LISTEN".into(), "127.0.0.1:0".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k.to_string(), v.to_string()));
    }
    Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).expect("test config")
}

/// A running in-process component; stops when dropped or on [`Running::stop`].
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Signals shutdown and waits for it to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn stop_signal() -> (watch::Sender<bool>, impl Future<Output = ()> + Send + 'static) {
    let (tx, mut rx) = watch::channel(false);
    (tx, async move {
        let _ = rx.wait_for(|stop| *stop).await;
    })
}

/// Starts the real api on a random port, on `pool`.
pub async fn spawn_api(config: Arc<Config>, pool: PgPool) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve_api(listener, config, pool).await
}

/// Starts the real api on `listener`.
pub async fn serve_api(listener: tokio::net::TcpListener, config: Arc<Config>, pool: PgPool) -> Running {
    serve_api_with(listener, config, pool, gatehouse_jobs::clock::Clock::system()).await
}

/// Starts the real api on `listener` with a clock the test controls.
pub async fn serve_api_with(
    listener: tokio::net::TcpListener,
    config: Arc<Config>,
    pool: PgPool,
    clock: gatehouse_jobs::clock::Clock,
) -> Running {
    let addr = listener.local_addr().expect("addr");
    let state = gatehouse_api::AppState {
        pool,
        config,
        metrics: gatehouse_jobs::metrics::prometheus(),
        clock,
        webhook_secrets: Default::default(),
    };
    let (stop, signal) = stop_signal();
    let task = tokio::spawn(async move {
        gatehouse_api::serve(listener, state, signal).await.expect("api");
    });
    Running { addr, stop, task: Some(task) }
}

/// Starts the real worker (all queues, scheduler, metrics listener on a random port).
pub async fn spawn_worker(config: Arc<Config>) -> Running {
    spawn_worker_with(config, gatehouse_jobs::clock::Clock::system()).await
}

/// Starts the real worker with a clock the test controls.
/// Like a worker process, it has a pool of its own, sized by its concurrency.
pub async fn spawn_worker_with(config: Arc<Config>, clock: gatehouse_jobs::clock::Clock) -> Running {
    let pool =
        gatehouse_jobs::db::pool(config.database_url.expose(), gatehouse_worker::pool_size(&config)).expect("pool");
    let (stop, signal) = stop_signal();
    let (metrics_stop, metrics_signal) = stop_signal();
    let addr = gatehouse_worker::telemetry::serve_metrics("127.0.0.1:0".parse().unwrap(), metrics_signal)
        .await
        .expect("metrics listener");
    let task = tokio::spawn(async move {
        let options = gatehouse_worker::WorkerOptions { clock, ..Default::default() };
        let result = gatehouse_worker::run(config, pool, options, signal).await;
        let _ = metrics_stop.send(true);
        result.expect("worker");
    });
    Running { addr, stop, task: Some(task) }
}

/// Waits until no job is due or running (jobs scheduled for later are left alone).
/// Panics after `timeout`: a test must never hang.
pub async fn drain(pool: &PgPool, timeout: Duration) {
    wait_until(timeout, "the queue to drain", || async {
        gatehouse_jobs::store::queue::due_or_running(pool).await.map(|n| n == 0).unwrap_or(false)
    })
    .await;
}

/// Waits until every job is finished, including those scheduled for later.
pub async fn drain_all(pool: &PgPool, timeout: Duration) {
    wait_until(timeout, "every job to finish", || async {
        gatehouse_jobs::store::queue::unfinished(pool).await.map(|n| n == 0).unwrap_or(false)
    })
    .await;
}

/// Polls `condition` every 20 ms until it holds; panics after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP proxy in front of Postgres that a test can cut (every connection is
/// dropped and new ones are refused) and restore.
pub struct PgProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    open: watch::Sender<bool>,
}

impl PgProxy {
    /// Starts a proxy to 127.0.0.1:5432.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (open, rx) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !*rx.borrow() {
                    drop(client);
                    continue;
                }
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = rx.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Self { addr, open }
    }

    /// The URL of `database` through the proxy.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@{}/{database}", self.addr)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        let _ = self.open.send(false);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        let _ = self.open.send(true);
    }
}

/// Inserts a project with a connected bot whose webhook secret is `secret`
/// (what the connect-bot job leaves behind), for tests of the webhook alone.
pub async fn insert_connected_bot(pool: &PgPool, telegram_bot_id: i64, secret: &str) -> uuid::Uuid {
    use sha2::Digest;
    let project = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO projects (id, handle, name, owner_telegram_id) VALUES ($1, $2, 'Test project', 1)")
        .bind(project)
        .bind(format!("p{}", project.simple()))
        .execute(pool)
        .await
        .expect("insert project");
    sqlx::query(
        "INSERT INTO bots (id, project_id, telegram_bot_id, token_ciphertext, webhook_secret_hash, status, verified_at)
         VALUES ($1, $2, $3, '\\x00', $4, 'connected', now())",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(project)
    .bind(telegram_bot_id)
    .bind(sha2::Sha256::digest(secret.as_bytes()).to_vec())
    .execute(pool)
    .await
    .expect("insert bot");
    project
}
