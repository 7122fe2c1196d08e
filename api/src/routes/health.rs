//! `/healthz`, `/readyz`, `/metrics`.

use axum::{extract::State, http::StatusCode};

use crate::AppState;

/// 200 while the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database answers and the migrations are applied, else 503.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(crate::READY_TIMEOUT, gatehouse_jobs::db::is_ready(&state.pool)).await {
        Ok(true) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "not ready: database unreachable or not migrated"),
    }
}

/// Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> String {
    state.metrics.render()
}
