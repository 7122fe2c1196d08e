//! `GET /p/{handle}`: the project's name and the plans on sale — price, length, trial,
//! the chats each includes — each with "Continue in Telegram"
//! (`https://t.me/<bot>?start=plan_<uuid>`) and, for a signed-in visitor, web payment
//! (Stripe Checkout when the project has Stripe and the plan a price; a Stars invoice
//! when the plan has a Stars price). Signed out, the Telegram Login Widget.

use std::collections::HashMap;

use axum::{
    extract::{Path, State},
    response::Response,
};
use gatehouse_jobs::{
    store::{self, plans::PlanWithChats, projects::Project},
    texts::{self as bot_texts, Lang},
};
use maud::{Markup, html};

use super::{
    PageError, Visitor,
    layout::{self, Frame},
    texts::t,
};
use crate::AppState;

/// What a plan card needs besides the plan.
struct Offer<'a> {
    lang: Lang,
    project: &'a Project,
    titles: &'a HashMap<i64, String>,
    stripe: bool,
    csrf: Option<&'a str>,
}

/// Shows the plans.
pub async fn show(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let project = super::project(&state, lang, &handle).await?;
    let db = |e| PageError::db(lang, e);
    let (plans, chats, stripe) = tokio::try_join!(
        store::plans::of_project(&state.pool, project.id),
        store::chats::of_project(&state.pool, project.id),
        store::stripe_settings::get(&state.pool, project.id),
    )
    .map_err(db)?;
    let titles: HashMap<i64, String> = chats.iter().map(|c| (c.telegram_chat_id, c.display_name())).collect();
    let signed_in = visitor.user_in(&project).is_some();
    let csrf = signed_in.then(|| visitor.csrf());
    let offer = Offer { lang, project: &project, titles: &titles, stripe: stripe.is_some(), csrf: csrf.as_deref() };
    let on_sale: Vec<&PlanWithChats> = plans.iter().filter(|p| p.plan.on_sale).collect();
    let tx = t(lang);
    let path = format!("/p/{}", project.handle);
    let frame = Frame {
        project: Some(&project),
        title: tx.plans,
        lang,
        signed_in: csrf.as_deref(),
        refresh: None,
        path: &path,
    };
    let body = html! {
        h1 { (project.name) }
        @if !signed_in {
            (sign_in_box(&state, lang, &project))
        }
        section aria-labelledby="plans-heading" {
            h2 #plans-heading { (tx.plans) }
            @if on_sale.is_empty() {
                p { (tx.no_plans) }
            } @else {
                ul.plans {
                    @for plan in &on_sale {
                        li { (card(&offer, plan)) }
                    }
                }
            }
        }
        @if offer.stripe { (layout::secure_note(lang)) }
    };
    Ok(super::html(&state, &visitor, layout::page(&frame, body)))
}

/// The sign-in box: the Telegram Login Widget (its script is the page's only
/// third-party request) and the hidden form a Mini App's sign-in posts.
fn sign_in_box(state: &AppState, lang: Lang, project: &Project) -> Markup {
    let tx = t(lang);
    let auth_url = format!("{}/p/{}/auth/telegram", state.config.public_url.trim_end_matches('/'), project.handle);
    html! {
        section.card.signin aria-labelledby="signin-heading" {
            div {
                h2.flush #signin-heading { (tx.sign_in) }
                p.hint { (tx.sign_in_to_pay) " " (tx.sign_in_hint) }
            }
            @if let Some(bot) = &project.bot_username {
                div.widget {
                    script async src="https://telegram.org/js/telegram-widget.js?22" data-telegram-login=(bot)
                        data-size="large" data-auth-url=(auth_url) data-request-access="write" {}
                }
            }
            form #webapp-auth method="post" action={ "/p/" (project.handle) "/auth/webapp" } hidden {
                input type="hidden" name="init_data" value="";
            }
        }
    }
}

fn card(offer: &Offer<'_>, item: &PlanWithChats) -> Markup {
    let tx = t(offer.lang);
    let plan = &item.plan;
    let id = plan.id;
    let card_price = plan.price_minor > 0 && plan.currency != "XTR";
    let pay_card = offer.stripe && card_price;
    let pay_stars = plan.stars_price.is_some();
    let price = if card_price {
        bot_texts::price(plan.price_minor, &plan.currency)
    } else if let Some(stars) = plan.stars_price {
        bot_texts::price(stars.into(), "XTR")
    } else {
        bot_texts::price(plan.price_minor, &plan.currency)
    };
    let heading = format!("plan-{}", id.simple());
    html! {
        article.card.plan #(heading) aria-labelledby={ (heading) "-name" } {
            h3 #{ (heading) "-name" } { (plan.name) }
            p.price { (price) " " small { "/ " (bot_texts::duration(offer.lang, plan.duration_days)) } }
            ul.facts {
                @if plan.trial_days > 0 { li { ((tx.trial)(plan.trial_days)) } }
                li { @if plan.recurring { (tx.renews) } @else { (tx.one_time) } }
                @if card_price && pay_stars {
                    li { (bot_texts::price(plan.stars_price.unwrap_or_default().into(), "XTR")) }
                }
            }
            @if !item.telegram_chat_ids.is_empty() {
                p.includes {
                    span { (tx.includes) ": " }
                    @for (i, chat) in item.telegram_chat_ids.iter().enumerate() {
                        @if i > 0 { ", " }
                        (offer.titles.get(chat).cloned().unwrap_or_else(|| chat.to_string()))
                    }
                }
            }
            div.actions {
                @if let Some(csrf) = offer.csrf {
                    @if pay_card { (pay_form(offer, plan.id, "stripe", tx.pay_card, "primary", csrf)) }
                    @if pay_stars { (pay_form(offer, plan.id, "stars", tx.pay_stars, if pay_card { "secondary" } else { "primary" }, csrf)) }
                } @else if pay_card || pay_stars {
                    p.hint { a href="#signin-heading" { ((tx.pay_after_sign_in)(pay_card, pay_stars)) } }
                }
                @if let Some(bot) = &offer.project.bot_username {
                    a.button.secondary href={ "https://t.me/" (bot) "?start=plan_" (id) } { (tx.continue_in_telegram) }
                }
            }
        }
    }
}

fn pay_form(offer: &Offer<'_>, plan_id: uuid::Uuid, provider: &str, label: &str, class: &str, csrf: &str) -> Markup {
    html! {
        form method="post" action={ "/p/" (offer.project.handle) "/checkout" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="plan_id" value=(plan_id);
            input type="hidden" name="provider" value=(provider);
            button.button.(class) type="submit" data-provider=(provider) { (label) }
        }
    }
}
