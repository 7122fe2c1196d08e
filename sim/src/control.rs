//! The control API under `/sim`: build the world, play users, query state, inject faults.
//! Every route is documented in `sim/README.md`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ControlError;
use crate::model::*;
use crate::server::Shared;

type S = State<Arc<Shared>>;
type R<T> = Result<Json<T>, ControlError>;

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(json!({ "error": self.code, "message": self.message }))).into_response()
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/bots", post(create_bot).get(list_bots))
        .route("/bots/{id}/webhook", get(webhook_state))
        .route("/bots/{id}/wait_idle", get(wait_idle))
        .route("/bots/{id}/rate_limits", get(get_limits).put(put_limits))
        .route("/bots/{id}/update_faults", post(update_faults))
        .route("/bots/{id}/update_rates", post(update_rates))
        .route("/bots/{id}/updates", get(updates))
        .route("/users", post(create_user))
        .route("/users/{id}/send", post(user_send))
        .route("/users/{id}/forward", post(user_forward))
        .route("/users/{id}/press", post(user_press))
        .route("/users/{id}/join", post(user_join))
        .route("/users/{id}/join_request", post(user_join_request))
        .route("/users/{id}/leave", post(user_leave))
        .route("/users/{id}/block", post(user_block))
        .route("/users/{id}/unblock", post(user_unblock))
        .route("/users/{id}/pay", post(user_pay))
        .route("/chats", post(create_chat))
        .route("/chats/{id}", get(chat_state))
        .route("/chats/{id}/members", post(set_member))
        .route("/chats/{id}/members/{user_id}", get(member))
        .route("/links", get(link))
        .route("/callback_queries/{id}", get(callback_query))
        .route("/payments", get(payments))
        .route("/payments/{charge}/renew", post(renew))
        .route("/messages", get(messages))
        .route("/calls", get(calls))
        .route("/counters", get(counters))
        .route("/reset", post(reset))
        .route("/settings", get(get_settings).put(put_settings))
        .route("/faults", get(list_faults).post(add_fault).delete(clear_faults))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .nest("/stripe", crate::stripe::control_routes())
}

fn now(s: &Shared) -> i64 {
    s.clock.now()
}

async fn create_bot(State(s): S, body: Option<Json<NewBot>>) -> R<BotInfo> {
    let info = s.world.lock().expect("world lock").create_bot(body.map(|b| b.0).unwrap_or_default())?;
    s.start_workers();
    Ok(Json(info))
}

async fn list_bots(State(s): S) -> Json<Vec<BotInfo>> {
    let w = s.world.lock().expect("world lock");
    Json(w.bots.values().map(|b| b.info.clone()).collect())
}

fn with_bot<T>(s: &Shared, id: i64, f: impl FnOnce(&mut crate::world::Bot) -> T) -> Result<T, ControlError> {
    let mut w = s.world.lock().expect("world lock");
    let bot = w.bots.get_mut(&id).ok_or_else(|| ControlError::not_found(format!("bot {id}")))?;
    Ok(f(bot))
}

async fn webhook_state(State(s): S, Path(id): Path<i64>) -> R<WebhookState> {
    Ok(Json(with_bot(&s, id, |b| b.webhook_state())?))
}

#[derive(Deserialize)]
struct WaitQuery {
    timeout_ms: Option<u64>,
}

async fn wait_idle(State(s): S, Path(id): Path<i64>, Query(q): Query<WaitQuery>) -> Result<Json<Value>, ControlError> {
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(5_000));
    let idle = crate::delivery::wait_idle(&s, id, timeout)
        .await
        .ok_or_else(|| ControlError::not_found(format!("bot {id}")))?;
    let state = with_bot(&s, id, |b| b.webhook_state())?;
    if !idle {
        return Err(ControlError::new(
            408,
            "TIMEOUT",
            format!("{} updates still pending; last error: {:?}", state.pending, state.last_error_message),
        ));
    }
    Ok(Json(json!({ "idle": true, "webhook": state })))
}

async fn get_limits(State(s): S, Path(id): Path<i64>) -> R<RateLimits> {
    Ok(Json(with_bot(&s, id, |b| b.limits.clone())?))
}

async fn put_limits(State(s): S, Path(id): Path<i64>, Json(limits): Json<RateLimits>) -> R<RateLimits> {
    Ok(Json(with_bot(&s, id, |b| {
        b.limits = limits.clone();
        limits
    })?))
}

async fn update_faults(State(s): S, Path(id): Path<i64>, Json(f): Json<UpdateFaults>) -> R<UpdateFaults> {
    Ok(Json(with_bot(&s, id, |b| {
        b.update_faults = f.clone();
        f
    })?))
}

async fn update_rates(State(s): S, Path(id): Path<i64>, Json(r): Json<UpdateRates>) -> R<UpdateRates> {
    if r.kinds.values().any(|k| !(0.0..=1.0).contains(&k.lose) || !(0.0..=1.0).contains(&k.repeat)) {
        return Err(ControlError::invalid("lose and repeat are shares from 0 to 1"));
    }
    Ok(Json(with_bot(&s, id, |b| {
        b.update_rates = r.clone();
        b.update_draws = rand::SeedableRng::seed_from_u64(r.seed);
        r
    })?))
}

async fn updates(State(s): S, Path(id): Path<i64>) -> Json<Vec<UpdateRecord>> {
    let w = s.world.lock().expect("world lock");
    Json(w.updates.iter().filter(|u| u.bot_id == id).cloned().collect())
}

async fn create_user(State(s): S, Json(u): Json<UserInfo>) -> R<UserInfo> {
    Ok(Json(s.world.lock().expect("world lock").create_user(u)?))
}

async fn create_chat(State(s): S, Json(c): Json<ChatInfo>) -> R<ChatInfo> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").create_chat(c, now)?))
}

async fn chat_state(State(s): S, Path(id): Path<i64>) -> R<ChatState> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").chat_state(id, now)?))
}

async fn set_member(State(s): S, Path(id): Path<i64>, Json(m): Json<SetMember>) -> R<MemberView> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").set_member(id, m, now)?))
}

async fn member(State(s): S, Path((id, user_id)): Path<(i64, i64)>) -> R<MemberView> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").member_view(id, user_id, now)?))
}

#[derive(Deserialize)]
struct LinkQuery {
    url: String,
}

async fn link(State(s): S, Query(q): Query<LinkQuery>) -> R<LinkView> {
    let now = now(&s);
    s.world
        .lock()
        .expect("world lock")
        .find_link(&q.url, now)
        .map(Json)
        .ok_or_else(|| ControlError::not_found("invite link"))
}

#[derive(Deserialize)]
struct SendBody {
    bot_id: i64,
    #[serde(flatten)]
    message: UserMessage,
}

async fn user_send(State(s): S, Path(id): Path<i64>, Json(b): Json<SendBody>) -> R<MessageRecord> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").user_sends_message(id, b.bot_id, &b.message, now)?))
}

#[derive(Deserialize)]
struct ForwardBody {
    bot_id: i64,
    from_chat_id: i64,
    text: String,
}

async fn user_forward(State(s): S, Path(id): Path<i64>, Json(b): Json<ForwardBody>) -> R<MessageRecord> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").user_forwards(id, b.bot_id, b.from_chat_id, &b.text, now)?))
}

#[derive(Deserialize)]
struct PressBody {
    bot_id: i64,
    message_id: i64,
    callback_data: String,
}

async fn user_press(State(s): S, Path(id): Path<i64>, Json(b): Json<PressBody>) -> Result<Json<Value>, ControlError> {
    let qid = s.world.lock().expect("world lock").user_presses(id, b.bot_id, b.message_id, &b.callback_data)?;
    Ok(Json(json!({ "callback_query_id": qid })))
}

async fn callback_query(State(s): S, Path(id): Path<String>) -> Result<Json<Value>, ControlError> {
    let answer = s
        .world
        .lock()
        .expect("world lock")
        .callback_answer(&id)
        .ok_or_else(|| ControlError::not_found(format!("callback query {id}")))?;
    Ok(Json(json!({ "answered": answer.is_some(), "answer": answer })))
}

#[derive(Deserialize)]
struct JoinBody {
    invite_link: Option<String>,
    chat_id: Option<i64>,
}

async fn user_join(State(s): S, Path(id): Path<i64>, Json(b): Json<JoinBody>) -> R<JoinOutcome> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").user_joins(id, b.invite_link.as_deref(), b.chat_id, now)?))
}

async fn user_join_request(State(s): S, Path(id): Path<i64>, Json(b): Json<JoinBody>) -> R<JoinOutcome> {
    let now = now(&s);
    let mut w = s.world.lock().expect("world lock");
    let chat_id = match (&b.invite_link, b.chat_id) {
        (Some(url), _) => {
            w.find_link(url, now).ok_or_else(|| ControlError::conflict("LINK_INVALID", "no such invite link"))?.chat_id
        }
        (None, Some(c)) => c,
        (None, None) => return Err(ControlError::invalid("give invite_link or chat_id")),
    };
    Ok(Json(w.request_join(id, chat_id, b.invite_link.clone(), now)?))
}

#[derive(Deserialize)]
struct ChatBody {
    chat_id: i64,
}

async fn user_leave(State(s): S, Path(id): Path<i64>, Json(b): Json<ChatBody>) -> R<MemberView> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").user_leaves(id, b.chat_id, now)?))
}

#[derive(Deserialize)]
struct BotBody {
    bot_id: i64,
}

async fn user_block(State(s): S, Path(id): Path<i64>, Json(b): Json<BotBody>) -> Result<Json<Value>, ControlError> {
    let now = now(&s);
    s.world.lock().expect("world lock").user_blocks(id, b.bot_id, true, now)?;
    Ok(Json(json!({ "blocked": true })))
}

async fn user_unblock(State(s): S, Path(id): Path<i64>, Json(b): Json<BotBody>) -> Result<Json<Value>, ControlError> {
    let now = now(&s);
    s.world.lock().expect("world lock").user_blocks(id, b.bot_id, false, now)?;
    Ok(Json(json!({ "blocked": false })))
}

async fn user_pay(State(s): S, Path(id): Path<i64>, Json(b): Json<PayRequest>) -> R<PaymentRecord> {
    let (attempt, timeout) = {
        let mut w = s.world.lock().expect("world lock");
        let attempt = w.begin_payment(id, &b, now(&s))?;
        (attempt, Duration::from_millis(w.settings.pre_checkout_timeout_ms))
    };
    let mut attempt = attempt;
    let answer = tokio::time::timeout(timeout, &mut attempt.answer).await;
    let mut w = s.world.lock().expect("world lock");
    match answer {
        Ok(Ok(Ok(()))) => Ok(Json(w.complete_payment(&attempt, now(&s)))),
        Ok(Ok(Err(message))) => {
            w.abandon_payment(&attempt.query_id);
            Err(ControlError::conflict("PRE_CHECKOUT_DECLINED", message))
        }
        _ => {
            w.abandon_payment(&attempt.query_id);
            Err(ControlError::conflict("PRE_CHECKOUT_TIMEOUT", "the bot did not answer the pre-checkout query in time"))
        }
    }
}

async fn payments(State(s): S) -> Json<Vec<PaymentRecord>> {
    Json(s.world.lock().expect("world lock").payments.values().cloned().collect())
}

async fn renew(State(s): S, Path(charge): Path<String>) -> R<PaymentRecord> {
    let now = now(&s);
    Ok(Json(s.world.lock().expect("world lock").renew_subscription(&charge, now)?))
}

#[derive(Deserialize)]
struct MessagesQuery {
    bot: Option<i64>,
    user: Option<i64>,
}

async fn messages(State(s): S, Query(q): Query<MessagesQuery>) -> Json<Vec<MessageRecord>> {
    Json(s.world.lock().expect("world lock").messages(q.bot, q.user))
}

async fn calls(State(s): S, Query(f): Query<CallFilter>) -> Json<Vec<CallRecord>> {
    let w = s.world.lock().expect("world lock");
    Json(
        w.calls
            .iter()
            .filter(|c| {
                f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(&c.method))
                    && f.bot.is_none_or(|b| c.bot_id == Some(b))
                    && f.since.is_none_or(|t| c.time_ms >= t)
                    && f.after_seq.is_none_or(|n| c.seq > n)
                    && f.chat.as_deref().is_none_or(|want| match c.params.get("chat_id") {
                        Some(Value::String(s)) => s == want,
                        Some(v) => v.as_i64().is_some_and(|n| n.to_string() == want),
                        None => false,
                    })
            })
            .cloned()
            .collect(),
    )
}

async fn counters(State(s): S) -> Json<Counters> {
    Json(s.world.lock().expect("world lock").counters.clone())
}

async fn reset(State(s): S) -> Result<Json<Value>, ControlError> {
    s.reset().map_err(|e| ControlError::new(500, "RESET_FAILED", e.to_string()))?;
    Ok(Json(json!({ "reset": true })))
}

async fn get_settings(State(s): S) -> Json<Settings> {
    Json(s.world.lock().expect("world lock").settings.clone())
}

async fn put_settings(State(s): S, Json(settings): Json<Settings>) -> Json<Settings> {
    s.world.lock().expect("world lock").settings = settings.clone();
    Json(settings)
}

async fn list_faults(State(s): S) -> Json<Vec<Fault>> {
    Json(s.world.lock().expect("world lock").faults.clone())
}

async fn add_fault(State(s): S, Json(f): Json<Fault>) -> Result<Json<Vec<Fault>>, ControlError> {
    if f.error_code.is_none() && f.latency_ms.is_none() && !f.drop_connection {
        return Err(ControlError::invalid("a fault needs error_code, latency_ms or drop_connection"));
    }
    if f.times == Some(0) {
        return Err(ControlError::invalid("times must be at least 1"));
    }
    let mut w = s.world.lock().expect("world lock");
    w.faults.push(f);
    Ok(Json(w.faults.clone()))
}

async fn clear_faults(State(s): S) -> Json<Value> {
    let mut w = s.world.lock().expect("world lock");
    w.faults.clear();
    for b in w.bots.values_mut() {
        b.update_faults = UpdateFaults::default();
        b.update_rates = UpdateRates::default();
    }
    w.settings.stale_chat_member_secs = 0;
    Json(json!({ "cleared": true }))
}

async fn clock(State(s): S) -> Json<Value> {
    Json(json!({ "now": s.clock.now(), "now_ms": s.clock.now_ms(), "offset_ms": s.clock.offset_ms() }))
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance_clock(State(s): S, Json(a): Json<Advance>) -> Json<Value> {
    s.clock.advance_ms(a.seconds * 1_000);
    clock(State(s)).await
}
