//! Stripe (DESIGN §7): webhook signatures, what each event means for a grant, and
//! the one API call Gatehouse makes (creating a Checkout Session).
//!
//! Every session carries `gatehouse_ref` (the checkout request id) in its metadata,
//! in its subscription's metadata and in its payment intent's, so each event —
//! session, invoice, subscription, charge — finds its way back to one grant.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::subscription::Event;
use crate::{queue::JobError, secret::Secret};

/// How old a signature's timestamp may be, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// The metadata key carrying the checkout request id.
pub const REF_KEY: &str = "gatehouse_ref";

/// Why a webhook delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header, or it has no `t` or no `v1`.
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    /// The timestamp is older than the tolerance.
    #[error("the signature's timestamp is outside the {TOLERANCE_SECS} s tolerance")]
    Stale,
    /// No `v1` matches any secret in force.
    #[error("no signature matches")]
    Mismatch,
}

/// Checks `Stripe-Signature` (`t=<unix>,v1=<hex>[,v1=…]`) against the raw body: some
/// `v1` must equal HMAC-SHA256(secret, "<t>.<body>") for some secret in force
/// (compared in constant time), and `t` must be at most [`TOLERANCE_SECS`] old.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secrets: &[Secret<String>],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.extend(hex::decode(sig).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now - timestamp > TOLERANCE_SECS || timestamp - now > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        for given in &signatures {
            matched |= expected.as_slice().ct_eq(given);
        }
    }
    if bool::from(matched) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// The fields every stored event needs: id, type, created.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `evt_…`.
    pub id: String,
    /// `invoice.paid`, …
    pub kind: String,
    /// `created`.
    pub created: DateTime<Utc>,
}

/// Reads an event's envelope; `None` if the body is not a Stripe event.
pub fn envelope(event: &Value) -> Option<Envelope> {
    Some(Envelope {
        id: event.get("id")?.as_str().filter(|id| !id.is_empty())?.to_string(),
        kind: event.get("type")?.as_str()?.to_string(),
        created: DateTime::from_timestamp(event.get("created")?.as_i64()?, 0)?,
    })
}

/// The event types Gatehouse acts on.
pub const HANDLED: &[&str] = &[
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "charge.refunded",
];

/// The end an event implies, resolved by the job with the plan and project terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRule {
    /// The period paid for ends then.
    PeriodEnd(DateTime<Utc>),
    /// Paid until then; access lasts the project's grace period longer.
    GraceAfter(DateTime<Utc>),
    /// The plan's duration from the event (one-time purchase; `None` duration = lifetime).
    PlanDuration,
    /// Access ends now.
    Now,
    /// Unchanged.
    Keep,
}

/// What a Stripe event means for its grant.
#[derive(Debug, Clone, PartialEq)]
pub struct Meaning {
    /// The checkout request (grant) it belongs to, from metadata.
    pub reference: Option<Uuid>,
    /// Another object that may name the grant (a charge's invoice), when metadata does not.
    pub via_object: Option<String>,
    /// What happened.
    pub event: Event,
    /// The end it implies.
    pub ends: EndRule,
    /// A failed invoice's id: the subscriber is told once per invoice.
    pub failed_invoice: Option<String>,
}

/// Reads a handled event; `None` for anything Gatehouse does not act on (an unpaid
/// session, a subscription status with no meaning here, another type).
pub fn meaning(kind: &str, event: &Value) -> Option<Meaning> {
    let object = event.pointer("/data/object")?;
    let time = |v: Option<&Value>| v.and_then(Value::as_i64).and_then(|t| DateTime::from_timestamp(t, 0));
    let mut reference = reference_in(object.get("metadata"));
    let mut via_object = None;
    let mut failed_invoice = None;
    let (event, ends) = match kind {
        "checkout.session.completed" => {
            if !matches!(object["payment_status"].as_str(), Some("paid" | "no_payment_required")) {
                return None;
            }
            // A subscription's invoice carries the real period end; until it arrives
            // (or for a one-time payment), the plan's duration.
            (Event::Pay, EndRule::PlanDuration)
        }
        "invoice.paid" | "invoice.payment_failed" => {
            reference = reference
                .or_else(|| reference_in(object.pointer("/subscription_details/metadata")))
                .or_else(|| reference_in(object.pointer("/parent/subscription_details/metadata")))
                .or_else(|| reference_in(object.pointer("/lines/data/0/metadata")));
            let line = object.pointer("/lines/data/0/period");
            if kind == "invoice.paid" {
                let end = time(line.and_then(|p| p.get("end"))).or_else(|| time(object.get("period_end")))?;
                let trial =
                    object["amount_paid"].as_i64() == Some(0) && object["billing_reason"] == "subscription_create";
                (if trial { Event::Trial } else { Event::Pay }, EndRule::PeriodEnd(end))
            } else {
                // The first invoice failing means nothing was ever paid: no access, no grace.
                if object["billing_reason"] == "subscription_create" {
                    return None;
                }
                failed_invoice = object["id"].as_str().map(str::to_string);
                let paid_until =
                    time(line.and_then(|p| p.get("start"))).or_else(|| time(object.get("period_start")))?;
                (Event::PaymentFailed, EndRule::GraceAfter(paid_until))
            }
        }
        "customer.subscription.updated" => {
            let end = time(object.get("current_period_end"))
                .or_else(|| time(object.pointer("/items/data/0/current_period_end")))?;
            match object["status"].as_str()? {
                "active" | "trialing" if object["cancel_at_period_end"] == true => {
                    (Event::CancelAtPeriodEnd, EndRule::PeriodEnd(end))
                }
                "active" | "trialing" => (Event::Resume, EndRule::PeriodEnd(end)),
                "past_due" | "unpaid" => (Event::PaymentFailed, EndRule::GraceAfter(end)),
                "canceled" | "incomplete_expired" => (Event::End, EndRule::Now),
                _ => return None,
            }
        }
        "customer.subscription.deleted" => (Event::End, EndRule::Now),
        "charge.refunded" => {
            // A partial refund (`refunded` false) leaves the purchase standing.
            if object["refunded"] == false {
                return None;
            }
            via_object = object["invoice"].as_str().map(str::to_string);
            (Event::Refund, EndRule::Now)
        }
        _ => return None,
    };
    Some(Meaning { reference, via_object, event, ends, failed_invoice })
}

fn reference_in(metadata: Option<&Value>) -> Option<Uuid> {
    metadata?.get(REF_KEY)?.as_str()?.parse().ok()
}

/// What a Checkout Session is made from.
pub struct SessionRequest<'a> {
    /// The checkout request id (metadata, idempotency key).
    pub reference: Uuid,
    /// Project (metadata).
    pub project_id: Uuid,
    /// Plan id (metadata).
    pub plan_id: Uuid,
    /// Payer (metadata).
    pub telegram_user_id: i64,
    /// Product name.
    pub plan_name: &'a str,
    /// Price in minor units.
    pub price_minor: i64,
    /// ISO currency.
    pub currency: &'a str,
    /// A subscription (else a one-time payment).
    pub recurring: bool,
    /// Billing period in days, for subscriptions.
    pub period_days: i32,
    /// Free trial days (subscriptions).
    pub trial_days: i32,
    /// Where Stripe sends the payer back to.
    pub return_url: &'a str,
}

/// A created session.
#[derive(Debug, Clone)]
pub struct Session {
    /// `cs_…`.
    pub id: String,
    /// Where to pay.
    pub url: String,
}

/// The form fields of a Checkout Session for `request`.
pub fn session_form(request: &SessionRequest<'_>) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| form.push((k.to_string(), v));
    put("mode", if request.recurring { "subscription" } else { "payment" }.into());
    put("client_reference_id", request.reference.to_string());
    put("success_url", request.return_url.to_string());
    put("cancel_url", request.return_url.to_string());
    put("line_items[0][quantity]", "1".into());
    put("line_items[0][price_data][currency]", request.currency.to_ascii_lowercase());
    put("line_items[0][price_data][unit_amount]", request.price_minor.to_string());
    put("line_items[0][price_data][product_data][name]", request.plan_name.to_string());
    if request.recurring {
        put("line_items[0][price_data][recurring][interval]", "day".into());
        put("line_items[0][price_data][recurring][interval_count]", request.period_days.to_string());
        if request.trial_days > 0 {
            put("subscription_data[trial_period_days]", request.trial_days.to_string());
        }
    }
    let metadata = [
        (REF_KEY, request.reference.to_string()),
        ("gatehouse_project", request.project_id.to_string()),
        ("gatehouse_plan", request.plan_id.to_string()),
        ("gatehouse_user", request.telegram_user_id.to_string()),
    ];
    let carrier = if request.recurring { "subscription_data" } else { "payment_intent_data" };
    for (k, v) in metadata {
        put(&format!("metadata[{k}]"), v.clone());
        put(&format!("{carrier}[metadata][{k}]"), v);
    }
    form
}

/// `POST {STRIPE_API_URL}/v1/checkout/sessions` with the request id as the
/// idempotency key (a retried job gets the same session back).
pub async fn create_session(
    http: &reqwest::Client,
    api_url: &str,
    secret_key: &Secret<String>,
    request: &SessionRequest<'_>,
) -> Result<Session, JobError> {
    let response = http
        .post(format!("{api_url}/v1/checkout/sessions"))
        .bearer_auth(secret_key.expose())
        .header("Idempotency-Key", request.reference.to_string())
        .form(&session_form(request))
        .send()
        .await
        .map_err(|e| JobError::Retry(format!("stripe: {}", e.without_url())))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("no message").to_string();
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(JobError::Retry(format!("stripe: HTTP {status}: {message}")));
    }
    if !status.is_success() {
        return Err(JobError::Permanent(format!("stripe refused the checkout session: HTTP {status}: {message}")));
    }
    match (body["id"].as_str(), body["url"].as_str()) {
        (Some(id), Some(url)) => Ok(Session { id: id.to_string(), url: url.to_string() }),
        _ => Err(JobError::Permanent("stripe answered a session without id or url".into())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sign(secret: &str, t: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn secrets(list: &[&str]) -> Vec<Secret<String>> {
        list.iter().map(|s| Secret::new(s.to_string())).collect()
    }

    #[test]
    fn a_signature_with_any_matching_v1_and_a_fresh_timestamp_is_accepted() {
        let body = r#"{"id":"evt_1"}"#;
        let header = format!("t=1000,v1={},v1={}", "00".repeat(32), sign("whsec_a", 1000, body));
        assert_eq!(verify_signature(Some(&header), body.as_bytes(), &secrets(&["whsec_a"]), 1100), Ok(()));
        assert_eq!(verify_signature(Some(&header), body.as_bytes(), &secrets(&["whsec_b", "whsec_a"]), 1100), Ok(()));
    }

    #[test]
    fn wrong_secret_stale_timestamp_tampered_body_and_missing_header_are_refused() {
        let body = r#"{"id":"evt_1"}"#;
        let header = format!("t=1000,v1={}", sign("whsec_a", 1000, body));
        let check = |h: Option<&str>, b: &str, s: &[&str], now| verify_signature(h, b.as_bytes(), &secrets(s), now);
        assert_eq!(check(Some(&header), body, &["whsec_b"], 1000), Err(SignatureError::Mismatch));
        assert_eq!(check(Some(&header), body, &["whsec_a"], 1301), Err(SignatureError::Stale));
        assert_eq!(check(Some(&header), r#"{"id":"evt_2"}"#, &["whsec_a"], 1000), Err(SignatureError::Mismatch));
        assert_eq!(check(None, body, &["whsec_a"], 1000), Err(SignatureError::Malformed));
        assert_eq!(check(Some("t=1000"), body, &["whsec_a"], 1000), Err(SignatureError::Malformed));
        assert_eq!(check(Some("v1=abcd"), body, &["whsec_a"], 1000), Err(SignatureError::Malformed));
    }

    #[test]
    fn an_invoice_finds_its_reference_in_the_subscription_metadata() {
        let r = Uuid::new_v4();
        let event = json!({"data": {"object": {
            "id": "in_1", "amount_paid": 500, "billing_reason": "subscription_cycle",
            "parent": {"subscription_details": {"metadata": {"gatehouse_ref": r.to_string()}}},
            "lines": {"data": [{"period": {"start": 100, "end": 200}}]}}}});
        let m = meaning("invoice.paid", &event).unwrap();
        assert_eq!(m.reference, Some(r));
        assert_eq!(m.event, Event::Pay);
        assert_eq!(m.ends, EndRule::PeriodEnd(DateTime::from_timestamp(200, 0).unwrap()));
        let m = meaning("invoice.payment_failed", &event).unwrap();
        assert_eq!(m.ends, EndRule::GraceAfter(DateTime::from_timestamp(100, 0).unwrap()));
        assert_eq!(m.failed_invoice.as_deref(), Some("in_1"));
        let mut first = event.clone();
        first["data"]["object"]["billing_reason"] = json!("subscription_create");
        assert_eq!(meaning("invoice.payment_failed", &first), None, "a first invoice failing grants no grace");
    }

    #[test]
    fn a_subscription_update_is_read_from_its_status_and_cancellation_flag() {
        let sub = |status: &str, cancel: bool| json!({"data": {"object": {"status": status, "cancel_at_period_end": cancel, "current_period_end": 500}}});
        let read = |v: Value| meaning("customer.subscription.updated", &v).map(|m| m.event);
        assert_eq!(read(sub("active", true)), Some(Event::CancelAtPeriodEnd));
        assert_eq!(read(sub("active", false)), Some(Event::Resume));
        assert_eq!(read(sub("past_due", false)), Some(Event::PaymentFailed));
        assert_eq!(read(sub("canceled", false)), Some(Event::End));
        assert_eq!(read(sub("incomplete", false)), None);
    }

    #[test]
    fn a_partial_refund_leaves_access_and_a_full_one_ends_it() {
        let charge = |refunded: bool| json!({"data": {"object": {"refunded": refunded, "invoice": "in_9"}}});
        assert_eq!(meaning("charge.refunded", &charge(false)), None);
        let full = meaning("charge.refunded", &charge(true)).unwrap();
        assert_eq!((full.event, full.ends, full.via_object.as_deref()), (Event::Refund, EndRule::Now, Some("in_9")));
    }

    #[test]
    fn an_unpaid_session_means_nothing_yet() {
        let event = json!({"data": {"object": {"payment_status": "unpaid", "mode": "payment"}}});
        assert_eq!(meaning("checkout.session.completed", &event), None);
    }
}
