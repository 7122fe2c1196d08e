//! Time, from a clock tests can move. Every decision about "has this ended?" takes
//! `now` from a [`Clock`], never from the system directly.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, TimeDelta, Utc};

/// The longest period Gatehouse accepts anywhere a number of days is given (a plan's
/// duration, an access code's or token's days, `/grant`): 100 years.
pub const MAX_PERIOD_DAYS: i64 = 36_600;

/// The longest trial: a year.
pub const MAX_TRIAL_DAYS: i64 = 366;

/// `t` plus `days`, or `None` when the result is outside the calendar chrono can hold
/// (a value from Stripe, Telegram or a user can be anything: never `+` on a `DateTime`).
pub fn plus_days(t: DateTime<Utc>, days: i64) -> Option<DateTime<Utc>> {
    TimeDelta::try_days(days).and_then(|d| t.checked_add_signed(d))
}

/// `t` plus `secs` seconds, or `None` when outside the calendar.
pub fn plus_secs(t: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
    TimeDelta::try_seconds(secs).and_then(|d| t.checked_add_signed(d))
}

/// `t` plus `days`, or a permanent job failure naming `what` when the result is outside
/// the calendar (retrying cannot change the value).
pub fn days_after(t: DateTime<Utc>, days: i64, what: &str) -> Result<DateTime<Utc>, crate::queue::JobError> {
    plus_days(t, days).ok_or_else(|| {
        crate::queue::JobError::Permanent(format!("{what}: {days} days after {t} is outside the calendar"))
    })
}

/// `t` plus `delta`, or `None` when outside the calendar.
pub fn plus(t: DateTime<Utc>, delta: TimeDelta) -> Option<DateTime<Utc>> {
    t.checked_add_signed(delta)
}

/// The system clock, shifted by an offset that tests can advance.
#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The real time.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, as Gatehouse sees it.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        TimeDelta::try_milliseconds(self.offset_ms.load(Ordering::Relaxed))
            .and_then(|offset| now.checked_add_signed(offset))
            .unwrap_or(now)
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_arithmetic_past_the_calendar_is_none_not_a_panic() {
        let now = Utc::now();
        assert!(plus_days(now, i64::from(i32::MAX)).is_none());
        assert!(plus_days(now, i64::MAX).is_none());
        assert!(plus_secs(now, i64::MAX).is_none());
        assert!(plus_secs(DateTime::<Utc>::MAX_UTC, 1).is_none());
        assert_eq!(plus_days(now, 1), Some(now + TimeDelta::days(1)));
        assert!(plus_days(now, MAX_PERIOD_DAYS).is_some());
    }
}
