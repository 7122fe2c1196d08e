//! The tools: each one's name, the ability it needs, its input schema and a
//! description written for a model, and [`run`], which calls the same function as the
//! tool's `/v1` route (never a second copy of a rule).
//!
//! Every tool takes `project_id`, which must be the key's own project: any other value
//! (not a UUID, another project, one that does not exist) is `RESOURCE_NOT_FOUND`,
//! exactly like `/v1`. Writes also take an optional `idempotency_key`.

use gatehouse_jobs::{access::Ability, store};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    AppState,
    auth::ProjectKey,
    error::ApiError,
    routes::v1::{
        self, PageQuery, access_codes, analytics, bot, deep_link, grants, jobs, member_actions, members, payments,
        plans, projects, subscribers,
    },
};

/// One tool.
pub struct ToolDef {
    /// Its name.
    pub name: &'static str,
    /// The ability a key needs to see and call it.
    pub ability: Ability,
    /// Whether it changes something (and so takes an `idempotency_key`).
    pub write: bool,
    /// For the model: what it does, when to use it, each failure and its remedy.
    pub description: &'static str,
    /// Its own input properties (besides `project_id` and `idempotency_key`), and which are required.
    properties: fn() -> (Value, &'static [&'static str]),
}

impl ToolDef {
    /// The input schema: `project_id` first, then the tool's own properties.
    pub fn input_schema(&self) -> Map<String, Value> {
        let (own, required) = (self.properties)();
        let mut properties = Map::new();
        let described = if self.name == "get_deep_link" { DEEP_LINK_PROJECT } else { PROJECT };
        properties.insert("project_id".into(), json!({"type": "string", "description": described}));
        if let Value::Object(own) = own {
            properties.extend(own);
        }
        if self.write {
            properties.insert(
                "idempotency_key".into(),
                json!({"type": "string", "description": "Optional, 1 to 255 visible ASCII characters. Send the same key when you retry the same call (after a timeout, say): the first call's answer comes back and nothing is done twice. The same key with different arguments is CONFLICT."}),
            );
        }
        let mut all_required = vec![Value::from("project_id")];
        all_required.extend(required.iter().map(|r| Value::from(*r)));
        let schema = json!({"type": "object", "required": all_required, "properties": properties});
        match schema {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

const DEEP_LINK_PROJECT: &str = "UUID of the project whose bot URL to embed in the deep-link.";
const PROJECT: &str = "UUID of the project (the one your api key belongs to; get_project shows it).";

/// The common failures every tool can answer, for the descriptions.
macro_rules! common_failures {
    () => {
        " RESOURCE_NOT_FOUND: project_id is not a UUID or not your key's project — use the project id your key was made for. RATE_LIMITED: too many calls this minute — wait the seconds given in the error, then retry. UNAVAILABLE: the database is briefly unreachable — retry shortly."
    };
}

fn props(value: Value, required: &'static [&'static str]) -> (Value, &'static [&'static str]) {
    (value, required)
}

fn page_props() -> Value {
    json!({
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Items per page, 1 to 100 (default 50)."},
        "cursor": {"type": "string", "description": "The next_cursor of the previous page, to read the next one. Leave out for the first page."}
    })
}

fn user_props() -> (Value, &'static [&'static str]) {
    props(
        json!({"telegram_user_id": {"type": "integer", "description": "The member's Telegram user id (a positive integer)."}}),
        &["telegram_user_id"],
    )
}

/// Every tool, in the order `tools/list` shows them.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "get_deep_link",
        ability: Ability::DistributionRead,
        write: false,
        description: concat!(
            "Build a sharable Telegram bot deep-link (https://t.me/<bot>?start=<payload>) for a project, a plan, an access code or your own tracking payload. ",
            "Use it whenever someone wants a link to post or send: \"the link for my Premium plan\", \"a link for access code X\". ",
            "The payload is chosen in this order: access_code (the access code's UUID, verbatim: one tap redeems it) > plan_id (plan_<uuid>: opens the plan's checkout) > custom (your own payload, at most 64 characters of A-Z a-z 0-9 _ -, kept for attribution) > none (project_<uuid>: the bot's home). ",
            "Answers {\"data\":{\"project_id\",\"bot_url\",\"start_payload\",\"deep_link\"}}. Needs distribution:read. ",
            "Failures: RESOURCE_NOT_FOUND — project_id is not a UUID or not your key's project, or plan_id / access_code is not one of the project's (list_plans, list_access_codes show them). ",
            "VALIDATION_FAILED — plan_id is not a UUID, custom has other characters or is too long, or the project has no Telegram bot attached (reason no_bot_attached: the owner must connect one first; get_bot_status tells). ",
            "TOKEN_MISSING_ABILITY — the key lacks distribution:read: ask for a key that has it.",
            " RATE_LIMITED: wait the seconds given, then retry."
        ),
        properties: || {
            props(
                json!({
                    "plan_id": {"type": "string", "description": "Optional plan UUID. When set, payload becomes plan_<uuid> so the bot opens the plan checkout."},
                    "access_code": {"type": "string", "description": "Optional access-code UUID. When set, payload is the UUID verbatim for one-tap redemption."},
                    "custom": {"type": "string", "description": "Optional caller-supplied payload. Useful for campaign / referral tracking."}
                }),
                &[],
            )
        },
    },
    ToolDef {
        name: "get_project",
        ability: Ability::ProjectRead,
        write: false,
        description: concat!(
            "The project: handle, name, owner's Telegram id, the bot's @username (null until a bot is connected), grace period and reminder days. ",
            "Use it first to confirm which project your key acts for. Needs project:read.",
            common_failures!(),
            " TOKEN_MISSING_ABILITY: the key lacks project:read."
        ),
        properties: || props(json!({}), &[]),
    },
    ToolDef {
        name: "get_bot_status",
        ability: Ability::ProjectRead,
        write: false,
        description: concat!(
            "The project's Telegram bot: its username and connection status (connecting, connected, failed with the reason) and its own rate limits. ",
            "Use it when links cannot be built (no_bot_attached) or members are not let in. Needs project:read.",
            common_failures!(),
            " RESOURCE_NOT_FOUND also when the project has no bot yet: the owner connects one with PUT /v1/projects/{id}/bot. TOKEN_MISSING_ABILITY: the key lacks project:read."
        ),
        properties: || props(json!({}), &[]),
    },
    ToolDef {
        name: "list_plans",
        ability: Ability::PlansRead,
        write: false,
        description: concat!(
            "The project's plans, oldest first, a page at a time: id, name, price (minor units) and currency, Stars price, duration, recurring, trial days, the Telegram chats it grants, on sale. ",
            "Use it to find a plan's id (for get_deep_link, grant_access, create_access_codes). Answers {\"data\":[…],\"next_cursor\"}: pass next_cursor as cursor for the next page. Needs plans:read.",
            common_failures!(),
            " VALIDATION_FAILED: limit out of 1–100 or a cursor this list did not give. TOKEN_MISSING_ABILITY: the key lacks plans:read."
        ),
        properties: || props(page_props(), &[]),
    },
    ToolDef {
        name: "create_plan",
        ability: Ability::PlansWrite,
        write: true,
        description: concat!(
            "Create a plan granting some of the project's chats. Created at once (no job): answers {\"data\":{\"plan_id\"}}. ",
            "Use it when the creator wants to sell a new tier. Needs plans:write.",
            common_failures!(),
            " VALIDATION_FAILED names the field: name 1–200 characters; price ≥ 0 in the currency's minor unit (cents); currency a 3-letter uppercase code, or XTR for Telegram Stars (price then 1 or more); duration_days 1–36600 or null for lifetime; recurring needs duration_days; trial_days 0–366; chat_ids must be Telegram chat ids already added to the project. ",
            "CONFLICT: the idempotency_key was used with other arguments. TOKEN_MISSING_ABILITY: the key lacks plans:write."
        ),
        properties: || {
            props(
                json!({
                    "name": {"type": "string", "description": "The plan's name, 1 to 200 characters."},
                    "price": {"type": "integer", "description": "Price in the currency's minor unit (2900 = $29.00); for XTR, the number of Stars."},
                    "currency": {"type": "string", "description": "3-letter uppercase currency code such as USD, or XTR for Telegram Stars."},
                    "stars_price": {"type": "integer", "description": "Optional: also sell it for this many Stars."},
                    "duration_days": {"type": "integer", "description": "Access length in days (1–36600); leave out for lifetime access."},
                    "recurring": {"type": "boolean", "description": "Renews every duration_days (default false)."},
                    "trial_days": {"type": "integer", "description": "Free trial days, 0–366 (default 0)."},
                    "chat_ids": {"type": "array", "items": {"type": "integer"}, "description": "Telegram ids of the project's chats the plan lets its subscribers into."}
                }),
                &["name", "price", "currency", "chat_ids"],
            )
        },
    },
    ToolDef {
        name: "get_member",
        ability: Ability::MembersRead,
        write: false,
        description: concat!(
            "Everything the project knows about one Telegram user: standing (active or banned), whitelisted, each grant or subscription (source, state, end, whether it entitles now), the chats they were seen in, open invite links, and the audit trail of what was done to them. ",
            "Use it before and after acting on a member, to see why someone is in or out. Needs members:read.",
            common_failures!(),
            " RESOURCE_NOT_FOUND also when the project has never seen this user. TOKEN_MISSING_ABILITY: the key lacks members:read."
        ),
        properties: user_props,
    },
    ToolDef {
        name: "grant_access",
        ability: Ability::MembersWrite,
        write: true,
        description: concat!(
            "Give a Telegram user a plan by hand (a gift, support), from now until expires_at or forever. Enqueued: the grant-access job sends them their personal invite links. ",
            "Answers {\"data\":{\"grant_id\",\"job_id\"}}: poll get_job_status with job_id. Needs members:write.",
            common_failures!(),
            " VALIDATION_FAILED: telegram_user_id not positive, plan_id not a plan of the project, expires_at not a future RFC 3339 time, note over 1000 characters. CONFLICT: the user is banned in this project (unban_member first), or the idempotency_key was used with other arguments. TOKEN_MISSING_ABILITY: the key lacks members:write."
        ),
        properties: || {
            props(
                json!({
                    "telegram_user_id": {"type": "integer", "description": "The Telegram user id to grant."},
                    "plan_id": {"type": "string", "description": "UUID of the plan to grant (list_plans)."},
                    "expires_at": {"type": "string", "description": "Optional end, an RFC 3339 time in the future (2030-01-31T00:00:00Z); leave out for no end."},
                    "note": {"type": "string", "description": "Optional note kept with the grant (at most 1000 characters)."}
                }),
                &["telegram_user_id", "plan_id"],
            )
        },
    },
    ToolDef {
        name: "kick_member",
        ability: Ability::MembersWrite,
        write: true,
        description: concat!(
            "Remove a member from every chat of the project now, leaving them free to rejoin later (a kick, not a ban). Enqueued: one remove-member job per chat. ",
            "The job leaves administrators, whitelisted members and anyone still entitled (an active grant or subscription) inside and records why: end their access first (cancel_subscription, or revoke the grant) if they must go. Use ban_member to keep someone out for good. ",
            "Answers {\"data\":{\"telegram_user_id\",\"action\":\"kick\",\"job_ids\"}}: poll each with get_job_status, then get_member shows the outcome. Needs members:write.",
            common_failures!(),
            " RESOURCE_NOT_FOUND also when the project has never seen this user. TOKEN_MISSING_ABILITY: the key lacks members:write."
        ),
        properties: user_props,
    },
    ToolDef {
        name: "ban_member",
        ability: Ability::MembersWrite,
        write: true,
        description: concat!(
            "Ban a member from the project (as the owner's /ban): their grants and subscriptions end now, renewals stop at the provider, their links are revoked, and they are removed and stay banned from every chat (administrators excepted). Enqueued: one ban-subscriber job. ",
            "Answers {\"data\":{\"telegram_user_id\",\"action\":\"ban\",\"job_ids\"}}: poll with get_job_status. Use kick_member instead when they may come back. Needs members:write.",
            common_failures!(),
            " RESOURCE_NOT_FOUND also when the project has never seen this user. TOKEN_MISSING_ABILITY: the key lacks members:write."
        ),
        properties: user_props,
    },
    ToolDef {
        name: "unban_member",
        ability: Ability::MembersWrite,
        write: true,
        description: concat!(
            "Lift a ban (as the owner's /unban): the user may use the bot again, and the bans Gatehouse made in the chats are lifted so they can rejoin once entitled (grant_access or a payment). Bans an administrator made by hand are never lifted. Enqueued: one ban-subscriber job. ",
            "Answers {\"data\":{\"telegram_user_id\",\"action\":\"unban\",\"job_ids\"}}. Needs members:write.",
            common_failures!(),
            " RESOURCE_NOT_FOUND also when the project has never seen this user. CONFLICT: the member is not banned (nothing to do). TOKEN_MISSING_ABILITY: the key lacks members:write."
        ),
        properties: user_props,
    },
    ToolDef {
        name: "cancel_subscription",
        ability: Ability::MembersWrite,
        write: true,
        description: concat!(
            "Stop a member's renewing paid subscription (Stripe or Telegram Stars) at the end of its paid period, as the subscriber's /cancel does: no further charge, access lasts until the period ends. Without grant_id, every renewing subscription of the member is canceled. Enqueued: one cancel-subscription job per subscription. ",
            "Answers {\"data\":{\"telegram_user_id\",\"action\":\"cancel_subscription\",\"job_ids\"}}. Needs members:write.",
            common_failures!(),
            " RESOURCE_NOT_FOUND also when the project has never seen this user, or grant_id is not one of theirs (get_member lists them). CONFLICT: nothing renewing to cancel (a manual or access-code grant does not renew; it simply ends), or the idempotency_key was used with other arguments. TOKEN_MISSING_ABILITY: the key lacks members:write."
        ),
        properties: || {
            props(
                json!({
                    "telegram_user_id": {"type": "integer", "description": "The member's Telegram user id."},
                    "grant_id": {"type": "string", "description": "Optional UUID of one subscription (a grant shown by get_member); leave out to cancel every renewing one."}
                }),
                &["telegram_user_id"],
            )
        },
    },
    ToolDef {
        name: "create_access_codes",
        ability: Ability::AccessCodesWrite,
        write: true,
        description: concat!(
            "Create one access code, or many at once (count up to 100, all with the same terms, all or none), for a plan: a subscriber redeems one with /start <code> or its deep_link, and gets the plan. Created at once (no job). ",
            "Answers {\"data\":[{\"id\",\"code\",\"plan_id\",\"max_uses\",\"expires_at\",\"duration_days\",\"deep_link\"}…]} (deep_link null until a bot is connected). Use get_deep_link with an access code's id for a link to share. Needs access-codes:write.",
            common_failures!(),
            " VALIDATION_FAILED: plan_id not a plan of the project, code not 4–64 characters of A-Z a-z 0-9 _ -, a code given with count over 1, count out of 1–100, max_uses under 1, duration_days out of 1–36600, expires_at in the past. CONFLICT: the project already has this code, or the idempotency_key was used with other arguments. TOKEN_MISSING_ABILITY: the key lacks access-codes:write."
        ),
        properties: || {
            props(
                json!({
                    "plan_id": {"type": "string", "description": "UUID of the plan the codes give."},
                    "count": {"type": "integer", "minimum": 1, "maximum": 100, "description": "How many codes to make (default 1), each generated."},
                    "code": {"type": "string", "description": "Optional: the code itself (4 to 64 characters of A-Z a-z 0-9 _ -), for a single code; generated when left out."},
                    "max_uses": {"type": "integer", "description": "Redemptions allowed per code (1 = single-use); leave out for unlimited."},
                    "expires_at": {"type": "string", "description": "Optional RFC 3339 time after which the codes no longer redeem."},
                    "duration_days": {"type": "integer", "description": "Optional access length in days (1–36600); the plan's own when left out."}
                }),
                &["plan_id"],
            )
        },
    },
    ToolDef {
        name: "list_subscribers",
        ability: Ability::MembersRead,
        write: false,
        description: concat!(
            "The project's subscribers, oldest first, a page at a time: Telegram id, username, name, standing (active or banned), whitelisted, whether entitled now and until when. ",
            "Filter by status (active, banned, entitled, lapsed), plan_id (has a grant of it), chat_id (inside that Telegram chat) or q (a user id, or the start of a username). ",
            "Use it to find members; get_member shows one in full. Answers {\"data\":[…],\"next_cursor\"}. Needs members:read.",
            common_failures!(),
            " VALIDATION_FAILED: an unknown status, limit out of 1–100, a cursor this list did not give. TOKEN_MISSING_ABILITY: the key lacks members:read."
        ),
        properties: || {
            let mut p = page_props();
            p["status"] = json!({"type": "string", "enum": ["active", "banned", "entitled", "lapsed"], "description": "Only subscribers in this standing: active (not banned), banned, entitled (let in now), lapsed (had access, not any more)."});
            p["plan_id"] =
                json!({"type": "string", "description": "Only subscribers with a grant of this plan (UUID)."});
            p["chat_id"] = json!({"type": "integer", "description": "Only subscribers seen inside this Telegram chat (its Telegram id)."});
            p["q"] = json!({"type": "string", "description": "A Telegram user id, or the start of a username."});
            props(p, &[])
        },
    },
    ToolDef {
        name: "list_access_codes",
        ability: Ability::AccessCodesRead,
        write: false,
        description: concat!(
            "The project's access codes, oldest first, a page at a time, masked (only their first and last two characters shown): id, plan, uses and max_uses, expiry, duration. ",
            "Use it to find an access code's id for get_deep_link, or to see how much a code was used. Answers {\"data\":[…],\"next_cursor\"}. Needs access-codes:read.",
            common_failures!(),
            " VALIDATION_FAILED: limit out of 1–100 or a cursor this list did not give. TOKEN_MISSING_ABILITY: the key lacks access-codes:read."
        ),
        properties: || props(page_props(), &[]),
    },
    ToolDef {
        name: "get_chat_growth",
        ability: Ability::AnalyticsRead,
        write: false,
        description: concat!(
            "Each managed chat's member count, day by day, over a period (7d, 30d (default), 90d, ytd, all), from the daily counts Gatehouse takes. ",
            "Use it for \"how is my channel growing?\". Answers {\"data\":{\"period\",\"from\",\"to\",\"chats\":[{\"chat_id\",\"days\":[{\"date\",\"members\"}]}]}}. Needs analytics:read.",
            common_failures!(),
            " VALIDATION_FAILED: an unknown period. RESOURCE_NOT_FOUND also when chat_id is not a chat of the project. TOKEN_MISSING_ABILITY: the key lacks analytics:read."
        ),
        properties: || {
            props(
                json!({
                    "period": {"type": "string", "enum": ["7d", "30d", "90d", "ytd", "all"], "description": "The period ending now (default 30d)."},
                    "chat_id": {"type": "integer", "description": "Optional: only this chat (its Telegram id)."}
                }),
                &[],
            )
        },
    },
    ToolDef {
        name: "get_dashboard_metrics",
        ability: Ability::AnalyticsRead,
        write: false,
        description: concat!(
            "The project's figures for a period ending now (7d, 30d (default), 90d, ytd, all): subscribers (active, trialing, new, churned), trial to paid conversion, MRR per currency, revenue (total, by provider, by plan; net of refunds) and each chat's member counts. ",
            "Use it for \"how is my business doing?\". Amounts are given in minor units and as decimals. Needs analytics:read.",
            common_failures!(),
            " VALIDATION_FAILED: an unknown period. TOKEN_MISSING_ABILITY: the key lacks analytics:read."
        ),
        properties: || {
            props(
                json!({"period": {"type": "string", "enum": ["7d", "30d", "90d", "ytd", "all"], "description": "The period ending now (default 30d)."}}),
                &[],
            )
        },
    },
    ToolDef {
        name: "list_recent_payments",
        ability: Ability::PaymentsRead,
        write: false,
        description: concat!(
            "The project's payments (Stripe events, Telegram Stars charges and refunds) with the money each moved, newest first, a page at a time; optionally of one provider. ",
            "Use it for \"who paid recently?\" or to find a refund. Answers {\"data\":[…],\"next_cursor\"}. Needs payments:read.",
            common_failures!(),
            " VALIDATION_FAILED: provider other than stripe or stars, limit out of 1–100, a cursor this list did not give. TOKEN_MISSING_ABILITY: the key lacks payments:read."
        ),
        properties: || {
            let mut p = page_props();
            p["provider"] =
                json!({"type": "string", "enum": ["stripe", "stars"], "description": "Only this provider's payments."});
            props(p, &[])
        },
    },
    ToolDef {
        name: "list_failed_jobs",
        ability: Ability::JobsRead,
        write: false,
        description: concat!(
            "The project's failed jobs (given up after their attempts, or failed permanently: a chat not found, the bot removed), newest first, a page at a time, each with its kind, attempts and last error. ",
            "Use it when something the project asked for did not happen; fix the cause (get_bot_status), then retry_job. Answers {\"data\":[…],\"next_cursor\"}. Needs jobs:read.",
            common_failures!(),
            " VALIDATION_FAILED: limit out of 1–100 or a cursor this list did not give. TOKEN_MISSING_ABILITY: the key lacks jobs:read (an operator's ability)."
        ),
        properties: || props(page_props(), &[]),
    },
    ToolDef {
        name: "retry_job",
        ability: Ability::JobsWrite,
        write: true,
        description: concat!(
            "Run a failed job of the project again now, its attempts counted from zero. Use it after fixing what made it fail (list_failed_jobs shows the error). ",
            "Answers {\"data\":{job}} with state pending: poll get_job_status. Needs jobs:write.",
            common_failures!(),
            " RESOURCE_NOT_FOUND also when job_id is not a job of this project. CONFLICT: the job has not failed (it is pending, running, retrying by itself or done): nothing to retry. TOKEN_MISSING_ABILITY: the key lacks jobs:write (an operator's ability)."
        ),
        properties: || {
            props(
                json!({"job_id": {"type": "string", "description": "The job's id (26 characters), from list_failed_jobs."}}),
                &["job_id"],
            )
        },
    },
    ToolDef {
        name: "get_job_status",
        ability: Ability::JobsRead,
        write: false,
        description: concat!(
            "The state of one job of the project: pending (waiting to run), running, retrying (failed, will run again by itself), done, or failed (with its last error). ",
            "Use it to follow what a write tool enqueued (its job_id or job_ids) until done or failed. Needs jobs:read.",
            common_failures!(),
            " RESOURCE_NOT_FOUND also when job_id is not a job of this project (finished jobs are pruned after the retention time). TOKEN_MISSING_ABILITY: the key lacks jobs:read."
        ),
        properties: || {
            props(
                json!({"job_id": {"type": "string", "description": "The job's id, as a write tool answered it."}}),
                &["job_id"],
            )
        },
    },
];

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static ToolDef> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The arguments as `T` (unknown fields ignored); a missing or mistyped field is
/// `VALIDATION_FAILED` naming it.
fn input<T: DeserializeOwned>(args: &Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(args.clone())).map_err(|e| ApiError::Unprocessable(format!("arguments: {e}")))
}

/// `name`'s argument as a string, if given (a string).
fn string(args: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::Unprocessable(format!("{name}: expected a string"))),
    }
}

fn user(args: &Map<String, Value>) -> Result<i64, ApiError> {
    match args.get("telegram_user_id").and_then(Value::as_i64) {
        Some(id) if id > 0 => Ok(id),
        _ => Err(ApiError::Unprocessable("telegram_user_id: expected a positive Telegram user id".into())),
    }
}

fn page(args: &Map<String, Value>) -> Result<PageQuery, ApiError> {
    let limit = match args.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| ApiError::Unprocessable("limit: expected 1 to 100".into()))?),
    };
    Ok(PageQuery { limit, cursor: string(args, "cursor")? })
}

fn job(args: &Map<String, Value>) -> Result<String, ApiError> {
    string(args, "job_id")?.ok_or_else(|| ApiError::Unprocessable("job_id: expected a job id".into()))
}

fn data(value: impl serde::Serialize) -> Result<Value, ApiError> {
    Ok(json!({ "data": value }))
}

fn page_of(page: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(page).map_err(|e| ApiError::Internal(sqlx::Error::Decode(Box::new(e))))
}

/// Checks that `project_id` names the key's project (else `RESOURCE_NOT_FOUND`, as on `/v1`).
pub fn check_project(key: &ProjectKey, args: &Map<String, Value>) -> Result<(), ApiError> {
    let named = string(args, "project_id").ok().flatten().and_then(|p| Uuid::parse_str(p.trim()).ok());
    match named {
        Some(id) if id == key.project_id => Ok(()),
        _ => Err(ApiError::NotFound("no such project".into())),
    }
}

/// Runs tool `tool` for `key` with `args` (the project already checked): its `/v1`
/// function, the answer in the `/v1` envelope (`{"data":…}`, or a page).
pub async fn run(
    state: &AppState,
    key: &ProjectKey,
    tool: &ToolDef,
    args: &Map<String, Value>,
    idempotency_key: Option<&str>,
) -> Result<Value, ApiError> {
    if let Some(path) = v1::nul_path(&Value::Object(args.clone())) {
        return Err(ApiError::Unprocessable(format!(
            "{path}: contains a NUL character (U+0000), which cannot be stored"
        )));
    }
    match tool.name {
        "get_deep_link" => {
            let query = deep_link::DeepLinkQuery {
                plan_id: string(args, "plan_id")?,
                access_code: string(args, "access_code")?,
                custom: string(args, "custom")?,
            };
            data(deep_link::deep_link(state, key, &query).await?)
        }
        "get_project" => data(projects::project(state, key).await?),
        "get_bot_status" => data(bot::status(state, key).await?),
        "list_plans" => page_of(plans::list_plans(state, key, &page(args)?).await?),
        "create_plan" => data(plans::create_plan(state, key, input(args)?).await?),
        "get_member" => data(members::member(state, key, user(args)?).await?),
        "grant_access" => {
            let scoped = idempotency_key.map(|k| format!("mcp:{k}"));
            data(grants::grant(state, key, scoped.as_deref(), input(args)?).await?)
        }
        "kick_member" => data(member_actions::kick(state, key, user(args)?).await?),
        "ban_member" => data(member_actions::ban(state, key, user(args)?, true).await?),
        "unban_member" => data(member_actions::ban(state, key, user(args)?, false).await?),
        "cancel_subscription" => {
            let body: member_actions::CancelRequest = input(args)?;
            data(member_actions::cancel_subscription(state, key, user(args)?, &body).await?)
        }
        "create_access_codes" => {
            let count = match args.get("count") {
                None | Some(Value::Null) => 1,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| ApiError::Unprocessable("count: expected 1 to 100".into()))?,
            };
            data(access_codes::create_codes(state, key, &input(args)?, count).await?)
        }
        "list_subscribers" => {
            let query: subscribers::SubscriberQuery = input(args)?;
            page_of(subscribers::page(state, key, &query).await?)
        }
        "list_access_codes" => page_of(access_codes::codes_page(state, key, &page(args)?).await?),
        "get_dashboard_metrics" => {
            let query = analytics::AnalyticsQuery { period: string(args, "period")? };
            data(analytics::figures(state, key, &query).await?)
        }
        "get_chat_growth" => {
            let query = analytics::AnalyticsQuery { period: string(args, "period")? };
            let chat = match args.get("chat_id") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64().ok_or_else(|| ApiError::Unprocessable("chat_id: expected a Telegram chat id".into()))?,
                ),
            };
            key.require(Ability::AnalyticsRead)?;
            if let Some(chat) = chat
                && store::chats::by_telegram_id(&state.pool, key.project_id, chat).await?.is_none()
            {
                return Err(ApiError::NotFound("no such chat in this project".into()));
            }
            let figures = analytics::figures(state, key, &query).await?;
            let chats: Vec<_> =
                figures.member_counts.into_iter().filter(|c| chat.is_none_or(|id| c.chat_id == id)).collect();
            data(json!({"period": figures.period, "from": figures.from, "to": figures.to, "chats": chats}))
        }
        "list_recent_payments" => {
            let query: payments::PaymentQuery = input(args)?;
            page_of(payments::page(state, key, &query).await?)
        }
        "list_failed_jobs" => page_of(jobs::list_failed(state, key, &page(args)?).await?),
        "retry_job" => data(jobs::retry(state, key, &job(args)?).await?),
        "get_job_status" => data(jobs::status(state, key, &job(args)?).await?),
        other => Err(ApiError::NotFound(format!("no such tool: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_unique_name_and_an_object_schema_requiring_the_project() {
        let mut names: Vec<_> = TOOLS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOOLS.len());
        for tool in TOOLS {
            let schema = tool.input_schema();
            assert_eq!(schema["type"], "object", "{}", tool.name);
            assert_eq!(schema["required"][0], "project_id", "{}", tool.name);
            for (name, property) in schema["properties"].as_object().unwrap() {
                assert!(property["description"].as_str().is_some_and(|d| !d.is_empty()), "{}.{name}", tool.name);
            }
            assert_eq!(schema["properties"].get("idempotency_key").is_some(), tool.write, "{}", tool.name);
        }
    }

    #[test]
    fn get_deep_link_has_the_documented_schema() {
        let schema = find("get_deep_link").unwrap().input_schema();
        assert_eq!(schema["required"], json!(["project_id"]));
        let properties = schema["properties"].as_object().unwrap();
        let mut names: Vec<_> = properties.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["access_code", "custom", "plan_id", "project_id"]);
        assert!(properties.values().all(|p| p["type"] == "string"));
    }
}
