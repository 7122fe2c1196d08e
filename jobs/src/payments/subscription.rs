//! The subscription state machine: every change of a paid grant's state goes
//! through [`transition`], a pure function with the whole table in one `match`.
//! The diagram is in `docs/subscriptions.md`.
//!
//! ```text
//!            Trial            Pay              PaymentFailed
//!  (none) ───────▶ trialing ───────▶ active ◀──────────────▶ past_due
//!     │               │  ▲             │  ▲  Pay                 │
//!     │ Pay           │  │ Resume      │  │                      │ (ends_at = paid through + grace)
//!     └──────▶ active │  └── canceled ◀┘  │ Resume               │
//!                     │     (CancelAtPeriodEnd: access until ends_at)
//!   End (deleted), Refund or Lapse (ends_at passed) from any entitled state ─▶ expired
//!   expired ──Pay──▶ active (a renewal after removal: links again)
//!   Ban from anything ─▶ banned (terminal here: nothing but the owner lifts it)
//! ```

use std::fmt;

/// A grant's state, as stored in `grants.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// In a free trial.
    Trialing,
    /// Paid for the current period.
    Active,
    /// A renewal payment failed: access continues until the paid period plus the grace period.
    PastDue,
    /// Will not renew: access continues until the period ends.
    Canceled,
    /// Access ended (lapsed, deleted, refunded).
    Expired,
    /// A manual grant revoked by the integrator (not a payment state; terminal).
    Revoked,
    /// The owner banned the subscriber (terminal here).
    Banned,
}

impl State {
    /// Every state (the `grants.state` CHECK constraint lists the same names).
    pub const ALL: [State; 7] = [
        State::Trialing,
        State::Active,
        State::PastDue,
        State::Canceled,
        State::Expired,
        State::Revoked,
        State::Banned,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Trialing => "trialing",
            State::Active => "active",
            State::PastDue => "past_due",
            State::Canceled => "canceled",
            State::Expired => "expired",
            State::Revoked => "revoked",
            State::Banned => "banned",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "trialing" => State::Trialing,
            "active" => State::Active,
            "past_due" => State::PastDue,
            "canceled" => State::Canceled,
            "expired" => State::Expired,
            "revoked" => State::Revoked,
            "banned" => State::Banned,
            _ => return None,
        })
    }

    /// Whether the state lets its subscriber in (while `ends_at` has not passed):
    /// the same list as the SQL function `gatehouse_entitling_state` (a test pins the two).
    pub const fn entitles(self) -> bool {
        matches!(self, State::Trialing | State::Active | State::PastDue | State::Canceled)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a subscription, whatever the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A free trial starts.
    Trial,
    /// A payment went through (checkout, invoice paid, Stars payment or renewal, access code).
    Pay,
    /// A renewal payment failed.
    PaymentFailed,
    /// The subscriber cancelled: no renewal, access until the period ends.
    CancelAtPeriodEnd,
    /// The provider reports the subscription running normally (a cancellation withdrawn).
    Resume,
    /// Access ends now (subscription deleted at the provider).
    End,
    /// Access ends now because its payment was refunded (the same move as `End`; told
    /// apart for the events integrators receive).
    Refund,
    /// The end passed (the expiry scan).
    Lapse,
    /// The owner bans the subscriber.
    Ban,
}

/// A transition the machine does not allow: the grant keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event:?} is not allowed from {}", from.map_or("no grant", State::as_str))]
pub struct Refused {
    /// The state it was in (`None`: no grant yet).
    pub from: Option<State>,
    /// The event refused.
    pub event: Event,
}

/// The next state of a grant in `current` (`None`: no grant yet) after `event`.
pub fn transition(current: Option<State>, event: Event) -> Result<State, Refused> {
    use Event::*;
    use State::*;
    let refused = Err(Refused { from: current, event });
    let Some(current) = current else {
        return match event {
            Trial => Ok(Trialing),
            Pay | Resume => Ok(Active),
            PaymentFailed => Ok(PastDue),
            CancelAtPeriodEnd => Ok(Canceled),
            // An end that arrives before anything else is remembered, so that the
            // older events arriving after it cannot open access.
            End | Refund => Ok(Expired),
            Lapse | Ban => refused,
        };
    };
    match (current, event) {
        (Revoked, _) => refused,
        (_, Ban) => Ok(Banned),
        (Banned, _) => refused,
        (Trialing, Trial) => Ok(Trialing),
        (_, Trial) => refused,
        (Trialing | Active | PastDue | Canceled | Expired, Pay) => Ok(Active),
        (Trialing | Active | PastDue | Canceled, PaymentFailed) => Ok(PastDue),
        (Trialing | Active | PastDue | Canceled, CancelAtPeriodEnd) => Ok(Canceled),
        (Trialing, Resume) => Ok(Trialing),
        (Active | PastDue | Canceled, Resume) => Ok(Active),
        (Trialing | Active | PastDue | Canceled | Expired, End | Refund) => Ok(Expired),
        (Trialing | Active | PastDue | Canceled, Lapse) => Ok(Expired),
        (Expired, PaymentFailed | CancelAtPeriodEnd | Resume | Lapse) => refused,
    }
}

#[cfg(test)]
mod tests {
    use super::{Event::*, State::*, *};

    const ALL_STATES: [State; 7] = State::ALL;
    const ALL_EVENTS: [Event; 9] = [Trial, Pay, PaymentFailed, CancelAtPeriodEnd, Resume, End, Refund, Lapse, Ban];

    #[test]
    fn a_first_payment_or_trial_starts_a_subscription() {
        assert_eq!(transition(None, Pay), Ok(Active));
        assert_eq!(transition(None, Trial), Ok(Trialing));
        assert_eq!(transition(Some(Trialing), Pay), Ok(Active));
    }

    #[test]
    fn a_failed_payment_keeps_access_in_past_due_until_paid_or_ended() {
        assert_eq!(transition(Some(Active), PaymentFailed), Ok(PastDue));
        assert_eq!(transition(Some(PastDue), Pay), Ok(Active));
        assert_eq!(transition(Some(PastDue), Lapse), Ok(Expired));
        assert!(PastDue.entitles());
    }

    #[test]
    fn a_cancellation_keeps_access_until_the_period_ends_and_can_be_withdrawn() {
        assert_eq!(transition(Some(Active), CancelAtPeriodEnd), Ok(Canceled));
        assert!(Canceled.entitles());
        assert_eq!(transition(Some(Canceled), Resume), Ok(Active));
        assert_eq!(transition(Some(Canceled), Lapse), Ok(Expired));
    }

    #[test]
    fn deletion_and_refund_end_access_from_every_entitled_state() {
        for state in [Trialing, Active, PastDue, Canceled, Expired] {
            assert_eq!(transition(Some(state), End), Ok(Expired), "{state}");
            assert_eq!(transition(Some(state), Refund), Ok(Expired), "{state}");
        }
        assert!(!Expired.entitles());
    }

    #[test]
    fn an_ended_subscription_is_reopened_only_by_a_payment() {
        assert_eq!(transition(Some(Expired), Pay), Ok(Active));
        for event in [PaymentFailed, CancelAtPeriodEnd, Resume, Lapse, Trial] {
            assert!(transition(Some(Expired), event).is_err(), "{event:?}");
        }
    }

    #[test]
    fn a_banned_subscriber_stays_banned_whatever_arrives() {
        for state in ALL_STATES {
            if state != Revoked {
                assert_eq!(transition(Some(state), Ban), Ok(Banned));
            }
        }
        for event in ALL_EVENTS.into_iter().filter(|e| *e != Ban) {
            assert!(transition(Some(Banned), event).is_err(), "{event:?}");
        }
    }

    #[test]
    fn a_trial_is_given_once() {
        for state in [Active, PastDue, Canceled, Expired] {
            assert!(transition(Some(state), Trial).is_err(), "{state}");
        }
    }

    #[test]
    fn every_state_round_trips_through_its_stored_name() {
        for state in ALL_STATES {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
        assert_eq!(State::parse("paused"), None);
    }
}
