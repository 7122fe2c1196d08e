//! Process plumbing: configuration, the shared state, the HTTP accept loop (which can drop a
//! connection without answering), webhook delivery workers, [`Sim::start`] and [`serve`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::client::SimClient;
use crate::clock::Clock;
use crate::error::SimError;
use crate::model::{RateLimits, Settings};
use crate::seed::Seed;
use crate::stripe::StripeWorld;
use crate::world::World;

/// Configuration of a simulator instance.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Global rate-limit switch. Default on.
    pub rate_limits_enabled: bool,
    /// Rate limits every new bot starts with (Telegram's figures by default).
    pub default_limits: RateLimits,
    /// Initial world, also restored by `POST /sim/reset`.
    pub seed: Option<Seed>,
    /// How long a pre-checkout query waits for `answerPreCheckoutQuery`. Default 10 s.
    pub pre_checkout_timeout: Duration,
    /// First delay before re-sending an update the webhook refused. Default 100 ms.
    pub webhook_retry_initial: Duration,
    /// Longest delay between webhook retries. Default 5 s.
    pub webhook_retry_max: Duration,
    /// Timeout of one webhook POST. Default 10 s.
    pub webhook_timeout: Duration,
    /// Calls kept in the call log (oldest dropped first). Default 100 000.
    pub call_log_capacity: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            rate_limits_enabled: true,
            default_limits: RateLimits::default(),
            seed: None,
            pre_checkout_timeout: Duration::from_secs(10),
            webhook_retry_initial: Duration::from_millis(100),
            webhook_retry_max: Duration::from_secs(5),
            webhook_timeout: Duration::from_secs(10),
            call_log_capacity: 100_000,
        }
    }
}

impl SimConfig {
    pub(crate) fn settings(&self) -> Settings {
        Settings {
            rate_limits_enabled: self.rate_limits_enabled,
            pre_checkout_timeout_ms: self.pre_checkout_timeout.as_millis() as u64,
            stale_chat_member_secs: 0,
        }
    }
}

/// Marker put on a response to close the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// State shared by every handler and worker.
pub(crate) struct Shared {
    pub(crate) world: Mutex<World>,
    pub(crate) stripe: Mutex<StripeWorld>,
    pub(crate) clock: Clock,
    pub(crate) http: reqwest::Client,
    pub(crate) config: SimConfig,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) base_url: String,
}

impl Shared {
    /// Starts delivery workers for bots created since the last call.
    pub(crate) fn start_workers(self: &Arc<Self>) {
        let new: Vec<(i64, u64)> = {
            let mut w = self.world.lock().expect("world lock");
            let generation = w.generation;
            std::mem::take(&mut w.new_bots).into_iter().map(|id| (id, generation)).collect()
        };
        for (bot_id, generation) in new {
            tokio::spawn(crate::delivery::run(self.clone(), bot_id, generation));
        }
    }

    /// Replaces the world by a fresh one built from the seed.
    pub(crate) fn reset(self: &Arc<Self>) -> Result<(), SimError> {
        {
            let mut w = self.world.lock().expect("world lock");
            let generation = w.generation + 1;
            let mut fresh =
                World::new(self.config.settings(), self.config.default_limits.clone(), self.config.call_log_capacity);
            fresh.generation = generation;
            // Wake old workers so they notice they are stale and exit.
            for bot in w.bots.values() {
                bot.wake.notify_one();
            }
            *w = fresh;
            if let Some(seed) = &self.config.seed {
                seed.apply(&mut w, self.clock.now())?;
            }
        }
        {
            let mut s = self.stripe.lock().expect("stripe lock");
            *s = StripeWorld::default();
            if let Some(seed) = &self.config.seed {
                seed.apply_stripe(&mut s);
            }
        }
        self.start_workers();
        Ok(())
    }
}

/// Entry point of the simulator library.
pub struct Sim;

impl Sim {
    /// Starts a simulator in this process and returns once it accepts connections.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let http = reqwest::Client::builder().timeout(config.webhook_timeout).build()?;
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(config.settings(), config.default_limits.clone(), config.call_log_capacity)),
            stripe: Mutex::new(StripeWorld::default()),
            clock: Clock::new(),
            http,
            config,
            shutdown: shutdown_rx.clone(),
            base_url: base_url.clone(),
        });
        shared.reset()?;
        let router = app(shared.clone());
        let task = tokio::spawn(accept_loop(listener, router, shutdown_rx));
        tracing::info!(%base_url, "simulator listening");
        Ok(SimHandle { addr, base_url, shutdown: shutdown_tx, task })
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    base_url: String,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// `http://HOST:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Bot API URL for a token: `{base}/bot{token}/` (append the method).
    pub fn bot_api_url(&self, token: &str) -> String {
        format!("{}/bot{token}/", self.base_url)
    }

    /// A control client for this simulator.
    pub fn client(&self) -> SimClient {
        SimClient::new(&self.base_url)
    }

    /// Stops accepting connections, lets open requests finish (up to 5 s) and stops workers.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// The whole HTTP surface: control API, Stripe API, and the Bot API as fallback.
pub(crate) fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .nest("/sim", crate::control::routes())
        .nest("/stripe", crate::stripe::api_routes())
        .fallback(crate::bot_api::handle)
        .with_state(shared)
}

async fn accept_loop(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let router = router.clone();
                    async move {
                        let resp = router
                            .oneshot(req.map(Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        if resp.extensions().get::<DropConnection>().is_some() {
                            return Err(Dropped);
                        }
                        Ok(resp)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
}

/// Runs a standalone simulator until Ctrl-C or SIGTERM (`gatehouse sim --listen ADDR --seed FILE`).
pub async fn serve(listen: SocketAddr, seed: Option<PathBuf>) -> Result<(), SimError> {
    let seed = match seed {
        Some(path) => Some(Seed::load(&path)?),
        None => None,
    };
    let handle = Sim::start(SimConfig { listen, seed, ..SimConfig::default() }).await?;
    println!("gatehouse-sim listening on {}", handle.base_url());
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
