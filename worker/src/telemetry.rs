//! The worker's metrics listener.

use std::net::SocketAddr;

/// The process's Prometheus handle (see [`gatehouse_jobs::metrics::prometheus`]).
pub fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    gatehouse_jobs::metrics::prometheus()
}

/// Serves `GET /metrics` (and `GET /healthz`) on `addr` until `shutdown` completes.
pub async fn serve_metrics(
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    use axum::{Router, routing::get};
    let handle = prometheus();
    let app = Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .route("/healthz", get(|| std::future::ready("ok")));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    Ok(bound)
}
