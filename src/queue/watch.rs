//! Position watch: one Redis read per event per node every half second,
//! shared by every position stream on the node. Streams compute their own
//! position from the watermark (`removed`: admitted + skipped, always from the
//! front of the line) and the exact rank they read on connect, instead of
//! asking Redis for every waiter's rank every second.

use std::sync::Arc;
use std::time::Duration;

use actors::domain::EventId;
use dashmap::DashMap;
use tokio::sync::watch;

use crate::store::queue::{Progress, QueueStore};

pub struct QueueWatch {
    store: QueueStore,
    watchers: Arc<DashMap<EventId, watch::Receiver<Progress>>>,
}

impl QueueWatch {
    pub fn new(store: QueueStore) -> QueueWatch {
        QueueWatch {
            store,
            watchers: Arc::new(DashMap::new()),
        }
    }

    /// The event's progress, updated every half second while anyone watches.
    pub fn watch(&self, event: EventId) -> watch::Receiver<Progress> {
        if let Some(rx) = self.watchers.get(&event) {
            return rx.clone();
        }
        let entry = self.watchers.entry(event).or_insert_with(|| {
            let (tx, rx) = watch::channel(Progress::default());
            let (store, watchers) = (self.store.clone(), self.watchers.clone());
            actix_web::rt::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
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
                    if unwatched > 60 {
                        watchers.remove(&event);
                        return;
                    }
                }
            });
            rx
        });
        entry.clone()
    }
}
