//! Paying on the web without holding a request open.
//!
//! `POST /p/{handle}/checkout` (signed in, CSRF-checked; `plan_id`, `provider` =
//! `stripe` or `stars`) records a checkout request with its job
//! (`create-stripe-checkout` / `send-stars-invoice`, the same jobs as the bot and the
//! integrator API) in one transaction, and 303s to `GET /p/{handle}/checkout/{id}`.
//! That page reloads itself every second until the job has made the payment URL,
//! then 303s the visitor to it (Stripe's checkout, which returns to the account page,
//! or the Stars invoice link in Telegram). A failed request shows why, and nothing was
//! charged.

use axum::{
    Form,
    extract::{Path, State},
    response::Response,
};
use gatehouse_jobs::{
    payments::checkout::{self, Provider},
    store::{self, subscribers::Profile},
};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    PageError, Visitor,
    layout::{self, Frame},
    see_other,
    texts::t,
};
use crate::AppState;

/// The pay form.
#[derive(Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    csrf: String,
    plan_id: Uuid,
    provider: String,
}

/// Records the checkout and sends the visitor to wait for it.
pub async fn create(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    visitor: Visitor,
    Form(form): Form<CheckoutForm>,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let project = super::project(&state, lang, &handle).await?;
    visitor.check_csrf(&form.csrf)?;
    let user = visitor.user_in(&project).ok_or(PageError::Forbidden(lang))?;
    let db = |e| PageError::db(lang, e);
    let refused = |why: &str| PageError::BadRequest(lang, why.to_string());
    let mut tx = state.pool.begin().await.map_err(db)?;
    let plan = store::plans::get(&mut *tx, project.id, form.plan_id)
        .await
        .map_err(db)?
        .filter(|p| p.on_sale)
        .ok_or(PageError::NotFound(lang))?;
    let provider = match form.provider.as_str() {
        "stripe" => {
            if store::stripe_settings::get(&mut *tx, project.id).await.map_err(db)?.is_none()
                || plan.price_minor <= 0
                || plan.currency == "XTR"
            {
                return Err(refused("this plan cannot be paid by card"));
            }
            Provider::Stripe
        }
        "stars" if plan.stars_price.is_some() => Provider::Stars,
        "stars" => return Err(refused("this plan cannot be paid with Stars")),
        _ => return Err(refused("provider: expected stripe or stars")),
    };
    let payer = store::subscribers::upsert(&mut *tx, project.id, user, Profile::default()).await.map_err(db)?;
    if payer.status == "banned" {
        return Err(PageError::Forbidden(lang));
    }
    let return_url = format!("{}/p/{}/account?paid=1", state.config.public_url.trim_end_matches('/'), project.handle);
    let id = checkout::begin_returning(&mut tx, project.id, payer.id, plan.id, provider, Some(&return_url))
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(see_other(&format!("/p/{}/checkout/{id}", project.handle), &[]))
}

/// Waits for the payment URL, then sends the visitor to it.
pub async fn wait(
    State(state): State<AppState>,
    Path((handle, checkout_id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let project = super::project(&state, lang, &handle).await?;
    let user = visitor.user_in(&project);
    let id: Uuid = checkout_id.parse().map_err(|_| PageError::NotFound(lang))?;
    let request = store::checkouts::get(&state.pool, id)
        .await
        .map_err(|e| PageError::db(lang, e))?
        // Only the payer, in this project, sees their checkout.
        .filter(|r| r.project_id == project.id && Some(r.telegram_user_id) == user)
        .ok_or(PageError::NotFound(lang))?;
    let tx = t(lang);
    let failed = request.state == "failed";
    // The payment page is ready: the visitor goes there by a refresh of this page, not by a
    // 303. This page is reached by the 303 that answers the checkout form, and a browser
    // holds the whole redirect chain of a form submission to the CSP's `form-action 'self'`:
    // a 303 from here to Stripe's (or Telegram's) origin would be blocked whenever the job
    // had finished before the browser came here.
    let ready = request
        .url
        .as_deref()
        .filter(|url| request.state == "sent" && (url.starts_with("https://") || url.starts_with("http://")));
    let path = format!("/p/{}/checkout/{id}", project.handle);
    let csrf = visitor.csrf();
    let refresh = match ready {
        Some(url) => Some(format!("0; url={url}")),
        None => (!failed).then(|| "1".to_string()),
    };
    let frame =
        Frame { project: Some(&project), title: tx.preparing, lang, signed_in: Some(&csrf), refresh, path: &path };
    let body = html! {
        section.card.narrow aria-live="polite" {
            @if let Some(url) = ready {
                h1 { (tx.preparing) }
                p { a #to-payment href=(url) { (tx.to_payment) } }
            } @else if failed {
                h1 { (tx.payment_failed) }
                p { a href={ "/p/" (project.handle) } { (tx.back_to_plans) } }
            } @else {
                h1 { (tx.preparing) }
                div.spinner aria-hidden="true" {}
                p { (tx.preparing_hint) }
            }
        }
    };
    Ok(super::html(&state, &visitor, layout::page(&frame, body)))
}
