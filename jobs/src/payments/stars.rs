//! Telegram Stars (DESIGN §6): invoices in `XTR`, recurring plans as Stars
//! subscriptions (`subscription_period` 2592000 s), payloads that name the checkout
//! request, and the reading of `successful_payment`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Telegram Stars' currency.
pub const CURRENCY: &str = "XTR";

/// The only subscription period Telegram accepts (30 days).
pub const SUBSCRIPTION_PERIOD_SECS: i64 = 2_592_000;

const PAYLOAD_PREFIX: &str = "gh1:";

/// The invoice payload for a checkout request (≤ 128 bytes).
pub fn payload(request_id: Uuid) -> String {
    format!("{PAYLOAD_PREFIX}{}", request_id.simple())
}

/// The checkout request an invoice payload names, if it is one of ours.
pub fn request_of(payload: &str) -> Option<Uuid> {
    payload.strip_prefix(PAYLOAD_PREFIX)?.parse().ok()
}

/// `createInvoiceLink` parameters for a plan.
pub fn invoice_params(request_id: Uuid, plan_name: &str, description: &str, stars: i32, recurring: bool) -> Value {
    let title: String = plan_name.chars().take(32).collect();
    let description: String = description.chars().take(255).collect();
    let mut params = json!({
        "title": title,
        "description": description,
        "payload": payload(request_id),
        "currency": CURRENCY,
        "prices": [{"label": title, "amount": stars}],
    });
    if recurring {
        params["subscription_period"] = json!(SUBSCRIPTION_PERIOD_SECS);
    }
    params
}

/// A `successful_payment`, with the message fields that say who paid and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Payment {
    /// `telegram_payment_charge_id`: unique per payment.
    pub charge_id: String,
    /// `invoice_payload`.
    pub payload: String,
    /// `currency`.
    pub currency: String,
    /// `total_amount`.
    pub total_amount: i64,
    /// For subscriptions: when the paid period ends.
    pub subscription_expiration_date: Option<i64>,
    /// Part of a subscription.
    pub is_recurring: bool,
    /// The payer.
    pub telegram_user_id: i64,
    /// The payer's language.
    pub language_code: Option<String>,
    /// The message's date.
    pub date: i64,
}

impl Payment {
    /// Reads a `message` carrying `successful_payment`.
    pub fn from_message(message: &Value) -> Option<Self> {
        let sp = message.get("successful_payment")?;
        Some(Self {
            charge_id: sp.get("telegram_payment_charge_id")?.as_str()?.to_string(),
            payload: sp.get("invoice_payload")?.as_str()?.to_string(),
            currency: sp.get("currency")?.as_str()?.to_string(),
            total_amount: sp.get("total_amount")?.as_i64()?,
            subscription_expiration_date: sp.get("subscription_expiration_date").and_then(Value::as_i64),
            is_recurring: sp.get("is_recurring").and_then(Value::as_bool).unwrap_or(false),
            telegram_user_id: message.pointer("/from/id")?.as_i64()?,
            language_code: message.pointer("/from/language_code").and_then(Value::as_str).map(str::to_string),
            date: message.get("date").and_then(Value::as_i64).unwrap_or(0),
        })
    }

    /// The message's date as a time.
    pub fn at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.date, 0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_names_its_checkout_request_and_nothing_else() {
        let id = Uuid::new_v4();
        assert_eq!(request_of(&payload(id)), Some(id));
        assert!(payload(id).len() <= 128);
        assert_eq!(request_of("something-else"), None);
    }

    #[test]
    fn a_recurring_plan_is_invoiced_as_a_thirty_day_stars_subscription() {
        let p = invoice_params(Uuid::new_v4(), "Monthly", "d", 250, true);
        assert_eq!(p["currency"], "XTR");
        assert_eq!(p["subscription_period"], 2_592_000);
        assert_eq!(p["prices"][0]["amount"], 250);
        assert!(invoice_params(Uuid::new_v4(), "Once", "d", 250, false).get("subscription_period").is_none());
    }
}
