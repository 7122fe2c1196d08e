//! Request metrics and a span per request, by matched route (never by raw path,
//! which would carry ids and secrets into labels), with a request id on every log line
//! the request causes, echoed in the `x-request-id` response header.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use gatehouse_jobs::metrics as m;
use tracing::Instrument;

/// The header a request id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// The caller's request id when it is a short token of visible ASCII (a proxy's, say),
/// else a fresh one.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string())
}

/// Records `gatehouse_http_requests_total` and `gatehouse_http_request_duration_seconds`,
/// and runs the request inside a span carrying its id, method and route.
pub async fn observe(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let id = request_id(&request);
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16().to_string();
    metrics::counter!(m::HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(m::HTTP_DURATION, "route" => route, "method" => method).record(started.elapsed().as_secs_f64());
    response
}

/// Answers 408 when a request (its body included) takes longer than `limit`.
pub async fn deadline(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?limit, "request timed out");
            use axum::response::IntoResponse;
            (
                axum::http::StatusCode::REQUEST_TIMEOUT,
                axum::Json(
                    serde_json::json!({"error": {"code": "UNAVAILABLE", "message": "the request took too long"}}),
                ),
            )
                .into_response()
        }
    }
}
