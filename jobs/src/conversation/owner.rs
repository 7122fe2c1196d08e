//! Owner commands, for the project owner and the admins they added. Anyone else
//! gets the answer an unknown command gets.

use chrono::Duration;
use uuid::Uuid;

use super::{
    Conversation,
    command::{CodesRequest, Command, OneLinePlan},
    keyboard,
};
use crate::{
    kinds::{ban_subscriber::BanSubscriber, grant_access::GrantAccess, verify_chat::VerifyChat},
    queue::{self, JobError, RunAt},
    setup::{self, SetupError, codes::CodeTerms, plans::PlanTerms},
    store::{self, grants::NewGrant, subscribers::Profile},
    texts,
};
use teloxide::types::InlineKeyboardButton;

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
        Command::Usage(usage) => {
            let text = texts::usage(talk.lang, usage);
            talk.reply(text, None).await
        }
        Command::AddPlan(plan) => add_plan(talk, plan).await,
        Command::AddPlanGuided => add_plan_guided(talk).await,
        Command::Plans => plans(talk).await,
        Command::AddChat(chat) => add_chat(talk, chat).await,
        Command::AddChatByUsername(name) => add_chat_by_username(talk, &name).await,
        Command::Chats => chats(talk).await,
        Command::ApiKey(name) => api_key(talk, name).await,
        Command::ApiKeys => api_keys(talk).await,
        Command::Codes(request) => codes(talk, request).await,
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
    lines.push(analytics_line(talk).await?);
    talk.reply(lines.join("\n"), None).await
}

// ------------------------------------------------------------ owner setup

/// How far back `/stats`' analytics look (the integrator API's default period).
const STATS_DAYS: i64 = 30;
/// How many code links one message carries (Telegram's text limit is 4,096 characters).
const LINKS_PER_MESSAGE: usize = 40;
/// The flow an owner is in after `/addchat`: the chat they add the bot to next is added.
pub const ADDCHAT_FLOW: &str = "addchat";

/// The integrator API's analytics for `/stats`: active, new, churned, MRR.
async fn analytics_line(talk: &Conversation<'_>) -> Result<String, JobError> {
    let ctx = talk.ctx();
    let now = ctx.now();
    let from = now.checked_sub_signed(Duration::days(STATS_DAYS));
    let counts = store::analytics::counts(&ctx.pool, talk.project.id, from, now).await?;
    let mrr = store::analytics::mrr(&ctx.pool, talk.project.id, now).await?;
    let mrr = if mrr.is_empty() {
        "0".to_string()
    } else {
        mrr.iter().map(|a| texts::price(a.amount_minor, &a.currency)).collect::<Vec<_>>().join(", ")
    };
    Ok(texts::stats_analytics(talk.lang, counts.active, counts.new, counts.churned, &mrr))
}

/// What a refused setup action tells the owner (a database failure is the job's).
fn refused(lang: texts::Lang, e: SetupError) -> Result<String, JobError> {
    match e {
        SetupError::Db(e) => Err(e.into()),
        other => Ok(texts::setup_refused(lang, &other.to_string())),
    }
}

/// `/addplan <name> <price> <currency> <days|lifetime>`: a plan granting every ready
/// chat of the project, through the same rule as `POST …/plans`.
async fn add_plan(talk: &mut Conversation<'_>, plan: OneLinePlan) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let lang = talk.lang;
    let chats: Vec<_> = store::chats::of_project(&ctx.pool, talk.project.id)
        .await?
        .into_iter()
        .filter(|c| c.status == "ready")
        .collect();
    if chats.is_empty() {
        return talk.reply(texts::plan_needs_chat(lang), None).await;
    }
    let terms = PlanTerms {
        name: plan.name.clone(),
        price: plan.price_minor,
        currency: plan.currency.clone(),
        duration_days: plan.days,
        chat_ids: chats.iter().map(|c| c.telegram_chat_id).collect(),
        ..PlanTerms::default()
    };
    let mut tx = ctx.pool.begin().await?;
    match setup::plans::create(&mut tx, talk.project.id, &terms).await {
        Ok(_) => {
            let names: Vec<String> = chats.iter().map(store::chats::Chat::display_name).collect();
            let duration = texts::duration(lang, plan.days.and_then(|d| i32::try_from(d).ok()));
            let text = texts::plan_created(
                lang,
                plan.name.trim(),
                &texts::price(plan.price_minor, &plan.currency),
                &duration,
                &names.join(", "),
            );
            // The plan and its answer commit together: a re-run adds no second plan.
            talk.commit_with_replies(tx, vec![(text, None)]).await
        }
        Err(e) => {
            drop(tx);
            let text = refused(lang, e)?;
            talk.reply(text, None).await
        }
    }
}

/// `/plans`: every plan with its state, and a button to take it off sale or put it back.
async fn plans(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let lang = talk.lang;
    let plans = store::plans::of_project(&talk.ctx().pool, talk.project.id).await?;
    let mut lines = Vec::new();
    let mut buttons = Vec::new();
    for p in plans.iter().map(|p| &p.plan) {
        let price = texts::price(p.price_minor, &p.currency);
        lines.push(texts::plan_line(lang, &p.name, &price, &texts::duration(lang, p.duration_days), p.on_sale));
        let (label, to) = if p.on_sale { ("off_sale", "off") } else { ("on_sale", "on") };
        let label = format!("{} · {}", texts::setup_button(lang, label), p.name);
        buttons.push(InlineKeyboardButton::callback(label, format!("plansale:{}:{to}", p.id)));
    }
    let markup = (!buttons.is_empty()).then(|| keyboard(buttons));
    talk.reply(texts::plans_list(lang, &lines), markup).await
}

/// `/addchat`: the deep links that add the bot as an administrator with the rights
/// Gatehouse needs (the chat it is added to next is taken), or `/addchat <chat_id>`.
async fn add_chat(talk: &mut Conversation<'_>, chat: Option<i64>) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let lang = talk.lang;
    let Some(bot) = store::bots::of_project(&ctx.pool, talk.project.id).await? else { return Ok(()) };
    let Some(chat_id) = chat else {
        let username = bot.username.clone().unwrap_or_default();
        // The rights `membership::rights` checks: invite users, ban (restrict) members.
        let rights = "restrict_members+invite_users+manage_chat";
        let channel = format!("https://t.me/{username}?startchannel&admin={rights}");
        let group = format!("https://t.me/{username}?startgroup&admin={rights}");
        let data = serde_json::json!({"project_id": talk.project.id});
        store::dialogs::set(&ctx.pool, bot.telegram_bot_id, talk.user, ADDCHAT_FLOW, "waiting", &data, talk.cause())
            .await?;
        return talk.reply(texts::addchat_howto(lang, &channel, &group), None).await;
    };
    // Said before the check starts, so that it comes before what the check finds. A re-run
    // finds the reply recorded, and its check enqueued already (the attempt is the update's).
    talk.reply(texts::chat_checking(lang, &chat_id.to_string()), None).await?;
    let attempt = Uuid::new_v5(&Uuid::NAMESPACE_OID, talk.cause().as_bytes());
    let ctx = talk.ctx();
    let mut tx = ctx.pool.begin().await?;
    let id = store::chats::upsert(&mut *tx, Uuid::new_v4(), talk.project.id, chat_id, None).await?;
    queue::enqueue(&mut tx, &VerifyChat { chat_id: id, attempt, report_to: Some(talk.user) }, RunAt::Now).await?;
    tx.commit().await?;
    Ok(())
}

/// `/addchat @username`: the public chat's id from getChat (one budgeted call from this
/// interactive job), then as `/addchat <chat_id>`.
async fn add_chat_by_username(talk: &mut Conversation<'_>, username: &str) -> Result<(), JobError> {
    let api = talk.ctx().bot_api(talk.project.id).await?;
    match api.call::<crate::telegram::Chat>("getChat", serde_json::json!({"chat_id": username})).await {
        Ok(chat) => add_chat(talk, Some(chat.id)).await,
        Err(crate::telegram::TgError::Rejected { .. }) => {
            let text = texts::chat_unknown(talk.lang, username);
            talk.reply(text, None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The bot was made an administrator of a chat the project does not manage yet, by
/// `by`: when `by` is staff and asked with `/addchat`, the chat is added and checked
/// (`verify-chat` tells them what it found). Returns whether it was added.
pub async fn adopt_chat(
    ctx: &crate::runtime::JobContext,
    project_id: Uuid,
    telegram_bot_id: i64,
    by: i64,
    telegram_chat_id: i64,
    cause: &str,
) -> Result<bool, JobError> {
    if !store::admins::staff(&ctx.pool, project_id).await?.contains(&by) {
        return Ok(false);
    }
    let mut tx = ctx.pool.begin().await?;
    let asked = store::dialogs::lock(&mut tx, telegram_bot_id, by).await?.is_some_and(|d| d.flow == ADDCHAT_FLOW);
    if !asked {
        return Ok(false);
    }
    let id = store::chats::upsert(&mut *tx, Uuid::new_v4(), project_id, telegram_chat_id, None).await?;
    let attempt = Uuid::new_v5(&Uuid::NAMESPACE_OID, cause.as_bytes());
    queue::enqueue(&mut tx, &VerifyChat { chat_id: id, attempt, report_to: Some(by) }, RunAt::Now).await?;
    store::dialogs::clear(&mut *tx, telegram_bot_id, by).await?;
    tx.commit().await?;
    Ok(true)
}

/// `/chats`: the managed chats and their state.
async fn chats(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let lang = talk.lang;
    let chats = store::chats::of_project(&talk.ctx().pool, talk.project.id).await?;
    let lines: Vec<String> = chats
        .iter()
        .map(|c| texts::chat_line(lang, &c.display_name(), c.telegram_chat_id, &c.status, c.status_reason.as_deref()))
        .collect();
    talk.reply(texts::chats_list(lang, &lines), None).await
}

/// `/apikey [name]`: a key with every ability, through the same function as `POST
/// …/keys`, and its TGmembership-compatible URL. The key is sent from here and never
/// recorded in clear: if Telegram does not take the message, the key is revoked at
/// once and the job's retry makes another.
async fn api_key(talk: &mut Conversation<'_>, name: Option<String>) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let lang = talk.lang;
    let Some(bot) = store::bots::of_project(&ctx.pool, talk.project.id).await? else { return Ok(()) };
    let name = name.unwrap_or_else(|| "telegram".into());
    let now = ctx.now();
    let all = [crate::access::ALL.to_string()];
    // The message showing the key is sent straight, never stored; a record of it
    // without the secret commits with the key and is marked sent once it is: a re-run
    // of this update after the key was shown mints no second one.
    let record_key = talk.next_reply_key();
    if let Some(id) = store::messages::by_key(&ctx.pool, talk.project.id, &record_key).await?
        && store::messages::get(&ctx.pool, id).await?.is_some_and(|m| m.state == "sent")
    {
        return Ok(());
    }
    let mut tx = ctx.pool.begin().await?;
    let created = match setup::keys::create(&mut *tx, talk.project.id, &name, &all, None, now).await {
        Ok(created) => created,
        Err(e) => {
            drop(tx);
            let text = refused(lang, e)?;
            return talk.reply(text, None).await;
        }
    };
    let record = format!("[API key {}: shown once, not kept]", created.name);
    let record_id = store::messages::put(&mut *tx, talk.project.id, talk.user, &record_key, &record, None).await?;
    tx.commit().await?;
    let key = created.minted.secret.expose();
    let compat = format!("{}/bot{}/{key}/", ctx.config.public_url, bot.telegram_bot_id);
    let text = texts::apikey_created(lang, &created.name, key, &compat);
    let api = ctx.open_bot(&bot)?;
    match api.send_message(talk.user, &text, None).await {
        Ok(sent) => Ok(store::messages::sent(&ctx.pool, record_id, sent.message_id).await?),
        Err(e) => {
            store::api_keys::revoke(&ctx.pool, talk.project.id, created.id, now).await?;
            Err(e.into())
        }
    }
}

/// `/apikeys`: the keys in force by name, each with a revoke button.
async fn api_keys(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let lang = talk.lang;
    let keys = store::api_keys::of_project(&talk.ctx().pool, talk.project.id).await?;
    let lines: Vec<String> = keys.iter().map(|k| format!("• {} ({}…)", k.name, k.key_prefix)).collect();
    let buttons: Vec<_> = keys
        .iter()
        .map(|k| {
            let label = format!("{} · {}", texts::setup_button(lang, "revoke"), k.name);
            InlineKeyboardButton::callback(label, format!("keyrevoke:{}", k.id))
        })
        .collect();
    let markup = (!buttons.is_empty()).then(|| keyboard(buttons));
    talk.reply(texts::apikeys_list(lang, &lines), markup).await
}

/// `/codes <n> [plan] [days] [uses]`: access codes through the same function as `POST
/// …/access-codes` (single-use unless `uses` says otherwise), as deep links.
async fn codes(talk: &mut Conversation<'_>, request: CodesRequest) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let lang = talk.lang;
    let plan = match &request.plan {
        Some(name) => store::plans::by_name_or_id(&ctx.pool, talk.project.id, name).await?,
        None => {
            let plans = store::plans::of_project(&ctx.pool, talk.project.id).await?;
            match plans.as_slice() {
                [one] => Some(one.plan.clone()),
                _ => {
                    let names: Vec<String> = plans.iter().map(|p| p.plan.name.clone()).collect();
                    return talk.reply(texts::codes_which_plan(lang, &names), None).await;
                }
            }
        }
    };
    let Some(plan) = plan else {
        let names: Vec<String> =
            store::plans::of_project(&ctx.pool, talk.project.id).await?.into_iter().map(|p| p.plan.name).collect();
        return talk.reply(texts::codes_which_plan(lang, &names), None).await;
    };
    let terms = CodeTerms {
        plan_id: plan.id,
        max_uses: Some(request.uses.unwrap_or(1)),
        duration_days: request.days,
        ..CodeTerms::default()
    };
    let mut tx = ctx.pool.begin().await?;
    let created = match setup::codes::create(&mut tx, talk.project.id, &terms, request.count, ctx.now()).await {
        Ok(created) => created,
        Err(e) => {
            drop(tx);
            let text = refused(lang, e)?;
            return talk.reply(text, None).await;
        }
    };
    let links: Vec<String> = created.into_iter().map(|c| c.deep_link.unwrap_or(c.code)).collect();
    let replies = links.chunks(LINKS_PER_MESSAGE).map(|chunk| (texts::codes_created(lang, &plan.name, chunk), None));
    // The codes and the messages listing them commit together: a re-run makes no more.
    talk.commit_with_replies(tx, replies.collect()).await
}

/// A setup button pressed by the owner (or an admin): a plan off sale or back, a key
/// revoked. Anyone else's press does nothing.
pub async fn on_setup_callback(talk: &mut Conversation<'_>, data: &[&str]) -> Result<(), JobError> {
    if !talk.is_staff().await? {
        return Ok(());
    }
    let ctx = talk.ctx();
    let lang = talk.lang;
    match data {
        ["plansale", id, to @ ("on" | "off")] => {
            let Ok(plan_id) = Uuid::parse_str(id) else { return Ok(()) };
            let on_sale = *to == "on";
            let Some(plan) = store::plans::get(&ctx.pool, talk.project.id, plan_id).await? else { return Ok(()) };
            store::plans::set_on_sale(&ctx.pool, talk.project.id, plan_id, on_sale).await?;
            talk.reply(texts::plan_sale_changed(lang, &plan.name, on_sale), None).await
        }
        ["keyrevoke", id] => {
            let Ok(key_id) = Uuid::parse_str(id) else { return Ok(()) };
            let name = store::api_keys::of_project(&ctx.pool, talk.project.id)
                .await?
                .into_iter()
                .find(|k| k.id == key_id)
                .map(|k| k.name);
            let done = store::api_keys::revoke(&ctx.pool, talk.project.id, key_id, ctx.now()).await?;
            talk.reply(texts::apikey_revoked(lang, name.as_deref().unwrap_or_default(), done), None).await
        }
        _ => Ok(()),
    }
}

// ------------------------------------------------------------ the guided /addplan

/// The guided `/addplan`'s flow in `dialogs` (per bot and owner): name → price and
/// currency → duration → recurring → trial → chats → payment methods → confirm. Each
/// answer is stored as it comes, so the flow resumes after any pause or restart.
pub const ADDPLAN_FLOW: &str = "addplan";
/// The guided `/addplan`'s last step: ended (created or cancelled), kept so that a
/// re-run of the update that ended it sends the same answer.
const DONE: &str = "done";

/// Durations offered as buttons (days); any other is typed.
const DURATION_CHOICES: [i64; 4] = [7, 30, 90, 365];
/// Trials offered as buttons (days).
const TRIAL_CHOICES: [i64; 3] = [3, 7, 14];

/// `/addplan` alone: starts the guided flow.
async fn add_plan_guided(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let Some(bot) = store::bots::of_project(&ctx.pool, talk.project.id).await? else { return Ok(()) };
    let ready = store::chats::of_project(&ctx.pool, talk.project.id).await?.iter().any(|c| c.status == "ready");
    if !ready {
        let text = texts::plan_needs_chat(talk.lang);
        return talk.reply(text, None).await;
    }
    // A re-run of this `/addplan` (the flow may have moved on since) starts nothing anew.
    if talk.resend_recorded().await? {
        return Ok(());
    }
    let data = serde_json::json!({});
    store::dialogs::set(&ctx.pool, bot.telegram_bot_id, talk.user, ADDPLAN_FLOW, "name", &data, talk.cause()).await?;
    prompt(talk, "name", &data, "").await
}

/// Asks the question of `step`, with its buttons; `before` is put in front (a complaint).
async fn prompt(
    talk: &mut Conversation<'_>,
    step: &str,
    data: &serde_json::Value,
    before: &str,
) -> Result<(), JobError> {
    let lang = talk.lang;
    let button = |label: String, value: String| InlineKeyboardButton::callback(label, format!("ap:{step}:{value}"));
    let mut buttons = Vec::new();
    let mut text = format!("{before}{}", texts::addplan_question(lang, step));
    match step {
        "duration" => {
            for d in DURATION_CHOICES {
                buttons.push(button(texts::duration(lang, Some(d as i32)), d.to_string()));
            }
            buttons.push(button(texts::addplan_button(lang, "lifetime"), "lifetime".into()));
        }
        "recurring" => {
            buttons.push(button(texts::addplan_button(lang, "yes"), "yes".into()));
            buttons.push(button(texts::addplan_button(lang, "no"), "no".into()));
        }
        "trial" => {
            buttons.push(button(texts::addplan_button(lang, "no_trial"), "0".into()));
            for d in TRIAL_CHOICES {
                buttons.push(button(texts::duration(lang, Some(d as i32)), d.to_string()));
            }
        }
        "chats" => {
            let chosen = chosen_chats(data);
            for chat in store::chats::of_project(&talk.ctx().pool, talk.project.id).await? {
                if chat.status != "ready" {
                    continue;
                }
                let mark = if chosen.contains(&chat.telegram_chat_id) { "✓ " } else { "" };
                buttons.push(button(format!("{mark}{}", chat.display_name()), chat.telegram_chat_id.to_string()));
            }
            buttons.push(button(texts::addplan_button(lang, "done"), "done".into()));
        }
        "methods" => {
            buttons.push(button(texts::addplan_button(lang, "card"), "card".into()));
            buttons.push(button(texts::addplan_button(lang, "card_stars"), "card_stars".into()));
        }
        "confirm" => {
            let terms = terms_of(data);
            let chats: Vec<String> = store::chats::by_telegram_ids(&talk.ctx().pool, talk.project.id, &terms.chat_ids)
                .await?
                .iter()
                .map(store::chats::Chat::display_name)
                .collect();
            let stars =
                terms.stars_price.filter(|_| terms.currency != setup::plans::STARS).map(|s| texts::price(s, "XTR"));
            text = texts::addplan_summary(
                lang,
                &terms.name,
                &texts::price(terms.price, &terms.currency),
                &texts::duration(lang, terms.duration_days.and_then(|d| i32::try_from(d).ok())),
                terms.recurring,
                terms.trial_days.unwrap_or(0),
                &chats.join(", "),
                stars.as_deref(),
                terms.currency == setup::plans::STARS,
            );
            buttons.push(button(texts::addplan_button(lang, "create"), "create".into()));
            buttons.push(button(texts::addplan_button(lang, "cancel"), "cancel".into()));
        }
        _ => {}
    }
    let markup = (!buttons.is_empty()).then(|| keyboard(buttons));
    talk.reply(text, markup).await
}

fn chosen_chats(data: &serde_json::Value) -> Vec<i64> {
    data["chat_ids"].as_array().map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect()).unwrap_or_default()
}

/// The plan the answers so far describe.
fn terms_of(data: &serde_json::Value) -> PlanTerms {
    PlanTerms {
        name: data["name"].as_str().unwrap_or_default().to_string(),
        price: data["price"].as_i64().unwrap_or_default(),
        currency: data["currency"].as_str().unwrap_or_default().to_string(),
        stars_price: data["stars_price"].as_i64(),
        duration_days: data["duration_days"].as_i64(),
        recurring: data["recurring"].as_bool().unwrap_or(false),
        trial_days: data["trial_days"].as_i64(),
        chat_ids: chosen_chats(data),
    }
}

/// The step after `step`, given the answers (lifetime plans do not renew; Stars plans
/// are paid in Stars only; card-only plans need no Stars price).
fn next_step(step: &str, data: &serde_json::Value) -> &'static str {
    let lifetime = data["duration_days"].is_null();
    let stars_only = data["currency"].as_str() == Some(setup::plans::STARS);
    match step {
        "name" => "price",
        "price" => "duration",
        "duration" if lifetime => "trial",
        "duration" => "recurring",
        "recurring" => "trial",
        "trial" => "chats",
        "chats" if stars_only => "confirm",
        "chats" => "methods",
        "methods" if data["stars_price"].is_null() && data["wants_stars"].as_bool() == Some(true) => "stars",
        _ => "confirm",
    }
}

/// One answer to the flow: a text (`Err(text)`) or a button's value (`Ok(value)`).
/// Returns false when the owner is in no guided flow (the text is not for it).
async fn answer_flow(talk: &mut Conversation<'_>, answer: Result<&str, &str>) -> Result<bool, JobError> {
    let ctx = talk.ctx();
    let lang = talk.lang;
    let Some(bot) = store::bots::of_project(&ctx.pool, talk.project.id).await? else { return Ok(false) };
    let mut tx = ctx.pool.begin().await?;
    let Some(dialog) = store::dialogs::lock(&mut tx, bot.telegram_bot_id, talk.user).await? else { return Ok(false) };
    if dialog.flow != ADDPLAN_FLOW {
        return Ok(false);
    }
    let step = dialog.step.clone();
    let mut data = dialog.data.clone();
    let rerun = dialog.last_cause.as_deref() == Some(talk.cause());
    if step == DONE && !rerun {
        // The flow ended; this text is not for it.
        return Ok(false);
    }
    if rerun {
        drop(tx);
        if step == DONE {
            // This update ended the flow (a re-run): send the answer it recorded.
            talk.resend_recorded().await?;
        } else {
            // This update moved the flow already (a re-run): ask what comes next again.
            prompt(talk, &step, &data, "").await?;
        }
        return Ok(true);
    }
    let again = texts::addplan_other(lang, "again");
    let understood: Result<(), String> = match (step.as_str(), answer) {
        ("name", Err(text)) => setup::projects::parse_name(text)
            .map(|name| data["name"] = name.into())
            .map_err(|e| texts::setup_refused(lang, &e.to_string()) + "\n"),
        ("price", Err(text)) => match text.split_whitespace().collect::<Vec<_>>().as_slice() {
            [price, currency] if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()) => {
                let currency = currency.to_ascii_uppercase();
                match crate::money::parse_minor(price, &currency) {
                    Some(minor) => {
                        data["price"] = minor.into();
                        data["currency"] = currency.clone().into();
                        if currency == setup::plans::STARS {
                            data["stars_price"] = minor.into();
                        }
                        Ok(())
                    }
                    None => Err(again.clone()),
                }
            }
            _ => Err(again.clone()),
        },
        ("duration", Ok("lifetime")) => {
            data["duration_days"] = serde_json::Value::Null;
            data["recurring"] = false.into();
            Ok(())
        }
        ("duration", Ok(days) | Err(days)) => {
            match days.trim().parse::<i64>().ok().filter(|d| (1..=crate::clock::MAX_PERIOD_DAYS).contains(d)) {
                Some(d) => {
                    data["duration_days"] = d.into();
                    Ok(())
                }
                None => Err(again.clone()),
            }
        }
        ("recurring", Ok(yes @ ("yes" | "no"))) => {
            data["recurring"] = (yes == "yes").into();
            Ok(())
        }
        ("trial", Ok(days)) => match days.parse::<i64>().ok().filter(|d| *d == 0 || TRIAL_CHOICES.contains(d)) {
            Some(d) => {
                data["trial_days"] = d.into();
                Ok(())
            }
            None => Err(again.clone()),
        },
        ("chats", Ok("done")) if chosen_chats(&data).is_empty() => Err(texts::addplan_other(lang, "no_chat") + "\n"),
        ("chats", Ok("done")) => Ok(()),
        ("chats", Ok(id)) => {
            let Ok(id) = id.parse::<i64>() else { return Ok(true) };
            let mut chosen = chosen_chats(&data);
            if let Some(at) = chosen.iter().position(|c| *c == id) {
                chosen.remove(at);
            } else {
                chosen.push(id);
            }
            data["chat_ids"] = chosen.into();
            // A toggle: the same step again, with the marks updated.
            store::dialogs::set(&mut *tx, bot.telegram_bot_id, talk.user, ADDPLAN_FLOW, &step, &data, talk.cause())
                .await?;
            tx.commit().await?;
            prompt(talk, &step, &data, "").await?;
            return Ok(true);
        }
        ("methods", Ok(method @ ("card" | "card_stars"))) => {
            data["wants_stars"] = (method == "card_stars").into();
            Ok(())
        }
        ("stars", Err(text)) => match text.trim().parse::<i64>().ok().filter(|s| (1..=i64::from(i32::MAX)).contains(s))
        {
            Some(stars) => {
                data["stars_price"] = stars.into();
                Ok(())
            }
            None => Err(again.clone()),
        },
        ("confirm", Ok("cancel")) => {
            store::dialogs::set(&mut *tx, bot.telegram_bot_id, talk.user, ADDPLAN_FLOW, DONE, &data, talk.cause())
                .await?;
            let text = texts::addplan_other(lang, "cancelled");
            talk.commit_with_replies(tx, vec![(text, None)]).await?;
            return Ok(true);
        }
        ("confirm", Ok("create")) => {
            let terms = terms_of(&data);
            // The flow ends (kept as done, moved by this update, so that a re-run of it
            // sends the answer recorded now), the plan and the answer in one commit.
            store::dialogs::set(&mut *tx, bot.telegram_bot_id, talk.user, ADDPLAN_FLOW, DONE, &data, talk.cause())
                .await?;
            let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
            let text = match setup::plans::create(&mut attempt, talk.project.id, &terms).await {
                Ok(_) => {
                    attempt.commit().await?;
                    let chats: Vec<String> = store::chats::by_telegram_ids(&mut *tx, talk.project.id, &terms.chat_ids)
                        .await?
                        .iter()
                        .map(store::chats::Chat::display_name)
                        .collect();
                    let duration = texts::duration(lang, terms.duration_days.and_then(|d| i32::try_from(d).ok()));
                    texts::plan_created(
                        lang,
                        terms.name.trim(),
                        &texts::price(terms.price, &terms.currency),
                        &duration,
                        &chats.join(", "),
                    )
                }
                Err(e) => {
                    attempt.rollback().await?;
                    refused(lang, e)?
                }
            };
            talk.commit_with_replies(tx, vec![(text, None)]).await?;
            return Ok(true);
        }
        // A press under an older question, or a text where a button is wanted.
        _ => Err(again.clone()),
    };
    match understood {
        Ok(()) => {
            let next = next_step(&step, &data);
            store::dialogs::set(&mut *tx, bot.telegram_bot_id, talk.user, ADDPLAN_FLOW, next, &data, talk.cause())
                .await?;
            tx.commit().await?;
            prompt(talk, next, &data, "").await?;
        }
        Err(complaint) => {
            drop(tx);
            prompt(talk, &step, &data, &complaint).await?;
        }
    }
    Ok(true)
}

/// A text from the owner (or an admin) that is not a command: an answer to the guided
/// `/addplan` if one is waiting. Returns whether it was.
pub async fn dialog_text(talk: &mut Conversation<'_>, text: &str) -> Result<bool, JobError> {
    answer_flow(talk, Err(text)).await
}

/// A guided-`/addplan` button (`ap:<step>:<value>`), pressed by staff only.
pub async fn dialog_button(talk: &mut Conversation<'_>, parts: &[&str]) -> Result<(), JobError> {
    if !talk.is_staff().await? {
        return Ok(());
    }
    let ["ap", step, value] = parts else { return Ok(()) };
    // A press under an older question counts only for the step it asked.
    let ctx = talk.ctx();
    let Some(bot) = store::bots::of_project(&ctx.pool, talk.project.id).await? else { return Ok(()) };
    let current = {
        let mut conn = ctx.pool.acquire().await?;
        store::dialogs::lock(&mut conn, bot.telegram_bot_id, talk.user).await?
    };
    // (A re-run of the press that moved the flow on is answered again by answer_flow.)
    let rerun = |d: &store::dialogs::Dialog| d.last_cause.as_deref() == Some(talk.cause());
    if current.as_ref().is_none_or(|d| d.flow != ADDPLAN_FLOW || (d.step != *step && !rerun(d))) {
        return Ok(());
    }
    answer_flow(talk, Ok(value)).await.map(|_| ())
}
