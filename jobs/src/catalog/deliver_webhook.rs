//! `deliver-webhook`: one attempt to post one event to one endpoint, signed; and
//! `webhook-retry-scan`, the periodic job that enqueues the attempts that are due.
//!
//! An attempt never holds a transaction across the HTTP call. After the call, in one
//! transaction: the attempt is logged, the delivery moves (succeeded; or pending with
//! its next attempt after a backoff of 1 min doubling to 6 h; or failed once its 3-day
//! window has passed), the endpoint's failure window starts or is cleared, and an
//! endpoint failing for 3 days is disabled with a `webhook_endpoint.disabled` event.
//! The next attempt's time is kept on the delivery, by Gatehouse's clock, and the scan
//! enqueues it when due: no job sleeps, and tests move the clock.
//!
//! Each job is keyed by (delivery, round, attempt): a round is a run of attempts from
//! the delivery's creation or from a redeliver. A job whose attempt has been made, or
//! whose round has passed, does nothing, so a re-run after a crash or a duplicate
//! enqueue sends nothing twice (except the attempt that a crash interrupted after
//! the request: delivery is at least once, and `Gatehouse-Event-Id` is the dedupe key).

use chrono::{DateTime, Utc};
use serde_json::json;

pub use crate::kinds::deliver_webhook::{DeliverWebhook, WebhookRetryScan};
use crate::runtime::{Job, JobContext};
use crate::{
    queue::{self, JobError, RunAt},
    store::{
        self,
        events::{EventType, NewEvent},
    },
    webhooks,
};

impl Job for DeliverWebhook {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(delivery) = store::webhooks::delivery(&ctx.pool, self.delivery_id).await? else {
            return Ok(());
        };
        if !self.is_current(&delivery) {
            return Ok(());
        }
        let Some(endpoint) = store::webhooks::endpoint(&ctx.pool, delivery.endpoint_id).await? else {
            return Ok(());
        };
        if !endpoint.enabled {
            let mut tx = ctx.pool.begin().await?;
            if let Some(d) = store::webhooks::lock_delivery(&mut tx, delivery.id).await?
                && self.is_current(&d)
            {
                store::webhooks::set_delivery(&mut tx, d.id, d.attempts, "skipped", None).await?;
            }
            tx.commit().await?;
            return Ok(());
        }
        let event = store::events::get(&ctx.pool, delivery.event_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("event {} no longer exists", delivery.event_id)))?;
        let key = ctx.config.encryption_key().map_err(|e| JobError::Permanent(e.to_string()))?;
        let now = ctx.now();
        let current =
            crate::crypto::open(key, &endpoint.secret_sealed).map_err(|e| JobError::Permanent(e.to_string()))?;
        let previous = match (&endpoint.previous_secret_sealed, endpoint.previous_secret_until) {
            (Some(sealed), Some(until)) if until > now => {
                Some(crate::crypto::open(key, sealed).map_err(|e| JobError::Permanent(e.to_string()))?)
            }
            _ => None,
        };
        let mut secrets = vec![current.expose().as_str()];
        if let Some(previous) = &previous {
            secrets.push(previous.expose().as_str());
        }
        let body = serde_json::to_vec(&event.to_json()).map_err(|e| JobError::Permanent(e.to_string()))?;
        let header = webhooks::signature_header(&secrets, now.timestamp(), &body);
        let allow_private = ctx.config.webhooks_allow_private;
        let sent =
            webhooks::send(webhooks::client(allow_private), &endpoint.url, allow_private, event.id, &header, body)
                .await;
        self.record(ctx, &endpoint, &sent).await
    }
}

impl DeliverWebhook {
    /// Whether this job is the delivery's next attempt in its current round.
    fn is_current(&self, delivery: &store::webhooks::Delivery) -> bool {
        delivery.state == "pending"
            && delivery.window_start.timestamp_micros() == self.round
            && delivery.attempts.checked_add(1) == Some(self.attempt)
    }

    /// Logs the attempt and moves the delivery and the endpoint, in one transaction.
    async fn record(
        &self,
        ctx: &JobContext,
        endpoint: &store::webhooks::Endpoint,
        sent: &webhooks::Sent,
    ) -> Result<(), JobError> {
        let at = ctx.now();
        let mut tx = ctx.pool.begin().await?;
        let Some(delivery) = store::webhooks::lock_delivery(&mut tx, self.delivery_id).await? else {
            return Ok(());
        };
        if !self.is_current(&delivery) {
            // A redeliver or another run moved it meanwhile: this attempt is not recorded.
            return Ok(());
        }
        let attempt = store::webhooks::Attempt {
            attempt: self.attempt,
            at,
            status: sent.status.map(i32::from),
            latency_ms: i32::try_from(sent.latency.as_millis()).unwrap_or(i32::MAX),
            error: sent.error.clone(),
            response_head: sent.response_head.clone(),
        };
        store::webhooks::log_attempt(&mut tx, delivery.id, &attempt).await?;
        let succeeded = sent.succeeded();
        let failing_since = store::webhooks::note_result(&mut tx, endpoint.id, succeeded, at).await?;
        let outcome = if succeeded {
            store::webhooks::set_delivery(&mut tx, delivery.id, self.attempt, "succeeded", None).await?;
            "succeeded"
        } else {
            let window_over = past_window(delivery.window_start, at);
            let next = crate::clock::plus(at, webhooks::retry_delay(self.attempt));
            let (state, next) = if window_over || next.is_none() { ("failed", None) } else { ("pending", next) };
            store::webhooks::set_delivery(&mut tx, delivery.id, self.attempt, state, next).await?;
            if failing_since.is_some_and(|since| past_window(since, at)) {
                let reason = "every delivery failed for 3 days";
                if store::webhooks::disable(&mut tx, endpoint.id, reason, at).await? {
                    let data = json!({
                        "webhook_endpoint": {"id": endpoint.id, "url": endpoint.url, "enabled": false},
                        "reason": reason,
                        "failing_since": failing_since,
                    });
                    let event = NewEvent::new(endpoint.project_id, EventType::WebhookEndpointDisabled, data);
                    store::events::record(&mut tx, event, at).await?;
                    tracing::warn!(endpoint = %endpoint.id, "webhook endpoint disabled after 3 days of failures");
                }
            }
            state
        };
        tx.commit().await?;
        metrics::counter!(crate::metrics::WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
        metrics::histogram!(crate::metrics::WEBHOOK_LATENCY_OUT).record(sent.latency.as_secs_f64());
        if !succeeded {
            tracing::info!(
                delivery = %self.delivery_id,
                attempt = self.attempt,
                status = ?sent.status,
                error = sent.error.as_deref().unwrap_or(""),
                "webhook delivery attempt failed"
            );
        }
        Ok(())
    }
}

/// Whether the 3-day window that began at `since` has passed at `at`.
fn past_window(since: DateTime<Utc>, at: DateTime<Utc>) -> bool {
    at.signed_duration_since(since) >= webhooks::FAILURE_WINDOW
}

/// Deliveries handled per scan.
const SCAN_BATCH: i64 = 5_000;

impl Job for WebhookRetryScan {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let due = store::webhooks::due(&ctx.pool, ctx.now(), SCAN_BATCH).await?;
        let mut conn = ctx.pool.acquire().await?;
        for (delivery_id, round, attempt) in due {
            queue::enqueue(&mut conn, &DeliverWebhook { delivery_id, round, attempt }, RunAt::Now).await?;
        }
        Ok(())
    }
}
