//! Configuration from the environment (DESIGN §9), parsed once at start-up.
//!
//! Every variable has a default for local use except the secrets, which a command
//! asks for only when it needs them ([`Config::admin_token`], [`Config::encryption_key`]).
//! A malformed value is an error that names the variable and what it expects.

use std::{net::SocketAddr, time::Duration};

use base64::Engine;

use crate::secret::Secret;

/// A configuration error: which variable, and what was expected of it.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong and what is expected.
    pub problem: String,
}

/// The whole configuration of a Gatehouse process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`.
    pub database_url: Secret<String>,
    /// `GATEHOUSE_LISTEN`: where the api listens.
    pub listen: SocketAddr,
    /// `GATEHOUSE_PUBLIC_URL`: how Telegram and Stripe reach the api (webhook URLs).
    pub public_url: String,
    /// `TELEGRAM_API_URL`.
    pub telegram_api_url: String,
    /// `STRIPE_API_URL`.
    pub stripe_api_url: String,
    /// `GATEHOUSE_METRICS_LISTEN`: where a worker serves `/metrics`.
    pub metrics_listen: SocketAddr,
    /// `GATEHOUSE_TELEGRAM_TIMEOUT_MS`: how long one Bot API call may take (default 15 s).
    pub telegram_timeout: Duration,
    /// `GATEHOUSE_ADMIN_TOKEN`, when set.
    admin_token: Option<Secret<String>>,
    /// `GATEHOUSE_ENCRYPTION_KEY`, when set (already checked: 32 bytes).
    encryption_key: Option<Secret<[u8; 32]>>,
    /// The api's HTTP server limits.
    pub http: HttpSettings,
    /// Worker tuning.
    pub worker: WorkerSettings,
    /// Telegram rate budgets (defaults for every bot; `bot_rate_limits` overrides per bot).
    pub telegram_budget: BudgetSettings,
    /// `GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE`: whether outbound webhooks may go to `http` URLs
    /// and to loopback, private or link-local addresses (default false; tests and local setups).
    pub webhooks_allow_private: bool,
    /// `GATEHOUSE_MANAGER_BOT_TOKEN`, when set: the platform bot where creators sign up
    /// and connect their own bots (unset: there is none).
    pub manager_bot: Option<ManagerBot>,
}

/// The platform bot for creators (`GATEHOUSE_MANAGER_BOT_TOKEN`). No `Debug` of the token.
#[derive(Debug, Clone)]
pub struct ManagerBot {
    /// Telegram's id of the bot (the number before ':' in its token).
    pub telegram_bot_id: i64,
    /// Its token.
    pub token: Secret<String>,
}

impl ManagerBot {
    /// The secret given to its `setWebhook`, derived from the token (so the api and every
    /// worker know it without storing it): hex of SHA-256 of a label and the token.
    pub fn webhook_secret(&self) -> Secret<String> {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(b"gatehouse manager webhook\0")
            .chain_update(self.token.expose().as_bytes())
            .finalize();
        Secret::new(hex::encode(digest))
    }
}

/// How the api's HTTP server protects itself from slow or numerous clients.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `GATEHOUSE_HTTP_HEADER_TIMEOUT_MS`: how long a client may take to send a request's
    /// headers, on a new connection or between requests on a kept-alive one (default 10 s).
    pub header_timeout: Duration,
    /// `GATEHOUSE_HTTP_REQUEST_TIMEOUT_MS`: how long one request may take, body included,
    /// before it is answered 408 (default 30 s).
    pub request_timeout: Duration,
    /// `GATEHOUSE_API_RATE_LIMIT_PER_MINUTE`: requests one api key may make per minute,
    /// counted across every api process (default 300).
    pub key_rate_limit: u32,
    /// `GATEHOUSE_MCP_CALLS_PER_MINUTE`: MCP requests one api key may make per minute,
    /// counted apart from its `/v1` requests, across every api process (default 120).
    pub mcp_rate_limit: u32,
    /// `GATEHOUSE_HTTP_MAX_CONNECTIONS`: connections served at once; more wait to be
    /// accepted (default 1024).
    pub max_connections: usize,
}

/// The rate budgets every Bot API call is taken from (DESIGN §1 rule 4, §6).
#[derive(Debug, Clone)]
pub struct BudgetSettings {
    /// `GATEHOUSE_TG_CALLS_PER_SECOND`: calls per bot per second, all methods (default 30).
    pub calls_per_second: u32,
    /// `GATEHOUSE_TG_CHAT_MESSAGES_PER_SECOND`: messages to one chat per second (default 1).
    pub chat_messages_per_second: u32,
    /// `GATEHOUSE_TG_GROUP_MESSAGES_PER_MINUTE`: messages to one group per minute (default 20).
    pub group_messages_per_minute: u32,
    /// `GATEHOUSE_TG_INTERACTIVE_RESERVE`: calls per second lifecycle and bulk work leave to
    /// interactive work while it runs; lent to them when it has not run for a while (default 3).
    pub interactive_reserve: u32,
    /// `GATEHOUSE_TG_HEADROOM_PERCENT`: a bot's limit applies to a window this much longer than
    /// a second, so that network jitter never puts more than the limit into one (default 5).
    pub headroom_percent: u32,
    /// `GATEHOUSE_TG_LEASE_MS`: how far ahead a worker takes a bot's slots for lifecycle and
    /// bulk work; also how long a pause takes to reach every worker (default 250 ms).
    pub lease: Duration,
    /// `GATEHOUSE_TG_BUDGET_WAIT_MS`: the longest a job waits in its slot for budget before it
    /// is snoozed to a planned time instead (default 2000 ms).
    pub max_wait: Duration,
}

/// How a worker process runs its queues.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `GATEHOUSE_WORKER_CONCURRENCY`: jobs run at once per queue in one process (default 16).
    pub concurrency: usize,
    /// `GATEHOUSE_WORKER_BATCH`: jobs claimed per round-trip (default 32).
    pub batch_size: usize,
    /// `GATEHOUSE_RESCUE_AFTER_SECS`: a job whose worker has not been heard from for this
    /// long is given to another worker (default 30 s: heartbeat every 10 s, 3 missed).
    pub rescue_after: Duration,
    /// `GATEHOUSE_SHUTDOWN_GRACE_SECS`: on SIGTERM, how long in-flight jobs may take (default
    /// 20 s). Must be shorter than the rescue time: a stopping worker no longer sends
    /// heartbeats, so a job still running past the rescue time would be run again elsewhere.
    pub shutdown_grace: Duration,
    /// `GATEHOUSE_JOB_RETENTION_HOURS`: finished jobs are deleted after this (default 168 h = 7 days).
    pub job_retention: Duration,
    /// `GATEHOUSE_POLL_INTERVAL_MS`: fallback poll when no notification arrives (default 200 ms);
    /// also bounds how late a rescheduled job starts after its time.
    pub poll_interval: Duration,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let listen = parse_addr("GATEHOUSE_LISTEN", get("GATEHOUSE_LISTEN"), "127.0.0.1:8080")?;
        let public_url = match get("GATEHOUSE_PUBLIC_URL") {
            Some(url) => parse_url("GATEHOUSE_PUBLIC_URL", url)?,
            None => format!("http://{listen}"),
        };
        Self {
            database_url: Secret::new(match get("DATABASE_URL") {
                Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => url,
                Some(_) => {
                    return Err(ConfigError { variable: "DATABASE_URL", problem: "expected a postgres:// URL".into() });
                }
                None => "postgres://postgres@127.0.0.1:5432/gatehouse".into(),
            }),
            listen,
            public_url,
            telegram_api_url: parse_url(
                "TELEGRAM_API_URL",
                get("TELEGRAM_API_URL").unwrap_or_else(|| "https://api.telegram.org".into()),
            )?,
            stripe_api_url: parse_url(
                "STRIPE_API_URL",
                get("STRIPE_API_URL").unwrap_or_else(|| "https://api.stripe.com".into()),
            )?,
            metrics_listen: parse_addr("GATEHOUSE_METRICS_LISTEN", get("GATEHOUSE_METRICS_LISTEN"), "127.0.0.1:9464")?,
            telegram_timeout: Duration::from_millis(parse_num(
                "GATEHOUSE_TELEGRAM_TIMEOUT_MS",
                get("GATEHOUSE_TELEGRAM_TIMEOUT_MS"),
                15_000,
                100..=120_000,
            )?),
            admin_token: match get("GATEHOUSE_ADMIN_TOKEN") {
                Some(t) if t.len() < 16 => {
                    return Err(ConfigError {
                        variable: "GATEHOUSE_ADMIN_TOKEN",
                        problem: "too short: use at least 16 random characters".into(),
                    });
                }
                Some(t) => Some(Secret::new(t)),
                None => None,
            },
            encryption_key: get("GATEHOUSE_ENCRYPTION_KEY").map(|v| parse_key(&v)).transpose()?,
            http: HttpSettings {
                header_timeout: Duration::from_millis(parse_num(
                    "GATEHOUSE_HTTP_HEADER_TIMEOUT_MS",
                    get("GATEHOUSE_HTTP_HEADER_TIMEOUT_MS"),
                    10_000,
                    100..=600_000,
                )?),
                request_timeout: Duration::from_millis(parse_num(
                    "GATEHOUSE_HTTP_REQUEST_TIMEOUT_MS",
                    get("GATEHOUSE_HTTP_REQUEST_TIMEOUT_MS"),
                    30_000,
                    100..=600_000,
                )?),
                key_rate_limit: parse_num(
                    "GATEHOUSE_API_RATE_LIMIT_PER_MINUTE",
                    get("GATEHOUSE_API_RATE_LIMIT_PER_MINUTE"),
                    300,
                    1..=1_000_000,
                )?,
                mcp_rate_limit: parse_num(
                    "GATEHOUSE_MCP_CALLS_PER_MINUTE",
                    get("GATEHOUSE_MCP_CALLS_PER_MINUTE"),
                    120,
                    1..=1_000_000,
                )?,
                max_connections: parse_num(
                    "GATEHOUSE_HTTP_MAX_CONNECTIONS",
                    get("GATEHOUSE_HTTP_MAX_CONNECTIONS"),
                    1024,
                    1..=1_000_000,
                )?,
            },
            worker: WorkerSettings {
                concurrency: parse_num(
                    "GATEHOUSE_WORKER_CONCURRENCY",
                    get("GATEHOUSE_WORKER_CONCURRENCY"),
                    16,
                    1..=1024,
                )?,
                batch_size: parse_num("GATEHOUSE_WORKER_BATCH", get("GATEHOUSE_WORKER_BATCH"), 32, 1..=1000)?,
                rescue_after: Duration::from_secs(parse_num(
                    "GATEHOUSE_RESCUE_AFTER_SECS",
                    get("GATEHOUSE_RESCUE_AFTER_SECS"),
                    30,
                    3..=86_400,
                )?),
                shutdown_grace: Duration::from_secs(parse_num(
                    "GATEHOUSE_SHUTDOWN_GRACE_SECS",
                    get("GATEHOUSE_SHUTDOWN_GRACE_SECS"),
                    20,
                    0..=3_600,
                )?),
                job_retention: Duration::from_secs(
                    3_600
                        * parse_num(
                            "GATEHOUSE_JOB_RETENTION_HOURS",
                            get("GATEHOUSE_JOB_RETENTION_HOURS"),
                            168,
                            1..=87_600,
                        )?,
                ),
                poll_interval: Duration::from_millis(parse_num(
                    "GATEHOUSE_POLL_INTERVAL_MS",
                    get("GATEHOUSE_POLL_INTERVAL_MS"),
                    200,
                    10..=60_000,
                )?),
            },
            webhooks_allow_private: match get("GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE").as_deref().map(str::trim) {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(_) => {
                    return Err(ConfigError {
                        variable: "GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE",
                        problem: "expected true or false".into(),
                    });
                }
            },
            manager_bot: match get("GATEHOUSE_MANAGER_BOT_TOKEN") {
                None => None,
                Some(token) => {
                    let token = token.trim().to_string();
                    let telegram_bot_id = crate::telegram::bot_id_of_token(&token).ok_or(ConfigError {
                        variable: "GATEHOUSE_MANAGER_BOT_TOKEN",
                        problem: "expected a bot token as BotFather gives it: <bot id>:<30 to 64 characters of A-Z, a-z, 0-9, '_' and '-'>".into(),
                    })?;
                    Some(ManagerBot { telegram_bot_id, token: Secret::new(token) })
                }
            },
            telegram_budget: BudgetSettings {
                calls_per_second: parse_num(
                    "GATEHOUSE_TG_CALLS_PER_SECOND",
                    get("GATEHOUSE_TG_CALLS_PER_SECOND"),
                    30,
                    1..=1_000_000,
                )?,
                chat_messages_per_second: parse_num(
                    "GATEHOUSE_TG_CHAT_MESSAGES_PER_SECOND",
                    get("GATEHOUSE_TG_CHAT_MESSAGES_PER_SECOND"),
                    1,
                    1..=1_000_000,
                )?,
                group_messages_per_minute: parse_num(
                    "GATEHOUSE_TG_GROUP_MESSAGES_PER_MINUTE",
                    get("GATEHOUSE_TG_GROUP_MESSAGES_PER_MINUTE"),
                    20,
                    1..=1_000_000,
                )?,
                interactive_reserve: parse_num(
                    "GATEHOUSE_TG_INTERACTIVE_RESERVE",
                    get("GATEHOUSE_TG_INTERACTIVE_RESERVE"),
                    3,
                    0..=999_999,
                )?,
                headroom_percent: parse_num(
                    "GATEHOUSE_TG_HEADROOM_PERCENT",
                    get("GATEHOUSE_TG_HEADROOM_PERCENT"),
                    5,
                    0..=50,
                )?,
                lease: Duration::from_millis(parse_num(
                    "GATEHOUSE_TG_LEASE_MS",
                    get("GATEHOUSE_TG_LEASE_MS"),
                    250,
                    10..=10_000,
                )?),
                max_wait: Duration::from_millis(parse_num(
                    "GATEHOUSE_TG_BUDGET_WAIT_MS",
                    get("GATEHOUSE_TG_BUDGET_WAIT_MS"),
                    2_000,
                    0..=60_000,
                )?),
            },
        }
        .validate()
    }

    fn validate(self) -> Result<Self, ConfigError> {
        if self.telegram_budget.interactive_reserve >= self.telegram_budget.calls_per_second {
            return Err(ConfigError {
                variable: "GATEHOUSE_TG_INTERACTIVE_RESERVE",
                problem: format!(
                    "must be lower than GATEHOUSE_TG_CALLS_PER_SECOND ({}): lifecycle and bulk work would get no budget",
                    self.telegram_budget.calls_per_second
                ),
            });
        }
        if self.worker.shutdown_grace >= self.worker.rescue_after {
            return Err(ConfigError {
                variable: "GATEHOUSE_SHUTDOWN_GRACE_SECS",
                problem: format!(
                    "must be shorter than GATEHOUSE_RESCUE_AFTER_SECS ({} s): a job still running after the rescue time is run again by another worker",
                    self.worker.rescue_after.as_secs()
                ),
            });
        }
        Ok(self)
    }

    /// `GATEHOUSE_ADMIN_TOKEN`, required by the api (it creates projects).
    pub fn admin_token(&self) -> Result<&Secret<String>, ConfigError> {
        self.admin_token.as_ref().ok_or(ConfigError {
            variable: "GATEHOUSE_ADMIN_TOKEN",
            problem: "not set: the api needs it to authenticate project creation (at least 16 random characters)"
                .into(),
        })
    }

    /// `GATEHOUSE_ENCRYPTION_KEY`, required wherever bot tokens are stored or used.
    pub fn encryption_key(&self) -> Result<&Secret<[u8; 32]>, ConfigError> {
        self.encryption_key.as_ref().ok_or(ConfigError {
            variable: "GATEHOUSE_ENCRYPTION_KEY",
            problem: "not set: expected base64 of 32 random bytes (openssl rand -base64 32)".into(),
        })
    }

    /// Sets the secrets directly (the demo and tests generate their own).
    pub fn with_secrets(mut self, admin_token: String, encryption_key: [u8; 32]) -> Self {
        self.admin_token = Some(Secret::new(admin_token));
        self.encryption_key = Some(Secret::new(encryption_key));
        self
    }
}

fn parse_addr(variable: &'static str, value: Option<String>, default: &str) -> Result<SocketAddr, ConfigError> {
    let value = value.unwrap_or_else(|| default.into());
    value
        .parse()
        .map_err(|_| ConfigError { variable, problem: format!("expected HOST:PORT such as {default}, got {value:?}") })
}

fn parse_url(variable: &'static str, value: String) -> Result<String, ConfigError> {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(ConfigError { variable, problem: format!("expected an http(s):// URL, got {value:?}") });
    }
    Ok(value.trim_end_matches('/').to_string())
}

fn parse_num<T>(
    variable: &'static str,
    value: Option<String>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError {
            variable,
            problem: format!("expected a whole number from {} to {}, got {value:?}", range.start(), range.end()),
        }),
    }
}

fn parse_key(value: &str) -> Result<Secret<[u8; 32]>, ConfigError> {
    let problem = "expected base64 of exactly 32 bytes (openssl rand -base64 32)";
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| ConfigError { variable: "GATEHOUSE_ENCRYPTION_KEY", problem: problem.into() })?;
    let key: [u8; 32] =
        bytes.try_into().map_err(|_| ConfigError { variable: "GATEHOUSE_ENCRYPTION_KEY", problem: problem.into() })?;
    Ok(Secret::new(key))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn an_empty_environment_gives_local_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url.expose(), "postgres://postgres@127.0.0.1:5432/gatehouse");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.telegram_api_url, "https://api.telegram.org");
        assert_eq!(c.worker.rescue_after, Duration::from_secs(30));
        assert!(c.admin_token().is_err());
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        let err = config(&[("GATEHOUSE_LISTEN", "nowhere")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_LISTEN");
        let err = config(&[("GATEHOUSE_ENCRYPTION_KEY", "c2hvcnQ=")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_ENCRYPTION_KEY");
        let err = config(&[("GATEHOUSE_WORKER_CONCURRENCY", "0")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_WORKER_CONCURRENCY");
        let err = config(&[("TELEGRAM_API_URL", "ftp://x")]).unwrap_err();
        assert_eq!(err.variable, "TELEGRAM_API_URL");
        let err =
            config(&[("GATEHOUSE_RESCUE_AFTER_SECS", "10"), ("GATEHOUSE_SHUTDOWN_GRACE_SECS", "10")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_SHUTDOWN_GRACE_SECS");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:hunter2pass@db/x"),
            ("GATEHOUSE_ADMIN_TOKEN", "admin-token-0123456789"),
            ("GATEHOUSE_ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2pass"));
        assert!(!shown.contains("admin-token-0123456789"));
        assert_eq!(c.encryption_key().unwrap().expose()[31], 31);
    }
}
