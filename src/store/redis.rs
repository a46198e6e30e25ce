//! The shared Redis connection, its key space and its failure policy.
//!
//! Redis is never the source of truth in boxoffice, so the server starts and
//! serves without it: the connection is made in the background and retried,
//! every call has a short deadline, and callers treat an error as "Redis said
//! nothing" (browse falls back to PostgreSQL, booking skips the lock layer).

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::config::RedisSettings;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis is not connected")]
    NotConnected,
    #[error("redis call timed out")]
    TimedOut,
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

#[derive(Clone)]
pub struct Redis {
    /// Filled by the background connector once Redis answers; after that the
    /// manager reconnects by itself. A std lock: it is held only to clone.
    manager: Arc<RwLock<Option<ConnectionManager>>>,
    prefix: Arc<str>,
    timeout: Duration,
    client: redis::Client,
}

impl Redis {
    /// Starts connecting in the background; never fails for an unreachable
    /// server, only for a malformed URL.
    pub fn connect(settings: &RedisSettings) -> anyhow::Result<Redis> {
        let client = redis::Client::open(settings.url.expose_secret())?;
        let redis = Redis {
            manager: Arc::new(RwLock::new(None)),
            prefix: settings.key_prefix.clone().into(),
            timeout: settings.timeout(),
            client,
        };
        let connector = redis.clone();
        tokio::spawn(async move { connector.connect_until_up().await });
        Ok(redis)
    }

    async fn connect_until_up(&self) {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let mut logged = false;
        loop {
            match ConnectionManager::new_with_config(self.client.clone(), config.clone()).await {
                Ok(manager) => {
                    if let Ok(mut slot) = self.manager.write() {
                        *slot = Some(manager);
                    }
                    tracing::info!("redis connected");
                    return;
                }
                Err(error) => {
                    if !logged {
                        tracing::warn!(%error, "redis unreachable; retrying in the background");
                        logged = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// The same connection with another deadline per call.
    pub fn with_timeout(&self, timeout: Duration) -> Redis {
        Redis {
            timeout,
            ..self.clone()
        }
    }

    /// A fresh connection of its own (for pub/sub), outside the shared manager.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// `prefix + name`: every key and channel of this deployment.
    pub fn key(&self, name: impl std::fmt::Display) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Runs `call` on the shared connection with the configured deadline.
    pub async fn run<T, F, Fut>(&self, call: F) -> Result<T, RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let manager = self
            .manager
            .read()
            .ok()
            .and_then(|slot| slot.clone())
            .ok_or(RedisError::NotConnected)?;
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, call(manager)).await;
        metrics::histogram!("boxoffice_redis_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok(answer) => answer.map_err(RedisError::from),
            Err(_) => Err(RedisError::TimedOut),
        }
    }

    pub async fn ping(&self) -> Result<(), RedisError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await?;
        Ok(())
    }
}
