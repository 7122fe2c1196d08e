//! The thin HTTP front: it authenticates, validates, writes intents and their jobs
//! in one transaction, and answers. It never calls Telegram or Stripe.
//!
//! # Layout
//!
//! - [`app`]: the router (`app(state) -> Router`, testable without a socket) and
//!   [`serve`] with graceful shutdown.
//! - [`error`]: [`ApiError`], mapped to HTTP in exactly one place.
//! - [`auth`]: who calls the integrator API (the admin token, a project's api key),
//!   what the key may do and its request limit; [`idempotency`]: `Idempotency-Key` on
//!   every `/v1` write.
//! - [`session`]: signed cookies, CSRF tokens and security headers of the HTML surfaces.
//! - `routes/`: `health` (`/healthz`, `/readyz`, `/metrics`), `telegram`
//!   (`POST /hooks/telegram/{bot_id}`, and `POST /hooks/manager` for the platform bot), `v1/` (the integrator API: projects, bot,
//!   chats, plans, grants, members, keys, deep links, lists, analytics, events and
//!   webhook endpoints, member actions, jobs), `compat` (the TGmembership-compatible
//!   `GET /bot{id}/{api_key}/{method}`) and `page/` (the membership page
//!   `/p/{handle}`, one module per screen), `console/` (`/console`, the operator's
//!   console).
//! - [`mcp`]: the MCP server at `/mcp`, the integrator API as tools for agents.

#![warn(missing_docs)]

pub mod auth;
pub mod error;
pub mod idempotency;
pub mod mcp;
mod observe;
pub mod openapi;
mod routes;
pub mod session;

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
/// Telegram sign-in verification (and signing, for tests and the demo).
pub use routes::page::telegram_login;
/// The bots' webhook secrets the Telegram webhook remembers, and for how long.
pub use routes::telegram::{SECRET_TTL as WEBHOOK_SECRET_TTL, WebhookSecrets};
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
    /// Gatehouse's time: every "has this ended?" the api answers takes `now` from it.
    pub clock: gatehouse_jobs::clock::Clock,
    /// The bots' webhook secrets, remembered for a moment (`POST /hooks/telegram`).
    pub webhook_secrets: Arc<WebhookSecrets>,
}

/// The router. Every route is listed here.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .route("/hooks/telegram/{bot_id}", post(routes::telegram::webhook))
        .route("/hooks/manager", post(routes::telegram::manager_webhook))
        .route("/hooks/stripe/{project_id}", post(routes::stripe::webhook))
        .route("/v1/openapi.json", get(openapi::document))
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
        .route("/v1/projects/{project_id}/access-codes", post(v1::access_codes::create).get(v1::access_codes::list))
        .route("/v1/projects/{project_id}/stars/refunds", post(v1::stars::refund))
        .route("/v1/projects/{project_id}/keys", post(v1::keys::create).get(v1::keys::list))
        .route("/v1/projects/{project_id}/keys/{key_id}", delete(v1::keys::revoke))
        .route("/v1/projects/{project_id}/deep-link", get(v1::deep_link::show))
        .route("/v1/projects/{project_id}", get(v1::projects::show))
        .route("/v1/projects/{project_id}/members/{telegram_user_id}/kick", post(v1::member_actions::kick_route))
        .route("/v1/projects/{project_id}/members/{telegram_user_id}/ban", post(v1::member_actions::ban_route))
        .route("/v1/projects/{project_id}/members/{telegram_user_id}/unban", post(v1::member_actions::unban_route))
        .route(
            "/v1/projects/{project_id}/members/{telegram_user_id}/cancel-subscription",
            post(v1::member_actions::cancel_route),
        )
        .route("/v1/projects/{project_id}/jobs/failed", get(v1::jobs::failed_route))
        .route("/v1/projects/{project_id}/jobs/{job_id}", get(v1::jobs::show_route))
        .route("/v1/projects/{project_id}/jobs/{job_id}/retry", post(v1::jobs::retry_route))
        .route("/v1/projects/{project_id}/events", get(v1::events::list))
        .route("/v1/projects/{project_id}/webhook-endpoints", post(v1::webhooks::create).get(v1::webhooks::list))
        .route(
            "/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}",
            get(v1::webhooks::show).patch(v1::webhooks::change).delete(v1::webhooks::delete),
        )
        .route("/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}/rotate-secret", post(v1::webhooks::rotate))
        .route("/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}/deliveries", get(v1::webhooks::deliveries))
        .route(
            "/v1/projects/{project_id}/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver",
            post(v1::webhooks::redeliver),
        )
        .route("/v1/projects/{project_id}/subscribers", get(v1::subscribers::list))
        .route("/v1/projects/{project_id}/subscriptions", get(v1::subscriptions::list))
        .route("/v1/projects/{project_id}/payments", get(v1::payments::list))
        .route("/v1/projects/{project_id}/audit", get(v1::audit::list))
        .route("/v1/projects/{project_id}/analytics", get(v1::analytics::show))
        // TGmembership's URL shape: /bot<telegram bot id>/<api key>/<method>.
        .route("/{bot}/{api_key}/{method}", get(routes::compat::call))
        // The membership page (`/p/{handle}`, `/static/page.*`): HTML with its own
        // security headers and error pages; see `routes/page/`.
        .merge(routes::page::routes())
        // The operator's console (`/console`): HTML with its own security headers and a
        // signed session cookie; see `routes/console/`.
        .merge(routes::console::routes())
        // The MCP server (`mcp/`): the same tools over the Model Context Protocol.
        .nest("/mcp", mcp::router(state.clone()))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(axum::middleware::from_fn(observe::observe))
        .with_state(state)
}

/// How long requests in flight may finish after `shutdown` before their connections close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves the api on `listener` until `shutdown` completes, then lets requests in
/// flight finish (within [`SHUTDOWN_GRACE`]).
///
/// A client gets `GATEHOUSE_HTTP_HEADER_TIMEOUT_MS` to send a request's headers (a
/// half-open or idle connection is closed after it), a request gets
/// `GATEHOUSE_HTTP_REQUEST_TIMEOUT_MS` (then 408), and at most
/// `GATEHOUSE_HTTP_MAX_CONNECTIONS` connections are served at once: the rest wait in the
/// kernel's accept queue instead of costing memory and file descriptors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::{conn::auto, graceful::GracefulShutdown},
        service::TowerToHyperService,
    };
    let addr: SocketAddr = listener.local_addr()?;
    // The debounced wake-ups of the workers after a burst of enqueues go out on this pool.
    gatehouse_jobs::queue::wake::install(&state.pool);
    let settings = state.config.http.clone();
    tracing::info!(%addr, max_connections = settings.max_connections, "api listening");
    let router = app(state).layer(axum::middleware::from_fn_with_state(settings.request_timeout, observe::deadline));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(settings.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(settings.header_timeout))
        .keep_alive_timeout(settings.header_timeout);
    let slots = Arc::new(tokio::sync::Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the connection semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept: wait a
                    // moment and go on; the server never stops for one bad accept.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let header_timeout = settings.header_timeout;
        tokio::spawn(async move {
            // hyper times a request's headers from their first byte: a connection that
            // sends nothing at all is closed here, after the same timeout.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return drop(permit),
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("shutdown grace over: closing the connections still open"),
    }
    Ok(())
}

/// How long `/readyz` waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
