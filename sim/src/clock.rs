//! The simulator's clock: wall time plus an offset that tests can advance.
//!
//! Every time the simulator reasons about (ban expiry, link expiry, rate-limit windows, update
//! dates) goes through this clock, so `POST /sim/clock/advance` moves all of them at once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic wall clock with an adjustable forward offset.
#[derive(Debug)]
pub(crate) struct Clock {
    base: Instant,
    base_unix_ms: i64,
    offset_ms: AtomicI64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let base_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        Self { base: Instant::now(), base_unix_ms, offset_ms: AtomicI64::new(0) }
    }

    /// Current simulated time in Unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        self.base_unix_ms + self.base.elapsed().as_millis() as i64 + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Current simulated time in Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward.
    pub(crate) fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }

    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}
