//! What an api key may do: the abilities, checked on every route, MCP tool and console
//! action that needs one. A key stores its abilities as strings (`api_keys.abilities`);
//! `*` stands for all of them (the key made with a project).

use std::fmt;

/// One ability a key can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ability {
    /// Read the project and its bot.
    ProjectRead,
    /// Change the project: its bot, chats, admins, whitelist, Stripe settings.
    ProjectWrite,
    /// Read plans.
    PlansRead,
    /// Create and change plans.
    PlansWrite,
    /// Read subscribers, subscriptions and the audit trail.
    MembersRead,
    /// Grant, revoke, extend, remove, ban and unban members.
    MembersWrite,
    /// Read access codes (masked).
    AccessCodesRead,
    /// Create access codes and access tokens.
    AccessCodesWrite,
    /// Build deep links.
    DistributionRead,
    /// Read analytics and member counts.
    AnalyticsRead,
    /// Read payments.
    PaymentsRead,
    /// Start checkouts, refund payments.
    PaymentsWrite,
    /// Manage webhook endpoints and read events.
    WebhooksManage,
    /// Create, list and revoke api keys.
    KeysManage,
    /// Read the project's jobs.
    JobsRead,
    /// Retry and cancel the project's jobs.
    JobsWrite,
}

/// What a key holding every ability stores.
pub const ALL: &str = "*";

impl Ability {
    /// Every ability, in the documented order.
    pub const EVERY: [Ability; 16] = [
        Ability::ProjectRead,
        Ability::ProjectWrite,
        Ability::PlansRead,
        Ability::PlansWrite,
        Ability::MembersRead,
        Ability::MembersWrite,
        Ability::AccessCodesRead,
        Ability::AccessCodesWrite,
        Ability::DistributionRead,
        Ability::AnalyticsRead,
        Ability::PaymentsRead,
        Ability::PaymentsWrite,
        Ability::WebhooksManage,
        Ability::KeysManage,
        Ability::JobsRead,
        Ability::JobsWrite,
    ];

    /// Its stable name, e.g. `plans:write`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Ability::ProjectRead => "project:read",
            Ability::ProjectWrite => "project:write",
            Ability::PlansRead => "plans:read",
            Ability::PlansWrite => "plans:write",
            Ability::MembersRead => "members:read",
            Ability::MembersWrite => "members:write",
            Ability::AccessCodesRead => "access-codes:read",
            Ability::AccessCodesWrite => "access-codes:write",
            Ability::DistributionRead => "distribution:read",
            Ability::AnalyticsRead => "analytics:read",
            Ability::PaymentsRead => "payments:read",
            Ability::PaymentsWrite => "payments:write",
            Ability::WebhooksManage => "webhooks:manage",
            Ability::KeysManage => "keys:manage",
            Ability::JobsRead => "jobs:read",
            Ability::JobsWrite => "jobs:write",
        }
    }

    /// The ability named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Ability> {
        Ability::EVERY.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Ability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a key storing `held` may do what `needed` allows.
pub fn allows(held: &[String], needed: Ability) -> bool {
    held.iter().any(|h| h == ALL || h == needed.as_str())
}

/// The abilities `held` stands for, `*` expanded.
pub fn expand(held: &[String]) -> Vec<Ability> {
    Ability::EVERY.into_iter().filter(|a| allows(held, *a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_star_allows_all() {
        for a in Ability::EVERY {
            assert_eq!(Ability::parse(a.as_str()), Some(a));
            assert!(allows(&[ALL.to_string()], a));
        }
        assert_eq!(Ability::parse("plans:delete"), None);
        assert!(allows(&["plans:read".into()], Ability::PlansRead));
        assert!(!allows(&["plans:read".into()], Ability::PlansWrite));
        assert_eq!(expand(&["jobs:read".into(), "bogus".into()]), vec![Ability::JobsRead]);
    }
}
