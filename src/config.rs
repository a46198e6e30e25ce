//! Settings, layered: `config/default.toml`, then `config/<environment>.toml`
//! (environment from `BOXOFFICE_ENV`, default `production`), then environment
//! variables `BOXOFFICE__SECTION__KEY`. `config/default.toml` documents every key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// The secret shipped in `config/default.toml`; refused in production.
pub const DEVELOPMENT_SECRET: &str = "development-only-signing-secret-change-me";

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub app: AppSettings,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub booking: BookingSettings,
    pub payments: PaymentSettings,
    pub cache: CacheSettings,
    pub live: LiveSettings,
    pub queue: QueueSettings,
    pub limits: LimitsSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QueueSettings {
    pub token_ttl_seconds: u64,
    pub grace_seconds: u64,
    pub lease_ms: u64,
    pub tick_ms: u64,
    pub joins_per_second_per_client: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LiveSettings {
    pub max_subscribers: usize,
    pub flush_ms: u64,
    pub ring_size: usize,
    pub channel_capacity: usize,
    pub keep_alive_seconds: u64,
    pub idle_seconds: u64,
    pub inbox_capacity: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Test,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AppSettings {
    pub environment: Environment,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub max_body_bytes: usize,
    pub shutdown_timeout_seconds: u64,
    /// Seconds a stopping node keeps serving, closing each connection after
    /// its answer, before it closes its listener (see `crate::drain`).
    pub linger_seconds: u64,
    /// Origins (`https://host[:port]`) whose browser pages may call the API
    /// (`crate::http::cors`); empty: no cross-origin calls.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub cors_origins: Vec<String>,
}

impl ServerSettings {
    /// Every `server.cors_origins` entry is an origin: `http(s)://host[:port]`.
    fn validate_cors_origins(&self) -> Result<(), ConfigError> {
        for origin in &self.cors_origins {
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .unwrap_or_default();
            let valid = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
            if !valid {
                return Err(ConfigError::Invalid {
                    key: "server.cors_origins",
                    reason: format!(
                        "{origin:?} is not an origin like https://tickets.example.com or http://localhost:3000 (no path, no wildcard)"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_seconds: u64,
    /// A streaming replica that browse (event listings, event details, venue
    /// layouts) may read; empty: none.
    #[serde(default = "empty_secret")]
    pub replica_url: SecretString,
    /// Browse leaves the replica while it lags the primary by more than this.
    #[serde(default = "default_replica_max_lag_ms")]
    pub replica_max_lag_ms: u64,
}

impl DatabaseSettings {
    pub fn replica_url(&self) -> Option<&str> {
        Some(self.replica_url.expose_secret().trim()).filter(|url| !url.is_empty())
    }
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

fn default_replica_max_lag_ms() -> u64 {
    5000
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: SecretString,
    /// Redis Cluster seed nodes (`redis://h1:p1,redis://h2:p2,...`); when
    /// not empty the server runs against the cluster and `url` is unused.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub cluster_urls: Vec<String>,
    pub key_prefix: String,
    pub timeout_ms: u64,
}

impl RedisSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn is_cluster(&self) -> bool {
        !self.cluster_urls.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub signing_secret: SecretString,
    pub token_ttl_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BookingSettings {
    pub hold_seconds: u64,
    pub max_seats_per_booking: usize,
    pub batch_max: usize,
    pub payment_window_seconds: u64,
    pub sweep_interval_ms: u64,
    pub actor_idle_seconds: u64,
    pub max_active_seats_per_buyer: usize,
    pub actor_timeout_ms: u64,
    pub writes_per_event: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub charge_timeout_seconds: u64,
    pub lease_seconds: u64,
    pub recovery_after_seconds: u64,
    pub slow_token_ms: u64,
    /// How long after a charge request was sent it may still land at the
    /// provider: until then "the provider has no record" is not final.
    pub charge_window_seconds: u64,
    /// How often each node looks for abandoned payment attempts.
    pub recovery_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    pub event_ttl_seconds: u64,
    pub listing_ttl_seconds: u64,
}

/// Per-client abuse limits (`[limits]`); `enabled = false` lifts every
/// per-client limit (never the bound on concurrent password hashing).
#[derive(Debug, Clone, Deserialize)]
pub struct LimitsSettings {
    pub enabled: bool,
    /// Proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed (IPs or CIDRs).
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
    pub guests_per_minute: u32,
    pub signups_per_minute: u32,
    pub logins_per_minute: u32,
    pub failed_logins_per_account_per_hour: u32,
    pub live_streams_per_client: usize,
    pub queue_streams_per_client: usize,
    /// `GET /events/{id}/seats` per client address per minute.
    pub seat_maps_per_minute: u32,
    pub password_hashing_concurrency: usize,
    pub password_hashing_wait_ms: u64,
}

impl LimitsSettings {
    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, ConfigError> {
        networks("limits.trusted_proxies", &self.trusted_proxies)
    }
}

/// Who may read `GET /metrics` (`[metrics]`).
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Client addresses (IPs or CIDRs) allowed without a token.
    #[serde(deserialize_with = "list_or_commas")]
    pub allow_from: Vec<String>,
    /// `Authorization: Bearer <token>` allowed from anywhere; empty: no token.
    pub bearer_token: SecretString,
}

impl MetricsSettings {
    pub fn allow_from(&self) -> Result<Vec<IpNet>, ConfigError> {
        networks("metrics.allow_from", &self.allow_from)
    }
}

/// A list from TOML, or one comma-separated string (from an environment variable).
fn list_or_commas<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCommas {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match ListOrCommas::deserialize(d)? {
        ListOrCommas::List(list) => list,
        ListOrCommas::Commas(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Parses addresses (`10.0.0.1`) and networks (`10.0.0.0/8`).
fn networks(key: &'static str, list: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    list.iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError::Invalid {
                    key,
                    reason: format!("{entry:?} is not an IP address or CIDR network"),
                })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl Settings {
    /// Loads settings from `dir` (normally `./config`) and the environment.
    /// `BOXOFFICE_ENV` names the environment file and sets `app.environment`.
    pub fn load_from(dir: &Path) -> Result<Settings, ConfigError> {
        let environment = std::env::var("BOXOFFICE_ENV").unwrap_or_else(|_| "production".into());
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")))
            .add_source(config::File::from(dir.join(format!("{environment}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("BOXOFFICE")
                    .prefix_separator("__")
                    .separator("__"),
            )
            // BOXOFFICE_ENV chose the files; it also decides what they are for.
            .set_override("app.environment", environment)?
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Loads from `$BOXOFFICE_CONFIG_DIR`, or `./config`.
    pub fn load() -> Result<Settings, ConfigError> {
        let dir = std::env::var_os("BOXOFFICE_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Settings::load_from(&dir)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let secret = self.auth.signing_secret.expose_secret();
        let trusted_environment = matches!(
            self.app.environment,
            Environment::Development | Environment::Test
        );
        if !trusted_environment && secret == DEVELOPMENT_SECRET {
            return Err(ConfigError::Invalid {
                key: "auth.signing_secret",
                reason: "the published development secret is refused outside BOXOFFICE_ENV=development or test; set BOXOFFICE__AUTH__SIGNING_SECRET to a secret of your own".into(),
            });
        }
        if secret.len() < 32 {
            return Err(ConfigError::Invalid {
                key: "auth.signing_secret",
                reason: "must be at least 32 characters".into(),
            });
        }
        let checks: [(&'static str, bool, &str); 9] = [
            (
                "booking.batch_max",
                (1..=10_000).contains(&self.booking.batch_max),
                "must be between 1 and 10000",
            ),
            (
                "booking.sweep_interval_ms",
                self.booking.sweep_interval_ms >= 10,
                "must be at least 10",
            ),
            (
                "payments.lease_seconds",
                self.payments.lease_seconds > self.payments.charge_timeout_seconds,
                "must be longer than payments.charge_timeout_seconds",
            ),
            (
                "booking.payment_window_seconds",
                self.booking.payment_window_seconds > self.payments.lease_seconds,
                "must be longer than payments.lease_seconds",
            ),
            (
                "database.max_connections",
                self.database.max_connections > 0,
                "must be at least 1",
            ),
            (
                "booking.hold_seconds",
                self.booking.hold_seconds > 0,
                "must be at least 1",
            ),
            (
                "booking.max_seats_per_booking",
                (1..=100).contains(&self.booking.max_seats_per_booking),
                "must be between 1 and 100",
            ),
            (
                "server.max_body_bytes",
                self.server.max_body_bytes >= 1024,
                "must be at least 1024",
            ),
            (
                "auth.token_ttl_seconds",
                self.auth.token_ttl_seconds > 0,
                "must be at least 1",
            ),
        ];
        for (key, ok, reason) in checks {
            if !ok {
                return Err(ConfigError::Invalid {
                    key,
                    reason: reason.into(),
                });
            }
        }
        if self.payments.charge_window_seconds < self.payments.charge_timeout_seconds
            || self.payments.recovery_interval_ms < 10
        {
            return Err(ConfigError::Invalid {
                key: "payments.charge_window_seconds",
                reason: "must be at least payments.charge_timeout_seconds (and payments.recovery_interval_ms at least 10)".into(),
            });
        }
        self.validate_redis()?;
        self.validate_limits()
    }

    fn validate_redis(&self) -> Result<(), ConfigError> {
        // A brace in the prefix would become every key's hash tag: in a
        // cluster, every key of every event on one shard.
        if self.redis.is_cluster() && self.redis.key_prefix.contains(['{', '}']) {
            return Err(ConfigError::Invalid {
                key: "redis.key_prefix",
                reason: "must not contain { or } with redis.cluster_urls (it would be every key's hash tag)".into(),
            });
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        self.server.validate_cors_origins()?;
        self.limits.trusted_proxies()?;
        self.metrics.allow_from()?;
        let limits = &self.limits;
        let checks: [(&'static str, bool); 8] = [
            ("limits.guests_per_minute", limits.guests_per_minute > 0),
            (
                "limits.seat_maps_per_minute",
                limits.seat_maps_per_minute > 0,
            ),
            ("limits.signups_per_minute", limits.signups_per_minute > 0),
            ("limits.logins_per_minute", limits.logins_per_minute > 0),
            (
                "limits.failed_logins_per_account_per_hour",
                limits.failed_logins_per_account_per_hour > 0,
            ),
            (
                "limits.live_streams_per_client",
                limits.live_streams_per_client > 0,
            ),
            (
                "limits.queue_streams_per_client",
                limits.queue_streams_per_client > 0,
            ),
            (
                "limits.password_hashing_concurrency",
                limits.password_hashing_concurrency > 0,
            ),
        ];
        for (key, ok) in checks {
            if !ok {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}
