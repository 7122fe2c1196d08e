//! Metric names. `ops/README.md` lists each with its labels; dashboards and alerts
//! are written against these names, so they never change once shipped.

/// Counter `{kind, queue}`: jobs written to a queue.
pub const JOBS_ENQUEUED: &str = "gatehouse_jobs_enqueued_total";
/// Counter `{kind, queue}`: enqueues that found the job already there (idempotency key).
pub const JOBS_DUPLICATE: &str = "gatehouse_jobs_duplicate_total";
/// Counter `{kind, queue}`: job runs started.
pub const JOBS_STARTED: &str = "gatehouse_jobs_started_total";
/// Counter `{kind, queue}`: job runs that succeeded.
pub const JOBS_SUCCEEDED: &str = "gatehouse_jobs_succeeded_total";
/// Counter `{kind, queue, reason}`: runs that will run again; reason `error` (backoff) or `snoozed` (rate limit).
pub const JOBS_RETRIED: &str = "gatehouse_jobs_retried_total";
/// Counter `{kind, queue, reason}`: jobs given up; reason `permanent`, `exhausted`,
/// `panic` (the job panicked) or `undecodable` (its row could not be read).
pub const JOBS_FAILED: &str = "gatehouse_jobs_failed_total";
/// Counter `{queue}`: worker streams that ended (an error, a panic) and were started again.
pub const WORKER_RESTARTS: &str = "gatehouse_worker_restarts_total";
/// Histogram `{kind, queue}`: seconds a run took.
pub const JOB_DURATION: &str = "gatehouse_job_duration_seconds";
/// Gauge `{queue, state}`: rows per queue and state (available, scheduled, running, retrying, done, failed).
pub const QUEUE_DEPTH: &str = "gatehouse_queue_depth";
/// Gauge `{queue}`: seconds the oldest available (due, unclaimed) job has waited; 0 when none.
pub const QUEUE_OLDEST_AGE: &str = "gatehouse_queue_oldest_available_age_seconds";
/// Counter `{type}`: events written (each in the transaction of the change it reports).
pub const EVENTS_RECORDED: &str = "gatehouse_events_recorded_total";
/// Counter `{outcome}`: outbound webhook attempts by outcome (succeeded, pending = will be retried, failed = given up).
pub const WEBHOOK_ATTEMPTS: &str = "gatehouse_webhook_attempts_total";
/// Histogram: seconds an outbound webhook attempt took.
pub const WEBHOOK_LATENCY_OUT: &str = "gatehouse_webhook_attempt_duration_seconds";
/// Counter: jobs of silent workers given back to the queue.
pub const JOBS_RESCUED: &str = "gatehouse_jobs_rescued_total";
/// Counter: finished jobs deleted after the retention.
pub const JOBS_PRUNED: &str = "gatehouse_jobs_pruned_total";
/// Gauge: 1 in the process that currently holds the scheduler leadership, else 0.
pub const SCHEDULER_LEADER: &str = "gatehouse_scheduler_leader";
/// Counter `{schedule}`: schedule ticks enqueued by the leader (duplicates excluded).
pub const SCHEDULER_TICKS: &str = "gatehouse_scheduler_ticks_total";
/// Counter `{route, method, status}`: HTTP requests answered by the api.
pub const HTTP_REQUESTS: &str = "gatehouse_http_requests_total";
/// Histogram `{route, method}`: seconds to answer an HTTP request.
pub const HTTP_DURATION: &str = "gatehouse_http_request_duration_seconds";
/// Histogram `{source}`: seconds from a webhook's arrival to its answer (source `telegram`, `stripe`).
pub const WEBHOOK_LATENCY: &str = "gatehouse_webhook_latency_seconds";
/// Counter `{source, outcome}`: webhooks by outcome (accepted, duplicate, unauthorized, unknown_bot, bad_request, too_large, unavailable).
pub const WEBHOOKS: &str = "gatehouse_webhooks_total";
/// Counter `{update_type}`: Telegram updates processed.
pub const TELEGRAM_UPDATES: &str = "gatehouse_telegram_updates_total";

/// Counter `{action}`: actions taken on members (link_issued, link_revoked, removed, approved, declined, unbanned, kept, …).
pub const MEMBER_ACTIONS: &str = "gatehouse_member_actions_total";
/// Counter: times a bot lost its administrator rights in a managed chat (the chat is marked not_ready).
pub const BOT_LOST_ADMIN: &str = "gatehouse_bot_lost_admin_total";
/// Gauge `{chat}`: members Telegram counts in a chat beyond those Gatehouse knows, at the last sweep.
pub const CHAT_UNKNOWN_MEMBERS: &str = "gatehouse_chat_unknown_members";
/// Counter `{chat}`: single-use links found spent while their owner was outside (someone
/// else may have used them; Telegram did not report the join).
pub const LINKS_POSSIBLY_MISUSED: &str = "gatehouse_links_possibly_misused_total";
/// Counter `{chat}`: pending join requests approved directly for an entitled user who asked
/// for their links, or whom the sweep found outside (the `chat_join_request` update was lost).
pub const JOIN_REQUESTS_APPROVED_ON_ASK: &str = "gatehouse_join_requests_approved_on_ask_total";
/// Counter `{method, outcome}`: Bot API calls (ok, rate_limited, transient, rejected).
pub const TELEGRAM_CALLS: &str = "gatehouse_telegram_calls_total";
/// Counter `{scope}`: 429 answers received from Telegram; scope `bot` or `chat` (what was paused).
pub const TELEGRAM_RATE_LIMITED: &str = "gatehouse_telegram_rate_limited_total";
/// Counter `{scope}`: seconds of pause written after 429s (`retry_after`), for every worker.
pub const TELEGRAM_PAUSED_SECONDS: &str = "gatehouse_telegram_paused_seconds_total";
/// Histogram `{lane}`: seconds a Bot API call waited for its budget slot (lane `interactive` or `background`).
pub const TELEGRAM_BUDGET_WAIT: &str = "gatehouse_telegram_budget_wait_seconds";
/// Counter `{lane, reason}`: calls that found no budget within the wait limit, so their job was snoozed
/// (reason `bot` or `chat`).
pub const TELEGRAM_BUDGET_SNOOZES: &str = "gatehouse_telegram_budget_snoozes_total";
/// Counter `{lane}`: leases of a bot's budget taken from Postgres (round-trips; compare with calls).
pub const TELEGRAM_BUDGET_LEASES: &str = "gatehouse_telegram_budget_leases_total";
/// Counter `{lane}`: leased slots not used in time (dropped: a late call could break the limit).
pub const TELEGRAM_BUDGET_SLOTS_WASTED: &str = "gatehouse_telegram_budget_slots_wasted_total";

/// Counter `{provider, kind, outcome}`: payment events processed (outcome applied, stale, refused, ignored).
pub const PAYMENT_EVENTS: &str = "gatehouse_payment_events_total";
/// Counter `{outcome}`: Stars pre-checkout queries answered (approved, declined).
pub const PRE_CHECKOUT_ANSWERS: &str = "gatehouse_pre_checkout_answers_total";
/// Counter `{outcome}`: access code redemptions (redeemed, already_redeemed, used_up, unknown, banned).
pub const ACCESS_CODE_REDEMPTIONS: &str = "gatehouse_access_code_redemptions_total";

/// Buckets for latency histograms (seconds), from 1 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first use (one per
/// process: api and worker share it when they run in one process).
pub fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            handle
        })
        .clone()
}

/// Registers descriptions so `/metrics` explains each series.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(JOBS_ENQUEUED, "Jobs written to a queue");
    describe_counter!(JOBS_DUPLICATE, "Enqueues that found the same idempotency key already queued");
    describe_counter!(JOBS_STARTED, "Job runs started");
    describe_counter!(JOBS_SUCCEEDED, "Job runs that succeeded");
    describe_counter!(JOBS_RETRIED, "Job runs that will run again (reason: error or snoozed)");
    describe_counter!(JOBS_FAILED, "Jobs given up (reason: permanent, exhausted, panic or undecodable)");
    describe_counter!(WORKER_RESTARTS, "Worker streams that ended (an error, a panic) and were started again");
    describe_histogram!(JOB_DURATION, metrics::Unit::Seconds, "Duration of a job run");
    describe_gauge!(QUEUE_DEPTH, "Jobs per queue and state");
    describe_gauge!(QUEUE_OLDEST_AGE, metrics::Unit::Seconds, "Age of the oldest available job per queue");
    describe_counter!(JOBS_RESCUED, "Jobs of silent workers given back to the queue");
    describe_counter!(JOBS_PRUNED, "Finished jobs deleted after the retention period");
    describe_gauge!(SCHEDULER_LEADER, "1 if this process leads the scheduler");
    describe_counter!(SCHEDULER_TICKS, "Schedule ticks enqueued");
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    describe_histogram!(HTTP_DURATION, metrics::Unit::Seconds, "Time to answer an HTTP request");
    describe_histogram!(WEBHOOK_LATENCY, metrics::Unit::Seconds, "Time from webhook arrival to answer");
    describe_counter!(WEBHOOKS, "Webhooks received, by outcome");
    describe_counter!(TELEGRAM_UPDATES, "Telegram updates processed, by type");
    describe_counter!(MEMBER_ACTIONS, "Actions taken on members, by action");
    describe_counter!(LINKS_POSSIBLY_MISUSED, "Single-use links found spent while their owner was outside, by chat");
    describe_counter!(
        JOIN_REQUESTS_APPROVED_ON_ASK,
        "Pending join requests approved when an entitled user asked for their links or the sweep found them outside, by chat"
    );
    describe_counter!(BOT_LOST_ADMIN, "Times a bot lost its administrator rights in a managed chat");
    describe_gauge!(CHAT_UNKNOWN_MEMBERS, "Members counted by Telegram beyond those Gatehouse knows, per chat");
    describe_counter!(TELEGRAM_CALLS, "Bot API calls by method and outcome");
    describe_counter!(PAYMENT_EVENTS, "Payment events processed, by provider, type and outcome");
    describe_counter!(PRE_CHECKOUT_ANSWERS, "Stars pre-checkout queries answered, by outcome");
    describe_counter!(ACCESS_CODE_REDEMPTIONS, "Access code redemptions, by outcome");
    describe_counter!(TELEGRAM_RATE_LIMITED, "429 answers from Telegram, by what was paused (bot or chat)");
    describe_counter!(TELEGRAM_PAUSED_SECONDS, "Seconds of pause written after 429s, for every worker");
    describe_histogram!(TELEGRAM_BUDGET_WAIT, metrics::Unit::Seconds, "Time a Bot API call waited for its budget slot");
    describe_counter!(TELEGRAM_BUDGET_SNOOZES, "Calls that found no budget in time: their job was snoozed");
    describe_counter!(TELEGRAM_BUDGET_LEASES, "Leases of a bot's budget taken from Postgres");
    describe_counter!(TELEGRAM_BUDGET_SLOTS_WASTED, "Leased budget slots dropped unused");
    // Rare, label-less counters start at 0 so that rate() sees their first increment.
    for counter in [JOBS_RESCUED, JOBS_PRUNED, BOT_LOST_ADMIN] {
        metrics::counter!(counter).absolute(0);
    }
}
