//! Owner commands, for the project owner and the admins they added. Anyone else
//! gets the answer an unknown command gets.

use chrono::Duration;
use uuid::Uuid;

use super::{Conversation, command::Command};
use crate::{
    kinds::{ban_subscriber::BanSubscriber, grant_access::GrantAccess},
    queue::{self, JobError, RunAt},
    store::{self, grants::NewGrant, subscribers::Profile},
    texts,
};

/// Runs an owner command.
pub async fn run(talk: &mut Conversation<'_>, command: Command) -> Result<(), JobError> {
    match command {
        Command::Check(user) => check(talk, user).await,
        Command::Ban(user) => {
            talk.ctx()
                .enqueue(&BanSubscriber {
                    project_id: talk.project.id,
                    telegram_user_id: user,
                    ban: true,
                    cause: talk.cause().into(),
                })
                .await?;
            talk.reply(format!("Banning {user}: their subscriptions end, their links are revoked, and they are removed and banned from every chat."), None).await
        }
        Command::Unban(user) => {
            talk.ctx()
                .enqueue(&BanSubscriber {
                    project_id: talk.project.id,
                    telegram_user_id: user,
                    ban: false,
                    cause: talk.cause().into(),
                })
                .await?;
            talk.reply(format!("Unbanning {user}: they may use the bot again and rejoin when entitled."), None).await
        }
        Command::Grant { user, plan, days } => grant(talk, user, &plan, days).await,
        Command::Stats => stats(talk).await,
        // -- broadcasts and the support relay (`/broadcast <segment>` itself is composed
        // from the whole message: `broadcast::compose`, called by `on_message`)
        Command::Usage(super::command::BROADCAST_USAGE) => {
            let text = texts::broadcast_usage(talk.lang);
            talk.reply(text, None).await
        }
        Command::Usage(super::command::SUPPORT_USAGE) => {
            let text = texts::support_usage(talk.lang);
            talk.reply(text, None).await
        }
        Command::BroadcastStop => super::broadcast::stop(talk).await,
        Command::Support(on) => super::support::switch(talk, on).await,
        // --
        Command::Usage(usage) => talk.reply(format!("Usage: {usage}"), None).await,
        _ => Ok(()),
    }
}

/// `/check <user_id>`: everything Gatehouse knows about a member.
async fn check(talk: &mut Conversation<'_>, user: i64) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let now = ctx.now();
    let project = talk.project.id;
    let Some(subscriber) = store::subscribers::find(&ctx.pool, project, user).await? else {
        return talk.reply(format!("{user} is not known to this project."), None).await;
    };
    let mut lines = vec![format!(
        "User {user}: {}{}{}",
        subscriber.status,
        if subscriber.whitelisted { ", whitelisted" } else { "" },
        if subscriber.unreachable_since.is_some() { ", has blocked the bot" } else { "" }
    )];
    lines.push("Subscriptions:".into());
    let grants = store::grants::of_member(&ctx.pool, project, user, now).await?;
    if grants.is_empty() {
        lines.push("  none".into());
    }
    for g in &grants {
        lines.push(format!(
            "  {} ({}, {}): {}",
            g.plan_name,
            g.grant.source,
            g.grant.state,
            texts::ends_phrase(texts::Lang::En, now, g.grant.ends_at)
        ));
    }
    // Payments: the paid grants, newest first, at most 10.
    let payments: Vec<String> = grants
        .iter()
        .map(|g| &g.grant)
        .filter(|g| matches!(g.source.as_str(), "stripe" | "stars"))
        .take(10)
        .map(|g| format!("{} {} since {}", g.source, g.state, g.starts_at.format("%d %b %Y")))
        .collect();
    lines.push(format!("Payments: {}", if payments.is_empty() { "none".into() } else { payments.join(", ") }));
    let memberships = store::memberships::of_member(&ctx.pool, project, user).await?;
    lines.push(format!(
        "Chats: {}",
        if memberships.is_empty() {
            "never seen in one".into()
        } else {
            memberships
                .iter()
                .map(|m| {
                    let chat = m.chat_title.clone().unwrap_or_else(|| m.telegram_chat_id.to_string());
                    format!("{chat} ({})", m.status)
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    let links = store::links::open_links_of(&ctx.pool, project, user).await?;
    lines.push(format!("Open links: {}", links.iter().filter(|l| l.state == "open").count()));
    lines.push("Last actions:".into());
    for entry in store::audit::of_member(&ctx.pool, project, user, 5).await? {
        lines.push(format!("  {} {}: {}", entry.at.format("%d %b %H:%M"), entry.action, entry.reason));
    }
    talk.reply(lines.join("\n"), None).await
}

/// `/grant <user_id> <plan> <days>`: manual access, links sent to the user.
async fn grant(talk: &mut Conversation<'_>, user: i64, name_or_id: &str, days: i32) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let Some(plan) = store::plans::by_name_or_id(&ctx.pool, talk.project.id, name_or_id).await? else {
        return talk.reply(format!("No plan named {name_or_id:?}."), None).await;
    };
    let mut tx = ctx.pool.begin().await?;
    let subscriber = store::subscribers::upsert(&mut *tx, talk.project.id, user, Profile::default()).await?;
    if subscriber.status == "banned" {
        drop(tx);
        return talk.reply(format!("{user} is banned: /unban them first."), None).await;
    }
    let grant_id = Uuid::now_v7();
    let now = ctx.now();
    let ends_at = Some(crate::clock::days_after(now, days.into(), "/grant days")?);
    let new =
        NewGrant::manual(grant_id, talk.project.id, subscriber.id, plan.id, now, ends_at, Some("granted with /grant"));
    store::grants::insert(&mut *tx, &new).await?;
    queue::enqueue(&mut tx, &GrantAccess { grant_id }, RunAt::Now).await?;
    tx.commit().await?;
    talk.reply(format!("Granted {} to {user} for {days} days; their links are on the way.", plan.name), None).await
}

/// `/stats`: members per chat, active subscriptions, joins and removals in 24 h.
async fn stats(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let now = ctx.now();
    let active = store::grants::count_entitled(&ctx.pool, talk.project.id, now).await?;
    let mut lines = vec![format!("{}: {active} active subscriptions", talk.project.name)];
    for chat in store::chats::stats(&ctx.pool, talk.project.id, now - Duration::hours(24)).await? {
        let members = chat.counted.map_or_else(|| format!("{} seen", chat.known), |c| format!("{c} members"));
        let unseen = match chat.unseen {
            Some(n) if n > 0 => format!("; {n} inside unseen (joined without Gatehouse seeing it)"),
            _ => String::new(),
        };
        lines.push(format!(
            "{}: {members}{unseen}; last 24 h: {} joined, {} removed",
            chat.title, chat.joins, chat.removals
        ));
    }
    talk.reply(lines.join("\n"), None).await
}
