//! Position watch: one Redis read per event per node every half second,
//! shared by every position stream on the node. Streams compute their own
//! position from the watermark (`removed`: admitted + skipped, always from the
//! front of the line) and the exact rank they read on connect, instead of
//! asking Redis for every waiter's rank every second.
//!
//! **Stopping.** A watcher with nobody watching for a while stops and leaves
//! the map. The decision is taken under the map's shard lock, the same lock a
//! new stream holds while it clones the receiver, so a stream never takes a
//! receiver whose watcher is about to go. Should a stream still find its
//! watcher gone (the channel closed), [`ProgressWatch::changed`] joins a live
//! one instead of returning at once forever: a closed channel never makes a
//! stream spin.

use std::sync::Arc;
use std::time::Duration;

use actors::model::EventId;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::watch;

use crate::store::waiting_room::{Progress, QueueStore};

/// How often a watcher reads the line's progress.
const TICK: Duration = Duration::from_millis(500);
/// Ticks with nobody watching before a watcher stops.
const UNWATCHED_TICKS: u32 = 60;

#[derive(Clone)]
pub struct QueueWatch {
    store: QueueStore,
    /// One receiver per watched event, kept so new streams can clone it.
    watchers: Arc<DashMap<EventId, watch::Receiver<Progress>>>,
}

/// A stream's view of its event's progress.
pub struct ProgressWatch {
    rx: watch::Receiver<Progress>,
    event: EventId,
    source: QueueWatch,
}

impl QueueWatch {
    pub fn new(store: QueueStore) -> QueueWatch {
        QueueWatch {
            store,
            watchers: Arc::new(DashMap::new()),
        }
    }

    /// The event's progress, updated every half second while anyone watches.
    pub fn watch(&self, event: EventId) -> ProgressWatch {
        ProgressWatch {
            rx: self.receiver(event),
            event,
            source: self.clone(),
        }
    }

    /// A receiver of the event's live watcher, starting one if there is none
    /// (or only one whose sender is gone).
    fn receiver(&self, event: EventId) -> watch::Receiver<Progress> {
        if let Some(rx) = self.watchers.get(&event)
            && rx.has_changed().is_ok()
        {
            return rx.clone();
        }
        match self.watchers.entry(event) {
            Entry::Occupied(live) if live.get().has_changed().is_ok() => live.get().clone(),
            Entry::Occupied(mut dead) => {
                let rx = self.start(event);
                dead.insert(rx.clone());
                rx
            }
            Entry::Vacant(vacant) => {
                let rx = self.start(event);
                vacant.insert(rx.clone());
                rx
            }
        }
    }

    fn start(&self, event: EventId) -> watch::Receiver<Progress> {
        let (tx, rx) = watch::channel(Progress::default());
        let (store, watchers) = (self.store.clone(), self.watchers.clone());
        actix::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            let mut unwatched = 0;
            loop {
                tick.tick().await;
                if let Ok(progress) = store.progress(event).await {
                    tx.send_replace(progress);
                }
                // Only the map's own receiver left: stop after a while.
                unwatched = if tx.receiver_count() <= 1 {
                    unwatched + 1
                } else {
                    0
                };
                if unwatched > UNWATCHED_TICKS && stop_if_unwatched(&watchers, event, &tx) {
                    return;
                }
            }
        });
        rx
    }
}

/// Removes the event's watcher if nobody but the map holds a receiver of
/// `tx`. Decided under the shard's write lock: a stream cloning the receiver
/// holds the same lock, so it either got its clone first (and the watcher
/// stays) or finds the entry gone (and starts a fresh watcher).
fn stop_if_unwatched(
    watchers: &DashMap<EventId, watch::Receiver<Progress>>,
    event: EventId,
    tx: &watch::Sender<Progress>,
) -> bool {
    watchers
        .remove_if(&event, |_, _| tx.receiver_count() <= 1)
        .is_some()
}

impl ProgressWatch {
    /// The latest progress, marked as seen.
    pub fn borrow_and_update(&mut self) -> watch::Ref<'_, Progress> {
        self.rx.borrow_and_update()
    }

    /// Whether a progress not yet seen is waiting (`false` once the watcher
    /// behind this stream has stopped: `changed` then joins a live one).
    pub fn has_changed(&self) -> bool {
        self.rx.has_changed().unwrap_or(false)
    }

    /// Waits for the next progress. If the watcher behind this stream has
    /// stopped, joins the event's live watcher and waits on that one.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_ok() {
            return;
        }
        metrics::counter!("boxoffice_queue_watch_rejoins_total").increment(1);
        self.rx = self.source.receiver(self.event);
        if self.rx.changed().await.is_err() {
            // Never expected (the map only hands out live receivers); still,
            // a closed channel must not make the caller spin.
            tokio::time::sleep(TICK).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RedisSettings;
    use crate::store::redis::Redis;

    fn unreachable_store() -> QueueStore {
        let redis = Redis::connect(&RedisSettings {
            url: "redis://127.0.0.1:1".to_owned().into(),
            cluster_urls: Vec::new(),
            key_prefix: "test:".into(),
            timeout_ms: 50,
        })
        .unwrap();
        QueueStore::new(redis)
    }

    #[actix::test]
    async fn a_stream_whose_watcher_stopped_waits_on_a_live_one_instead_of_spinning() {
        let watch = QueueWatch::new(unreachable_store());
        let event = EventId(7);
        // The race: a stream cloned the receiver, then the watcher stopped.
        let (tx, rx) = watch::channel(Progress::default());
        watch.watchers.insert(event, rx);
        let mut stream = watch.watch(event);
        watch.watchers.remove(&event);
        drop(tx);

        let mut wakeups = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        while tokio::time::timeout_at(deadline, stream.changed())
            .await
            .is_ok()
        {
            wakeups += 1;
            assert!(
                wakeups < 10,
                "a closed watch must not wake its stream at once, again and again"
            );
        }
        // It joined a live watcher, now listed for the next stream.
        let listed = watch
            .watchers
            .get(&event)
            .map(|rx| rx.has_changed().is_ok());
        assert_eq!(listed, Some(true));
    }

    #[actix::test]
    async fn a_dead_watcher_left_in_the_map_is_replaced_for_new_streams() {
        let watch = QueueWatch::new(unreachable_store());
        let event = EventId(8);
        let (tx, rx) = watch::channel(Progress::default());
        watch.watchers.insert(event, rx);
        drop(tx);
        let stream = watch.watch(event);
        assert!(
            stream.rx.has_changed().is_ok(),
            "a new stream gets a live watcher"
        );
    }

    #[actix::test]
    async fn a_watcher_with_a_stream_is_not_stopped() {
        let watchers = DashMap::new();
        let event = EventId(9);
        let (tx, rx) = watch::channel(Progress::default());
        watchers.insert(event, rx.clone());
        let stream = rx; // a stream's clone, taken before the stop decision
        assert!(!stop_if_unwatched(&watchers, event, &tx));
        assert!(watchers.contains_key(&event));
        drop(stream);
        assert!(stop_if_unwatched(&watchers, event, &tx));
        assert!(!watchers.contains_key(&event));
    }
}
