//! `GET /p/{handle}/account` (signed in; else a 303 to the plans page, where the
//! sign-in is): each subscription with its state, time left and renewal date, cancel
//! at period end, renew, and the personal chat links.
//!
//! Everything is read for the session's user in the session's project only. Links
//! are issued by the bot's own job (`unban-then-link`, unbanning first, as `/links`
//! does): `POST …/account/links` enqueues it for every chat the user is entitled to,
//! and the page shows the links from `invite_links` once they are there (refreshing
//! itself meanwhile). `POST …/account/cancel` enqueues `cancel-subscription` at the
//! period's end, as the bot's `/cancel` does.

use std::collections::HashMap;

use axum::{
    Form,
    extract::{Path, Query, State},
    response::Response,
};
use gatehouse_jobs::{
    catalog::{cancel_subscription::CancelSubscription, unban_then_link::UnbanThenLink},
    conversation::subscriber::cancellable,
    queue::{self, RunAt},
    store::{self, grants::GrantView, projects::Project},
    texts::{self as bot_texts},
};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    PageError, Visitor,
    layout::{self, Frame},
    see_other,
    texts::{self, t},
};
use crate::AppState;

/// How many subscriptions the page lists (newest first).
const MAX_SHOWN: usize = 50;
/// How many times a waiting account page reloads itself before it stops.
const MAX_REFRESHES: u32 = 30;

/// What the account page was sent back with.
#[derive(Deserialize, Default)]
pub struct Notice {
    /// Back from a payment (counts the page's reloads).
    paid: Option<u32>,
    /// Fresh links asked for (counts the page's reloads).
    links: Option<u32>,
    /// A cancellation was asked for.
    canceled: Option<u8>,
}

async fn signed_in(state: &AppState, visitor: &Visitor, handle: &str) -> Result<(Project, Option<i64>), PageError> {
    let project = super::project(state, visitor.lang, handle).await?;
    let user = visitor.user_in(&project);
    Ok((project, user))
}

/// Shows the account.
pub async fn show(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    Query(notice): Query<Notice>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let (project, user) = signed_in(&state, &visitor, &handle).await?;
    let Some(user) = user else {
        return Ok(see_other(&format!("/p/{}", project.handle), &[]));
    };
    let now = visitor.now;
    let db = |e| PageError::db(lang, e);
    let (grants, links, chats, subscriber) = tokio::try_join!(
        store::grants::of_member(&state.pool, project.id, user, now),
        store::links::open_links_of(&state.pool, project.id, user),
        store::chats::of_project(&state.pool, project.id),
        store::subscribers::find(&state.pool, project.id, user),
    )
    .map_err(db)?;
    let titles: HashMap<Uuid, String> = chats.iter().map(|c| (c.id, c.display_name())).collect();
    let links: Vec<_> = links
        .into_iter()
        .filter(|l| l.state == "open" && l.expire_at.is_none_or(|at| at > now))
        .filter_map(|l| {
            l.link.clone().map(|link| (titles.get(&l.chat_id).cloned().unwrap_or_default(), link, l.expire_at))
        })
        .collect();
    let entitled = grants.iter().any(|g| g.entitled);
    let tx = t(lang);

    // A page waiting for something reloads itself (bounded), counting in its URL.
    // Back from paying: until the payment is recorded and the links are made.
    let waiting_paid = notice.paid.filter(|n| *n < MAX_REFRESHES && (!entitled || links.is_empty()));
    let waiting_links = notice.links.filter(|n| *n < MAX_REFRESHES && entitled && links.is_empty());
    let base = format!("/p/{}/account", project.handle);
    let refresh = match (waiting_paid, waiting_links) {
        (Some(n), _) => Some(format!("2; url={base}?paid={}", n + 1)),
        (None, Some(n)) => Some(format!("2; url={base}?links={}", n + 1)),
        _ => None,
    };
    let csrf = visitor.csrf();
    let name = subscriber
        .as_ref()
        .and_then(|s| s.username.as_ref().map(|u| format!("@{u}")).or_else(|| s.first_name.clone()))
        .unwrap_or_else(|| user.to_string());
    let frame = Frame {
        project: Some(&project),
        title: tx.account,
        lang,
        signed_in: Some(&csrf),
        refresh: refresh.clone(),
        path: &base,
    };
    let body = html! {
        h1 { (tx.account) }
        p.lead { (tx.signed_in_as) " " strong { (name) } }
        @if waiting_paid.is_some() && !entitled { p.notice.wait role="status" { (tx.paid_waiting) } }
        @if (waiting_paid.is_some() && entitled) || waiting_links.is_some() { p.notice.wait role="status" { (tx.links_coming) } }
        @if notice.canceled.is_some() { p.notice role="status" { (tx.cancel_requested) } }
        section aria-labelledby="subs-heading" {
            h2 #subs-heading { (tx.subscriptions) }
            @if grants.is_empty() {
                p { (tx.no_subscriptions) " " a href={ "/p/" (project.handle) } { (tx.back_to_plans) } }
            } @else {
                ul.subs {
                    @for grant in grants.iter().take(MAX_SHOWN) {
                        li.card.sub { (subscription(&visitor, &project, grant, &csrf)) }
                    }
                }
            }
        }
        @if entitled {
            section aria-labelledby="links-heading" {
                h2 #links-heading { (tx.links) }
                p.hint { (tx.links_hint) }
                @if links.is_empty() {
                    p { (tx.no_links) }
                } @else {
                    ul.links {
                        @for (title, link, expires) in &links {
                            li.card {
                                strong { (title) } br;
                                a href=(link) rel="noopener" { (link) }
                                @if let Some(at) = expires { br; span.hint { (tx.link_until) " " (texts::date(lang, *at)) ", " (at.format("%H:%M UTC")) } }
                            }
                        }
                    }
                }
                form method="post" action={ (base) "/links" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.button.secondary type="submit" #fresh-links { (tx.fresh_links) }
                }
            }
        }
    };
    Ok(super::html(&state, &visitor, layout::page(&frame, body)))
}

fn subscription(visitor: &Visitor, project: &Project, grant: &GrantView, csrf: &str) -> Markup {
    let lang = visitor.lang;
    let tx = t(lang);
    let g = &grant.grant;
    let renews = grant.entitled && cancellable(grant) && g.state != "canceled";
    html! {
        div {
            h3 {
                (grant.plan_name)
                span.badge.off[!grant.entitled] { (texts::state(lang, &g.state)) }
            }
            p { (bot_texts::ends_phrase(lang, visitor.now, g.ends_at)) }
            @if let Some(ends) = g.ends_at {
                p { @if renews { (tx.renews_on) } @else { (tx.access_until) } ": " (texts::date(lang, ends)) }
            }
        }
        div {
            @if renews {
                form method="post" action={ "/p/" (project.handle) "/account/cancel" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="grant_id" value=(g.id);
                    button.button.secondary type="submit" { (tx.cancel) }
                }
            } @else if g.ends_at.is_some() {
                a.button.primary href={ "/p/" (project.handle) "#plan-" (g.plan_id.simple()) } { (tx.renew) }
            }
        }
    }
}

/// The cancel form.
#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
    grant_id: Uuid,
}

/// Cancels a subscription at its period's end.
pub async fn cancel(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    visitor: Visitor,
    Form(form): Form<CancelForm>,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let (project, user) = signed_in(&state, &visitor, &handle).await?;
    visitor.check_csrf(&form.csrf)?;
    let user = user.ok_or(PageError::Forbidden(lang))?;
    let db = |e| PageError::db(lang, e);
    // Only the user's own grants in this project are looked at.
    let grants = store::grants::of_member(&state.pool, project.id, user, visitor.now).await.map_err(db)?;
    let grant = grants
        .iter()
        .find(|g| g.grant.id == form.grant_id && g.entitled && cancellable(g))
        .ok_or(PageError::NotFound(lang))?;
    let mut conn = state.pool.acquire().await.map_err(db)?;
    let job = CancelSubscription { grant_id: grant.grant.id, at_period_end: true };
    queue::enqueue(&mut conn, &job, RunAt::Now).await.map_err(db)?;
    Ok(see_other(&format!("/p/{}/account?canceled=1", project.handle), &[]))
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct LinksForm {
    #[serde(default)]
    csrf: String,
}

/// Asks for fresh personal links: the bot's `/links` job for every chat the user is
/// entitled to (at most once a minute per chat: the job's key carries the minute).
pub async fn links(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    visitor: Visitor,
    Form(form): Form<LinksForm>,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let (project, user) = signed_in(&state, &visitor, &handle).await?;
    visitor.check_csrf(&form.csrf)?;
    let user = user.ok_or(PageError::Forbidden(lang))?;
    let db = |e| PageError::db(lang, e);
    let grants = store::grants::of_member(&state.pool, project.id, user, visitor.now).await.map_err(db)?;
    let minute = visitor.now.timestamp() / 60;
    let mut tx = state.pool.begin().await.map_err(db)?;
    for grant in grants.iter().filter(|g| g.entitled) {
        for chat in store::chats::of_plan(&mut *tx, grant.grant.plan_id).await.map_err(db)? {
            let job = UnbanThenLink { grant_id: grant.grant.id, chat_id: chat.id, reason: format!("page:{minute}") };
            queue::enqueue(&mut tx, &job, RunAt::Now).await.map_err(db)?;
        }
    }
    tx.commit().await.map_err(db)?;
    Ok(see_other(&format!("/p/{}/account?links=1", project.handle), &[]))
}
