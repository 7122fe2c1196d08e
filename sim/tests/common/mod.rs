//! Shared test harness: a simulator per test, raw Bot API calls, and a webhook receiver.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use gatehouse_sim::{AdminRights, BotInfo, ChatInfo, ChatKind, Sim, SimClient, SimConfig, SimHandle, UserInfo};
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub struct World {
    pub sim: SimHandle,
    pub client: SimClient,
    pub http: reqwest::Client,
    pub bot: BotInfo,
    pub channel: ChatInfo,
    pub owner: UserInfo,
    pub alice: UserInfo,
    pub bob: UserInfo,
}

pub async fn start(config: SimConfig) -> (SimHandle, SimClient) {
    let sim = Sim::start(config).await.expect("simulator starts");
    let client = sim.client();
    (sim, client)
}

/// A simulator without rate limits, a bot that administers a private channel (invite and
/// restrict rights), its owner, and two users.
pub async fn world() -> World {
    world_with(SimConfig {
        rate_limits_enabled: false,
        pre_checkout_timeout: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
}

pub async fn world_with(config: SimConfig) -> World {
    let (sim, client) = start(config).await;
    let bot = client.create_bot_named("gate_bot").await.unwrap();
    let owner = client.create_user_named("Owner").await.unwrap();
    let alice = client
        .create_user(UserInfo {
            first_name: "Alice".into(),
            username: Some("alice".into()),
            language_code: Some("en".into()),
            ..UserInfo::default()
        })
        .await
        .unwrap();
    let bob = client.create_user_named("Bob").await.unwrap();
    let channel = client
        .create_chat(ChatInfo {
            id: 0,
            kind: ChatKind::Channel,
            title: "Paid channel".into(),
            username: None,
            join_by_request: false,
            description: None,
            creator_id: Some(owner.id),
        })
        .await
        .unwrap();
    client.add_admin(channel.id, bot.id, AdminRights::membership_bot()).await.unwrap();
    World { sim, client, http: reqwest::Client::new(), bot, channel, owner, alice, bob }
}

impl World {
    /// Calls a Bot API method of the world's bot with a JSON body.
    pub async fn api(&self, method: &str, params: Value) -> (u16, Value) {
        call(&self.http, self.sim.base_url(), &self.bot.token, method, params).await
    }

    /// Calls a method that must succeed; returns `result`.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let (status, body) = self.api(method, params).await;
        assert_eq!(status, 200, "{method} failed: {body}");
        assert_eq!(body["ok"], true);
        body["result"].clone()
    }

    /// Calls a method that must fail; returns (status, description).
    pub async fn err(&self, method: &str, params: Value) -> (u16, String) {
        let (status, body) = self.api(method, params).await;
        assert_eq!(body["ok"], false, "{method} unexpectedly succeeded: {body}");
        assert_eq!(body["error_code"].as_u64(), Some(u64::from(status)));
        (status, body["description"].as_str().unwrap_or_default().to_string())
    }

    pub async fn create_link(&self, extra: Value) -> String {
        let mut params = json!({ "chat_id": self.channel.id });
        for (k, v) in extra.as_object().unwrap() {
            params[k] = v.clone();
        }
        self.ok("createChatInviteLink", params).await["invite_link"].as_str().unwrap().to_string()
    }

    pub async fn status_of(&self, user_id: i64) -> String {
        self.ok("getChatMember", json!({ "chat_id": self.channel.id, "user_id": user_id })).await["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Registers a webhook receiver for the world's bot.
    pub async fn hook(&self, extra: Value) -> Hook {
        let hook = Hook::start().await;
        let mut params = json!({ "url": hook.url, "secret_token": "s3cret", "drop_pending_updates": true });
        for (k, v) in extra.as_object().unwrap() {
            params[k] = v.clone();
        }
        self.ok("setWebhook", params).await;
        hook
    }
}

pub async fn call(http: &reqwest::Client, base: &str, token: &str, method: &str, params: Value) -> (u16, Value) {
    let resp = http.post(format!("{base}/bot{token}/{method}")).json(&params).send().await.expect("simulator answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON answer"))
}

/// One request the webhook receiver saw.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
    pub answered: u16,
}

#[derive(Clone)]
struct HookState {
    tx: mpsc::UnboundedSender<Received>,
    fail_next: Arc<AtomicU32>,
}

/// A tiny webhook receiver on a random port.
pub struct Hook {
    pub url: String,
    rx: mpsc::UnboundedReceiver<Received>,
    fail_next: Arc<AtomicU32>,
}

impl Hook {
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let fail_next = Arc::new(AtomicU32::new(0));
        let state = HookState { tx, fail_next: fail_next.clone() };
        let app = axum::Router::new().route("/hook", post(receive)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, rx, fail_next }
    }

    /// The next N requests are answered 500.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// The next request (accepted or refused).
    pub async fn next_request(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .expect("an update arrives within 5 s")
            .expect("receiver alive")
    }

    /// The next accepted update.
    pub async fn next(&mut self) -> Value {
        loop {
            let r = self.next_request().await;
            if r.answered == 200 {
                return r.body;
            }
        }
    }

    /// The next accepted update of a kind, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let u = self.next().await;
            if u.get(kind).is_some() {
                return u;
            }
        }
    }

    /// Asserts nothing else arrives within a short grace period.
    pub async fn assert_quiet(&mut self, client: &SimClient, bot_id: i64) {
        client.wait_idle(bot_id, Duration::from_secs(5)).await.expect("queue drains");
        if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(50), self.rx.recv()).await {
            panic!("unexpected update: {}", r.body);
        }
    }
}

async fn receive(State(s): State<HookState>, headers: HeaderMap, body: axum::Json<Value>) -> StatusCode {
    let fail = s.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let status = if fail { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    let _ = s.tx.send(Received { headers, body: body.0, answered: status.as_u16() });
    status
}
