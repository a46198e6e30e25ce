//! The seat delta bus: committed deltas to this node's listeners and, through
//! Redis pub/sub, to every other node.
//!
//! Each node publishes on `{prefix}deltas:{event}` and listens to
//! `{prefix}deltas:*` on a connection of its own. A delta carries the id of
//! the node that published it, so a node ignores its own echo. Pub/sub may
//! drop messages (a reconnect, a slow subscriber): receivers order deltas by
//! version and reload on a gap, and `{prefix}version:{event}` (set with each
//! publish, before the committing request is answered) lets an actor check
//! whether it is behind before it refuses anyone from memory, and every live
//! hub check each second that it has not missed the last delta.
//!
//! Delivery to this node is bounded end to end: the local broadcast, each
//! hub's inbox and each actor's mailbox (`Registry::deliver`) drop what they
//! cannot take, and the version checks heal the loss.

use std::sync::Arc;
use std::time::Duration;

use actors::model::EventId;
use actors::ports::{DeltaBus, SeatDelta};
use actors::registry::Registry;
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::store::redis::Redis;

#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    #[serde(flatten)]
    delta: SeatDelta,
}

#[derive(Clone)]
pub struct RedisDeltaBus {
    redis: Redis,
    node_id: Arc<str>,
    /// Local listeners (live seat maps). Bounded: a lagging listener misses
    /// deltas and must resync, it never slows the publisher.
    local: broadcast::Sender<Arc<SeatDelta>>,
}

impl RedisDeltaBus {
    pub fn new(redis: Redis, node_id: String) -> RedisDeltaBus {
        let (local, _) = broadcast::channel(4096);
        RedisDeltaBus {
            redis,
            node_id: node_id.into(),
            local,
        }
    }

    /// Every delta committed on any node, as this node learns of it.
    pub fn subscribe_local(&self) -> broadcast::Receiver<Arc<SeatDelta>> {
        self.local.subscribe()
    }

    fn channel(&self, event: EventId) -> String {
        self.redis.key(format_args!("deltas:{event}"))
    }

    fn version_key(&self, event: EventId) -> String {
        self.redis.key(format_args!("version:{event}"))
    }

    /// Listens to other nodes' deltas until the process ends, reconnecting
    /// after a failure; hands each to the local actor and listeners.
    pub async fn listen(self, registry: Arc<Registry>) {
        let pattern = self.redis.key("deltas:*");
        loop {
            match self.listen_once(&pattern, &registry).await {
                Ok(()) => tracing::warn!("delta subscription ended; resubscribing"),
                Err(error) => tracing::debug!(%error, "delta subscription failed; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn listen_once(&self, pattern: &str, registry: &Registry) -> redis::RedisResult<()> {
        let mut pubsub = self.redis.client().get_async_pubsub().await?;
        pubsub.psubscribe(pattern).await?;
        tracing::info!("listening for other nodes' seat deltas");
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<Vec<u8>>() else {
                continue;
            };
            let Ok(envelope) = serde_json::from_slice::<Envelope>(&payload) else {
                tracing::warn!("malformed seat delta ignored");
                continue;
            };
            if *envelope.origin == *self.node_id {
                continue;
            }
            let _ = self.local.send(Arc::new(envelope.delta.clone()));
            registry.deliver(envelope.delta);
        }
        Ok(())
    }
}

#[async_trait]
impl DeltaBus for RedisDeltaBus {
    async fn publish(&self, delta: &SeatDelta) {
        let _ = self.local.send(Arc::new(delta.clone()));
        let envelope = Envelope {
            origin: self.node_id.to_string(),
            delta: delta.clone(),
        };
        let Ok(payload) = serde_json::to_vec(&envelope) else {
            return;
        };
        let (channel, version_key, version) = (
            self.channel(delta.event_id),
            self.version_key(delta.event_id),
            delta.version,
        );
        let sent = self
            .redis
            .run(|mut c| async move {
                // The recorded version only grows: a late publish never lowers it.
                redis::pipe()
                    .cmd("EVAL")
                    .arg("if tonumber(redis.call('GET', KEYS[1]) or '-1') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 1")
                    .arg(1)
                    .arg(&version_key)
                    .arg(version)
                    .ignore()
                    .publish(&channel, payload)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
        if let Err(error) = sent {
            metrics::counter!("boxoffice_delta_publish_failures_total").increment(1);
            tracing::debug!(%error, "delta not published; other nodes resync on the next version");
        }
    }

    async fn latest_version(&self, event: EventId) -> Option<i64> {
        let key = self.version_key(event);
        self.redis
            .run(|mut c| async move { c.get::<_, Option<i64>>(key).await })
            .await
            .ok()
            .flatten()
    }
}
