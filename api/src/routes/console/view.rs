//! The console's HTML. Laid out for the first question an operator asks — what is
//! failing, and why — so the failed and dead jobs come first, their last error in full.

use chrono::{DateTime, Utc};
use gatehouse_jobs::{
    operator::{BotView, JobLine, Stats},
    store::{audit::AuditLine, chats::Chat, operator::Throughput},
};
use maud::{DOCTYPE, Markup, html};

use super::access::Session;

/// The stylesheet (`/console/console.css`; the CSP allows no inline style).
pub const STYLESHEET: &str = include_str!("console.css");

/// How often the dashboard reloads itself, in seconds.
pub const REFRESH_SECS: u32 = 10;

/// What only the admin sees: every project's queues.
pub struct Overview {
    /// Queues by state.
    pub stats: Stats,
    /// The rolled-up minutes of the last hour.
    pub minutes: Vec<Throughput>,
}

/// Everything on the dashboard.
pub struct Dashboard<'a> {
    /// Now.
    pub now: DateTime<Utc>,
    /// Who is signed in.
    pub session: &'a Session,
    /// What the last action did.
    pub notice: Option<String>,
    /// Failed and dead jobs, newest failure first.
    pub failed: Vec<JobLine>,
    /// Queues and throughput (admin only).
    pub overview: Option<Overview>,
    /// Bots.
    pub bots: Vec<BotView>,
    /// Chats not ready.
    pub chats: Vec<Chat>,
    /// Latest actions on members.
    pub audit: Vec<AuditLine>,
}

/// The words for a `?notice=` the console itself redirected with.
pub fn notice(notice: Option<&str>, job: Option<&str>) -> Option<String> {
    let job =
        job.filter(|j| j.len() <= 64 && j.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))?;
    Some(match notice? {
        "retried" => format!("Job {job} will run again now."),
        "cancelled" => format!("Job {job} is cancelled."),
        "not-retried" => format!("Job {job} was not retried: it is not failed or dead (or not yours)."),
        "not-cancelled" => format!("Job {job} was not cancelled: it is not waiting (or not yours)."),
        _ => return None,
    })
}

fn layout(title: &str, refresh: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content=(REFRESH_SECS); }
                title { (title) " · Gatehouse console" }
                link rel="stylesheet" href="/console/console.css";
            }
            body { (body) }
        }
    }
}

/// A page with one message.
pub fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        false,
        html! {
            main.narrow {
                h1 { (title) }
                p { (text) }
                p { a href="/console" { "Back to the console" } }
            }
        },
    )
}

/// The sign-in form.
pub fn sign_in(error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        false,
        html! {
            main.narrow {
                h1 { "Gatehouse console" }
                p { "Sign in with the admin token, or with a project's api key that has " code { "jobs:read" } "." }
                @if let Some(error) = error { p.error role="alert" { (error) } }
                form method="post" action="/console/sign-in" {
                    label for="token" { "Token or api key" }
                    input #token type="password" name="token" autocomplete="off" required maxlength="512" autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// The dashboard.
pub fn dashboard(d: &Dashboard<'_>) -> Markup {
    let dead = d.failed.iter().filter(|j| j.state == "dead").count();
    let failing = d.failed.len() - dead;
    layout(
        "Console",
        true,
        html! {
            header.top {
                strong { "Gatehouse console" }
                span.who { "Signed in as " (d.session.describe()) }
                nav {
                    a href="/metrics" { "/metrics" }
                    form.inline method="post" action="/console/sign-out" {
                        input type="hidden" name="csrf" value=(d.session.csrf);
                        button.link type="submit" { "Sign out" }
                    }
                }
            }
            main {
                @if let Some(notice) = &d.notice { p.notice role="status" { (notice) } }
                section #failed .failed[!d.failed.is_empty()] {
                    h2 {
                        "Failed and dead jobs "
                        span.count { (dead) " dead, " (failing) " failing" }
                    }
                    @if d.failed.is_empty() {
                        p.ok { "No failed or dead jobs." }
                    } @else {
                        table {
                            thead { tr { th { "Kind" } th { "State" } th { "Attempts" } th { "Last error" } th { "When" } th { "Job" } th {} } }
                            tbody {
                                @for job in &d.failed { (failed_row(d, job)) }
                            }
                        }
                    }
                }
                @if let Some(o) = &d.overview { (overview(o, d.now)) }
                section #bots {
                    h2 { "Bots" }
                    @if d.bots.is_empty() { p { "No bots." } } @else {
                        table {
                            thead { tr { th { "Bot" } th { "Project" } th { "Status" } th { "Budget use" } th { "429s (1 h)" } th { "Pause" } } }
                            tbody {
                                @for b in &d.bots {
                                    tr {
                                        td { (b.telegram_bot_id) @if let Some(u) = &b.username { " @" (u) } }
                                        td { (b.project_name) }
                                        td { (b.status) }
                                        td { (b.calls_last_second) "/" (b.calls_per_second) " per s (" (b.budget_used_percent) "%)" }
                                        td.warn[b.rate_limited_last_hour > 0] { (b.rate_limited_last_hour) }
                                        td {
                                            @match b.paused_until {
                                                Some(until) => span.badge.dead { "paused, ends " (ago(d.now, until)) },
                                                None => "running",
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section #chats {
                    h2 { "Chats not ready" }
                    @if d.chats.is_empty() { p.ok { "Every chat is ready." } } @else {
                        table {
                            thead { tr { th { "Chat" } th { "Status" } th { "Why" } th { "Project" } } }
                            tbody {
                                @for c in &d.chats {
                                    tr {
                                        td { (c.display_name()) }
                                        td { span.badge.failed { (c.status) } }
                                        td { (c.status_reason.as_deref().unwrap_or("-")) }
                                        td.mono { (c.project_id) }
                                    }
                                }
                            }
                        }
                    }
                }
                section #audit {
                    h2 { "Latest actions on members" }
                    @if d.audit.is_empty() { p { "Nothing yet." } } @else {
                        table {
                            thead { tr { th { "When" } th { "Action" } th { "Member" } th { "Chat" } th { "Why" } th { "Job" } } }
                            tbody {
                                @for a in &d.audit {
                                    tr {
                                        td title=(a.at.to_rfc3339()) { (ago(d.now, a.at)) }
                                        td { (a.action) }
                                        td { @if let Some(u) = a.telegram_user_id { (u) } }
                                        td { @if let Some(c) = a.telegram_chat_id { (c) } }
                                        td { (a.reason) }
                                        td.mono { @if let Some(j) = &a.job_id { (j) } }
                                    }
                                }
                            }
                        }
                    }
                }
                footer { "Refreshes every " (REFRESH_SECS) " s · " a href="/metrics" { "Prometheus metrics" } " · " (d.now.format("%Y-%m-%d %H:%M:%S UTC")) }
            }
        },
    )
}

fn failed_row(d: &Dashboard<'_>, job: &JobLine) -> Markup {
    let when = job.done_at.unwrap_or(job.run_at);
    let can_act = d.session.operator.can_write();
    html! {
        tr.job data-job=(job.id) {
            td.kind { (job.kind.as_deref().unwrap_or("(unreadable row)")) }
            td { span.badge.(job.state) { (job.state) } }
            td { (job.attempts) "/" (job.max_attempts) }
            td.error { (job.last_error.as_deref().unwrap_or("-")) }
            td title=(when.to_rfc3339()) { (ago(d.now, when)) }
            td.mono { (job.id) }
            td.actions {
                @if can_act {
                    form.inline method="post" action={ "/console/jobs/" (job.id) "/retry" } {
                        input type="hidden" name="csrf" value=(d.session.csrf);
                        button.retry type="submit" { "Retry" }
                    }
                    @if job.state == "failed" {
                        form.inline method="post" action={ "/console/jobs/" (job.id) "/cancel" } {
                            input type="hidden" name="csrf" value=(d.session.csrf);
                            button.cancel type="submit" { "Cancel" }
                        }
                    }
                }
            }
        }
    }
}

fn overview(o: &Overview, now: DateTime<Utc>) -> Markup {
    let mut queues: Vec<&str> = o.stats.states.iter().map(|s| s.queue.as_str()).collect();
    for q in gatehouse_jobs::queue::Queue::ALL {
        queues.push(q.name());
    }
    queues.sort_unstable();
    queues.dedup();
    let states = ["pending", "scheduled", "running", "failed", "dead"];
    let cell = |queue: &str, state: &str| o.stats.states.iter().find(|s| s.queue == queue && s.state == state);
    html! {
        section #queues {
            h2 { "Queues" }
            table {
                thead { tr { th { "Queue" } @for s in states { th { (s) } } th { "Oldest waiting" } th { "Done (1 h)" } th { "Failed runs (1 h)" } } }
                tbody {
                    @for q in &queues {
                        tr {
                            td { (q) }
                            @for s in states {
                                td.num.warn[matches!(s, "failed" | "dead") && cell(q, s).is_some()] {
                                    (cell(q, s).map_or(0, |c| c.jobs))
                                }
                            }
                            td { (cell(q, "pending").and_then(|c| c.oldest_age_secs).map(span_of).unwrap_or_else(|| "-".into())) }
                            td.num { (o.stats.last_hour.iter().find(|h| h.queue == *q).map_or(0, |h| h.succeeded)) }
                            td.num { (o.stats.last_hour.iter().find(|h| h.queue == *q).map_or(0, |h| h.failed)) }
                        }
                    }
                }
            }
        }
        section #throughput {
            h2 { "Throughput, last hour" span.count { "runs ended per minute (green done, red failed)" } }
            (chart(&o.minutes, now))
        }
    }
}

/// Sixty bars, one per minute, done stacked under failed (inline SVG: no script, no style).
fn chart(minutes: &[Throughput], now: DateTime<Utc>) -> Markup {
    let start = now - chrono::TimeDelta::minutes(59);
    let mut done = [0i64; 60];
    let mut failed = [0i64; 60];
    for m in minutes {
        let i = (m.minute - start).num_minutes() + 1;
        if let Ok(i) = usize::try_from(i)
            && i < 60
        {
            done[i] += i64::from(m.succeeded);
            failed[i] += i64::from(m.failed);
        }
    }
    let peak = done.iter().zip(&failed).map(|(a, b)| a + b).max().unwrap_or(0).max(1);
    let height = 80i64;
    html! {
        svg.chart viewBox={ "0 0 600 " (height + 14) } role="img" aria-label="runs per minute, last hour" {
            @for i in 0..60usize {
                @let d = done[i] * height / peak;
                @let f = failed[i] * height / peak;
                rect x=(i * 10) y=(height - d - f) width="8" height=(f) fill="#c62828" {}
                rect x=(i * 10) y=(height - d) width="8" height=(d) fill="#2e7d32" {}
            }
            text x="0" y=(height + 12) font-size="10" fill="#555" { "60 min ago" }
            text x="560" y=(height + 12) font-size="10" fill="#555" { "now" }
            text x="300" y="10" font-size="10" fill="#555" text-anchor="middle" { "peak " (peak) "/min" }
        }
    }
}

/// "3m 20s ago", "in 5s".
fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    if secs >= 0 { format!("{} ago", span_of(secs)) } else { format!("in {}", span_of(secs.saturating_neg())) }
}

fn span_of(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}
