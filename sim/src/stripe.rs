//! Stripe: webhook signing and delivery exactly as Stripe does it, plus a minimal Stripe API.
//!
//! * [`sign`] / [`send_event`]: `Stripe-Signature: t=<unix>,v1=<hex>` where `v1` is
//!   HMAC-SHA256 with the endpoint secret over `"<t>.<raw body>"`.
//! * API (`/stripe/v1/…`, `Authorization: Bearer <secret key>`): create and read checkout
//!   sessions (form-encoded, `metadata[…]` carried through), read, update and cancel
//!   subscriptions.
//! * Control (`/sim/stripe/…`): register accounts and their webhook endpoint, complete a
//!   checkout session (emits `checkout.session.completed` then `invoice.paid`), emit renewal,
//!   failure, update, deletion and refund events, optionally twice or in reverse order.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::error::ControlError;
use crate::server::Shared;

/// Stripe API version stamped on events.
pub const API_VERSION: &str = "2024-06-20";

const MONTH: i64 = 30 * 86_400;

/// The `Stripe-Signature` header value for a payload: `t=<timestamp>,v1=<hex hmac>`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs an event body to a webhook endpoint as Stripe does (JSON, `Stripe-Signature` with the
/// current time). Returns the endpoint's HTTP status.
pub async fn send_event(client: &reqwest::Client, url: &str, secret: &str, body: &str) -> Result<u16, reqwest::Error> {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    send_event_at(client, url, secret, body, t).await
}

/// Like [`send_event`] with a chosen signature timestamp (to test replay windows).
pub async fn send_event_at(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &str,
    timestamp: i64,
) -> Result<u16, reqwest::Error> {
    let resp = client
        .post(url)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::USER_AGENT, "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .header("Stripe-Signature", sign(secret, timestamp, body))
        .body(body.to_string())
        .send()
        .await?;
    Ok(resp.status().as_u16())
}

// ---------------------------------------------------------------------- state

/// A Stripe account of the simulator, identified by its secret API key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StripeAccount {
    /// `acct_…`; generated when absent.
    #[serde(default)]
    pub id: String,
    /// Secret key callers send as `Authorization: Bearer …`.
    pub api_key: String,
    /// Webhook endpoint URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Webhook endpoint signing secret (`whsec_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StripeDelivery {
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Endpoint URL.
    pub url: String,
    /// HTTP status answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Transport error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Outcome of an emission: the events (in `created` order) and the deliveries made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Emitted {
    /// The events, oldest first.
    pub events: Vec<Value>,
    /// Deliveries in the order they were made.
    pub deliveries: Vec<StripeDelivery>,
}

/// One event to emit through `POST /sim/stripe/events`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventSpec {
    /// `invoice.paid`, `invoice.payment_failed`, `customer.subscription.updated`,
    /// `customer.subscription.deleted`, `charge.refunded`, or any type with `object`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Subscription the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// Checkout session (for `charge.refunded` of a one-off payment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_session: Option<String>,
    /// For `customer.subscription.updated`; default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_at_period_end: Option<bool>,
    /// A literal `data.object` for event types the simulator does not model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
}

/// Body of `POST /sim/stripe/events`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmitRequest {
    /// Account (secret key) whose endpoint receives the events.
    pub api_key: String,
    /// Events, given `created` timestamps in this order.
    pub events: Vec<EventSpec>,
    /// Deliver every event twice.
    #[serde(default)]
    pub twice: bool,
    /// Deliver in reverse order (newest first).
    #[serde(default)]
    pub reverse: bool,
}

/// Body of `POST /sim/stripe/checkout_sessions/{id}/complete`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CompleteRequest {
    /// Deliver every event twice.
    #[serde(default)]
    pub twice: bool,
    /// Deliver `invoice.paid` before `checkout.session.completed`.
    #[serde(default)]
    pub reverse: bool,
    /// Customer e-mail to record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
}

#[derive(Default)]
pub(crate) struct StripeWorld {
    accounts: BTreeMap<String, StripeAccount>,
    sessions: BTreeMap<String, (String, Value)>,
    subscriptions: BTreeMap<String, (String, Value)>,
    events: Vec<Value>,
    deliveries: Vec<StripeDelivery>,
    last_created: i64,
}

fn rid(prefix: &str) -> String {
    use rand::Rng;
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..24).map(|_| A[rng.random_range(0..A.len())] as char).collect();
    format!("{prefix}_{tail}")
}

impl StripeWorld {
    pub(crate) fn add_account(&mut self, mut a: StripeAccount) -> StripeAccount {
        if a.id.is_empty() {
            a.id = rid("acct");
        }
        self.accounts.insert(a.api_key.clone(), a.clone());
        a
    }

    fn created(&mut self, now: i64) -> i64 {
        self.last_created = now.max(self.last_created + 1);
        self.last_created
    }

    fn event(&mut self, kind: &str, object: Value, previous: Option<Value>, now: i64) -> Value {
        let mut data = json!({ "object": object });
        if let Some(p) = previous {
            data["previous_attributes"] = p;
        }
        let ev = json!({
            "id": rid("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.created(now),
            "data": data,
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": kind,
        });
        self.events.push(ev.clone());
        ev
    }

    fn invoice(&self, sub: &Value, billing_reason: &str, paid: bool, now: i64) -> Value {
        let amount = sub["items"]["data"][0]["price"]["unit_amount"].as_i64().unwrap_or(0);
        let currency = sub["currency"].clone();
        let start = sub["current_period_start"].as_i64().unwrap_or(now);
        let end = sub["current_period_end"].as_i64().unwrap_or(now + MONTH);
        let meta = sub["metadata"].clone();
        let sub_id = sub["id"].clone();
        json!({
            "id": rid("in"),
            "object": "invoice",
            "customer": sub["customer"],
            "customer_email": sub["customer_email"],
            "subscription": sub_id,
            "status": if paid { "paid" } else { "open" },
            "paid": paid,
            "attempt_count": 1,
            "amount_due": amount,
            "amount_paid": if paid { amount } else { 0 },
            "amount_remaining": if paid { 0 } else { amount },
            "currency": currency,
            "billing_reason": billing_reason,
            "created": now,
            "period_start": start,
            "period_end": end,
            "next_payment_attempt": if paid { Value::Null } else { json!(now + 3 * 86_400) },
            "charge": rid("ch"),
            "payment_intent": rid("pi"),
            "lines": {
                "object": "list",
                "has_more": false,
                "data": [{
                    "id": rid("il"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": currency,
                    "metadata": meta,
                    "period": { "start": start, "end": end },
                    "subscription": sub_id,
                    "type": "subscription",
                }],
            },
            "subscription_details": { "metadata": meta },
            "parent": {
                "type": "subscription_details",
                "subscription_details": { "subscription": sub_id, "metadata": meta },
            },
            "livemode": false,
        })
    }

    fn endpoint(&self, api_key: &str) -> Option<(String, String)> {
        let a = self.accounts.get(api_key)?;
        Some((a.webhook_url.clone()?, a.webhook_secret.clone()?))
    }
}

/// Delivers events in order (optionally twice each), recording each attempt.
async fn deliver(shared: &Arc<Shared>, api_key: &str, events: &[Value], twice: bool) -> Vec<StripeDelivery> {
    let endpoint = shared.stripe.lock().expect("stripe lock").endpoint(api_key);
    let Some((url, secret)) = endpoint else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ev in events {
        let body = ev.to_string();
        for _ in 0..if twice { 2 } else { 1 } {
            let result = send_event(&shared.http, &url, &secret, &body).await;
            out.push(StripeDelivery {
                event_id: ev["id"].as_str().unwrap_or_default().to_string(),
                event_type: ev["type"].as_str().unwrap_or_default().to_string(),
                url: url.clone(),
                status: result.as_ref().ok().copied(),
                error: result.err().map(|e| e.to_string()),
            });
        }
    }
    shared.stripe.lock().expect("stripe lock").deliveries.extend(out.clone());
    out
}

// ---------------------------------------------------------------------- API (/stripe/v1)

fn stripe_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "type": kind, "message": message } }))).into_response()
}

fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<String, Box<Response>> {
    use base64::Engine;
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    // Bearer (Stripe's libraries) or Basic with the key as user name (`curl -u sk_…:`).
    let key = if let Some(k) = auth.strip_prefix("Bearer ") {
        k.trim().to_string()
    } else if let Some(b) = auth.strip_prefix("Basic ") {
        base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .map(|s| s.split(':').next().unwrap_or_default().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    if shared.stripe.lock().expect("stripe lock").accounts.contains_key(&key) {
        Ok(key)
    } else {
        let shown = if key.len() > 8 { &key[key.len() - 4..] } else { "" };
        Err(Box::new(stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            &format!("Invalid API Key provided: sk_***{shown}"),
        )))
    }
}

/// Parses a form body with Stripe's bracket syntax (`metadata[a]=1&line_items[0][price]=p`).
pub(crate) fn parse_form(body: &[u8]) -> Value {
    fn insert(node: &mut Value, path: &[String], value: String) {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let obj = node.as_object_mut().expect("object");
        if path.len() == 1 {
            obj.insert(path[0].clone(), Value::String(value));
        } else {
            insert(obj.entry(path[0].clone()).or_insert(Value::Null), &path[1..], value);
        }
    }
    fn arrays(v: Value) -> Value {
        match v {
            Value::Object(o) => {
                if !o.is_empty() && o.keys().all(|k| k.parse::<usize>().is_ok()) {
                    let mut items: Vec<(usize, Value)> =
                        o.into_iter().map(|(k, v)| (k.parse().unwrap_or(0), arrays(v))).collect();
                    items.sort_by_key(|(k, _)| *k);
                    Value::Array(items.into_iter().map(|(_, v)| v).collect())
                } else {
                    Value::Object(o.into_iter().map(|(k, v)| (k, arrays(v))).collect())
                }
            }
            other => other,
        }
    }
    let mut root = Value::Object(Map::new());
    for (k, v) in form_urlencoded::parse(body) {
        let mut path = Vec::new();
        let (head, rest) = k.split_once('[').map_or((k.as_ref(), ""), |(h, r)| (h, r));
        path.push(head.to_string());
        for part in rest.split('[') {
            let part = part.trim_end_matches(']');
            if !part.is_empty() {
                path.push(part.to_string());
            }
        }
        insert(&mut root, &path, v.into_owned());
    }
    arrays(root)
}

pub(crate) fn api_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/subscriptions/{id}", get(get_subscription).post(update_subscription).delete(cancel_subscription))
        .route("/pay/{id}", get(checkout_page).post(checkout_paid))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `GET /stripe/pay/{id}`: the hosted checkout page a session's `url` points at, as a
/// browser sees it: the amount, a card field and a Pay button (test mode: any card).
async fn checkout_page(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let stored = s.stripe.lock().expect("stripe lock").sessions.get(&id).map(|(_, v)| v.clone());
    let Some(session) = stored else {
        return (StatusCode::NOT_FOUND, "No such checkout session").into_response();
    };
    let amount = session["amount_total"].as_i64().unwrap_or(0);
    let currency = session["currency"].as_str().unwrap_or("usd").to_uppercase();
    let name = session["_product_name"].as_str().unwrap_or("Subscription").to_string();
    let open = session["status"] == "open";
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Checkout (simulator)</title>
<style>body{{font-family:system-ui,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}}main{{max-width:420px;margin:3rem auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 2px 8px #0002}}
.amount{{font-size:2rem;font-weight:600}}label{{display:block;margin:1rem 0 .3rem}}input{{width:100%;padding:.6rem;font-size:1rem;box-sizing:border-box;border:1px solid #ccd;border-radius:4px}}
button{{margin-top:1.5rem;width:100%;padding:.8rem;font-size:1.1rem;background:#635bff;color:#fff;border:0;border-radius:6px}}.note{{color:#697386;font-size:.85rem}}</style></head>
<body><main><p class="note">Stripe simulator · test mode</p><h1>{name}</h1><p class="amount">{amount_major}.{amount_minor:02} {currency}</p>
{form}</main></body></html>"#,
        name = html_escape(&name),
        amount_major = amount / 100,
        amount_minor = (amount % 100).abs(),
        currency = html_escape(&currency),
        form = if open {
            format!(
                r#"<form method="post" action="/stripe/pay/{id}"><label for="card">Card number</label><input id="card" name="card" value="4242 4242 4242 4242" autocomplete="off"><button id="pay" type="submit">Pay</button></form>"#,
                id = html_escape(&id)
            )
        } else {
            "<p>This checkout session is no longer open.</p>".into()
        },
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// `POST /stripe/pay/{id}`: the payer pressed Pay: the session completes (the same
/// events as the control API's `complete`) and the browser goes to `success_url`.
async fn checkout_paid(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let success_url = s
        .stripe
        .lock()
        .expect("stripe lock")
        .sessions
        .get(&id)
        .and_then(|(_, v)| v["success_url"].as_str().map(str::to_string));
    match complete(&s, &id, CompleteRequest::default()).await {
        Ok(_) => match success_url {
            Some(url) => (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response(),
            None => (StatusCode::OK, "Paid").into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn create_session(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let key = match authorize(&s, &headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let form = parse_form(&body);
    let mode = form["mode"].as_str().unwrap_or("payment").to_string();
    if !["payment", "subscription", "setup"].contains(&mode.as_str()) {
        return stripe_error(StatusCode::BAD_REQUEST, "invalid_request_error", "Invalid mode");
    }
    if mode != "setup" && !form["line_items"].is_array() {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "You must specify either `line_items` or `mode: setup`.",
        );
    }
    let mut amount = 0i64;
    let mut currency = "usd".to_string();
    let mut price = json!(null);
    for item in form["line_items"].as_array().into_iter().flatten() {
        let qty = item["quantity"].as_str().and_then(|q| q.parse().ok()).unwrap_or(1i64);
        let unit = item["price_data"]["unit_amount"].as_str().and_then(|u| u.parse().ok()).unwrap_or(0i64);
        if let Some(c) = item["price_data"]["currency"].as_str() {
            currency = c.to_lowercase();
        }
        amount += unit * qty;
        if price.is_null() {
            price = json!({
                "id": item["price"].as_str().map_or_else(|| rid("price"), str::to_string),
                "object": "price",
                "unit_amount": unit,
                "currency": currency,
                "recurring": if mode == "subscription" { json!({ "interval": "month", "interval_count": 1 }) } else { Value::Null },
            });
        }
    }
    let now = s.clock.now();
    let id = rid("cs_test");
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "mode": mode,
        "status": "open",
        "payment_status": "unpaid",
        "url": format!("{}/stripe/pay/{id}", s.base_url),
        "success_url": form["success_url"],
        "cancel_url": form["cancel_url"],
        "client_reference_id": form["client_reference_id"],
        "customer": form["customer"],
        "customer_email": form["customer_email"],
        "customer_details": null,
        "metadata": form.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "subscription": null,
        "payment_intent": null,
        "invoice": null,
        "amount_subtotal": amount,
        "amount_total": amount,
        "currency": currency,
        "created": now,
        "expires_at": now + 86_400,
        "livemode": false,
    });
    let mut stored = session.clone();
    stored["_price"] = price;
    stored["_subscription_metadata"] = form["subscription_data"]["metadata"].clone();
    stored["_product_name"] = form["line_items"][0]["price_data"]["product_data"]["name"].clone();
    s.stripe.lock().expect("stripe lock").sessions.insert(id, (key, stored));
    Json(session).into_response()
}

fn public(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| !k.starts_with('_'));
    }
    v
}

async fn get_session(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let key = match authorize(&s, &headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    match s.stripe.lock().expect("stripe lock").sessions.get(&id) {
        Some((k, v)) if *k == key => Json(public(v)).into_response(),
        _ => stripe_error(StatusCode::NOT_FOUND, "invalid_request_error", &format!("No such checkout.session: '{id}'")),
    }
}

async fn get_subscription(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let key = match authorize(&s, &headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    match s.stripe.lock().expect("stripe lock").subscriptions.get(&id) {
        Some((k, v)) if *k == key => Json(v.clone()).into_response(),
        _ => stripe_error(StatusCode::NOT_FOUND, "invalid_request_error", &format!("No such subscription: '{id}'")),
    }
}

async fn update_subscription(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let key = match authorize(&s, &headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let form = parse_form(&body);
    let (sub, event) = {
        let mut st = s.stripe.lock().expect("stripe lock");
        let now = s.clock.now();
        let Some((k, sub)) = st.subscriptions.get_mut(&id) else {
            return stripe_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("No such subscription: '{id}'"),
            );
        };
        if *k != key {
            return stripe_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("No such subscription: '{id}'"),
            );
        }
        let mut previous = json!({});
        if let Some(flag) = form["cancel_at_period_end"].as_str() {
            let flag = flag == "true";
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"].clone();
            sub["cancel_at_period_end"] = json!(flag);
            sub["cancel_at"] = if flag { sub["current_period_end"].clone() } else { Value::Null };
        }
        if let Some(meta) = form.get("metadata").and_then(Value::as_object) {
            previous["metadata"] = sub["metadata"].clone();
            for (k, v) in meta {
                sub["metadata"][k] = v.clone();
            }
        }
        let sub = sub.clone();
        let ev = st.event("customer.subscription.updated", sub.clone(), Some(previous), now);
        (sub, ev)
    };
    deliver(&s, &key, &[event], false).await;
    Json(sub).into_response()
}

async fn cancel_subscription(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let key = match authorize(&s, &headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let (sub, event) = {
        let mut st = s.stripe.lock().expect("stripe lock");
        let now = s.clock.now();
        let Some((k, sub)) = st.subscriptions.get_mut(&id).filter(|(k, _)| *k == key) else {
            return stripe_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("No such subscription: '{id}'"),
            );
        };
        let _ = k;
        if sub["status"] == "canceled" {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("A canceled subscription can only update its cancellation_details and metadata. ({id})"),
            );
        }
        sub["status"] = json!("canceled");
        sub["canceled_at"] = json!(now);
        sub["ended_at"] = json!(now);
        let sub = sub.clone();
        let ev = st.event("customer.subscription.deleted", sub.clone(), None, now);
        (sub, ev)
    };
    deliver(&s, &key, &[event], false).await;
    Json(sub).into_response()
}

// ---------------------------------------------------------------------- control (/sim/stripe)

pub(crate) fn control_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/accounts", post(add_account).get(list_accounts))
        .route("/accounts/{api_key}/webhook", put(set_webhook))
        .route("/checkout_sessions/{id}", get(control_session))
        .route("/checkout_sessions/{id}/complete", post(complete_session))
        .route("/subscriptions/{id}", get(control_subscription))
        .route("/events", post(emit).get(list_events))
        .route("/deliveries", get(list_deliveries))
}

async fn add_account(
    State(s): State<Arc<Shared>>,
    Json(a): Json<StripeAccount>,
) -> Result<Json<StripeAccount>, ControlError> {
    if a.api_key.is_empty() {
        return Err(ControlError::invalid("api_key is required"));
    }
    Ok(Json(s.stripe.lock().expect("stripe lock").add_account(a)))
}

async fn list_accounts(State(s): State<Arc<Shared>>) -> Json<Vec<StripeAccount>> {
    Json(s.stripe.lock().expect("stripe lock").accounts.values().cloned().collect())
}

#[derive(Deserialize)]
struct WebhookBody {
    url: String,
    secret: String,
}

async fn set_webhook(
    State(s): State<Arc<Shared>>,
    Path(api_key): Path<String>,
    Json(b): Json<WebhookBody>,
) -> Result<Json<StripeAccount>, ControlError> {
    let mut st = s.stripe.lock().expect("stripe lock");
    let a = st.accounts.get_mut(&api_key).ok_or_else(|| ControlError::not_found("stripe account"))?;
    a.webhook_url = Some(b.url);
    a.webhook_secret = Some(b.secret);
    Ok(Json(a.clone()))
}

async fn control_session(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Result<Json<Value>, ControlError> {
    s.stripe
        .lock()
        .expect("stripe lock")
        .sessions
        .get(&id)
        .map(|(_, v)| Json(public(v)))
        .ok_or_else(|| ControlError::not_found(format!("checkout session {id}")))
}

async fn control_subscription(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    s.stripe
        .lock()
        .expect("stripe lock")
        .subscriptions
        .get(&id)
        .map(|(_, v)| Json(v.clone()))
        .ok_or_else(|| ControlError::not_found(format!("subscription {id}")))
}

async fn complete_session(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Option<Json<CompleteRequest>>,
) -> Result<Json<Emitted>, ControlError> {
    complete(&s, &id, body.map(|b| b.0).unwrap_or_default()).await.map(Json)
}

async fn complete(s: &Arc<Shared>, id: &str, req: CompleteRequest) -> Result<Emitted, ControlError> {
    let id = id.to_string();
    let now = s.clock.now();
    let (key, mut events) = {
        let mut st = s.stripe.lock().expect("stripe lock");
        let (key, stored) =
            st.sessions.get(&id).cloned().ok_or_else(|| ControlError::not_found(format!("checkout session {id}")))?;
        if stored["status"] != "open" {
            return Err(ControlError::conflict("SESSION_NOT_OPEN", "the checkout session is not open"));
        }
        let customer = stored["customer"].as_str().map_or_else(|| rid("cus"), str::to_string);
        let email = req
            .customer_email
            .clone()
            .or_else(|| stored["customer_email"].as_str().map(str::to_string))
            .unwrap_or_else(|| "buyer@example.com".to_string());
        let mut session = stored.clone();
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["customer"] = json!(customer);
        session["customer_details"] = json!({ "email": email });
        let mut events = Vec::new();
        if stored["mode"] == "subscription" {
            let sub_id = rid("sub");
            let metadata = if stored["_subscription_metadata"].is_object() {
                stored["_subscription_metadata"].clone()
            } else {
                json!({})
            };
            let mut sub = json!({
                "id": sub_id,
                "object": "subscription",
                "status": "active",
                "customer": customer,
                "customer_email": email,
                "cancel_at_period_end": false,
                "cancel_at": null,
                "canceled_at": null,
                "ended_at": null,
                "created": now,
                "start_date": now,
                "current_period_start": now,
                "current_period_end": now + MONTH,
                "currency": stored["currency"],
                "metadata": metadata,
                "items": {
                    "object": "list",
                    "data": [{
                        "id": rid("si"),
                        "object": "subscription_item",
                        "current_period_start": now,
                        "current_period_end": now + MONTH,
                        "price": stored["_price"],
                        "quantity": 1,
                    }],
                },
                "livemode": false,
            });
            let invoice = st.invoice(&sub, "subscription_create", true, now);
            sub["latest_invoice"] = invoice["id"].clone();
            session["subscription"] = json!(sub_id);
            session["invoice"] = invoice["id"].clone();
            st.subscriptions.insert(sub_id, (key.clone(), sub));
            let public_session = public(&session);
            events.push(st.event("checkout.session.completed", public_session, None, now));
            events.push(st.event("invoice.paid", invoice, None, now));
        } else {
            session["payment_intent"] = json!(rid("pi"));
            session["_charge"] = json!(rid("ch"));
            let public_session = public(&session);
            events.push(st.event("checkout.session.completed", public_session, None, now));
        }
        st.sessions.insert(id.clone(), (key.clone(), session));
        (key, events)
    };
    let mut order = events.clone();
    if req.reverse {
        order.reverse();
    }
    let deliveries = deliver(s, &key, &order, req.twice).await;
    events.sort_by_key(|e| e["created"].as_i64());
    Ok(Emitted { events, deliveries })
}

async fn emit(State(s): State<Arc<Shared>>, Json(req): Json<EmitRequest>) -> Result<Json<Emitted>, ControlError> {
    let now = s.clock.now();
    let events = {
        let mut st = s.stripe.lock().expect("stripe lock");
        if !st.accounts.contains_key(&req.api_key) {
            return Err(ControlError::not_found("stripe account"));
        }
        let mut events = Vec::new();
        for spec in &req.events {
            events.push(build_event(&mut st, &req.api_key, spec, now)?);
        }
        events
    };
    let mut order = events.clone();
    if req.reverse {
        order.reverse();
    }
    let deliveries = deliver(&s, &req.api_key, &order, req.twice).await;
    Ok(Json(Emitted { events, deliveries }))
}

fn build_event(st: &mut StripeWorld, key: &str, spec: &EventSpec, now: i64) -> Result<Value, ControlError> {
    if let Some(object) = &spec.object {
        return Ok(st.event(&spec.kind, object.clone(), None, now));
    }
    let sub_of = |st: &StripeWorld| -> Result<(String, Value), ControlError> {
        let id = spec
            .subscription
            .clone()
            .ok_or_else(|| ControlError::invalid(format!("{} needs a subscription", spec.kind)))?;
        match st.subscriptions.get(&id) {
            Some((k, v)) if k == key => Ok((id, v.clone())),
            _ => Err(ControlError::not_found(format!("subscription {id}"))),
        }
    };
    match spec.kind.as_str() {
        "invoice.paid" => {
            let (id, mut sub) = sub_of(st)?;
            let start = sub["current_period_end"].as_i64().unwrap_or(now);
            let end = start + MONTH;
            sub["current_period_start"] = json!(start);
            sub["current_period_end"] = json!(end);
            sub["items"]["data"][0]["current_period_start"] = json!(start);
            sub["items"]["data"][0]["current_period_end"] = json!(end);
            sub["status"] = json!("active");
            let invoice = st.invoice(&sub, "subscription_cycle", true, now);
            sub["latest_invoice"] = invoice["id"].clone();
            st.subscriptions.insert(id, (key.to_string(), sub));
            Ok(st.event("invoice.paid", invoice, None, now))
        }
        "invoice.payment_failed" => {
            let (id, mut sub) = sub_of(st)?;
            let start = sub["current_period_end"].as_i64().unwrap_or(now);
            let mut next = sub.clone();
            next["current_period_start"] = json!(start);
            next["current_period_end"] = json!(start + MONTH);
            let invoice = st.invoice(&next, "subscription_cycle", false, now);
            sub["status"] = json!("past_due");
            sub["latest_invoice"] = invoice["id"].clone();
            st.subscriptions.insert(id, (key.to_string(), sub));
            Ok(st.event("invoice.payment_failed", invoice, None, now))
        }
        "customer.subscription.updated" => {
            let (id, mut sub) = sub_of(st)?;
            let flag = spec.cancel_at_period_end.unwrap_or(true);
            let previous = json!({ "cancel_at_period_end": sub["cancel_at_period_end"] });
            sub["cancel_at_period_end"] = json!(flag);
            sub["cancel_at"] = if flag { sub["current_period_end"].clone() } else { Value::Null };
            st.subscriptions.insert(id, (key.to_string(), sub.clone()));
            Ok(st.event("customer.subscription.updated", sub, Some(previous), now))
        }
        "customer.subscription.deleted" => {
            let (id, mut sub) = sub_of(st)?;
            sub["status"] = json!("canceled");
            sub["canceled_at"] = json!(now);
            sub["ended_at"] = json!(now);
            st.subscriptions.insert(id, (key.to_string(), sub.clone()));
            Ok(st.event("customer.subscription.deleted", sub, None, now))
        }
        "charge.refunded" => {
            let (customer, amount, currency, metadata, invoice, pi) = if spec.subscription.is_some() {
                let (_, sub) = sub_of(st)?;
                (
                    sub["customer"].clone(),
                    sub["items"]["data"][0]["price"]["unit_amount"].clone(),
                    sub["currency"].clone(),
                    sub["metadata"].clone(),
                    sub["latest_invoice"].clone(),
                    json!(rid("pi")),
                )
            } else if let Some(cs) = &spec.checkout_session {
                let (_, session) = st
                    .sessions
                    .get(cs)
                    .filter(|(k, _)| k == key)
                    .ok_or_else(|| ControlError::not_found(format!("checkout session {cs}")))?;
                (
                    session["customer"].clone(),
                    session["amount_total"].clone(),
                    session["currency"].clone(),
                    session["metadata"].clone(),
                    session["invoice"].clone(),
                    session["payment_intent"].clone(),
                )
            } else {
                return Err(ControlError::invalid("charge.refunded needs a subscription or checkout_session"));
            };
            let charge = json!({
                "id": rid("ch"),
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": amount,
                "captured": true,
                "refunded": true,
                "currency": currency,
                "customer": customer,
                "invoice": invoice,
                "payment_intent": pi,
                "metadata": metadata,
                "status": "succeeded",
                "created": now,
                "livemode": false,
            });
            Ok(st.event("charge.refunded", charge, None, now))
        }
        other => Err(ControlError::invalid(format!("event type {other} needs a literal `object`"))),
    }
}

async fn list_events(State(s): State<Arc<Shared>>) -> Json<Vec<Value>> {
    Json(s.stripe.lock().expect("stripe lock").events.clone())
}

async fn list_deliveries(State(s): State<Arc<Shared>>) -> Json<Vec<StripeDelivery>> {
    Json(s.stripe.lock().expect("stripe lock").deliveries.clone())
}
