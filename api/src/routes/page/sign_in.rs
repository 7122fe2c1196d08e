//! Sign-in with Telegram, and sign-out.
//!
//! - `GET /p/{handle}/auth/telegram?id=…&auth_date=…&hash=…`: the Login Widget's
//!   `data-auth-url` redirect.
//! - `POST /p/{handle}/auth/webapp` (`init_data`): the page opened as a Mini App
//!   (`/static/page.js` posts the `initData` Telegram gave it).
//!
//! Both are checked against the project's own bot token ([`super::telegram_login`]).
//! Success: the subscriber is recorded, a signed session cookie (`HttpOnly`,
//! `SameSite=Lax`, `Secure` on https, 7 days) is set, and a 303 goes to the account.
//! Anything else: the 401 page, no cookie.
//! - `POST /p/{handle}/sign-out` (CSRF-checked): the cookie is cleared.

use axum::{
    Form,
    extract::{Path, RawQuery, State},
    response::Response,
};
use gatehouse_jobs::{
    crypto,
    store::{self, projects::Project, subscribers::Profile},
};
use serde::Deserialize;

use super::{
    PURPOSE, PageError, SESSION_COOKIE, SESSION_SECS, Visitor, see_other, session_payload,
    telegram_login::{self, TelegramUser},
};
use crate::{AppState, session};

/// The project's bot token, opened; `None` when the project has no verified bot.
async fn bot_token(state: &AppState, visitor: &Visitor, project: &Project) -> Result<Option<String>, PageError> {
    let lang = visitor.lang;
    let Some(bot) = store::bots::of_project(&state.pool, project.id).await.map_err(|e| PageError::db(lang, e))? else {
        return Ok(None);
    };
    if bot.verified_at.is_none() {
        return Ok(None);
    }
    let key = state.config.encryption_key().map_err(|e| {
        tracing::error!(error = %e, "membership page: no encryption key");
        PageError::Internal(lang)
    })?;
    let token = crypto::open(key, &bot.token_ciphertext).map_err(|e| {
        tracing::error!(error = %e, project_id = %project.id, "membership page: the bot token cannot be opened");
        PageError::Internal(lang)
    })?;
    Ok(Some(token.expose().clone()))
}

/// The Login Widget's redirect.
pub async fn widget(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    RawQuery(query): RawQuery,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let project = super::project(&state, lang, &handle).await?;
    let query = query.unwrap_or_default();
    if query.len() > 8192 {
        return Err(PageError::Refused(lang, project.handle.clone()));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&query).map_err(|_| PageError::Refused(lang, project.handle.clone()))?;
    // `lang` is the page's own parameter, not Telegram's.
    let pairs = pairs.into_iter().filter(|(k, _)| k != "lang").collect();
    let token = bot_token(&state, &visitor, &project).await?.ok_or(PageError::Refused(lang, project.handle.clone()))?;
    let user = telegram_login::verify_widget(pairs, &token, visitor.now).map_err(|refusal| {
        tracing::info!(project_id = %project.id, %refusal, "membership page: widget sign-in refused");
        PageError::Refused(lang, project.handle.clone())
    })?;
    signed_in(&state, &visitor, &project, &user).await
}

/// The Mini App's form.
#[derive(Deserialize)]
pub struct WebAppForm {
    init_data: String,
}

/// A Mini App's `initData`. A form posted from another site is refused (its `Origin`
/// is not ours), so nobody can sign a visitor in as someone else.
pub async fn webapp(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    headers: axum::http::HeaderMap,
    visitor: Visitor,
    Form(form): Form<WebAppForm>,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let project = super::project(&state, lang, &handle).await?;
    if let Some(origin) = headers.get(axum::http::header::ORIGIN).and_then(|o| o.to_str().ok())
        && origin != "null"
        && origin != origin_of(&state.config.public_url)
    {
        return Err(PageError::Forbidden(lang));
    }
    let token = bot_token(&state, &visitor, &project).await?.ok_or(PageError::Refused(lang, project.handle.clone()))?;
    let user = telegram_login::verify_init_data(&form.init_data, &token, visitor.now).map_err(|refusal| {
        tracing::info!(project_id = %project.id, %refusal, "membership page: Mini App sign-in refused");
        PageError::Refused(lang, project.handle.clone())
    })?;
    signed_in(&state, &visitor, &project, &user).await
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

async fn signed_in(
    state: &AppState,
    visitor: &Visitor,
    project: &Project,
    user: &TelegramUser,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let profile = Profile {
        username: user.username.as_deref().filter(|u| u.len() <= 64),
        first_name: user.first_name.as_deref().filter(|n| n.len() <= 256),
        language_code: user.language_code.as_deref().filter(|c| c.len() <= 16),
    };
    store::subscribers::upsert(&state.pool, project.id, user.id, profile).await.map_err(|e| PageError::db(lang, e))?;
    let expires =
        visitor.now.checked_add_signed(chrono::TimeDelta::seconds(SESSION_SECS)).ok_or(PageError::Internal(lang))?;
    let value = session::sign(&visitor.key, PURPOSE, &session_payload(project.id, user.id), expires);
    let path = format!("/p/{}", project.handle);
    let cookie = session::set_cookie(&state.config, SESSION_COOKIE, &value, &path, SESSION_SECS);
    tracing::info!(project_id = %project.id, telegram_user_id = user.id, "membership page: signed in");
    Ok(see_other(&format!("{path}/account"), &[cookie]))
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Signs out.
pub async fn sign_out(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let project = super::project(&state, visitor.lang, &handle).await?;
    visitor.check_csrf(&form.csrf)?;
    let path = format!("/p/{}", project.handle);
    let cookie = session::set_cookie(&state.config, SESSION_COOKIE, "", &path, 0);
    Ok(see_other(&path, &[cookie]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_origin_of_a_url_is_its_scheme_host_and_port() {
        assert_eq!(super::origin_of("https://members.example.com/base/"), "https://members.example.com");
        assert_eq!(super::origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
