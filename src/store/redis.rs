//! The shared Redis connection, its key space and its failure policy.
//!
//! Redis is never the source of truth in boxoffice, so the server starts and
//! serves without it: the connection is made in the background and retried,
//! every call has a short deadline, and callers treat an error as "Redis said
//! nothing" (browse falls back to PostgreSQL, booking skips the lock layer).
//!
//! "A Redis" is one server (`redis.url`) or a Redis Cluster
//! (`redis.cluster_urls`). Callers never branch on which: [`Connection`]
//! speaks for both, and the key space is laid out so that everything one
//! event's scripts and pipelines touch shares the hash tag `{e:<id>}`
//! ([`Redis::event_key`]): in a cluster each script runs on one shard, and
//! different events spread over the shards. Global keys (the catalog cache
//! generation) are single-key commands, wherever their slot is. Only pub/sub
//! differs underneath (see `deltas`): [`Redis::pubsub`] says how.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actors::model::EventId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
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

/// A connection to one Redis or to a Redis Cluster; both reconnect by
/// themselves once made. Cheap to clone (a handle on a multiplexed
/// connection).
#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// Where the seat deltas travel (`deltas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSub {
    /// One Redis: PUBLISH, and one PSUBSCRIBE for every event.
    Classic,
    /// A Redis Cluster of Redis >= 7: SPUBLISH to the event's shard, and an
    /// SSUBSCRIBE per event this node follows.
    Sharded,
    /// A Redis Cluster older than 7: PUBLISH (the cluster bus copies it to
    /// every node) and one PSUBSCRIBE.
    ClusterClassic,
}

/// Where the connection goes, as configured.
#[derive(Clone)]
pub enum Target {
    Single(redis::Client),
    Cluster(Vec<String>),
}

impl Target {
    pub fn from_settings(settings: &RedisSettings) -> anyhow::Result<Target> {
        Ok(if settings.is_cluster() {
            Target::Cluster(settings.cluster_urls.clone())
        } else {
            Target::Single(redis::Client::open(settings.url.expose_secret())?)
        })
    }

    /// One attempt to connect, each call given `timeout`.
    pub async fn connect(&self, timeout: Duration) -> redis::RedisResult<Connection> {
        match self {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1));
                ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map(Connection::Single)
            }
            Target::Cluster(urls) => ClusterClientBuilder::new(urls.clone())
                .connection_timeout(timeout.max(Duration::from_millis(500)))
                .response_timeout(timeout)
                .retries(2)
                .build()?
                .get_async_connection()
                .await
                .map(Connection::Cluster),
        }
    }

    /// How deltas travel with this target (asks a cluster its version).
    async fn pubsub(&self, connection: &mut Connection) -> PubSub {
        let Connection::Cluster(cluster) = connection else {
            return PubSub::Classic;
        };
        let info: redis::RedisResult<redis::Value> = cluster
            .route_command(
                redis::cmd("INFO").arg("server").clone(),
                redis::cluster_routing::RoutingInfo::SingleNode(
                    redis::cluster_routing::SingleNodeRoutingInfo::Random,
                ),
            )
            .await;
        let major = info
            .ok()
            .and_then(|v| redis::from_redis_value::<String>(v).ok())
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("redis_version:"))
                    .and_then(|v| v.split('.').next())
                    .and_then(|m| m.trim().parse::<u32>().ok())
            });
        match major {
            Some(major) if major >= 7 => PubSub::Sharded,
            _ => {
                tracing::warn!(
                    ?major,
                    "redis cluster without sharded pub/sub (Redis < 7): seat deltas use classic PUBLISH, copied to every cluster node"
                );
                PubSub::ClusterClassic
            }
        }
    }
}

#[derive(Clone)]
pub struct Redis {
    /// Filled by the background connector once Redis answers; after that the
    /// connection reconnects by itself. A std lock: it is held only to clone.
    connection: Arc<RwLock<Option<Connection>>>,
    /// [`PubSub`] as a number (0: not known yet), set with the connection.
    pubsub: Arc<AtomicU8>,
    prefix: Arc<str>,
    timeout: Duration,
    target: Target,
}

impl Redis {
    /// Starts connecting in the background; never fails for an unreachable
    /// server, only for a malformed URL.
    pub fn connect(settings: &RedisSettings) -> anyhow::Result<Redis> {
        let redis = Redis {
            connection: Arc::new(RwLock::new(None)),
            pubsub: Arc::new(AtomicU8::new(0)),
            prefix: settings.key_prefix.clone().into(),
            timeout: settings.timeout(),
            target: Target::from_settings(settings)?,
        };
        let connector = redis.clone();
        tokio::spawn(async move { connector.connect_until_up().await });
        Ok(redis)
    }

    async fn connect_until_up(&self) {
        let mut logged = false;
        loop {
            match self.target.connect(self.timeout).await {
                Ok(mut connection) => {
                    let pubsub = self.target.pubsub(&mut connection).await;
                    self.pubsub.store(pubsub as u8 + 1, Ordering::SeqCst);
                    if let Ok(mut slot) = self.connection.write() {
                        *slot = Some(connection);
                    }
                    tracing::info!(?pubsub, "redis connected");
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

    /// Where to open connections of one's own (for pub/sub).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// How seat deltas travel; for a cluster, `None` until it has first
    /// answered (its version decides).
    pub fn pubsub(&self) -> Option<PubSub> {
        if let Target::Single(_) = self.target {
            return Some(PubSub::Classic);
        }
        match self.pubsub.load(Ordering::SeqCst) {
            1 => Some(PubSub::Classic),
            2 => Some(PubSub::Sharded),
            3 => Some(PubSub::ClusterClassic),
            _ => None,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `prefix + name`: a key or channel of this deployment, not of one event.
    pub fn key(&self, name: impl std::fmt::Display) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// `prefix + {e:<event>}: + name`: a key or channel of one event. The
    /// hash tag keeps every key of the event in one cluster slot.
    pub fn event_key(&self, event: EventId, name: impl std::fmt::Display) -> String {
        event_key(&self.prefix, event.0, name)
    }

    /// Runs `call` on the shared connection with the configured deadline.
    pub async fn run<T, F, Fut>(&self, call: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self
            .connection
            .read()
            .ok()
            .and_then(|slot| slot.clone())
            .ok_or(RedisError::NotConnected)?;
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, call(connection)).await;
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

/// The key layout of [`Redis::event_key`], for tools that read the keys
/// from outside (the load checker, tests).
pub fn event_key(prefix: &str, event: i64, name: impl std::fmt::Display) -> String {
    format!("{prefix}{{e:{event}}}:{name}")
}
