//! The membership page: a project's public portal at `/p/{handle}`, server-rendered
//! HTML (maud, compiled in; no front-end build). One module per screen:
//!
//! - [`plans`]: `GET /p/{handle}`: the project's plans, each with "Continue in
//!   Telegram" and, signed in, web payment.
//! - [`sign_in`]: the Login Widget's redirect, a Mini App's `initData`, sign-out
//!   (verification in [`telegram_login`]).
//! - [`account`]: `GET /p/{handle}/account`: subscriptions, cancel, renew, chat links.
//! - [`checkout`]: `POST /p/{handle}/checkout` enqueues the checkout job and sends the
//!   visitor to a page that refreshes itself until the payment URL is made.
//!
//! Every response carries the security headers of [`crate::session`]; every POST is
//! checked against the session's CSRF token. The session cookie is signed for the
//! purpose [`PURPOSE`], holds the project and the Telegram user, and is scoped to the
//! project's path: a session never reads another user's or another project's data.
//! The language is `?lang=`, else the `gh_lang` cookie, else `Accept-Language`.

pub mod account;
pub mod checkout;
pub mod layout;
pub mod plans;
pub mod sign_in;
pub mod telegram_login;
pub mod texts;

use axum::{
    Router,
    extract::FromRequestParts,
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use gatehouse_jobs::{store::projects::Project, texts::Lang};
use uuid::Uuid;

use crate::{AppState, session};

/// The purpose page session cookies are signed for.
pub const PURPOSE: &str = "page session";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gh_session";
/// The language cookie's name.
pub const LANG_COOKIE: &str = "gh_lang";
/// How long a sign-in lasts.
pub const SESSION_SECS: i64 = 7 * 24 * 60 * 60;
/// The longest handle looked up (longer ones are 404 without a query).
const MAX_HANDLE: usize = 64;

/// The page's routes (with their security headers), merged into [`crate::app`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/p/{handle}", get(plans::show))
        .route("/p/{handle}/auth/telegram", get(sign_in::widget))
        .route("/p/{handle}/auth/webapp", post(sign_in::webapp))
        .route("/p/{handle}/sign-out", post(sign_in::sign_out))
        .route("/p/{handle}/account", get(account::show))
        .route("/p/{handle}/account/cancel", post(account::cancel))
        .route("/p/{handle}/account/links", post(account::links))
        .route("/p/{handle}/checkout", post(checkout::create))
        .route("/p/{handle}/checkout/{checkout_id}", get(checkout::wait))
        .route("/static/page.css", get(layout::stylesheet))
        .route("/static/page.js", get(layout::script))
        .layer(axum::middleware::from_fn(session::security_headers))
}

/// An error shown as a page (never the integrator API's JSON).
#[derive(Debug)]
pub enum PageError {
    /// 404.
    NotFound(Lang),
    /// 400, with what was wrong.
    BadRequest(Lang, String),
    /// 401: a sign-in refused (to the project with this handle).
    Refused(Lang, String),
    /// 403: a POST without the session's CSRF token.
    Forbidden(Lang),
    /// 503: the database is unreachable.
    Unavailable(Lang),
    /// 500: logged with its cause.
    Internal(Lang),
}

impl PageError {
    /// A database error, classified once (`gatehouse_jobs::db`), logged.
    pub fn db(lang: Lang, e: sqlx::Error) -> Self {
        use gatehouse_jobs::db::{ErrorClass, classify};
        match classify(&e) {
            ErrorClass::Unavailable | ErrorClass::Contention => {
                tracing::warn!(error = %e, "membership page: database unavailable");
                PageError::Unavailable(lang)
            }
            _ => {
                tracing::error!(error = ?e, "membership page: database error");
                PageError::Internal(lang)
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let back = match &self {
            PageError::Refused(_, handle) => Some(format!("/p/{handle}")),
            _ => None,
        };
        let (status, lang, heading, hint) = match &self {
            PageError::NotFound(l) => {
                (StatusCode::NOT_FOUND, *l, texts::t(*l).not_found, texts::t(*l).not_found_hint.to_string())
            }
            PageError::BadRequest(l, why) => (StatusCode::BAD_REQUEST, *l, texts::t(*l).bad_request, why.clone()),
            PageError::Refused(l, _) => {
                (StatusCode::UNAUTHORIZED, *l, texts::t(*l).refused, texts::t(*l).refused_hint.to_string())
            }
            PageError::Forbidden(l) => {
                (StatusCode::FORBIDDEN, *l, texts::t(*l).bad_request, texts::t(*l).forbidden_hint.to_string())
            }
            PageError::Unavailable(l) => (
                StatusCode::SERVICE_UNAVAILABLE,
                *l,
                texts::t(*l).unavailable,
                texts::t(*l).unavailable_hint.to_string(),
            ),
            PageError::Internal(l) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                *l,
                texts::t(*l).unavailable,
                texts::t(*l).unavailable_hint.to_string(),
            ),
        };
        (status, axum::response::Html(layout::error_page(lang, heading, &hint, back.as_deref()).into_string()))
            .into_response()
    }
}

/// The visitor's language: `?lang=`, else the cookie, else `Accept-Language`.
pub fn language(headers: &HeaderMap, query_lang: Option<&str>) -> Lang {
    if let Some(lang) = query_lang.and_then(parse_lang) {
        return lang;
    }
    if let Some(lang) = session::cookie(headers, LANG_COOKIE).and_then(parse_lang) {
        return lang;
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    // The first of en/ru by the visitor's preference (q weights; order breaks ties).
    let mut best: Option<(f32, usize, Lang)> = None;
    for (i, part) in accept.split(',').take(32).enumerate() {
        let mut bits = part.trim().split(';');
        let tag = bits.next().unwrap_or("").trim();
        let q = bits
            .find_map(|b| b.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .filter(|q| q.is_finite())
            .unwrap_or(1.0);
        if let Some(lang) = parse_lang(tag)
            && q > 0.0
            && best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi))
        {
            best = Some((q, i, lang));
        }
    }
    best.map_or(Lang::En, |(_, _, l)| l)
}

fn parse_lang(tag: &str) -> Option<Lang> {
    let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
    match primary.as_str() {
        "en" => Some(Lang::En),
        "ru" => Some(Lang::Ru),
        _ => None,
    }
}

/// What every page request knows: the language, and the signed-in visitor (if any).
pub struct Visitor {
    /// The visitor's language.
    pub lang: Lang,
    /// `?lang=` was given: the response sets the language cookie.
    pub chose_lang: bool,
    /// The session's payload (`<project id>:<telegram user id>`), if signed in.
    pub session: Option<String>,
    /// The cookie key.
    pub key: [u8; 32],
    /// Now, by Gatehouse's clock.
    pub now: DateTime<Utc>,
}

impl Visitor {
    /// The Telegram user signed in to `project`, if any: a session of another project
    /// is not a session here.
    pub fn user_in(&self, project: &Project) -> Option<i64> {
        let (project_id, user) = self.session.as_deref()?.split_once(':')?;
        (project_id == project.id.to_string()).then(|| user.parse().ok()).flatten()
    }

    /// The CSRF token of this session (empty when signed out).
    pub fn csrf(&self) -> String {
        self.session.as_deref().map(|s| session::csrf_token(&self.key, s)).unwrap_or_default()
    }

    /// Checks a POST's CSRF token against the session.
    pub fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        match &self.session {
            Some(s) if session::csrf_ok(&self.key, s, given) => Ok(()),
            _ => Err(PageError::Forbidden(self.lang)),
        }
    }

    /// `Set-Cookie` for the language the visitor chose, when they chose one.
    pub fn lang_cookie(&self, state: &AppState) -> Option<String> {
        self.chose_lang.then(|| {
            let value = match self.lang {
                Lang::En => "en",
                Lang::Ru => "ru",
            };
            session::set_cookie(&state.config, LANG_COOKIE, value, "/", 365 * 24 * 60 * 60)
        })
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let query_lang = parts
            .uri
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lang=")))
            .filter(|l| l.len() <= 8);
        let lang = language(&parts.headers, query_lang);
        let key = session::cookie_key(&state.config).map_err(|e| {
            tracing::error!(error = %e, "membership page: no cookie key");
            PageError::Internal(lang)
        })?;
        let now = state.clock.now();
        let session =
            session::cookie(&parts.headers, SESSION_COOKIE).and_then(|v| session::verify(&key, PURPOSE, v, now));
        Ok(Visitor { lang, chose_lang: query_lang.and_then(parse_lang).is_some(), session, key, now })
    }
}

/// The project at `/p/{handle}`, or the 404 page.
pub async fn project(state: &AppState, lang: Lang, handle: &str) -> Result<Project, PageError> {
    if handle.is_empty() || handle.len() > MAX_HANDLE || handle.contains('\0') {
        return Err(PageError::NotFound(lang));
    }
    gatehouse_jobs::store::projects::by_handle(&state.pool, handle)
        .await
        .map_err(|e| PageError::db(lang, e))?
        .ok_or(PageError::NotFound(lang))
}

/// The session payload for a user of a project.
pub fn session_payload(project_id: Uuid, telegram_user_id: i64) -> String {
    format!("{project_id}:{telegram_user_id}")
}

/// A 303 to `location`, with `cookies` set.
pub fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_string())]).into_response();
    for c in cookies {
        if let Ok(v) = header::HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// An HTML response with the language cookie set when the visitor chose a language.
pub fn html(state: &AppState, visitor: &Visitor, markup: maud::Markup) -> Response {
    let mut response = axum::response::Html(markup.into_string()).into_response();
    if let Some(c) = visitor.lang_cookie(state).and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, v.parse().unwrap());
        language(&h, None)
    }

    #[test]
    fn the_language_follows_accept_language_weights() {
        assert_eq!(accept("ru-RU,ru;q=0.9,en;q=0.8"), Lang::Ru);
        assert_eq!(accept("de-DE,en;q=0.5,ru;q=0.4"), Lang::En);
        assert_eq!(accept("en;q=0.3,ru;q=0.7"), Lang::Ru);
        assert_eq!(accept("fr"), Lang::En);
        assert_eq!(accept("ru;q=0"), Lang::En);
    }

    #[test]
    fn the_query_overrides_the_cookie_and_the_header() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "ru".parse().unwrap());
        h.insert(header::COOKIE, "gh_lang=ru".parse().unwrap());
        assert_eq!(language(&h, Some("en")), Lang::En);
        assert_eq!(language(&h, None), Lang::Ru);
    }
}
