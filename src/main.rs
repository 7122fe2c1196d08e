//! `gatehouse`: the command line. It only parses arguments, loads configuration,
//! sets up telemetry and calls into the libraries.

mod demo;
mod ops_cli;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse_jobs::Config;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "Paid Telegram memberships: api, workers, simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if missing and apply all migrations (safe to repeat).
    Migrate,
    /// Run the HTTP api (webhooks, integrator API, health, metrics).
    Api,
    /// Run a worker process (queues, scheduler, its own /metrics).
    Worker,
    /// Run api and worker in one process, for small installs.
    All,
    /// Play the whole story against the simulator and the local Postgres.
    Demo,
    /// The queue, for operators: stats, list, show, retry, cancel.
    Jobs(ops_cli::JobsArgs),
    /// The bots' budget use, 429s and pauses; pause or resume a bot.
    Bots(ops_cli::BotsArgs),
    /// Run the Telegram Bot API and Stripe simulator.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// A JSON file describing the initial world.
        #[arg(long)]
        seed: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; its logs only speak up for problems.
    // The demo and the operator's commands print their own output; their logs only speak up for problems.
    let quiet = matches!(cli.command, Command::Demo | Command::Jobs(_) | Command::Bots(_));
    init_tracing(if quiet { "warn" } else { "info,sqlx=warn,apalis=warn" });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gatehouse: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn run(command: Command) -> anyhow::Result<()> {
    if let Command::Sim { listen, seed } = command {
        return gatehouse_sim::serve(listen, seed).await.context("simulator");
    }
    let config = Arc::new(Config::from_env().context("configuration")?);
    match command {
        Command::Migrate => {
            gatehouse_jobs::db::migrate(config.database_url.expose()).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Api => run_api(config, shutdown_signal()).await,
        Command::Worker => run_worker(config, shutdown_signal()).await,
        Command::All => {
            let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
            let api = run_api(config.clone(), wait(stop.subscribe()));
            let worker = run_worker(config, wait(stop.subscribe()));
            let signal = async move {
                shutdown_signal().await;
                let _ = stop.send(());
            };
            let (api, worker, ()) = tokio::join!(api, worker, signal);
            api.and(worker)
        }
        Command::Demo => demo::run(config).await,
        Command::Jobs(args) => ops_cli::jobs(&config, args).await,
        Command::Bots(args) => ops_cli::bots(&config, args).await,
        Command::Sim { .. } => unreachable!("handled above"),
    }
}

async fn wait(mut rx: tokio::sync::broadcast::Receiver<()>) {
    let _ = rx.recv().await;
}

async fn run_api(config: Arc<Config>, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    config.admin_token().context("configuration")?;
    config.encryption_key().context("configuration")?;
    let pool = gatehouse_jobs::db::pool(config.database_url.expose(), 16)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("GATEHOUSE_LISTEN: cannot listen on {}", config.listen))?;
    let state = gatehouse_api::AppState {
        pool,
        config,
        metrics: gatehouse_jobs::metrics::prometheus(),
        clock: gatehouse_jobs::clock::Clock::system(),
        webhook_secrets: Default::default(),
    };
    gatehouse_api::serve(listener, state, shutdown).await?;
    Ok(())
}

async fn run_worker(config: Arc<Config>, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    config.encryption_key().context("configuration")?;
    let pool = gatehouse_jobs::db::pool(config.database_url.expose(), gatehouse_worker::pool_size(&config))?;
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let metrics_addr = gatehouse_worker::telemetry::serve_metrics(config.metrics_listen, wait(stop.subscribe()))
        .await
        .with_context(|| format!("GATEHOUSE_METRICS_LISTEN: cannot listen on {}", config.metrics_listen))?;
    let options = gatehouse_worker::WorkerOptions::new();
    tracing::info!(worker = %options.name, metrics = %metrics_addr, "worker starting");
    let result = gatehouse_worker::run(config, pool, options, shutdown).await;
    let _ = stop.send(());
    result.context("worker")?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
