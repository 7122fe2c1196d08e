//! Payments: sendInvoice, createInvoiceLink, answerPreCheckoutQuery, refundStarPayment,
//! editUserStarSubscription; users paying invoices and Stars subscriptions renewing.

use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{Invoice, PaymentAttempt, PendingCheckout, World, random_digits, random_token};
use crate::error::{ApiError, ControlError};
use crate::model::*;
use crate::params::Params;
use crate::render::user_json;

impl World {
    fn parse_invoice(bot_id: i64, p: &Params) -> Result<Invoice, ApiError> {
        let title = p.req_str("title")?;
        let description = p.req_str("description")?;
        let payload = p.req_str("payload")?;
        let currency = p.req_str("currency")?;
        if title.chars().count() > 32 || title.is_empty() {
            return Err(ApiError::bad_request("TITLE_INVALID"));
        }
        if description.chars().count() > 255 || description.is_empty() {
            return Err(ApiError::bad_request("DESCRIPTION_INVALID"));
        }
        if payload.is_empty() || payload.len() > 128 {
            return Err(ApiError::bad_request("PAYLOAD_INVALID"));
        }
        let prices = p
            .json("prices")?
            .and_then(|v| v.as_array().cloned())
            .ok_or_else(|| ApiError::bad_request("can't parse prices JSON object"))?;
        if prices.is_empty() {
            return Err(ApiError::bad_request("can't parse prices JSON object"));
        }
        if currency == "XTR" && prices.len() != 1 {
            return Err(ApiError::bad_request("STARS_INVOICE_INVALID"));
        }
        let mut total = 0i64;
        for price in &prices {
            let amount = price["amount"]
                .as_i64()
                .or_else(|| price["amount"].as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| ApiError::bad_request("can't parse prices JSON object"))?;
            total += amount;
        }
        if total <= 0 {
            return Err(ApiError::bad_request("CURRENCY_TOTAL_AMOUNT_INVALID"));
        }
        let subscription_period = p.i64("subscription_period")?;
        if let Some(period) = subscription_period {
            if period != 2_592_000 {
                return Err(ApiError::bad_request("SUBSCRIPTION_PERIOD_INVALID"));
            }
            if currency != "XTR" {
                return Err(ApiError::bad_request("SUBSCRIPTION_PERIOD_INVALID"));
            }
        }
        Ok(Invoice { bot_id, title, payload, currency, total_amount: total, subscription_period })
    }

    /// `sendInvoice` (subscriptions need createInvoiceLink).
    pub(super) fn send_invoice(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        let mut invoice = Self::parse_invoice(bot_id, p)?;
        invoice.subscription_period = None;
        let chat = self.message_target(bot_id, chat_id, now)?;
        let markup = Self::parse_markup(p)?;
        let message_id = self.next_message_id(bot_id, chat_id);
        let mut m = json!({
            "message_id": message_id,
            "from": self.bots[&bot_id].user_json(),
            "chat": chat,
            "date": now,
            "invoice": {
                "title": invoice.title,
                "description": p.str("description").unwrap_or_default(),
                "start_parameter": p.str("start_parameter").unwrap_or_default(),
                "currency": invoice.currency,
                "total_amount": invoice.total_amount,
            },
        });
        if let Some(markup) = markup {
            m["reply_markup"] = markup;
        }
        self.record_message(bot_id, chat_id, true, &m);
        self.invoices.insert((bot_id, chat_id, message_id), invoice);
        Ok(m)
    }

    /// `createInvoiceLink`.
    pub(super) fn create_invoice_link(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let invoice = Self::parse_invoice(bot_id, p)?;
        let url = format!("https://t.me/${}", random_token(22));
        self.invoice_links.insert(url.clone(), invoice);
        Ok(json!(url))
    }

    /// `answerPreCheckoutQuery`: hands the answer to the waiting payment.
    pub(super) fn answer_pre_checkout_query(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let id = p.req_str("pre_checkout_query_id")?;
        let ok = p.bool("ok");
        let error_message = p.str("error_message");
        if !ok && error_message.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request("error_message is empty"));
        }
        match self.pending_checkouts.get_mut(&id) {
            Some(pending) if pending.bot_id == bot_id && pending.answer.is_some() => {
                let tx = pending.answer.take().expect("checked");
                let _ = tx.send(if ok { Ok(()) } else { Err(error_message.unwrap_or_default()) });
                Ok(json!(true))
            }
            _ => Err(ApiError::bad_request("query is too old and response timeout expired or query ID is invalid")),
        }
    }

    /// The payment named by `telegram_payment_charge_id`, made by `user_id` to the bot.
    fn charge_mut(&mut self, bot_id: i64, p: &Params) -> Result<&mut PaymentRecord, ApiError> {
        let user_id = p.req_i64("user_id")?;
        let charge = p.req_str("telegram_payment_charge_id")?;
        self.payments
            .get_mut(&charge)
            .filter(|x| x.bot_id == bot_id && x.user_id == user_id)
            .ok_or_else(|| ApiError::bad_request("CHARGE_NOT_FOUND"))
    }

    /// `refundStarPayment`.
    pub(super) fn refund_star_payment(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let payment = self.charge_mut(bot_id, p)?;
        if payment.refunded {
            return Err(ApiError::bad_request("CHARGE_ALREADY_REFUNDED"));
        }
        payment.refunded = true;
        Ok(json!(true))
    }

    /// `editUserStarSubscription`: cancels or re-enables a Stars subscription.
    pub(super) fn edit_user_star_subscription(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let payment = self.charge_mut(bot_id, p)?;
        if payment.subscription_period.is_none() {
            return Err(ApiError::bad_request("SUBSCRIPTION_ID_INVALID"));
        }
        if !p.has("is_canceled") {
            return Err(ApiError::missing("is_canceled"));
        }
        let canceled = p.bool("is_canceled");
        let period = payment.subscription_period;
        // The flag belongs to the subscription: every charge of it shares it.
        let first = payment.clone();
        for x in self.payments.values_mut().filter(|x| {
            x.bot_id == first.bot_id
                && x.user_id == first.user_id
                && x.invoice_payload == first.invoice_payload
                && x.subscription_period == period
        }) {
            x.subscription_canceled = canceled;
        }
        Ok(json!(true))
    }

    /// Step one of a payment: sends the pre-checkout query.
    pub(crate) fn begin_payment(
        &mut self,
        user_id: i64,
        req: &PayRequest,
        now: i64,
    ) -> Result<PaymentAttempt, ControlError> {
        self.bot_checked(req.bot_id)?;
        let info = self.user_checked(user_id)?.info.clone();
        let invoice = match (&req.invoice_link, req.message_id) {
            (Some(url), _) => self
                .invoice_links
                .get(url)
                .filter(|i| i.bot_id == req.bot_id)
                .cloned()
                .ok_or_else(|| ControlError::not_found(format!("invoice link {url}")))?,
            (None, Some(mid)) => self
                .invoices
                .get(&(req.bot_id, user_id, mid))
                .cloned()
                .ok_or_else(|| ControlError::not_found(format!("invoice message {mid}")))?,
            (None, None) => return Err(ControlError::invalid("give message_id or invoice_link")),
        };
        let (tx, rx) = oneshot::channel();
        let query_id = random_digits();
        self.pending_checkouts.insert(query_id.clone(), PendingCheckout { bot_id: req.bot_id, answer: Some(tx) });
        let mut v = json!({
            "id": query_id,
            "from": user_json(&info),
            "currency": invoice.currency,
            "total_amount": invoice.total_amount,
            "invoice_payload": invoice.payload,
        });
        if info.language_code.is_none() {
            v["from"]["language_code"] = json!("en");
        }
        self.emit(req.bot_id, "pre_checkout_query", v);
        let _ = now;
        Ok(PaymentAttempt { query_id, answer: rx, invoice, user_id })
    }

    /// Step two: the pre-checkout query was approved; record the payment and tell the bot.
    pub(crate) fn complete_payment(&mut self, attempt: &PaymentAttempt, now: i64) -> PaymentRecord {
        self.pending_checkouts.remove(&attempt.query_id);
        let inv = &attempt.invoice;
        let expiration = inv.subscription_period.map(|p| now + p);
        self.record_payment(attempt.user_id, inv.clone(), expiration, inv.subscription_period.is_some(), now)
    }

    fn record_payment(
        &mut self,
        user_id: i64,
        inv: Invoice,
        expiration: Option<i64>,
        first: bool,
        now: i64,
    ) -> PaymentRecord {
        let charge = format!("stxsim{}", random_token(40));
        let mut m = self.user_message(user_id, inv.bot_id, now);
        let message_id = m["message_id"].as_i64().expect("a message id");
        let mut sp = json!({
            "currency": inv.currency,
            "total_amount": inv.total_amount,
            "invoice_payload": inv.payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "",
        });
        if let Some(exp) = expiration {
            sp["subscription_expiration_date"] = json!(exp);
            sp["is_recurring"] = json!(true);
            if first {
                sp["is_first_recurring"] = json!(true);
            }
        }
        m["successful_payment"] = sp;
        self.record_message(inv.bot_id, user_id, false, &m);
        self.users.get_mut(&user_id).expect("exists").started.insert(inv.bot_id);
        let rec = PaymentRecord {
            telegram_payment_charge_id: charge.clone(),
            bot_id: inv.bot_id,
            user_id,
            currency: inv.currency.clone(),
            total_amount: inv.total_amount,
            invoice_payload: inv.payload.clone(),
            subscription_period: inv.subscription_period,
            subscription_expiration_date: expiration,
            is_recurring: expiration.is_some(),
            is_first_recurring: expiration.is_some() && first,
            subscription_canceled: false,
            refunded: false,
            message_id,
        };
        self.payments.insert(charge, rec.clone());
        self.emit(inv.bot_id, "message", m);
        rec
    }

    pub(crate) fn abandon_payment(&mut self, query_id: &str) {
        self.pending_checkouts.remove(query_id);
    }

    /// Charges the next period of a Stars subscription.
    pub(crate) fn renew_subscription(&mut self, charge: &str, now: i64) -> Result<PaymentRecord, ControlError> {
        let prev =
            self.payments.get(charge).cloned().ok_or_else(|| ControlError::not_found(format!("payment {charge}")))?;
        let Some(period) = prev.subscription_period else {
            return Err(ControlError::conflict("NOT_A_SUBSCRIPTION", "the payment is not a subscription"));
        };
        if prev.subscription_canceled {
            return Err(ControlError::conflict("SUBSCRIPTION_CANCELED", "the subscription was cancelled by the bot"));
        }
        if prev.refunded {
            return Err(ControlError::conflict("REFUNDED", "the payment was refunded"));
        }
        let expiration = prev.subscription_expiration_date.unwrap_or(now) + period;
        let inv = Invoice {
            bot_id: prev.bot_id,
            title: String::new(),
            payload: prev.invoice_payload.clone(),
            currency: prev.currency.clone(),
            total_amount: prev.total_amount,
            subscription_period: Some(period),
        };
        Ok(self.record_payment(prev.user_id, inv, Some(expiration), false, now))
    }
}
