//! What subscribers do: the home screen with the plans, a plan's payment options,
//! `/status`, `/links`, `/cancel`, `/help`, and the `/start` deep links.

use teloxide::types::InlineKeyboardButton;
use uuid::Uuid;

use super::{Conversation, command::Command, command::Payload, keyboard};
use crate::{
    kinds::{
        cancel_subscription::CancelSubscription, grant_access::GrantAccess, redeem_access_code::RedeemAccessCode,
        unban_then_link::UnbanThenLink,
    },
    payments::{
        access_codes,
        checkout::{self, Provider},
    },
    queue::{self, JobError, RunAt},
    store::{
        self,
        grants::{GrantView, NewGrant},
        subscribers::Profile,
    },
    texts,
};

/// Runs a subscriber command.
pub async fn run(talk: &mut Conversation<'_>, command: Command) -> Result<(), JobError> {
    match command {
        Command::Start(payload) => start(talk, payload).await,
        Command::Status => status(talk).await,
        Command::Links => links(talk).await,
        Command::Cancel => cancel(talk).await,
        Command::Help | Command::Text => {
            let text = texts::help(talk.lang);
            talk.reply(text, None).await
        }
        _ => {
            let text = texts::unknown_command(talk.lang);
            talk.reply(text, None).await
        }
    }
}

/// `/start [payload]`, in this order: an access code of the project, by its text or its
/// id (redeemed by
/// `redeem-access-code`, which answers); `plan_<uuid>`;
/// `accesstoken_<token>`; `project_<uuid>` or nothing (home); anything else is kept
/// for attribution, then home.
async fn start(talk: &mut Conversation<'_>, payload: Payload) -> Result<(), JobError> {
    let raw = match &payload {
        Payload::Other(raw) => Some(raw.clone()),
        Payload::AccessToken(t) => Some(format!("accesstoken_{t}")),
        _ => None,
    };
    if let Some(code) = raw.as_deref().filter(|r| access_codes::is_code_shaped(r))
        && let Some(found) = store::access_codes::find(&talk.ctx().pool, talk.project.id, code).await?
    {
        let job = RedeemAccessCode {
            project_id: talk.project.id,
            telegram_user_id: talk.user,
            language_code: talk.language_code.clone(),
            code: found.code,
            cause: talk.cause().to_string(),
        };
        return talk.ctx().enqueue(&job).await;
    }
    match payload {
        Payload::Plan(plan) => plan_details(talk, plan).await,
        Payload::AccessToken(token) => access_token(talk, &token).await,
        Payload::Other(raw) => {
            store::subscribers::record_start_payload(&talk.ctx().pool, talk.project.id, talk.user, &raw).await?;
            home(talk).await
        }
        Payload::Home | Payload::Invalid => home(talk).await,
    }
}

/// Tells the user their access was granted (links follow from `grant-access`).
async fn granted(talk: &mut Conversation<'_>, grant_id: Uuid, _plan: Uuid) -> Result<(), JobError> {
    let now = talk.ctx().now();
    let grants = store::grants::of_member(&talk.ctx().pool, talk.project.id, talk.user, now).await?;
    let (plan_name, ends) = grants
        .iter()
        .find(|g| g.grant.id == grant_id)
        .map(|g| (g.plan_name.clone(), g.grant.ends_at))
        .unwrap_or_default();
    let text = texts::access_granted(talk.lang, &plan_name, &texts::ends_phrase(talk.lang, now, ends));
    talk.reply(text, None).await
}

/// `accesstoken_<token>`: the first user to open it gets the token's plan.
async fn access_token(talk: &mut Conversation<'_>, token: &str) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let now = ctx.now();
    let mut tx = ctx.pool.begin().await?;
    let Some(taken) =
        store::access_codes::take_token(&mut *tx, talk.project.id, &crate::crypto::digest(token), talk.user, now)
            .await?
    else {
        drop(tx);
        let text = texts::token_invalid(talk.lang);
        return talk.reply(text, None).await;
    };
    let subscriber = store::subscribers::upsert(&mut *tx, talk.project.id, talk.user, Profile::default()).await?;
    let grant_id = Uuid::now_v7();
    let ends_at = taken
        .duration_days
        .map(|d| crate::clock::days_after(now, d.into(), "the access token's duration_days"))
        .transpose()?;
    let grant =
        NewGrant::manual(grant_id, talk.project.id, subscriber.id, taken.plan_id, now, ends_at, Some("access token"));
    store::grants::insert(&mut *tx, &grant).await?;
    store::access_codes::token_granted(&mut *tx, taken.id, grant_id).await?;
    queue::enqueue(&mut tx, &GrantAccess { grant_id }, RunAt::Now).await?;
    tx.commit().await?;
    granted(talk, grant_id, taken.plan_id).await
}

/// The home screen: the plans on sale as buttons.
pub async fn home(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let plans = store::plans::of_project(&talk.ctx().pool, talk.project.id).await?;
    let buttons: Vec<_> = plans
        .iter()
        .map(|p| &p.plan)
        .filter(|p| p.on_sale)
        .map(|p| {
            let label = format!("{} · {}", p.name, texts::price(p.price_minor, &p.currency));
            InlineKeyboardButton::callback(label, format!("plan:{}", p.id))
        })
        .collect();
    let text = texts::home(talk.lang, &talk.project.name, !buttons.is_empty());
    let markup = (!buttons.is_empty()).then(|| keyboard(buttons));
    talk.reply(text, markup).await
}

/// A plan with the ways to pay for it.
pub async fn plan_details(talk: &mut Conversation<'_>, plan_id: Uuid) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let plan = store::plans::get(&ctx.pool, talk.project.id, plan_id).await?;
    let Some(plan) = plan.filter(|p| p.on_sale) else {
        let text = texts::plan_unavailable(talk.lang);
        return talk.reply(text, None).await;
    };
    let chats: Vec<String> =
        store::chats::of_plan(&ctx.pool, plan.id).await?.iter().map(store::chats::Chat::display_name).collect();
    let stripe = store::stripe_settings::get(&ctx.pool, talk.project.id).await?.is_some() && plan.currency != "XTR";
    let mut buttons = Vec::new();
    if stripe {
        buttons.push(InlineKeyboardButton::callback(
            texts::button(talk.lang, "stripe"),
            format!("pay:stripe:{}", plan.id),
        ));
    }
    if plan.stars_price.is_some() {
        buttons
            .push(InlineKeyboardButton::callback(texts::button(talk.lang, "stars"), format!("pay:stars:{}", plan.id)));
    }
    if buttons.is_empty() {
        let text = texts::no_payment_method(talk.lang);
        return talk.reply(text, None).await;
    }
    buttons.push(InlineKeyboardButton::callback(texts::button(talk.lang, "back"), "home"));
    let text = texts::plan_details(
        talk.lang,
        &plan.name,
        &texts::price(plan.price_minor, &plan.currency),
        &texts::duration(talk.lang, plan.duration_days),
        &chats,
        plan.recurring,
        plan.trial_days,
    );
    talk.reply(text, Some(keyboard(buttons))).await
}

/// A payment button: the checkout job sends the Stripe link or the Stars invoice.
pub async fn pay(talk: &mut Conversation<'_>, plan_id: Uuid, provider: &str) -> Result<(), JobError> {
    let provider = match provider {
        "stripe" => Provider::Stripe,
        "stars" => Provider::Stars,
        _ => return Ok(()),
    };
    let ctx = talk.ctx();
    let Some(plan) = store::plans::get(&ctx.pool, talk.project.id, plan_id).await?.filter(|p| p.on_sale) else {
        let text = texts::plan_unavailable(talk.lang);
        return talk.reply(text, None).await;
    };
    let mut tx = ctx.pool.begin().await?;
    let subscriber = store::subscribers::upsert(&mut *tx, talk.project.id, talk.user, Profile::default()).await?;
    checkout::begin(&mut tx, talk.project.id, subscriber.id, plan.id, provider).await?;
    tx.commit().await?;
    Ok(())
}

/// `/status`: each entitlement, its state and end, with renew and cancel buttons.
pub async fn status(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let now = talk.ctx().now();
    let grants = store::grants::of_member(&talk.ctx().pool, talk.project.id, talk.user, now).await?;
    let live: Vec<_> = grants.iter().filter(|g| g.entitled).collect();
    let mut text = texts::status_heading(talk.lang, !live.is_empty());
    let mut buttons = Vec::new();
    for grant in &live {
        let ends = texts::ends_phrase(talk.lang, now, grant.grant.ends_at);
        text.push('\n');
        text.push_str(&texts::status_line(talk.lang, &grant.plan_name, &grant.grant.state, &ends));
        if grant.grant.ends_at.is_some() {
            let label = format!("{} · {}", texts::button(talk.lang, "renew"), grant.plan_name);
            buttons.push(InlineKeyboardButton::callback(label, format!("plan:{}", grant.grant.plan_id)));
        }
    }
    if live.iter().any(|g| cancellable(g)) {
        buttons.push(InlineKeyboardButton::callback(texts::button(talk.lang, "cancel"), "cancel:ask"));
    }
    let markup = (!buttons.is_empty()).then(|| keyboard(buttons));
    talk.reply(text, markup).await
}

/// Whether a grant is a renewing paid subscription that a cancellation can stop: the
/// subscriber's `/cancel`, the membership page's account and the integrator API's
/// cancel-subscription.
pub fn cancellable(view: &GrantView) -> bool {
    view.recurring
        && matches!(view.grant.source.as_str(), "stripe" | "stars")
        && matches!(view.grant.state.as_str(), "active" | "trialing" | "past_due")
}

/// `/links`: a personal link for every chat the user is entitled to and not in
/// (unbanning first, as on admission).
async fn links(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let now = ctx.now();
    let grants = store::grants::of_member(&ctx.pool, talk.project.id, talk.user, now).await?;
    let mut chats = 0;
    for grant in grants.iter().filter(|g| g.entitled) {
        for chat in store::chats::of_plan(&ctx.pool, grant.grant.plan_id).await? {
            chats += 1;
            let job =
                UnbanThenLink { grant_id: grant.grant.id, chat_id: chat.id, reason: format!("links:{}", talk.cause()) };
            ctx.enqueue(&job).await?;
        }
    }
    let text = texts::links_answer(talk.lang, chats);
    talk.reply(text, None).await
}

/// `/cancel`: asks to confirm stopping the renewals.
pub async fn cancel(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let now = talk.ctx().now();
    let grants = store::grants::of_member(&talk.ctx().pool, talk.project.id, talk.user, now).await?;
    let names: Vec<String> =
        grants.iter().filter(|g| g.entitled && cancellable(g)).map(|g| g.plan_name.clone()).collect();
    if names.is_empty() {
        let text = texts::cancel_nothing(talk.lang);
        return talk.reply(text, None).await;
    }
    let buttons = vec![
        InlineKeyboardButton::callback(texts::button(talk.lang, "confirm_cancel"), "cancel:yes"),
        InlineKeyboardButton::callback(texts::button(talk.lang, "keep"), "cancel:no"),
    ];
    let text = texts::cancel_confirm(talk.lang, &names.join(", "));
    talk.reply(text, Some(keyboard(buttons))).await
}

/// `/cancel` confirmed: each renewing subscription is canceled at its period's end.
pub async fn cancel_confirmed(talk: &mut Conversation<'_>) -> Result<(), JobError> {
    let ctx = talk.ctx();
    let now = ctx.now();
    let grants = store::grants::of_member(&ctx.pool, talk.project.id, talk.user, now).await?;
    let mut any = false;
    for grant in grants.iter().filter(|g| g.entitled && cancellable(g)) {
        ctx.enqueue(&CancelSubscription { grant_id: grant.grant.id, at_period_end: true }).await?;
        any = true;
    }
    let text = if any { texts::cancel_done(talk.lang) } else { texts::cancel_nothing(talk.lang) };
    talk.reply(text, None).await
}
