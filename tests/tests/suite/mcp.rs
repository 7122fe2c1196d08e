//! The MCP server at `/mcp`, driven with rmcp's own client over streamable HTTP: tools
//! listed by ability, `get_deep_link` in every case, each write tool's effect in the
//! simulator, project isolation, the rate limit, the audit trail.

use gatehouse_sim::{Fault, MemberStatus, SimConfig, UpdateFaults};
use gatehouse_tests::{
    TEST_ADMIN_TOKEN,
    app::{TestApp, World},
};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams},
    service::RunningService,
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use serde_json::{Map, Value, json};

type Client = RunningService<RoleClient, ()>;

/// A real MCP client connected to the api's `/mcp` with `key`.
async fn connect(app: &TestApp, key: &str) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", app.api.url())).auth_header(key);
    ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("MCP client connects")
}

/// Calls `tool` with `args`; returns whether it is an error and its structured content.
async fn call(client: &Client, tool: &'static str, args: Value) -> (bool, Value) {
    let Value::Object(args) = args else { panic!("arguments must be an object") };
    let result: CallToolResult =
        client.call_tool(CallToolRequestParams::new(tool).with_arguments(args)).await.expect("tools/call answered");
    let structured = result.structured_content.clone().expect("structured content");
    // The same JSON as text, for clients that read only text.
    let text = result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).expect("text content");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), structured, "text and structured content agree");
    (result.is_error == Some(true), structured)
}

/// The data of a successful call.
async fn ok(client: &Client, tool: &'static str, args: Value) -> Value {
    let (is_error, body) = call(client, tool, args.clone()).await;
    assert!(!is_error, "{tool} {args} failed: {body}");
    body
}

/// The error of a failed call: `(code, whole error object)`.
async fn fails(client: &Client, tool: &'static str, args: Value) -> (String, Value) {
    let (is_error, body) = call(client, tool, args.clone()).await;
    assert!(is_error, "{tool} {args} succeeded: {body}");
    (body["error"]["code"].as_str().unwrap().to_string(), body["error"].clone())
}

/// A key of the world's project holding `abilities`.
async fn key_with(app: &TestApp, world: &World, abilities: &[&str]) -> String {
    let (status, body) = app
        .post(
            &format!("/v1/projects/{}/keys", world.project_id),
            &world.key,
            json!({"name": "agent", "abilities": abilities}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["data"]["api_key"].as_str().unwrap().to_string()
}

/// Another project (no bot): its id and key.
async fn other_project(app: &TestApp) -> (String, String) {
    let (status, body) = app
        .post("/v1/projects", TEST_ADMIN_TOKEN, json!({"handle": "other", "name": "Other", "owner_telegram_id": 77}))
        .await;
    assert_eq!(status, 201, "{body}");
    (body["data"]["project_id"].as_str().unwrap().to_string(), body["data"]["api_key"].as_str().unwrap().to_string())
}

fn args(project_id: &str, more: Value) -> Value {
    let mut all = Map::new();
    all.insert("project_id".into(), json!(project_id));
    if let Value::Object(more) = more {
        all.extend(more);
    }
    Value::Object(all)
}

async fn tool_names(client: &Client) -> Vec<String> {
    let mut names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn tools_listed_are_those_the_keys_abilities_allow() {
    let app = TestApp::start().await;
    let world = app.world().await;

    let everything = connect(&app, &world.key).await;
    let all = tool_names(&everything).await;
    assert_eq!(all.len(), 20, "{all:?}");
    for tool in ["get_deep_link", "grant_access", "kick_member", "retry_job", "get_job_status", "create_access_codes"] {
        assert!(all.iter().any(|t| t == tool), "{tool} missing from {all:?}");
    }

    let distribution = connect(&app, &key_with(&app, &world, &["distribution:read"]).await).await;
    assert_eq!(tool_names(&distribution).await, ["get_deep_link"]);

    let reader = connect(&app, &key_with(&app, &world, &["members:read", "jobs:read"]).await).await;
    assert_eq!(tool_names(&reader).await, ["get_job_status", "get_member", "list_failed_jobs", "list_subscribers"]);
    let analyst = connect(&app, &key_with(&app, &world, &["analytics:read", "payments:read"]).await).await;
    assert_eq!(tool_names(&analyst).await, ["get_chat_growth", "get_dashboard_metrics", "list_recent_payments"]);
    // A tool the key does not see is refused with the ability it needs.
    let (code, error) =
        fails(&reader, "kick_member", args(&world.project_id, json!({"telegram_user_id": world.owner.id}))).await;
    assert_eq!(code, "TOKEN_MISSING_ABILITY");
    assert!(error["message"].as_str().unwrap().contains("members:write"), "{error}");

    // get_deep_link's input schema is the documented one.
    let tools = distribution.list_all_tools().await.unwrap();
    let schema = Value::Object((*tools[0].input_schema).clone());
    assert_eq!(schema["required"], json!(["project_id"]));
    for property in ["project_id", "plan_id", "access_code", "custom"] {
        assert_eq!(schema["properties"][property]["type"], "string", "{schema}");
    }

    // The resources: every ability, every error code, the subscription states, the event types.
    let resources = reader.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "gatehouse://abilities",
            "gatehouse://error-codes",
            "gatehouse://event-types",
            "gatehouse://subscription-states"
        ]
    );
    let read = |uri: &'static str| {
        let reader = &reader;
        async move {
            let result = reader.read_resource(ReadResourceRequestParams::new(uri)).await.unwrap();
            let text = match &result.contents[0] {
                rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
                other => panic!("not text: {other:?}"),
            };
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    assert_eq!(read("gatehouse://abilities").await["abilities"].as_array().unwrap().len(), 16);
    let codes = read("gatehouse://error-codes").await;
    let codes: Vec<&str> =
        codes["error_codes"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        [
            "AUTHENTICATION_REQUIRED",
            "TOKEN_MISSING_ABILITY",
            "RESOURCE_NOT_FOUND",
            "VALIDATION_FAILED",
            "CONFLICT",
            "RATE_LIMITED",
            "UNAVAILABLE",
            "INTERNAL"
        ]
    );
    let states = read("gatehouse://subscription-states").await;
    assert_eq!(states["subscription_states"].as_array().unwrap().len(), 7);
    let events = read("gatehouse://event-types").await;
    let events: Vec<&str> = events["event_types"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(events.len(), gatehouse_jobs::store::events::EventType::ALL.len());
    assert!(events.contains(&"member.banned"), "{events:?}");

    // Without a key in force, /mcp answers 401 before any MCP.
    let http = reqwest::Client::new();
    for auth in [None, Some("Bearer gh_not_a_key")] {
        let mut request = http
            .post(format!("{}/mcp", app.api.url()))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "AUTHENTICATION_REQUIRED");
    }
}

#[tokio::test]
async fn get_deep_link_chooses_its_payload_by_precedence() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (status, code) = app
        .post(&format!("/v1/projects/{}/access-codes", world.project_id), &world.key, json!({"plan_id": world.plan_id}))
        .await;
    assert_eq!(status, 201, "{code}");
    let code_id = code["data"]["id"].as_str().unwrap().to_string();
    let client = connect(&app, &key_with(&app, &world, &["distribution:read"]).await).await;
    let p = &world.project_id;

    let link = |payload: &str| {
        json!({"data": {
            "project_id": p,
            "bot_url": "https://t.me/club_bot",
            "start_payload": payload,
            "deep_link": format!("https://t.me/club_bot?start={payload}"),
        }})
    };
    // access_code > plan_id > custom > none.
    let all = json!({"access_code": code_id, "plan_id": world.plan_id, "custom": "spring_ad"});
    assert_eq!(ok(&client, "get_deep_link", args(p, all)).await, link(&code_id));
    let plan_and_custom = json!({"plan_id": world.plan_id, "custom": "spring_ad"});
    assert_eq!(ok(&client, "get_deep_link", args(p, plan_and_custom)).await, link(&format!("plan_{}", world.plan_id)));
    assert_eq!(ok(&client, "get_deep_link", args(p, json!({"custom": "spring_ad"}))).await, link("spring_ad"));
    assert_eq!(ok(&client, "get_deep_link", args(p, json!({}))).await, link(&format!("project_{p}")));

    // The tool answers exactly what the /v1 route does.
    let (status, route) = app.get(&format!("/v1/projects/{p}/deep-link?plan_id={}", world.plan_id), &world.key).await;
    assert_eq!(status, 200);
    assert_eq!(ok(&client, "get_deep_link", args(p, json!({"plan_id": world.plan_id}))).await, route);
}

#[tokio::test]
async fn get_deep_link_fails_with_the_documented_codes() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (other_id, other_key) = other_project(&app).await;
    let client = connect(&app, &key_with(&app, &world, &["distribution:read"]).await).await;
    let p = &world.project_id;
    let random = uuid::Uuid::new_v4().to_string();

    for (arguments, expected) in [
        (json!({"project_id": "not-a-uuid"}), "RESOURCE_NOT_FOUND"),
        (json!({"project_id": other_id}), "RESOURCE_NOT_FOUND"),
        (json!({"project_id": random}), "RESOURCE_NOT_FOUND"),
        (args(p, json!({"plan_id": random})), "RESOURCE_NOT_FOUND"),
        (args(p, json!({"access_code": random})), "RESOURCE_NOT_FOUND"),
        (args(p, json!({"plan_id": "pln_01HX"})), "VALIDATION_FAILED"),
        (args(p, json!({"custom": "has space"})), "VALIDATION_FAILED"),
        (args(p, json!({"custom": "x".repeat(65)})), "VALIDATION_FAILED"),
    ] {
        let (code, error) = fails(&client, "get_deep_link", arguments.clone()).await;
        assert_eq!(code, expected, "{arguments}: {error}");
    }
    let (code, error) = fails(&client, "get_deep_link", json!({})).await;
    assert_eq!(code, "RESOURCE_NOT_FOUND", "no project_id: {error}");

    // The other project has no bot.
    let other = connect(&app, &other_key).await;
    let (code, error) = fails(&other, "get_deep_link", json!({"project_id": other_id})).await;
    assert_eq!(code, "VALIDATION_FAILED");
    assert_eq!(error["reason"], "no_bot_attached", "{error}");

    // A key without distribution:read.
    let plans_only = connect(&app, &key_with(&app, &world, &["plans:read"]).await).await;
    let (code, error) = fails(&plans_only, "get_deep_link", args(p, json!({}))).await;
    assert_eq!(code, "TOKEN_MISSING_ABILITY");
    assert!(error["message"].as_str().unwrap().contains("distribution:read"), "{error}");
}

/// A job id's state, waiting until it is finished.
async fn job_state(client: &Client, project_id: &str, job_id: &Value) -> String {
    let job = ok(client, "get_job_status", args(project_id, json!({"job_id": job_id}))).await;
    job["data"]["state"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn write_tools_are_carried_out_by_jobs_whose_effect_the_simulator_sees() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let client = connect(&app, &world.key).await;
    let p = world.project_id.as_str();

    // grant_access: the user gets a personal link and joins with it.
    let alice = app.started_user(&world, "Alice").await;
    let granted = ok(
        &client,
        "grant_access",
        args(p, json!({"telegram_user_id": alice.id, "plan_id": world.plan_id, "idempotency_key": "gift-alice"})),
    )
    .await;
    let job_id = granted["data"]["job_id"].clone();
    assert!(job_id.is_string(), "{granted}");
    // The same call again is answered the same, and grants nothing more.
    let again = ok(
        &client,
        "grant_access",
        args(p, json!({"telegram_user_id": alice.id, "plan_id": world.plan_id, "idempotency_key": "gift-alice"})),
    )
    .await;
    assert_eq!(again, granted);
    let (code, _) = fails(
        &client,
        "grant_access",
        args(p, json!({"telegram_user_id": alice.id + 1, "plan_id": world.plan_id, "idempotency_key": "gift-alice"})),
    )
    .await;
    assert_eq!(code, "CONFLICT");
    app.settle(&[world.bot.id]).await;
    assert_eq!(job_state(&client, p, &job_id).await, "done");
    let links = app.invite_links_to(&world, alice.id).await;
    assert_eq!(links.len(), 1, "{links:?}");
    app.tg.join_by_link(alice.id, &links[0]).await.unwrap();
    app.settle(&[world.bot.id]).await;
    let member = ok(&client, "get_member", args(p, json!({"telegram_user_id": alice.id}))).await;
    assert_eq!(member["data"]["entitlements"].as_array().unwrap().len(), 1, "one grant only: {member}");

    // kick_member: someone inside whom Gatehouse never saw join is removed, not banned.
    let bob = app.started_user(&world, "Bob").await;
    app.settle(&[world.bot.id]).await;
    app.tg.set_update_faults(world.bot.id, &UpdateFaults { drop_next: 1, duplicate_next: 0 }).await.unwrap();
    app.tg.add_member(world.channel.id, bob.id).await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert!(matches!(app.tg.member(world.channel.id, bob.id).await.unwrap().status, MemberStatus::Member { .. }));
    let kicked = ok(&client, "kick_member", args(p, json!({"telegram_user_id": bob.id}))).await;
    assert_eq!(kicked["data"]["action"], "kick");
    assert_eq!(kicked["data"]["job_ids"].as_array().unwrap().len(), 1, "{kicked}");
    app.settle(&[world.bot.id]).await;
    assert_eq!(job_state(&client, p, &kicked["data"]["job_ids"][0]).await, "done");
    assert!(
        matches!(app.tg.member(world.channel.id, bob.id).await.unwrap().status, MemberStatus::Left),
        "kicked, free to rejoin"
    );

    // ban_member: the first ban call fails permanently, the job is listed as failed,
    // retry_job runs it again and Alice ends banned.
    app.tg
        .add_fault(&Fault {
            method: Some("banChatMember".into()),
            times: Some(1),
            error_code: Some(400),
            description: Some("Bad Request: not enough rights".into()),
            ..Fault::default()
        })
        .await
        .unwrap();
    let banned = ok(&client, "ban_member", args(p, json!({"telegram_user_id": alice.id}))).await;
    let ban_job = banned["data"]["job_ids"][0].clone();
    app.settle(&[world.bot.id]).await;
    assert_eq!(job_state(&client, p, &ban_job).await, "failed");
    let failed = ok(&client, "list_failed_jobs", args(p, json!({}))).await;
    let listed: Vec<&Value> = failed["data"].as_array().unwrap().iter().map(|j| &j["job_id"]).collect();
    assert_eq!(listed, [&ban_job], "{failed}");
    assert_eq!(failed["data"][0]["kind"], "ban-subscriber");
    assert!(failed["data"][0]["last_error"].as_str().unwrap().contains("not enough rights"), "{failed}");
    assert!(matches!(app.tg.member(world.channel.id, alice.id).await.unwrap().status, MemberStatus::Member { .. }));
    let retried = ok(&client, "retry_job", args(p, json!({"job_id": ban_job}))).await;
    assert_eq!(retried["data"]["state"], "pending", "{retried}");
    app.settle(&[world.bot.id]).await;
    assert_eq!(job_state(&client, p, &ban_job).await, "done");
    assert!(matches!(app.tg.member(world.channel.id, alice.id).await.unwrap().status, MemberStatus::Kicked { .. }));
    let (code, _) = fails(&client, "retry_job", args(p, json!({"job_id": ban_job}))).await;
    assert_eq!(code, "CONFLICT", "a done job is not retried");
    let member = ok(&client, "get_member", args(p, json!({"telegram_user_id": alice.id}))).await;
    assert_eq!(member["data"]["status"], "banned");

    // unban_member: the ban Gatehouse made is lifted.
    let unbanned = ok(&client, "unban_member", args(p, json!({"telegram_user_id": alice.id}))).await;
    assert_eq!(unbanned["data"]["action"], "unban");
    app.settle(&[world.bot.id]).await;
    assert!(matches!(app.tg.member(world.channel.id, alice.id).await.unwrap().status, MemberStatus::Left));
    let (code, _) = fails(&client, "unban_member", args(p, json!({"telegram_user_id": alice.id}))).await;
    assert_eq!(code, "CONFLICT", "not banned any more");

    // cancel_subscription: a manual grant has nothing renewing to stop.
    let (code, _) = fails(&client, "cancel_subscription", args(p, json!({"telegram_user_id": bob.id}))).await;
    assert_eq!(code, "CONFLICT");

    // create_plan, then create_access_codes (many) for it; a subscriber redeems one.
    let plan = ok(
        &client,
        "create_plan",
        args(
            p,
            json!({"name": "Premium", "price": 2900, "currency": "USD", "duration_days": 30, "chat_ids": [world.channel.id]}),
        ),
    )
    .await;
    let plan_id = plan["data"]["plan_id"].as_str().unwrap().to_string();
    let plans = ok(&client, "list_plans", args(p, json!({}))).await;
    assert!(
        plans["data"].as_array().unwrap().iter().any(|p| p["plan_id"] == plan_id.as_str() && p["name"] == "Premium")
    );
    let codes =
        ok(&client, "create_access_codes", args(p, json!({"plan_id": plan_id, "count": 3, "max_uses": 1}))).await;
    let codes = codes["data"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 3);
    let carol = app.started_user(&world, "Carol").await;
    let code = codes[1]["code"].as_str().unwrap();
    assert_eq!(codes[1]["deep_link"], format!("https://t.me/club_bot?start={code}"));
    app.tg.send_text(carol.id, world.bot.id, &format!("/start {code}")).await.unwrap();
    app.settle(&[world.bot.id]).await;
    assert_eq!(app.invite_links_to(&world, carol.id).await.len(), 1, "the code gave Carol the plan's link");

    // The reads over the lists and analytics.
    let subscribers = ok(&client, "list_subscribers", args(p, json!({"status": "banned"}))).await;
    assert_eq!(subscribers["data"].as_array().unwrap().len(), 0, "{subscribers}");
    // Alice's ban ended her grant: only Carol is entitled.
    let entitled = ok(&client, "list_subscribers", args(p, json!({"status": "entitled"}))).await;
    let entitled: Vec<&Value> = entitled["data"].as_array().unwrap().iter().map(|s| &s["telegram_user_id"]).collect();
    assert_eq!(entitled, [&json!(carol.id)]);
    let first = ok(&client, "list_subscribers", args(p, json!({"limit": 1}))).await;
    assert!(first["next_cursor"].is_string(), "{first}");
    let next = ok(&client, "list_subscribers", args(p, json!({"limit": 1, "cursor": first["next_cursor"]}))).await;
    assert_ne!(next["data"][0]["telegram_user_id"], first["data"][0]["telegram_user_id"]);
    let listed = ok(&client, "list_access_codes", args(p, json!({}))).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
    assert_ne!(listed["data"][1]["code"], codes[1]["code"], "masked");
    assert_eq!(listed["data"][1]["uses"], 1, "{listed}");
    let metrics = ok(&client, "get_dashboard_metrics", args(p, json!({"period": "7d"}))).await;
    assert_eq!(metrics["data"]["subscribers"]["active"], 1, "{metrics}");
    let (code, _) = fails(&client, "get_dashboard_metrics", args(p, json!({"period": "week"}))).await;
    assert_eq!(code, "VALIDATION_FAILED");
    let growth = ok(&client, "get_chat_growth", args(p, json!({"chat_id": world.channel.id}))).await;
    assert!(growth["data"]["chats"].is_array(), "{growth}");
    let (code, _) = fails(&client, "get_chat_growth", args(p, json!({"chat_id": -42}))).await;
    assert_eq!(code, "RESOURCE_NOT_FOUND");
    let payments = ok(&client, "list_recent_payments", args(p, json!({"provider": "stars"}))).await;
    assert_eq!(payments["data"], json!([]));

    // Every call is in the audit trail with its tool, key and outcome.
    let calls = app.db.count("SELECT count(*) FROM audit_log WHERE action = 'mcp_tool_call'").await;
    assert!(calls >= 20, "{calls}");
    let refused = app
        .db
        .count("SELECT count(*) FROM audit_log WHERE action = 'mcp_tool_call' AND reason = 'unban_member' AND details->>'outcome' = 'CONFLICT'")
        .await;
    assert_eq!(refused, 1);
    let replayed = app
        .db
        .count("SELECT count(*) FROM audit_log WHERE action = 'mcp_tool_call' AND reason = 'grant_access' AND details->>'replayed' = 'true'")
        .await;
    assert_eq!(replayed, 1);
}

#[tokio::test]
async fn a_key_of_one_project_reaches_nothing_of_another_through_any_tool() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (other_id, other_key) = other_project(&app).await;
    // A job of the other project: its bot connection.
    let (status, connecting) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/projects/{other_id}/bot"),
            Some(&other_key),
            Some(json!({"token": "999999:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})),
        )
        .await;
    assert_eq!(status, 202, "{connecting}");
    app.settle(&[]).await;
    let other = connect(&app, &other_key).await;
    let other_job =
        app.db.jobs().await.into_iter().rev().find(|j| j.kind.as_deref() == Some("connect-bot")).map(|j| j.id).unwrap();
    // The other project sees its own job...
    let own = ok(&other, "get_job_status", json!({"project_id": other_id, "job_id": other_job})).await;
    assert_eq!(own["data"]["kind"], "connect-bot");

    // ...and the world's key, naming the other project, reaches nothing, whatever the tool.
    let client = connect(&app, &world.key).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 20);
    for tool in tools {
        let name: &'static str = Box::leak(tool.name.to_string().into_boxed_str());
        let arguments = json!({
            "project_id": other_id, "telegram_user_id": 77, "plan_id": uuid::Uuid::new_v4(), "job_id": other_job,
            "name": "x", "price": 1, "currency": "USD", "chat_ids": [1],
        });
        let (code, error) = fails(&client, name, arguments).await;
        assert_eq!(code, "RESOURCE_NOT_FOUND", "{name}: {error}");
    }
    // Even naming its own project, the other project's job does not exist for it.
    for tool in ["get_job_status", "retry_job"] {
        let (code, _) = fails(&client, tool, json!({"project_id": world.project_id, "job_id": other_job})).await;
        assert_eq!(code, "RESOURCE_NOT_FOUND", "{tool}");
    }
    let (status, _) = app.get(&format!("/v1/projects/{}/jobs/{other_job}", world.project_id), &world.key).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_key_over_its_mcp_limit_is_told_to_wait_and_its_v1_requests_go_on() {
    let app = TestApp::start_with(SimConfig::default(), &[("GATEHOUSE_MCP_CALLS_PER_MINUTE", "8")]).await;
    let world = app.world().await;
    let client = connect(&app, &world.key).await;
    let mut limited = None;
    for n in 0..16 {
        let (is_error, body) = call(&client, "get_project", json!({"project_id": world.project_id})).await;
        if is_error {
            limited = Some((n, body));
            break;
        }
        assert_eq!(body["data"]["handle"], "club");
    }
    let (n, body) = limited.expect("the limit answered RATE_LIMITED");
    assert!(n <= 8, "limited after {n} calls");
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    let wait = body["error"]["retry_after_secs"].as_u64().unwrap();
    assert!((1..=60).contains(&wait), "{body}");
    // Other MCP requests over the limit: HTTP 429.
    assert!(client.list_all_tools().await.is_err());
    // The /v1 limit is counted apart.
    let (status, _) = app.get(&format!("/v1/projects/{}", world.project_id), &world.key).await;
    assert_eq!(status, 200);
    let audited = app
        .db
        .count("SELECT count(*) FROM audit_log WHERE action = 'mcp_tool_call' AND details->>'outcome' = 'RATE_LIMITED'")
        .await;
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn cancel_subscription_stops_a_stars_renewal_keeping_access_to_the_end() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let monthly = app
        .plan(
            &world,
            json!({"name": "Stars Monthly", "price": 500, "currency": "USD", "stars_price": 250,
                   "duration_days": 30, "recurring": true}),
        )
        .await;
    let dana = app.started_user(&world, "Dana").await;
    app.checkout(&world, dana.id, &monthly, "stars").await;
    let link = app
        .texts_to(&world, dana.id)
        .await
        .iter()
        .rev()
        .find_map(|t| t.split_whitespace().find(|w| w.starts_with("https://t.me/$")).map(str::to_string))
        .expect("an invoice link");
    let request = gatehouse_sim::PayRequest { bot_id: world.bot.id, message_id: None, invoice_link: Some(link) };
    app.tg.pay(dana.id, request).await.unwrap();
    app.settle(&[world.bot.id]).await;
    let client = connect(&app, &world.key).await;
    let p = world.project_id.as_str();
    let member = ok(&client, "get_member", args(p, json!({"telegram_user_id": dana.id}))).await;
    let grant_id = member["data"]["entitlements"][0]["grant_id"].clone();
    assert_eq!(member["data"]["entitlements"][0]["state"], "active", "{member}");

    let (code, _) = fails(
        &client,
        "cancel_subscription",
        args(p, json!({"telegram_user_id": dana.id, "grant_id": uuid::Uuid::new_v4()})),
    )
    .await;
    assert_eq!(code, "RESOURCE_NOT_FOUND");
    let canceled = ok(
        &client,
        "cancel_subscription",
        args(p, json!({"telegram_user_id": dana.id, "grant_id": grant_id, "idempotency_key": "cancel-dana"})),
    )
    .await;
    assert_eq!(canceled["data"]["action"], "cancel_subscription");
    let job_id = canceled["data"]["job_ids"][0].clone();
    app.settle(&[world.bot.id]).await;
    assert_eq!(job_state(&client, p, &job_id).await, "done");

    let edits = app.tg.calls_of("editUserStarSubscription").await.unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].params["is_canceled"], json!(true));
    let member = ok(&client, "get_member", args(p, json!({"telegram_user_id": dana.id}))).await;
    assert_eq!(member["data"]["entitlements"][0]["state"], "canceled", "access until the period ends: {member}");
    assert_eq!(member["data"]["entitlements"][0]["entitled"], true);
    // Nothing renews any more.
    let (code, _) = fails(&client, "cancel_subscription", args(p, json!({"telegram_user_id": dana.id}))).await;
    assert_eq!(code, "CONFLICT");
}
