//! Telegram Stars (DESIGN §6): invoices in `XTR`, recurring plans as Stars
//! subscriptions (`subscription_period` 2592000 s), payloads that name the checkout
//! request, and the reading of `successful_payment`.

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

pub use crate::kinds::process_stars_payment::Payment;

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
