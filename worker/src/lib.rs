//! The worker process: runs the three queues with apalis, the scheduler (cron
//! ticks and maintenance under one leader), and serves its own `/metrics`.
//!
//! # Layout
//!
//! - [`backend`]: the queue's apalis backend over apalis-postgres's schema: one
//!   statement per claim, starts and acknowledgements written by a completer.
//! - [`pool`]: one apalis worker per queue, the job handler that turns a
//!   [`JobError`](gatehouse_jobs::queue::JobError) into a queue state, graceful shutdown.
//! - [`scheduler`]: the leader (a Postgres advisory lock) that enqueues schedule ticks
//!   with one idempotency key per tick, rescues orphans and refreshes queue gauges.
//! - [`telemetry`]: the Prometheus recorder and the worker's `/metrics` listener.

#![warn(missing_docs)]

pub mod backend;
pub mod pool;
pub mod scheduler;
pub mod telemetry;

pub use pool::{WorkerOptions, pool_size, process_name, run};
