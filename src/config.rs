//! Settings, layered: `config/default.toml`, then `config/<environment>.toml`
//! (environment from `BOXOFFICE_ENV`, default `development`), then environment
//! variables `BOXOFFICE__SECTION__KEY`. `config/default.toml` documents every key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

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
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: SecretString,
    pub key_prefix: String,
    pub timeout_ms: u64,
}

impl RedisSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
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
    pub actor_timeout_ms: u64,
    pub writes_per_event: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub charge_timeout_seconds: u64,
    pub lease_seconds: u64,
    pub recovery_after_seconds: u64,
    pub slow_token_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    pub event_ttl_seconds: u64,
    pub listing_ttl_seconds: u64,
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
        let environment = std::env::var("BOXOFFICE_ENV").unwrap_or_else(|_| "development".into());
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
        if self.app.environment == Environment::Production && secret == DEVELOPMENT_SECRET {
            return Err(ConfigError::Invalid {
                key: "auth.signing_secret",
                reason: "the development secret is refused in production; set BOXOFFICE__AUTH__SIGNING_SECRET".into(),
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
        Ok(())
    }
}
