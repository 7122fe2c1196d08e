//! The args and defaults of `process-stars-payment`; how it runs is in
//! [`crate::catalog::process_stars_payment`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use serde_json::Value;

use crate::queue::{JobSpec, Queue};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessStarsPayment {
    /// Telegram's id of the bot paid.
    pub bot_id: i64,
    /// The payment.
    pub payment: Payment,
}

impl JobSpec for ProcessStarsPayment {
    const KIND: &'static str = "process-stars-payment";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.bot_id, self.payment.charge_id))
    }
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
