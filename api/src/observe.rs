//! Request metrics and a span per request, by matched route (never by raw path,
//! which would carry ids and secrets into labels).

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use gatehouse_jobs::metrics as m;

/// Records `gatehouse_http_requests_total` and `gatehouse_http_request_duration_seconds`.
pub async fn observe(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let span = tracing::debug_span!("request", %method, %route);
    let response = {
        let _enter = span.enter();
        next.run(request).await
    };
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
                axum::Json(serde_json::json!({"error": {"code": "timeout", "message": "the request took too long"}})),
            )
                .into_response()
        }
    }
}
