//! `gatehouse jobs` and `gatehouse bots`: the operator's view of the queue and the bots
//! from a shell (the same as `/console`, through [`gatehouse_jobs::operator`]). Tables
//! for people by default, `--json` for scripts. Every retry, cancel, pause and resume
//! is audited.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use gatehouse_jobs::{
    Config,
    operator::{self, Actor},
    store::operator::{Filter, State},
};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// `gatehouse jobs …`
#[derive(Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Jobs per queue and state, the age of the oldest, and the runs of the last hour.
    Stats,
    /// Jobs, the most urgent first.
    List {
        /// pending, scheduled, running, failed (will retry), dead (killed or out of attempts), done.
        #[arg(long, value_parser = parse_state)]
        state: Option<State>,
        /// Only this kind (e.g. remove-member).
        #[arg(long, value_parser = parse_kind)]
        kind: Option<String>,
        /// Only this project's jobs (known for jobs that have failed at least once).
        #[arg(long)]
        project: Option<Uuid>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
    },
    /// One job: its args (secrets redacted), attempts, every error with its time, its audit lines.
    Show {
        /// The job's id.
        #[arg(value_parser = parse_id)]
        id: String,
    },
    /// Runs failed or dead jobs again now: by id, or every one of a kind and/or state.
    Retry {
        /// Job ids (up to 1000).
        #[arg(value_parser = parse_id, num_args = 0..=1000)]
        ids: Vec<String>,
        /// Every failed or dead job of this kind.
        #[arg(long, value_parser = parse_kind)]
        kind: Option<String>,
        /// failed or dead (default: both).
        #[arg(long, value_parser = parse_state)]
        state: Option<State>,
    },
    /// Cancels waiting jobs (pending, scheduled, failed with a retry to come).
    Cancel {
        /// Job ids (1 to 1000).
        #[arg(value_parser = parse_id, required = true, num_args = 1..=1000)]
        ids: Vec<String>,
    },
}

/// `gatehouse bots …`
#[derive(Args)]
pub struct BotsArgs {
    #[command(subcommand)]
    command: Option<BotsCommand>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum BotsCommand {
    /// Each bot's budget use, 429s in the last hour and pause state (the default).
    List,
    /// Pauses a bot for every worker: no Bot API call with it until the pause ends.
    Pause {
        /// Telegram's id of the bot.
        bot: i64,
        /// For how long, in seconds (1 to 604800).
        #[arg(long = "for", default_value_t = 3600)]
        seconds: u64,
    },
    /// Lifts a bot's pause.
    Resume {
        /// Telegram's id of the bot.
        bot: i64,
    },
}

fn parse_state(s: &str) -> Result<State, String> {
    State::parse(s).ok_or_else(|| "one of pending, scheduled, running, failed, dead, done".into())
}

fn parse_kind(s: &str) -> Result<String, String> {
    let ok =
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok { Ok(s.to_string()) } else { Err("a kind is 1–64 characters of a-z, 0-9 and '-'".into()) }
}

fn parse_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(s.to_string()) } else { Err("a job id is 1–64 characters of A-Z, a-z, 0-9, '-' and '_'".into()) }
}

async fn pool(config: &Config) -> anyhow::Result<PgPool> {
    Ok(gatehouse_jobs::db::pool(config.database_url.expose(), 2)?)
}

/// Runs `gatehouse jobs …`.
pub async fn jobs(config: &Config, args: JobsArgs) -> anyhow::Result<()> {
    let pool = pool(config).await?;
    let json = args.json;
    match args.command {
        JobsCommand::Stats => {
            let stats = operator::stats(&pool, Utc::now()).await?;
            if json {
                return print_json(&stats);
            }
            let rows = stats
                .states
                .iter()
                .map(|s| vec![s.queue.clone(), s.state.clone(), s.jobs.to_string(), age(s.oldest_age_secs)])
                .collect();
            print_table(&["QUEUE", "STATE", "JOBS", "OLDEST"], rows);
            println!();
            let rows = stats
                .last_hour
                .iter()
                .map(|q| vec![q.queue.clone(), q.succeeded.to_string(), q.failed.to_string()])
                .collect();
            print_table(&["QUEUE", "SUCCEEDED (1H)", "FAILED (1H)"], rows);
            Ok(())
        }
        JobsCommand::List { state, kind, project, limit } => {
            let filter = Filter { state, kind: kind.as_deref(), project, ids: None };
            let jobs = operator::list(&pool, &filter, limit).await?;
            if json {
                return print_json(&jobs);
            }
            let now = Utc::now();
            let rows = jobs
                .iter()
                .map(|j| {
                    vec![
                        j.id.clone(),
                        j.kind.clone().unwrap_or_else(|| "(unreadable)".into()),
                        j.queue.clone(),
                        j.state.clone(),
                        format!("{}/{}", j.attempts, j.max_attempts),
                        when(now, j.done_at.unwrap_or(j.run_at)),
                        j.last_error.as_deref().map(|e| shorten(e, 80)).unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(&["ID", "KIND", "QUEUE", "STATE", "ATTEMPTS", "WHEN", "LAST ERROR"], rows);
            Ok(())
        }
        JobsCommand::Show { id } => {
            let Some(job) = operator::show(&pool, &id).await? else {
                bail!("no job {id}");
            };
            if json {
                return print_json(&job);
            }
            let now = Utc::now();
            let l = &job.line;
            println!("job       {}", l.id);
            println!("kind      {}", l.kind.as_deref().unwrap_or("(unreadable)"));
            println!("queue     {}", l.queue);
            println!("state     {}", l.state);
            println!("attempts  {}/{} ({} snoozed)", l.attempts, l.max_attempts, job.snoozes);
            println!("run at    {} ({})", l.run_at.to_rfc3339(), when(now, l.run_at));
            if let Some(done) = l.done_at {
                println!("ended     {} ({})", done.to_rfc3339(), when(now, done));
            }
            if let Some(p) = job.project_id {
                println!("project   {p}");
            }
            if let Some(key) = &job.idempotency_key {
                println!("key       {key}");
            }
            if let Some(e) = &l.last_error {
                println!("last error {e}");
            }
            match (&job.args, &job.unreadable) {
                (Some(args), _) => println!("args      {}", serde_json::to_string_pretty(args)?),
                (None, Some(why)) => println!("args      (unreadable: {why})"),
                (None, None) => {}
            }
            println!("\nerrors:");
            let rows =
                job.errors.iter().map(|e| vec![e.attempt.to_string(), e.at.to_rfc3339(), e.error.clone()]).collect();
            print_table(&["RUN", "AT", "ERROR"], rows);
            println!("\naudit:");
            let rows = job
                .audit
                .iter()
                .map(|a| {
                    vec![
                        a.at.to_rfc3339(),
                        a.action.clone(),
                        a.telegram_user_id.map(|u| u.to_string()).unwrap_or_default(),
                        a.telegram_chat_id.map(|c| c.to_string()).unwrap_or_default(),
                        a.reason.clone(),
                    ]
                })
                .collect();
            print_table(&["AT", "ACTION", "USER", "CHAT", "REASON"], rows);
            Ok(())
        }
        JobsCommand::Retry { ids, kind, state } => {
            if let Some(s) = state
                && !matches!(s, State::Failed | State::Dead)
            {
                bail!("--state: only failed or dead jobs are retried");
            }
            if ids.is_empty() && kind.is_none() && state.is_none() {
                bail!("name the jobs by id, or choose them with --kind and/or --state");
            }
            let filter =
                Filter { state, kind: kind.as_deref(), project: None, ids: (!ids.is_empty()).then_some(&ids[..]) };
            let acted = operator::retry(&pool, &filter, &Actor::Cli).await?;
            report(json, "retried", &ids, &acted)
        }
        JobsCommand::Cancel { ids } => {
            let filter = Filter { ids: Some(&ids), ..Filter::default() };
            let acted = operator::cancel(&pool, &filter, &Actor::Cli).await?;
            report(json, "cancelled", &ids, &acted)
        }
    }
}

/// Prints what a retry or cancel did; asked-for ids it did not touch are named, and make
/// the command fail.
fn report(json: bool, verb: &str, asked: &[String], acted: &operator::Acted) -> anyhow::Result<()> {
    let skipped: Vec<&String> = asked.iter().filter(|id| !acted.jobs.contains(id)).collect();
    if json {
        print_json(&serde_json::json!({ verb: acted.jobs, "skipped": skipped }))?;
    } else {
        for id in &acted.jobs {
            println!("{verb} {id}");
        }
        println!("{} job(s) {verb}", acted.jobs.len());
    }
    if !skipped.is_empty() {
        let list: Vec<&str> = skipped.iter().map(|s| s.as_str()).collect();
        bail!("not {verb} (no such job, or not in a state that allows it): {}", list.join(", "));
    }
    Ok(())
}

/// Runs `gatehouse bots …`.
pub async fn bots(config: &Config, args: BotsArgs) -> anyhow::Result<()> {
    let pool = pool(config).await?;
    match args.command.unwrap_or(BotsCommand::List) {
        BotsCommand::List => {
            let bots = operator::bots(&pool, config, None).await?;
            if args.json {
                return print_json(&bots);
            }
            let now = Utc::now();
            let rows = bots
                .iter()
                .map(|b| {
                    vec![
                        b.telegram_bot_id.to_string(),
                        b.username.as_deref().map(|u| format!("@{u}")).unwrap_or_default(),
                        b.project_name.clone(),
                        b.status.clone(),
                        format!("{}/{} per s ({}%)", b.calls_last_second, b.calls_per_second, b.budget_used_percent),
                        b.rate_limited_last_hour.to_string(),
                        b.paused_until.map(|t| format!("paused, ends {}", when(now, t))).unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            print_table(&["BOT", "USERNAME", "PROJECT", "STATUS", "BUDGET USE", "429S (1H)", "PAUSE"], rows);
            Ok(())
        }
        BotsCommand::Pause { bot, seconds } => {
            let until = operator::pause_bot(&pool, bot, seconds, &Actor::Cli).await.context("pause")?;
            if args.json {
                print_json(&serde_json::json!({"bot": bot, "paused_until": until}))
            } else {
                println!("bot {bot} paused until {}", until.to_rfc3339());
                Ok(())
            }
        }
        BotsCommand::Resume { bot } => {
            operator::resume_bot(&pool, bot, &Actor::Cli).await.context("resume")?;
            if args.json {
                print_json(&serde_json::json!({"bot": bot, "paused_until": null}))
            } else {
                println!("bot {bot} resumed");
                Ok(())
            }
        }
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table with a header, columns padded to their widest cell.
fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    if rows.is_empty() {
        println!("(none)");
    }
    for row in rows {
        line(row);
    }
}

/// "3m 20s ago", "in 5s".
pub fn when(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    if secs >= 0 { format!("{} ago", span(secs)) } else { format!("in {}", span(secs.saturating_neg())) }
}

fn age(secs: Option<i64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s >= 0 => span(s),
        Some(s) => format!("next in {}", span(s.saturating_neg())),
    }
}

fn span(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn shorten(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max.saturating_sub(1)).collect::<String>())
    }
}
