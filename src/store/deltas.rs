//! The seat delta bus: committed deltas to this node's listeners and, through
//! Redis pub/sub, to every other node.
//!
//! Each node publishes on `{prefix}{e:<event>}:deltas`. On one Redis a node
//! listens to every event with one pattern subscription, on a connection of
//! its own. On a Redis Cluster (>= 7) deltas travel on sharded pub/sub: the
//! event's shard alone carries them (SPUBLISH), and a node subscribes
//! (SSUBSCRIBE) to each event it has an actor or a live hub for, before that
//! actor or hub reads the seat map ([`DeltaBus::follow`]); it unsubscribes
//! from events it no longer needs every [`PRUNE_EVERY`]. On a cluster older
//! than 7, classic PUBLISH (copied by the cluster bus to every node) and one
//! pattern subscription, as on one Redis.
//!
//! A delta carries the id of the node that published it, so a node ignores
//! its own echo. Pub/sub may drop messages (a reconnect, a slow subscriber):
//! receivers order deltas by version and reload on a gap, and
//! `{prefix}{e:<event>}:version` (set with each publish, before the committing
//! request is answered) lets an actor check whether it is behind before it
//! refuses anyone from memory, and every live hub check each second that it
//! has not missed the last delta.
//!
//! Delivery to this node is bounded end to end: the local broadcast, each
//! hub's inbox and each actor's mailbox (`Registry::deliver`) drop what they
//! cannot take, and the version checks heal the loss.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actors::model::EventId;
use actors::ports::{DeltaBus, SeatDelta};
use actors::registry::Registry;
use async_trait::async_trait;
use dashmap::DashMap;
use futures_util::StreamExt;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, PushKind};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::store::redis::{PubSub, Redis, Target};

/// How often a node drops the sharded subscriptions it no longer needs.
pub const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Pushes (sharded deltas) waiting for the cluster listener; beyond, dropped.
const PUSH_CAPACITY: usize = 4096;

/// Whether this node still needs `event`'s deltas (an actor or a hub runs).
pub type Needed = Arc<dyn Fn(EventId) -> bool + Send + Sync>;

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
    /// The events this node follows (sharded pub/sub): subscribed on the
    /// subscriber connection, and again by the listener when it (re)connects.
    followed: Arc<DashMap<EventId, ()>>,
    /// The sharded subscriber connection once the listener has made it (it
    /// resubscribes by itself after a reconnect or a slot move). A std lock:
    /// held only to clone.
    subscriber: Arc<RwLock<Option<ClusterConnection>>>,
}

impl RedisDeltaBus {
    pub fn new(redis: Redis, node_id: String) -> RedisDeltaBus {
        let (local, _) = broadcast::channel(4096);
        RedisDeltaBus {
            redis,
            node_id: node_id.into(),
            local,
            followed: Arc::new(DashMap::new()),
            subscriber: Arc::new(RwLock::new(None)),
        }
    }

    /// Every delta committed on any node, as this node learns of it.
    pub fn subscribe_local(&self) -> broadcast::Receiver<Arc<SeatDelta>> {
        self.local.subscribe()
    }

    fn channel(&self, event: EventId) -> String {
        self.redis.event_key(event, "deltas")
    }

    fn version_key(&self, event: EventId) -> String {
        self.redis.event_key(event, "version")
    }

    /// Listens to other nodes' deltas until the process ends, reconnecting
    /// after a failure; hands each to the local actor and listeners.
    pub async fn listen(self, registry: Arc<Registry>, needed: Needed) {
        loop {
            let outcome = match self.redis.pubsub() {
                None => Ok(()),
                Some(PubSub::Classic) => self.listen_pattern(&registry).await,
                Some(PubSub::Sharded) => self.listen_cluster(true, &registry, &needed).await,
                Some(PubSub::ClusterClassic) => {
                    self.listen_cluster(false, &registry, &needed).await
                }
            };
            match outcome {
                Ok(()) if self.redis.pubsub().is_none() => {
                    // The cluster has not answered yet: ask again soon.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Ok(()) => tracing::warn!("delta subscription ended; resubscribing"),
                Err(error) => tracing::debug!(%error, "delta subscription failed; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn pattern(&self) -> String {
        self.redis.key("{e:*}:deltas")
    }

    /// One Redis: a pattern subscription on a connection of its own.
    async fn listen_pattern(&self, registry: &Registry) -> redis::RedisResult<()> {
        let Target::Single(client) = self.redis.target() else {
            return Ok(());
        };
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.psubscribe(self.pattern()).await?;
        tracing::info!("listening for other nodes' seat deltas");
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            if let Ok(payload) = message.get_payload::<Vec<u8>>() {
                self.receive(&payload, registry);
            }
        }
        Ok(())
    }

    /// A Redis Cluster: RESP3 push messages from a cluster connection of its
    /// own, sharded (a subscription per followed event) or one pattern.
    async fn listen_cluster(
        &self,
        sharded: bool,
        registry: &Registry,
        needed: &Needed,
    ) -> redis::RedisResult<()> {
        let Target::Cluster(urls) = self.redis.target() else {
            return Ok(());
        };
        // Bounded like every other step of delivery: a push that finds it
        // full is dropped (counted), and the version checks heal the loss.
        let (pushes, mut received) = tokio::sync::mpsc::channel(PUSH_CAPACITY);
        let push_sender = move |push: redis::PushInfo| {
            pushes.try_send(push).inspect_err(|_| {
                metrics::counter!("boxoffice_delta_pushes_dropped_total").increment(1);
            })
        };
        let timeout = self.redis.timeout().max(Duration::from_secs(1));
        let mut connection = ClusterClientBuilder::new(urls.clone())
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(push_sender)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .build()?
            .get_async_connection()
            .await?;
        let listened = self
            .listen_on(&mut connection, &mut received, sharded, registry, needed)
            .await;
        // Whatever ended the listening, follows no longer use this connection.
        if let Ok(mut slot) = self.subscriber.write() {
            *slot = None;
        }
        listened
    }

    async fn listen_on(
        &self,
        connection: &mut ClusterConnection,
        received: &mut tokio::sync::mpsc::Receiver<redis::PushInfo>,
        sharded: bool,
        registry: &Registry,
        needed: &Needed,
    ) -> redis::RedisResult<()> {
        if sharded {
            // The slot first, then the backlog: a follow in between subscribes itself.
            if let Ok(mut slot) = self.subscriber.write() {
                *slot = Some(connection.clone());
            }
            let backlog: Vec<EventId> = self.followed.iter().map(|e| *e.key()).collect();
            for event in backlog {
                connection.ssubscribe(self.channel(event)).await?;
            }
        } else {
            connection.psubscribe(self.pattern()).await?;
        }
        tracing::info!(
            sharded,
            "listening for other nodes' seat deltas on the cluster"
        );
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                push = received.recv() => {
                    let Some(push) = push else { break };
                    let payload = match push.kind {
                        PushKind::SMessage | PushKind::Message => push.data.get(1),
                        PushKind::PMessage => push.data.get(2),
                        _ => None,
                    };
                    if let Some(Ok(payload)) = payload.map(redis::from_redis_value_ref::<Vec<u8>>) {
                        self.receive(&payload, registry);
                    }
                }
                _ = prune.tick(), if sharded => self.prune(connection, needed).await,
            }
        }
        Ok(())
    }

    /// Unsubscribes from the events this node no longer needs.
    async fn prune(&self, connection: &mut ClusterConnection, needed: &Needed) {
        let unneeded: Vec<EventId> = self
            .followed
            .iter()
            .map(|e| *e.key())
            .filter(|event| !needed(*event))
            .collect();
        for event in unneeded {
            // Asked again: an actor or hub may have started since. (One that
            // starts after this still heals: its version check reloads, and
            // a reload follows again.)
            if self
                .followed
                .remove_if(&event, |_, _| !needed(event))
                .is_none()
            {
                continue;
            }
            if let Err(error) = connection.sunsubscribe(self.channel(event)).await {
                tracing::debug!(%error, event.id = %event, "sharded unsubscribe failed");
            }
        }
    }

    fn receive(&self, payload: &[u8], registry: &Registry) {
        let Ok(envelope) = serde_json::from_slice::<Envelope>(payload) else {
            tracing::warn!("malformed seat delta ignored");
            return;
        };
        if *envelope.origin == *self.node_id {
            return;
        }
        let _ = self.local.send(Arc::new(envelope.delta.clone()));
        registry.deliver(envelope.delta);
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
        let publish = match self.redis.pubsub() {
            Some(PubSub::Sharded) => "SPUBLISH",
            _ => "PUBLISH",
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
                    .cmd(publish)
                    .arg(&channel)
                    .arg(payload)
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

    async fn follow(&self, event: EventId) {
        if self.followed.insert(event, ()).is_some() {
            return;
        }
        if !matches!(self.redis.target(), Target::Cluster(_))
            || self.redis.pubsub() == Some(PubSub::ClusterClassic)
        {
            return;
        }
        // At start-up the listener may still be connecting: wait for it a
        // little (it subscribes to every followed event when it connects,
        // but a map read before that could miss a delta until the version
        // check heals it).
        let timeout = self.redis.timeout().max(Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + timeout;
        let mut connection = loop {
            if let Some(connection) = self.subscriber.read().ok().and_then(|s| s.clone()) {
                break connection;
            }
            if tokio::time::Instant::now() >= deadline
                || self.redis.pubsub() == Some(PubSub::ClusterClassic)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let channel = self.channel(event);
        let subscribed = tokio::time::timeout(timeout, connection.ssubscribe(channel)).await;
        if !matches!(subscribed, Ok(Ok(()))) {
            // Followed again on the next try (the actor's next load, the next hub).
            self.followed.remove(&event);
            tracing::warn!(event.id = %event, "sharded subscription failed; the version checks heal missed deltas");
        }
    }
}
