//! Diagnostic jobs: `noop` (measures the queue itself) and `probe` (leaves a
//! countable side effect, so tests and operators can check that every job runs,
//! and runs once, without trusting logs).

use std::time::Duration;

pub use crate::kinds::diagnostics::{Noop, Probe, ProbeFailure};
use crate::runtime::{Job, JobContext};
use crate::{queue::JobError, store};

impl Job for Noop {
    async fn run(self, _ctx: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

impl Job for Probe {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        store::diagnostics::record_probe(&ctx.pool, &self.key, "started", &ctx.worker).await?;
        if self.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        }
        if let ProbeFailure::RateLimitedThenTransient(secs) = self.failure {
            if ctx.attempt <= self.fail_first {
                return Err(JobError::Snooze {
                    until: crate::clock::plus_secs(chrono::Utc::now(), secs.into())
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                    reason: format!("probe: rate limited for {secs} s as asked"),
                });
            }
            if ctx.attempt == self.fail_first + 1 {
                return Err(JobError::Retry("probe: transient failure after the snoozes, as asked".into()));
            }
        } else if ctx.attempt <= self.fail_first {
            return Err(match self.failure {
                ProbeFailure::Transient => JobError::Retry("probe: transient failure as asked".into()),
                ProbeFailure::RateLimited(secs) => JobError::Snooze {
                    until: crate::clock::plus_secs(chrono::Utc::now(), secs.into())
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                    reason: format!("probe: rate limited for {secs} s as asked"),
                },
                ProbeFailure::Permanent => JobError::Permanent("probe: permanent failure as asked".into()),
                ProbeFailure::Panic => panic!("probe: panicking as asked"),
                ProbeFailure::RateLimitedThenTransient(_) => unreachable!("handled above"),
            });
        }
        store::diagnostics::record_probe(&ctx.pool, &self.key, "finished", &ctx.worker).await?;
        Ok(())
    }
}
