//! The frame every screen shares (landmarks, skip link, language switch, sign-in
//! state), the error page, and the two static files: the stylesheet and the one
//! script (a Mini App's sign-in; served from this origin, so the CSP allows no inline
//! script at all).

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use gatehouse_jobs::{store::projects::Project, texts::Lang};
use maud::{DOCTYPE, Markup, html};

use super::texts::t;

const CSS: &str = include_str!("assets/page.css");
const JS: &str = include_str!("assets/page.js");

/// What the frame shows about the visitor.
pub struct Frame<'a> {
    /// The project (None on the 404 page).
    pub project: Option<&'a Project>,
    /// The page's title.
    pub title: &'a str,
    /// The language.
    pub lang: Lang,
    /// Signed in: the CSRF token for the sign-out form.
    pub signed_in: Option<&'a str>,
    /// `<meta http-equiv="refresh">` content (`"2"`, `"2; url=…"`) for waiting pages.
    pub refresh: Option<String>,
    /// The path the language switch links to (`?lang=` is added).
    pub path: &'a str,
}

/// The note under the plans when card payment is offered.
pub fn secure_note(lang: Lang) -> Markup {
    html! { footer.foot { p { (t(lang).secure_note) } } }
}

/// A whole page around `body`.
pub fn page(frame: &Frame<'_>, body: Markup) -> Markup {
    let tx = t(frame.lang);
    html! {
        (DOCTYPE)
        html lang=(tx.html_lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                @if let Some(refresh) = &frame.refresh {
                    meta http-equiv="refresh" content=(refresh);
                }
                title { (frame.title) @if let Some(p) = frame.project { " · " (p.name) } }
                link rel="stylesheet" href="/static/page.css";
                script src="/static/page.js" defer {}
            }
            body {
                a.skip href="#main" { (tx.skip) }
                header.top {
                    div.bar {
                        @if let Some(p) = frame.project {
                            a.brand href={ "/p/" (p.handle) } { (p.name) }
                        } @else {
                            span {}
                        }
                        nav aria-label=(tx.language) {
                            ul.nav {
                                li { a href={ (frame.path) "?lang=en" } hreflang="en" lang="en" aria-current=[(frame.lang == Lang::En).then_some("true")] { "English" } }
                                li { a href={ (frame.path) "?lang=ru" } hreflang="ru" lang="ru" aria-current=[(frame.lang == Lang::Ru).then_some("true")] { "Русский" } }
                                @if let (Some(p), Some(csrf)) = (frame.project, frame.signed_in) {
                                    li { a href={ "/p/" (p.handle) "/account" } { (tx.account) } }
                                    li {
                                        form.inline method="post" action={ "/p/" (p.handle) "/sign-out" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button.link type="submit" { (tx.sign_out) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// The page shown for an error, with a way back when there is one.
pub fn error_page(lang: Lang, heading: &str, hint: &str, back: Option<&str>) -> Markup {
    let frame = Frame { project: None, title: heading, lang, signed_in: None, refresh: None, path: "" };
    page(
        &frame,
        html! {
            section.card.narrow {
                h1 { (heading) }
                p { (hint) }
                @if let Some(back) = back {
                    p { a.button.primary href=(back) { (t(lang).back_to_plans) } }
                }
            }
        },
    )
}

/// `GET /static/page.css`.
pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CSS)
        .into_response()
}

/// `GET /static/page.js`.
pub async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], JS)
        .into_response()
}
