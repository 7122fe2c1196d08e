//! The OpenAPI 3.1 description of `/v1`, served at `GET /v1/openapi.json`.
//!
//! Built with utoipa from the code: every request and answer schema is derived from the
//! type the handler reads or writes (`#[derive(ToSchema)]` beside it), every error from
//! [`crate::error::Code`]. The operations are declared here, one per route of
//! [`crate::app`]; a test reads the router's table and fails if one is missing.

use utoipa::{
    IntoResponses, Modify, OpenApi, ToSchema,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use uuid::Uuid;

use crate::routes::v1::{
    PageQuery, access_codes, access_tokens, admins, analytics, audit, bot, chats, checkout, deep_link, events, grants,
    jobs, keys, member_actions, members, payments, plans, projects, stars, stripe, subscribers, subscriptions,
    webhooks,
};
use gatehouse_jobs::store::budget::BotLimits;

/// An error: `{"error":{"code","message","fields"?,"reason"?}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorObject,
}

/// The error object.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorObject {
    /// One of the stable codes.
    #[schema(value_type = String, example = "VALIDATION_FAILED")]
    code: ErrorCode,
    /// For people.
    message: String,
    /// The fields at fault (validation errors).
    fields: Option<Vec<String>>,
    /// Why, for programs (e.g. `no_bot_attached`).
    reason: Option<String>,
}

/// The stable error codes.
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms, non_camel_case_types)]
pub enum ErrorCode {
    /// 401.
    AUTHENTICATION_REQUIRED,
    /// 403, naming the ability.
    TOKEN_MISSING_ABILITY,
    /// 404, also for anything of another project.
    RESOURCE_NOT_FOUND,
    /// 400, 413 or 422.
    VALIDATION_FAILED,
    /// 409.
    CONFLICT,
    /// 429, with Retry-After.
    RATE_LIMITED,
    /// 503.
    UNAVAILABLE,
    /// 500.
    INTERNAL,
}

/// The errors every route can answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    /// The body or a parameter is malformed.
    #[response(status = 400, description = "VALIDATION_FAILED: malformed body or parameter")]
    BadRequest(ErrorBody),
    /// No key, or a revoked or expired one.
    #[response(status = 401, description = "AUTHENTICATION_REQUIRED: no api key, or a revoked or expired one")]
    Unauthorized(ErrorBody),
    /// The key lacks the route's ability.
    #[response(status = 403, description = "TOKEN_MISSING_ABILITY: the key lacks the ability the route needs")]
    Forbidden(ErrorBody),
    /// No such thing (or one of another project).
    #[response(status = 404, description = "RESOURCE_NOT_FOUND: no such thing in this project")]
    NotFound(ErrorBody),
    /// Conflicts with the current state, or an Idempotency-Key used with another request.
    #[response(status = 409, description = "CONFLICT")]
    Conflict(ErrorBody),
    /// A value is invalid.
    #[response(status = 422, description = "VALIDATION_FAILED: a value is invalid (see fields)")]
    Invalid(ErrorBody),
    /// Over the key's limit.
    #[response(status = 429, description = "RATE_LIMITED: over the key's requests per minute; see Retry-After")]
    RateLimited(ErrorBody),
    /// The database is unavailable.
    #[response(status = 503, description = "UNAVAILABLE: try again")]
    Unavailable(ErrorBody),
    /// Our fault.
    #[response(status = 500, description = "INTERNAL")]
    Internal(ErrorBody),
}

macro_rules! data {
    ($name:ident, $t:ty) => {
        #[doc = concat!("`{\"data\": ", stringify!($t), "}`.")]
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            data: $t,
        }
    };
}

macro_rules! page {
    ($name:ident, $t:ty) => {
        #[doc = concat!("A page of ", stringify!($t), ".")]
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            data: Vec<$t>,
            /// Pass as `cursor` for the next page; null on the last.
            next_cursor: Option<String>,
        }
    };
}

/// A grant made.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GrantCreated {
    grant_id: Uuid,
}

data!(CreatedProjectData, projects::CreatedProject);
data!(ConnectingData, bot::Connecting);
data!(BotViewData, bot::BotView);
data!(BotLimitsData, BotLimits);
data!(VerifyingData, chats::Verifying);
data!(CreatedPlanData, plans::CreatedPlan);
data!(GrantCreatedData, GrantCreated);
data!(RevokedData, grants::Revoked);
data!(AdminData, admins::Admin);
data!(TokenData, access_tokens::Token);
data!(WhitelistedData, members::Whitelisted);
data!(MemberViewData, members::MemberView);
data!(StripeViewData, stripe::StripeView);
data!(CheckoutAcceptedData, checkout::CheckoutAccepted);
data!(CheckoutViewData, checkout::CheckoutView);
data!(CreatedAccessCodeData, access_codes::CreatedAccessCode);
data!(RefundAcceptedData, stars::RefundAccepted);
data!(KeyViewData, keys::KeyView);
data!(DeepLinkData, deep_link::DeepLink);
data!(AnalyticsData, analytics::Analytics);
data!(ProjectViewData, projects::ProjectView);
data!(MemberActionData, member_actions::Enqueued);
data!(JobViewData, jobs::JobView);
page!(JobPage, jobs::JobView);
page!(ChatPage, chats::ChatView);
page!(PlanPage, plans::PlanView);
page!(AccessCodePage, access_codes::AccessCodeView);
page!(KeyPage, keys::KeyView);
page!(SubscriberPage, subscribers::SubscriberView);
page!(SubscriptionPage, subscriptions::SubscriptionView);
page!(PaymentPage, payments::PaymentView);
page!(AuditPage, audit::AuditView);
data!(ObjectData, serde_json::Value);
page!(ObjectPage, serde_json::Value);

macro_rules! op {
    ($fn:ident, $method:ident, $path:literal, $ability:literal, $summary:literal,
     body = $body:ty, ok = ($status:literal, $ok:ty) $(, params = ($($param:tt)*))?) => {
        #[utoipa::path($method, path = $path, summary = $summary, tag = "v1",
            description = concat!("Needs the ability `", $ability, "`. Honours `Idempotency-Key`."),
            params(("project_id" = Uuid, Path, description = "The project") $(, $($param)*)?),
            request_body = $body,
            responses((status = $status, description = "Done", body = $ok), Errors),
            security(("api_key" = [$ability])))]
        #[allow(dead_code)]
        fn $fn() {}
    };
    ($fn:ident, $method:ident, $path:literal, $ability:literal, $summary:literal,
     ok = ($status:literal, $ok:ty) $(, params = ($($param:tt)*))?) => {
        #[utoipa::path($method, path = $path, summary = $summary, tag = "v1",
            description = concat!("Needs the ability `", $ability, "`."),
            params(("project_id" = Uuid, Path, description = "The project") $(, $($param)*)?),
            responses((status = $status, description = "Done", body = $ok), Errors),
            security(("api_key" = [$ability])))]
        #[allow(dead_code)]
        fn $fn() {}
    };
}

#[utoipa::path(post, path = "/v1/projects", summary = "Create a project and its first api key (all abilities)",
    tag = "v1", description = "Needs the admin token. The key is shown once.",
    request_body = projects::NewProject,
    responses((status = 201, description = "Created", body = CreatedProjectData), Errors),
    security(("admin_token" = [])))]
#[allow(dead_code)]
fn create_project() {}

op!(
    connect_bot,
    put,
    "/v1/projects/{project_id}/bot",
    "project:write",
    "Connect the project's bot (verified by a job)",
    body = bot::ConnectRequest,
    ok = (202, ConnectingData)
);
op!(
    show_bot,
    get,
    "/v1/projects/{project_id}/bot",
    "project:read",
    "The bot's state and limits",
    ok = (200, BotViewData)
);
op!(
    set_bot_limits,
    put,
    "/v1/projects/{project_id}/bot/limits",
    "project:write",
    "Set the bot's own rate limits",
    body = BotLimits,
    ok = (200, BotLimitsData)
);
op!(
    add_chat,
    post,
    "/v1/projects/{project_id}/chats",
    "project:write",
    "Add a managed chat (verified by a job)",
    body = chats::AddChat,
    ok = (202, VerifyingData)
);
op!(
    list_chats,
    get,
    "/v1/projects/{project_id}/chats",
    "project:read",
    "The project's chats",
    ok = (200, ChatPage),
    params = (PageQuery)
);
op!(
    create_plan,
    post,
    "/v1/projects/{project_id}/plans",
    "plans:write",
    "Create a plan",
    body = plans::CreatePlan,
    ok = (201, CreatedPlanData)
);
op!(
    list_plans,
    get,
    "/v1/projects/{project_id}/plans",
    "plans:read",
    "The project's plans",
    ok = (200, PlanPage),
    params = (PageQuery)
);
op!(
    create_grant,
    post,
    "/v1/projects/{project_id}/grants",
    "members:write",
    "Grant a plan to a user (links follow by job)",
    body = grants::CreateGrant,
    ok = (202, GrantCreatedData)
);
op!(
    revoke_grant,
    delete,
    "/v1/projects/{project_id}/grants/{grant_id}",
    "members:write",
    "End a grant now (kick by job)",
    ok = (202, RevokedData),
    params = (("grant_id" = Uuid, Path, description = "The grant"))
);
op!(
    add_admin,
    post,
    "/v1/projects/{project_id}/admins",
    "project:write",
    "Let a user run owner commands",
    body = admins::AdminRequest,
    ok = (200, AdminData)
);
op!(
    remove_admin,
    delete,
    "/v1/projects/{project_id}/admins/{telegram_user_id}",
    "project:write",
    "Remove an admin",
    ok = (200, AdminData),
    params = (("telegram_user_id" = i64, Path, description = "The user"))
);
op!(
    create_access_token,
    post,
    "/v1/projects/{project_id}/access-tokens",
    "access-codes:write",
    "A single-use activation token for a plan",
    body = access_tokens::TokenRequest,
    ok = (201, TokenData)
);
op!(
    whitelist,
    post,
    "/v1/projects/{project_id}/whitelist",
    "members:write",
    "Never remove this user",
    body = members::WhitelistRequest,
    ok = (200, WhitelistedData)
);
op!(
    unwhitelist,
    delete,
    "/v1/projects/{project_id}/whitelist/{telegram_user_id}",
    "members:write",
    "Take a user off the whitelist",
    ok = (200, WhitelistedData),
    params = (("telegram_user_id" = i64, Path, description = "The user"))
);
op!(
    show_member,
    get,
    "/v1/projects/{project_id}/members/{telegram_user_id}",
    "members:read",
    "A member: grants, memberships, links, audit",
    ok = (200, MemberViewData),
    params = (("telegram_user_id" = i64, Path, description = "The user"))
);
op!(
    put_stripe,
    put,
    "/v1/projects/{project_id}/stripe",
    "project:write",
    "Connect a Stripe account",
    body = stripe::PutStripe,
    ok = (200, StripeViewData)
);
op!(
    show_stripe,
    get,
    "/v1/projects/{project_id}/stripe",
    "project:read",
    "The Stripe settings (hints only)",
    ok = (200, StripeViewData)
);
op!(
    create_checkout,
    post,
    "/v1/projects/{project_id}/checkout",
    "payments:write",
    "Start a checkout (made by a job)",
    body = checkout::CheckoutBody,
    ok = (202, CheckoutAcceptedData)
);
op!(
    show_checkout,
    get,
    "/v1/projects/{project_id}/checkout/{checkout_id}",
    "payments:read",
    "A checkout and its URL",
    ok = (200, CheckoutViewData),
    params = (("checkout_id" = Uuid, Path, description = "The checkout"))
);
op!(
    create_access_code,
    post,
    "/v1/projects/{project_id}/access-codes",
    "access-codes:write",
    "Create an access code",
    body = access_codes::CreateAccessCode,
    ok = (201, CreatedAccessCodeData)
);
op!(
    list_access_codes,
    get,
    "/v1/projects/{project_id}/access-codes",
    "access-codes:read",
    "Access codes, masked",
    ok = (200, AccessCodePage),
    params = (PageQuery)
);
op!(
    refund_stars,
    post,
    "/v1/projects/{project_id}/stars/refunds",
    "payments:write",
    "Refund a Stars payment (by job)",
    body = stars::RefundBody,
    ok = (202, RefundAcceptedData)
);
op!(
    create_key,
    post,
    "/v1/projects/{project_id}/keys",
    "keys:manage",
    "Create an api key (shown once)",
    body = keys::NewKey,
    ok = (201, KeyViewData)
);
op!(
    list_keys,
    get,
    "/v1/projects/{project_id}/keys",
    "keys:manage",
    "The keys in force (never a secret)",
    ok = (200, KeyPage),
    params = (PageQuery)
);
#[utoipa::path(delete, path = "/v1/projects/{project_id}/keys/{key_id}", summary = "Revoke a key", tag = "v1",
    description = "Needs the ability `keys:manage`. Refused from the next request on.",
    params(("project_id" = Uuid, Path, description = "The project"), ("key_id" = Uuid, Path, description = "The key")),
    responses((status = 204, description = "Revoked"), Errors),
    security(("api_key" = ["keys:manage"])))]
#[allow(dead_code)]
fn revoke_key() {}
op!(
    deep_link,
    get,
    "/v1/projects/{project_id}/deep-link",
    "distribution:read",
    "A t.me deep link: access_code > plan_id > custom > project",
    ok = (200, DeepLinkData),
    params = (deep_link::DeepLinkQuery)
);
op!(
    list_subscribers,
    get,
    "/v1/projects/{project_id}/subscribers",
    "members:read",
    "Subscribers (JSON pages, or every row as CSV with Accept: text/csv)",
    ok = (200, SubscriberPage),
    params = (subscribers::SubscriberQuery)
);
op!(
    list_subscriptions,
    get,
    "/v1/projects/{project_id}/subscriptions",
    "members:read",
    "Subscriptions (grants)",
    ok = (200, SubscriptionPage),
    params = (subscriptions::SubscriptionQuery)
);
op!(
    list_payments,
    get,
    "/v1/projects/{project_id}/payments",
    "payments:read",
    "Payment events with amounts (JSON pages, or CSV with Accept: text/csv)",
    ok = (200, PaymentPage),
    params = (payments::PaymentQuery)
);
op!(
    list_audit,
    get,
    "/v1/projects/{project_id}/audit",
    "members:read",
    "The audit trail, newest first",
    ok = (200, AuditPage),
    params = (audit::AuditQuery)
);
op!(
    show_analytics,
    get,
    "/v1/projects/{project_id}/analytics",
    "analytics:read",
    "Subscribers, conversion, MRR, revenue, member counts",
    ok = (200, AnalyticsData),
    params = (analytics::AnalyticsQuery)
);

op!(
    list_events,
    get,
    "/v1/projects/{project_id}/events",
    "webhooks:manage",
    "The event stream after a sequence number, oldest first (see the README's event catalog)",
    ok = (200, ObjectPage),
    params = (events::EventsQuery)
);
op!(
    create_endpoint,
    post,
    "/v1/projects/{project_id}/webhook-endpoints",
    "webhooks:manage",
    "Register a webhook endpoint (its signing secret is shown once)",
    body = webhooks::CreateEndpoint,
    ok = (201, ObjectData)
);
op!(
    list_endpoints,
    get,
    "/v1/projects/{project_id}/webhook-endpoints",
    "webhooks:manage",
    "The webhook endpoints",
    ok = (200, ObjectPage),
    params = (PageQuery)
);
op!(
    show_endpoint,
    get,
    "/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}",
    "webhooks:manage",
    "A webhook endpoint",
    ok = (200, ObjectData),
    params = (("endpoint_id" = Uuid, Path, description = "The endpoint"))
);
op!(
    change_endpoint,
    patch,
    "/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}",
    "webhooks:manage",
    "Change an endpoint's URL, event types or enabled",
    body = webhooks::ChangeEndpoint,
    ok = (200, ObjectData),
    params = (("endpoint_id" = Uuid, Path, description = "The endpoint"))
);
op!(
    delete_endpoint,
    delete,
    "/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}",
    "webhooks:manage",
    "Delete an endpoint",
    ok = (200, ObjectData),
    params = (("endpoint_id" = Uuid, Path, description = "The endpoint"))
);
op!(
    rotate_endpoint_secret,
    post,
    "/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}/rotate-secret",
    "webhooks:manage",
    "A new signing secret (shown once); the previous one signs beside it for 24 h",
    ok = (200, ObjectData),
    params = (("endpoint_id" = Uuid, Path, description = "The endpoint"))
);
op!(
    list_deliveries,
    get,
    "/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}/deliveries",
    "webhooks:manage",
    "The endpoint's delivery log, newest first",
    ok = (200, ObjectPage),
    params = (("endpoint_id" = Uuid, Path, description = "The endpoint"), PageQuery)
);
op!(
    redeliver,
    post,
    "/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    "webhooks:manage",
    "Send a delivery again (same event id)",
    ok = (202, ObjectData),
    params = (
        ("endpoint_id" = Uuid, Path, description = "The endpoint"),
        ("delivery_id" = Uuid, Path, description = "The delivery")
    )
);
op!(show_project, get, "/v1/projects/{project_id}", "project:read", "The project", ok = (200, ProjectViewData));
op!(
    kick_member,
    post,
    "/v1/projects/{project_id}/members/{telegram_user_id}/kick",
    "members:write",
    "Remove from every chat, free to rejoin (remove-member jobs)",
    ok = (202, MemberActionData),
    params = (("telegram_user_id" = i64, Path, description = "The member"))
);
op!(
    ban_member,
    post,
    "/v1/projects/{project_id}/members/{telegram_user_id}/ban",
    "members:write",
    "Ban, as the owner's /ban (a ban-subscriber job)",
    ok = (202, MemberActionData),
    params = (("telegram_user_id" = i64, Path, description = "The member"))
);
op!(
    unban_member,
    post,
    "/v1/projects/{project_id}/members/{telegram_user_id}/unban",
    "members:write",
    "Lift a ban, as the owner's /unban (409 unless banned)",
    ok = (202, MemberActionData),
    params = (("telegram_user_id" = i64, Path, description = "The member"))
);
op!(
    cancel_member_subscription,
    post,
    "/v1/projects/{project_id}/members/{telegram_user_id}/cancel-subscription",
    "members:write",
    "Stop renewing paid subscriptions at their period's end (409 if none)",
    body = member_actions::CancelRequest,
    ok = (202, MemberActionData),
    params = (("telegram_user_id" = i64, Path, description = "The member"))
);
op!(
    list_failed_jobs,
    get,
    "/v1/projects/{project_id}/jobs/failed",
    "jobs:read",
    "The project's failed jobs, newest first",
    ok = (200, JobPage),
    params = (PageQuery)
);
op!(
    show_job,
    get,
    "/v1/projects/{project_id}/jobs/{job_id}",
    "jobs:read",
    "One job of the project",
    ok = (200, JobViewData),
    params = (("job_id" = String, Path, description = "The job"))
);
op!(
    retry_job,
    post,
    "/v1/projects/{project_id}/jobs/{job_id}/retry",
    "jobs:write",
    "Run a failed job again now (409 unless failed)",
    ok = (202, JobViewData),
    params = (("job_id" = String, Path, description = "The job"))
);

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("admin_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse integrator API", version = "1",
         description = "Paid Telegram memberships. Every success is {\"data\": …}; lists are {\"data\":[…],\"next_cursor\":…}; errors are {\"error\":{\"code\",\"message\",\"fields\"?,\"reason\"?}}. Authenticate with Authorization: Bearer <api key>. Writes accept Idempotency-Key (replayed for 24 h). Each key may make GATEHOUSE_API_RATE_LIMIT_PER_MINUTE requests a minute (default 300)."),
    paths(create_project, connect_bot, show_bot, set_bot_limits, add_chat, list_chats, create_plan, list_plans,
          create_grant, revoke_grant, add_admin, remove_admin, create_access_token, whitelist, unwhitelist,
          show_member, put_stripe, show_stripe, create_checkout, show_checkout, create_access_code,
          list_access_codes, refund_stars, create_key, list_keys, revoke_key, deep_link, list_subscribers,
          list_subscriptions, list_payments, list_audit, show_analytics, list_events, create_endpoint,
          list_endpoints, show_endpoint, change_endpoint, delete_endpoint, rotate_endpoint_secret, list_deliveries,
          redeliver, show_project, kick_member, ban_member, unban_member, cancel_member_subscription,
          list_failed_jobs, show_job, retry_job),
    components(schemas(ErrorBody, ErrorObject, ErrorCode)),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// `GET /v1/openapi.json`.
pub async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `/v1` route of the router (read from its source, however rustfmt wrapped
    /// it), as `METHOD path`.
    fn routes_in_the_router() -> Vec<String> {
        let source = include_str!("lib.rs").split_whitespace().collect::<Vec<_>>().join(" ");
        let mut out = Vec::new();
        for part in source.split(".route(").skip(1) {
            let part = part.split(".route(").next().unwrap_or(part);
            let Some(path) = part.split('"').nth(1).filter(|p| p.starts_with("/v1")) else { continue };
            let handlers = part.split_once(',').map_or("", |(_, h)| h);
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = |prefix: &str| handlers.contains(&format!("{prefix}{method}("));
                if called(" ") || called(".") || called("(") {
                    out.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        out
    }

    #[test]
    fn every_v1_route_is_in_the_document_and_nothing_else() {
        let doc = ApiDoc::openapi();
        let mut documented = Vec::new();
        for (path, item) in &doc.paths.paths {
            let item = serde_json::to_value(item).unwrap();
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    documented.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        let mut routed: Vec<String> =
            routes_in_the_router().into_iter().filter(|r| !r.ends_with("/v1/openapi.json")).collect();
        routed.sort();
        documented.sort();
        assert!(routed.len() > 30, "the router's table was read: {routed:?}");
        assert_eq!(
            routed, documented,
            "a /v1 route is missing from the OpenAPI document (or documented but not routed)"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_with_every_error_code() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let codes = doc["components"]["schemas"]["ErrorCode"].to_string();
        for code in crate::error::Code::EVERY {
            assert!(codes.contains(code.as_str()), "{code:?} missing: {codes}");
        }
    }
}
