//! The thin HTTP front: it authenticates, validates, writes intents and their jobs
//! in one transaction, and answers. It never calls Telegram or Stripe.
//!
//! # Layout
//!
//! - [`app`]: the router (`app(state) -> Router`, testable without a socket) and
//!   [`serve`] with graceful shutdown.
//! - [`error`]: [`ApiError`], mapped to HTTP in exactly one place.
//! - [`auth`]: who calls the integrator API (the admin token, a project's api key).
//! - `routes/`: `health` (`/healthz`, `/readyz`, `/metrics`), `telegram`
//!   (`POST /hooks/telegram/{bot_id}`) and `v1/` (the integrator setup API:
//!   projects, bot, chats, plans, grants, members).

#![warn(missing_docs)]

pub mod auth;
pub mod error;
mod observe;
mod routes;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{delete, get, post, put},
};
use gatehouse_jobs::Config;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

pub use error::ApiError;
use routes::v1;

/// The largest request body accepted (Telegram updates are far smaller).
pub const MAX_BODY: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// The process configuration.
    pub config: Arc<Config>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The router. Every route is listed here.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .route("/hooks/telegram/{bot_id}", post(routes::telegram::webhook))
        .route("/hooks/stripe/{project_id}", post(routes::stripe::webhook))
        .route("/v1/projects", post(v1::projects::create))
        .route("/v1/projects/{project_id}/bot", put(v1::bot::connect).get(v1::bot::show))
        .route("/v1/projects/{project_id}/bot/limits", put(v1::bot::set_limits))
        .route("/v1/projects/{project_id}/chats", post(v1::chats::add).get(v1::chats::list))
        .route("/v1/projects/{project_id}/plans", post(v1::plans::create).get(v1::plans::list))
        .route("/v1/projects/{project_id}/grants", post(v1::grants::create))
        .route("/v1/projects/{project_id}/grants/{grant_id}", delete(v1::grants::revoke))
        .route("/v1/projects/{project_id}/admins", post(v1::admins::add))
        .route("/v1/projects/{project_id}/admins/{telegram_user_id}", delete(v1::admins::remove))
        .route("/v1/projects/{project_id}/access-tokens", post(v1::access_tokens::create))
        .route("/v1/projects/{project_id}/whitelist", post(v1::members::whitelist))
        .route("/v1/projects/{project_id}/whitelist/{telegram_user_id}", delete(v1::members::unwhitelist))
        .route("/v1/projects/{project_id}/members/{telegram_user_id}", get(v1::members::show))
        .route("/v1/projects/{project_id}/stripe", put(v1::stripe::put).get(v1::stripe::show))
        .route("/v1/projects/{project_id}/checkout", post(v1::checkout::create))
        .route("/v1/projects/{project_id}/checkout/{checkout_id}", get(v1::checkout::show))
        .route("/v1/projects/{project_id}/access-codes", post(v1::access_codes::create))
        .route("/v1/projects/{project_id}/stars/refunds", post(v1::stars::refund))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(observe::observe))
        .with_state(state)
}

/// Serves the api on `listener` until `shutdown` completes, then lets requests in
/// flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "api listening");
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

/// How long `/readyz` waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
