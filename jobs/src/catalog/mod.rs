//! The job catalog: one file per job kind with its short `run` calling the domain
//! modules (the kind's args and defaults are the file of the same name in
//! [`crate::kinds`], re-exported here), and the index over them: [`dispatch`], which runs an
//! [`Envelope`] by its kind, the queue, timeout and schedule of each kind. The runtime
//! every job runs in (`Job`, `JobContext`) is [`crate::runtime`], below the catalog.
//! Kind strings are stable: never rename one once shipped.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::{
    queue::{Envelope, JobError, JobSpec, Queue},
    runtime::{Job, JobContext},
};

pub mod answer_join_request;
pub mod answer_pre_checkout;
pub mod ban_subscriber;
pub mod broadcast;
pub mod cancel_subscription;
pub mod connect_bot;
pub mod connect_manager_bot;
pub mod consistency_sweep;
pub mod create_stripe_checkout;
pub mod daily_member_count;
pub mod delete_message;
pub mod deliver_webhook;
pub mod diagnostics;
pub mod expiry_scan;
pub mod grant_access;
pub mod issue_invite;
pub mod kick_expired;
pub mod maintenance;
pub mod process_stars_payment;
pub mod process_stripe_event;
pub mod process_telegram_update;
pub mod redeem_access_code;
pub mod refund_stars_payment;
pub mod relay_message;
pub mod remind_expiry;
pub mod remove_member;
pub mod revoke_link;
pub mod revoke_misused_link;
pub mod send_manager_message;
pub mod send_message;
pub mod send_stars_invoice;
pub mod set_owner_commands;
pub mod unban_then_link;
pub mod verify_chat;

/// Every job kind, for routing: `$m!(Type, …)`.
macro_rules! all_jobs {
    ($m:ident) => {
        $m!(
            diagnostics::Noop,
            diagnostics::Probe,
            maintenance::PruneFinishedJobs,
            process_telegram_update::ProcessTelegramUpdate,
            connect_bot::ConnectBot,
            verify_chat::VerifyChat,
            grant_access::GrantAccess,
            unban_then_link::UnbanThenLink,
            issue_invite::IssueInvite,
            revoke_link::RevokeLink,
            revoke_misused_link::RevokeMisusedLink,
            kick_expired::KickExpired,
            remove_member::RemoveMember,
            answer_join_request::AnswerJoinRequest,
            expiry_scan::ExpiryScan,
            daily_member_count::CountMembers,
            daily_member_count::DailyMemberCount,
            consistency_sweep::Sweep,
            consistency_sweep::SweepChat,
            send_message::SendMessage,
            send_message::SendNotice,
            ban_subscriber::BanSubscriber,
            cancel_subscription::CancelSubscription,
            set_owner_commands::SetOwnerCommands,
            process_stripe_event::ProcessStripeEvent,
            create_stripe_checkout::CreateStripeCheckout,
            send_stars_invoice::SendStarsInvoice,
            answer_pre_checkout::AnswerPreCheckout,
            process_stars_payment::ProcessStarsPayment,
            refund_stars_payment::RefundStarsPayment,
            redeem_access_code::RedeemAccessCode,
            remind_expiry::ReminderScan,
            remind_expiry::RemindExpiry,
            deliver_webhook::DeliverWebhook,
            deliver_webhook::WebhookRetryScan,
            broadcast::BroadcastBatch,
            broadcast::BroadcastProgress,
            relay_message::RelayMessage,
            connect_manager_bot::ConnectManagerBot,
            send_manager_message::SendManagerMessage,
            delete_message::DeleteMessage,
        )
    };
}

/// The queue a kind belongs to, for metric labels before its args are parsed.
pub fn queue_of(kind: &str) -> Option<Queue> {
    macro_rules! lookup {
        ($($job:ty),* $(,)?) => {
            $(if kind == <$job as JobSpec>::KIND { return Some(<$job as JobSpec>::QUEUE); })*
        };
    }
    all_jobs!(lookup);
    None
}

/// How long one run of a kind may take (its [`JobSpec::TIMEOUT`]), for the worker.
pub fn timeout_of(kind: &str) -> Option<std::time::Duration> {
    macro_rules! lookup {
        ($($job:ty),* $(,)?) => {
            $(if kind == <$job as JobSpec>::KIND { return Some(<$job as JobSpec>::TIMEOUT); })*
        };
    }
    all_jobs!(lookup);
    None
}

/// The periodic jobs, for the scheduler: `$m!(Type, …)`.
macro_rules! periodic_jobs {
    ($m:ident) => {
        $m!(
            expiry_scan::ExpiryScan,
            consistency_sweep::Sweep,
            daily_member_count::CountMembers,
            maintenance::PruneFinishedJobs,
            remind_expiry::ReminderScan,
            deliver_webhook::WebhookRetryScan,
        )
    };
}

/// One periodic job as the scheduler sees it: its kind, its schedule, and how a tick
/// becomes the job (written on the scheduler's connection).
#[derive(Clone, Copy)]
pub struct PeriodicKind {
    /// The job's kind (the schedule's name in logs and metrics).
    pub kind: &'static str,
    /// Its cron expression.
    pub schedule: &'static str,
    /// Enqueues the job of one tick.
    pub enqueue: EnqueueTick,
}

/// Writes the job of one tick on the scheduler's connection.
pub type EnqueueTick =
    for<'c> fn(&'c mut sqlx::PgConnection, DateTime<Utc>) -> BoxFuture<'c, Result<crate::queue::Enqueued, sqlx::Error>>;

/// Every periodic job.
pub fn periodic() -> Vec<PeriodicKind> {
    fn enqueue_tick<J: crate::queue::Periodic>(
        conn: &mut sqlx::PgConnection,
        tick: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<crate::queue::Enqueued, sqlx::Error>> {
        Box::pin(async move { crate::queue::enqueue(conn, &J::at_tick(tick), crate::queue::RunAt::Now).await })
    }
    macro_rules! list {
        ($($job:ty),* $(,)?) => {
            vec![$(PeriodicKind {
                kind: <$job as JobSpec>::KIND,
                schedule: <$job as crate::queue::Periodic>::SCHEDULE,
                enqueue: enqueue_tick::<$job>,
            }),*]
        };
    }
    periodic_jobs!(list)
}

/// Every kind the catalog knows, in its order.
pub fn kinds() -> Vec<&'static str> {
    macro_rules! list {
        ($($job:ty),* $(,)?) => { vec![$(<$job as JobSpec>::KIND),*] };
    }
    all_jobs!(list)
}

/// Runs a job by its kind. An unknown kind or args that do not parse are permanent
/// failures: retrying cannot fix them, and the row keeps the reason.
pub async fn dispatch(envelope: Envelope, ctx: &JobContext) -> Result<(), JobError> {
    async fn run<J: Job>(args: serde_json::Value, ctx: &JobContext) -> Result<(), JobError> {
        let job: J = serde_json::from_value(args)
            .map_err(|e| JobError::Permanent(format!("{}: args do not parse: {e}", J::KIND)))?;
        job.run(ctx).await
    }
    macro_rules! route {
        ($($job:ty),* $(,)?) => {
            match envelope.kind.as_str() {
                $(<$job as JobSpec>::KIND => run::<$job>(envelope.args, ctx).await,)*
                other => Err(JobError::Permanent(format!("unknown job kind {other:?}"))),
            }
        };
    }
    all_jobs!(route)
}

#[cfg(test)]
mod tests {
    /// Kind strings are stored in job rows and idempotency keys: a renamed kind strands
    /// every row of the old name. This list changes only by adding to it.
    const SHIPPED: &[&str] = &[
        "noop",
        "probe",
        "prune-finished-jobs",
        "process-telegram-update",
        "connect-bot",
        "verify-chat",
        "grant-access",
        "unban-then-link",
        "issue-invite",
        "revoke-link",
        "revoke-misused-link",
        "kick-expired",
        "remove-member",
        "answer-join-request",
        "expiry-scan",
        "count-members",
        "daily-member-count",
        "consistency-sweep",
        "sweep-chat",
        "send-message",
        "send-notice",
        "ban-subscriber",
        "cancel-subscription",
        "set-owner-commands",
        "process-stripe-event",
        "create-stripe-checkout",
        "send-stars-invoice",
        "answer-pre-checkout",
        "process-stars-payment",
        "refund-stars-payment",
        "redeem-access-code",
        "reminder-scan",
        "remind-expiry",
        "deliver-webhook",
        "webhook-retry-scan",
        "broadcast-batch",
        "broadcast-progress",
        "relay-message",
        "connect-manager-bot",
        "send-manager-message",
        "delete-message",
    ];

    #[test]
    fn every_shipped_kind_string_is_still_served_and_none_twice() {
        let kinds = super::kinds();
        for kind in SHIPPED {
            assert!(kinds.contains(kind), "the shipped kind {kind:?} is no longer in the catalog");
            assert!(super::queue_of(kind).is_some() && super::timeout_of(kind).is_some());
        }
        let mut unique = kinds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), kinds.len(), "two job types share a kind string");
        for kind in &kinds {
            assert!(SHIPPED.contains(kind), "new kind {kind:?}: add it to SHIPPED (and never rename it)");
        }
    }
}
