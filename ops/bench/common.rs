//! Shared by the benchmarks: a scratch database and `gatehouse` child processes.

#![allow(dead_code)]

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
pub const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";

/// A scratch database, migrated; dropped by [`BenchDb::drop_now`].
pub struct BenchDb {
    pub name: String,
    pub url: String,
    pub pool: sqlx::PgPool,
}

impl BenchDb {
    pub async fn new() -> Self {
        let name = format!("gatehouse_bench_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{PG_SERVER}/{name}");
        gatehouse_jobs::db::migrate(&url).await.expect("migrate");
        let pool = gatehouse_jobs::db::pool(&url, 8).expect("pool");
        Self { name, url, pool }
    }

    pub async fn drop_now(self) {
        use sqlx::Connection;
        self.pool.close().await;
        let mut admin = sqlx::PgConnection::connect(&format!("{PG_SERVER}/postgres")).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    }
}

/// A `gatehouse` child process, stopped with SIGTERM when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn start(command: &str, database_url: &str, env: &[(&str, String)]) -> Self {
        Self::start_bin(env!("CARGO_BIN_EXE_gatehouse").as_ref(), command, database_url, env)
    }

    /// The same with another build of `gatehouse` (a baseline measured in the same run).
    pub fn start_bin(bin: &std::path::Path, command: &str, database_url: &str, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.arg(command)
            .env("DATABASE_URL", database_url)
            .env("GATEHOUSE_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("GATEHOUSE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("GATEHOUSE_METRICS_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self(cmd.spawn().expect("start gatehouse"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The machine's CPU counters (`/proc/stat`, all cores): busy and total ticks.
pub fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// The share of the machine's CPU busy between two [`cpu_ticks`] readings (0–1).
pub fn cpu_busy(before: (u64, u64), after: (u64, u64)) -> f64 {
    let total = after.1.saturating_sub(before.1);
    if total == 0 { 0.0 } else { after.0.saturating_sub(before.0) as f64 / total as f64 }
}
