//! The resources: the enumerations a model needs to use the tools well, each a JSON
//! document read with `resources/read`.

use gatehouse_jobs::{access::Ability, payments::subscription::State};
use serde_json::{Value, json};

use crate::error::Code;

/// One resource.
pub struct ResourceDef {
    /// `gatehouse://…`.
    pub uri: &'static str,
    /// Its short name.
    pub name: &'static str,
    /// What it lists.
    pub description: &'static str,
    /// The document.
    pub document: fn() -> Value,
}

/// Every resource.
pub const RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        uri: "gatehouse://abilities",
        name: "abilities",
        description: "Every ability an api key can hold, with what it allows and the tools it opens. A key made with the project holds \"*\" (all).",
        document: abilities,
    },
    ResourceDef {
        uri: "gatehouse://error-codes",
        name: "error-codes",
        description: "The stable error codes every tool error carries (error.code), what each means and what to do about it.",
        document: error_codes,
    },
    ResourceDef {
        uri: "gatehouse://event-types",
        name: "event-types",
        description: "The event types Gatehouse records for a project (member, subscription, payment, link, bot and chat events).",
        document: event_types,
    },
    ResourceDef {
        uri: "gatehouse://subscription-states",
        name: "subscription-states",
        description: "The states of a grant or subscription (get_member's entitlements[].state), and which of them let the member in.",
        document: subscription_states,
    },
];

/// The resource at `uri`.
pub fn find(uri: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|r| r.uri == uri)
}

fn ability_meaning(ability: Ability) -> &'static str {
    match ability {
        Ability::ProjectRead => "Read the project and its bot.",
        Ability::ProjectWrite => "Change the project: its bot, chats, admins, whitelist, Stripe settings.",
        Ability::PlansRead => "Read plans.",
        Ability::PlansWrite => "Create and change plans.",
        Ability::MembersRead => "Read subscribers, subscriptions and the audit trail.",
        Ability::MembersWrite => "Grant, revoke, remove, ban and unban members; cancel subscriptions.",
        Ability::AccessCodesRead => "Read access codes.",
        Ability::AccessCodesWrite => "Create access codes and access tokens.",
        Ability::DistributionRead => "Build deep links.",
        Ability::AnalyticsRead => "Read analytics and member counts.",
        Ability::PaymentsRead => "Read payments.",
        Ability::PaymentsWrite => "Start checkouts, refund payments.",
        Ability::WebhooksManage => "Manage webhook endpoints and read events.",
        Ability::KeysManage => "Create, list and revoke api keys.",
        Ability::JobsRead => "Read the project's jobs (failed jobs, a job's state).",
        Ability::JobsWrite => "Retry the project's failed jobs.",
    }
}

fn abilities() -> Value {
    let list: Vec<Value> = Ability::EVERY
        .iter()
        .map(|a| {
            let tools: Vec<&str> = super::tools::TOOLS.iter().filter(|t| t.ability == *a).map(|t| t.name).collect();
            json!({"ability": a.as_str(), "allows": ability_meaning(*a), "tools": tools})
        })
        .collect();
    json!({"all": gatehouse_jobs::access::ALL, "abilities": list})
}

fn error_codes() -> Value {
    let list: Vec<Value> = Code::EVERY
        .iter()
        .map(|c| {
            let (meaning, remedy) = match c {
                Code::AuthenticationRequired => (
                    "The api key is missing, unknown, revoked or expired.",
                    "Configure the MCP client with a valid key (Authorization: Bearer <key>).",
                ),
                Code::TokenMissingAbility => (
                    "The key lacks the ability the tool needs; the message names it.",
                    "Ask the project owner for a key holding that ability.",
                ),
                Code::ResourceNotFound => (
                    "No such thing in this project: a project id other than the key's own, a plan, member, grant or job the project does not have. Another project's things are reported exactly like missing ones.",
                    "Check the id (list_plans, get_member, list_failed_jobs) and the project_id.",
                ),
                Code::ValidationFailed => (
                    "An argument is malformed or out of bounds; error.fields names it when it can, error.reason gives a machine-readable reason (no_bot_attached).",
                    "Fix the argument as the message says and call again.",
                ),
                Code::Conflict => (
                    "The call conflicts with the current state (already exists, not banned, nothing to cancel, not failed) or reuses an idempotency_key with other arguments.",
                    "Read the current state (get_member, get_job_status) before retrying; use a fresh idempotency_key for a different call.",
                ),
                Code::RateLimited => (
                    "Too many MCP calls with this key this minute; error.retry_after_secs says when to try again.",
                    "Wait that many seconds, then retry.",
                ),
                Code::Unavailable => ("The database is briefly unreachable.", "Retry after a few seconds."),
                Code::Internal => ("Something went wrong on Gatehouse's side.", "Retry later; report it if it persists."),
            };
            json!({"code": c.as_str(), "meaning": meaning, "remedy": remedy})
        })
        .collect();
    json!({"error_codes": list})
}

fn event_types() -> Value {
    let list: Vec<&str> = gatehouse_jobs::store::events::EventType::ALL.iter().map(|t| t.as_str()).collect();
    json!({"event_types": list})
}

fn subscription_states() -> Value {
    let list: Vec<Value> = State::ALL
        .iter()
        .map(|s| {
            let meaning = match s {
                State::Trialing => "In a free trial.",
                State::Active => "Paid for the current period.",
                State::PastDue => {
                    "A renewal payment failed: access continues until the paid period plus the grace period."
                }
                State::Canceled => "Will not renew: access continues until the period ends.",
                State::Expired => "Access ended (lapsed, deleted, refunded).",
                State::Revoked => "A manual grant revoked by the integrator (terminal).",
                State::Banned => "The owner banned the subscriber (terminal).",
            };
            json!({"state": s.as_str(), "entitles": s.entitles(), "meaning": meaning})
        })
        .collect();
    json!({"subscription_states": list})
}
