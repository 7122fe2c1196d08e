//! Running `gatehouse` subcommands as child processes.

use std::{
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use gatehouse_tests::{TEST_ADMIN_TOKEN, TEST_ENCRYPTION_KEY};

/// A `gatehouse` child process, killed when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    /// Starts `gatehouse <command>` against `database_url` with test settings.
    pub fn start(command: &str, database_url: &str, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.arg(command)
            .env("DATABASE_URL", database_url)
            .env("GATEHOUSE_ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
            .env("GATEHOUSE_ADMIN_TOKEN", TEST_ADMIN_TOKEN)
            .env("GATEHOUSE_RESCUE_AFTER_SECS", "3")
            .env("GATEHOUSE_SHUTDOWN_GRACE_SECS", "2")
            .env("GATEHOUSE_WORKER_CONCURRENCY", "2")
            .env("GATEHOUSE_POLL_INTERVAL_MS", "50")
            .env("GATEHOUSE_METRICS_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self { child: cmd.spawn().expect("start gatehouse") }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`KILL`, `TERM`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`.
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(tokio::time::Instant::now() < deadline, "process {} did not exit within {timeout:?}", self.pid());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The worker names (`<host>-<pid>-…:<queue>`) that recorded a probe phase.
pub async fn probe_workers(pool: &sqlx::PgPool, key: &str, phase: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT worker FROM diagnostic_probe_runs WHERE probe_key = $1 AND phase = $2 ORDER BY at")
        .bind(key)
        .bind(phase)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Whether a worker name belongs to the process with this pid.
pub fn is_of(worker: &str, pid: u32) -> bool {
    worker.contains(&format!("-{pid}-"))
}
