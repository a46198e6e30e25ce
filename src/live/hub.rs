//! One hub per event per node: the live seat map's state and its subscribers.
//!
//! **Owns** the seat statuses of one event in layout order, at a version,
//! built from a PostgreSQL snapshot and then from every committed delta this
//! node learns of (its own commits and other nodes', through the delta bus),
//! applied strictly in version order; plus a ring of the most recent deltas
//! for resuming clients.
//!
//! **Fan-out.** Every `flush` tick, the deltas applied since the last tick are
//! merged into one message, serialised once, and sent on a bounded
//! `broadcast` channel that every subscriber reads. A subscriber that falls
//! more than the channel's capacity behind is dropped (its stream ends); the
//! browser reconnects with `Last-Event-ID` and resumes from the ring or from a
//! fresh snapshot. Nothing a subscriber does can slow the hub or the actors.
//!
//! **Consistency.** A new subscriber's first message (snapshot or missed
//! deltas) and its place in the broadcast are taken under the same lock as
//! the hub's state, so snapshot + deltas reproduce committed state with no gap
//! and no duplicate. A version gap that stays open (a lost pub/sub message)
//! makes the hub reload from PostgreSQL and tell every subscriber to resync.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::ArbiterHandle;
use actors::domain::{EventId, SeatId, SeatStatus};
use actors::ports::SeatDelta;
use dashmap::DashMap;
use futures_util::Stream;
use sqlx::PgPool;
use tokio::sync::{broadcast, mpsc, watch};

use super::frames::{self, Format, Frame, Kind};
use crate::config::LiveSettings;
use crate::store::seats::{self, SeatView};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("too many live subscribers on this node")]
    Full,
    #[error("the seat map could not be loaded: {0}")]
    Unavailable(String),
}

/// All hubs of this node, and the cap on their subscribers.
pub struct Hubs {
    hubs: Arc<DashMap<EventId, Arc<Hub>>>,
    pool: PgPool,
    settings: LiveSettings,
    subscribers: Arc<AtomicUsize>,
    runtime: ArbiterHandle,
}

struct Hub {
    event_id: EventId,
    state: Mutex<HubState>,
    /// Merged deltas, and `Resync` markers after a reload.
    frames: broadcast::Sender<Arc<Frame>>,
    inbox: mpsc::Sender<Arc<SeatDelta>>,
    loaded: watch::Receiver<Option<Result<(), String>>>,
}

#[derive(Default)]
struct HubState {
    version: i64,
    layout: Arc<Vec<SeatView>>,
    statuses: Vec<SeatStatus>,
    index: HashMap<SeatId, usize>,
    /// The most recent applied deltas, oldest first.
    ring: VecDeque<Arc<SeatDelta>>,
    /// Deltas beyond a gap, waiting for the ones before them.
    ahead: BTreeMap<i64, Arc<SeatDelta>>,
    gap_since: Option<Instant>,
    /// Applied since the last flush, and when the first of them arrived.
    unflushed: Vec<Arc<SeatDelta>>,
    unflushed_since: Option<Instant>,
    /// Serialised snapshots of the current version, per format.
    cached: [Option<Arc<Frame>>; 2],
    loaded: bool,
    /// The hub has stopped: subscribers must go to a fresh one.
    closed: bool,
}

/// A live subscription: first messages, then the broadcast.
pub struct Subscription {
    initial: VecDeque<Arc<Frame>>,
    /// The version this subscriber is at: broadcast deltas not beyond it
    /// were already covered by its first message and are not sent again.
    at: i64,
    live: broadcast::Receiver<Arc<Frame>>,
    hub: Arc<Hub>,
    format: Format,
    _slot: SubscriberSlot,
}

/// Counts a subscriber against the node's cap while it lives.
struct SubscriberSlot(Arc<AtomicUsize>);

impl Drop for SubscriberSlot {
    fn drop(&mut self) {
        let now = self.0.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("boxoffice_live_subscribers").set(now as f64);
    }
}

fn status_of(text: &str) -> SeatStatus {
    text.parse().unwrap_or(SeatStatus::Confirmed)
}

impl HubState {
    fn install(&mut self, version: i64, layout: Vec<SeatView>) {
        self.statuses = layout.iter().map(|s| status_of(&s.status)).collect();
        self.index = layout
            .iter()
            .enumerate()
            .map(|(i, s)| (s.seat_id, i))
            .collect();
        self.layout = Arc::new(layout);
        self.version = version;
        self.ring.clear();
        self.ahead.retain(|v, _| *v > version);
        self.gap_since = None;
        self.cached = [None, None];
        self.loaded = true;
        self.drain_ahead();
    }

    fn apply(&mut self, delta: Arc<SeatDelta>, ring_size: usize) {
        if !self.loaded || delta.version > self.version + 1 {
            if self.loaded {
                self.gap_since.get_or_insert_with(Instant::now);
            }
            self.ahead.insert(delta.version, delta);
            return;
        }
        if delta.version <= self.version {
            return;
        }
        self.apply_in_order(delta, ring_size);
        self.drain_ahead_with(ring_size);
    }

    fn drain_ahead(&mut self) {
        self.drain_ahead_with(1024);
    }

    fn drain_ahead_with(&mut self, ring_size: usize) {
        while let Some(next) = self.ahead.remove(&(self.version + 1)) {
            self.apply_in_order(next, ring_size);
        }
        self.ahead.retain(|v, _| *v > self.version);
        self.gap_since = if self.ahead.is_empty() {
            None
        } else {
            self.gap_since.or(Some(Instant::now()))
        };
    }

    fn apply_in_order(&mut self, delta: Arc<SeatDelta>, ring_size: usize) {
        for change in &delta.changes {
            if let Some(&i) = self.index.get(&change.seat_id) {
                self.statuses[i] = change.status;
            }
        }
        self.version = delta.version;
        self.cached = [None, None];
        self.ring.push_back(delta.clone());
        while self.ring.len() > ring_size {
            self.ring.pop_front();
        }
        self.unflushed_since.get_or_insert_with(Instant::now);
        self.unflushed.push(delta);
    }

    fn snapshot(&mut self, event_id: EventId, format: Format) -> Arc<Frame> {
        let slot = match format {
            Format::Full => 0,
            Format::Compact => 1,
        };
        if let Some(frame) = &self.cached[slot] {
            return frame.clone();
        }
        let frame = Arc::new(frames::snapshot(
            event_id,
            self.version,
            &self.layout,
            &self.statuses,
            format,
        ));
        self.cached[slot] = Some(frame.clone());
        frame
    }

    /// What a client that has seen `last` needs first: nothing, the deltas it
    /// missed (if the ring still has them all), or a snapshot.
    fn catch_up(
        &mut self,
        event_id: EventId,
        last: Option<i64>,
        format: Format,
    ) -> Option<Arc<Frame>> {
        match last {
            Some(last) if last == self.version => None,
            Some(last)
                if last < self.version
                    && self.ring.front().is_some_and(|d| d.version <= last + 1) =>
            {
                let missed: Vec<Arc<SeatDelta>> = self
                    .ring
                    .iter()
                    .filter(|d| d.version > last)
                    .cloned()
                    .collect();
                frames::merged_delta(event_id, &missed).map(Arc::new)
            }
            _ => Some(self.snapshot(event_id, format)),
        }
    }
}

impl Hubs {
    pub fn new(pool: PgPool, settings: LiveSettings, runtime: ArbiterHandle) -> Hubs {
        Hubs {
            hubs: Arc::new(DashMap::new()),
            pool,
            settings,
            subscribers: Arc::new(AtomicUsize::new(0)),
            runtime,
        }
    }

    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::SeqCst)
    }

    /// Routes every delta this node learns of to the hub of its event, until
    /// the bus closes. A lagging route makes every hub reload.
    pub async fn route(self: Arc<Self>, mut deltas: broadcast::Receiver<Arc<SeatDelta>>) {
        loop {
            match deltas.recv().await {
                Ok(delta) => {
                    if let Some(hub) = self.hubs.get(&delta.event_id)
                        && hub.inbox.try_send(delta).is_err()
                    {
                        tracing::warn!(event.id = %hub.event_id, "live hub inbox full; it will resync");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "live hubs missed deltas; they resync on the gap");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Subscribes to the live seat map of `event`, resuming after `last`.
    pub async fn subscribe(
        &self,
        event: EventId,
        last: Option<i64>,
        format: Format,
    ) -> Result<Subscription, LiveError> {
        let taken = self.subscribers.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = SubscriberSlot(self.subscribers.clone());
        if taken > self.settings.max_subscribers {
            return Err(LiveError::Full);
        }
        metrics::gauge!("boxoffice_live_subscribers").set(taken as f64);
        for _ in 0..3 {
            let hub = self.hub(event);
            let mut loaded = hub.loaded.clone();
            let outcome = loaded.wait_for(Option::is_some).await.map(|v| v.clone());
            match outcome {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(error))) => return Err(LiveError::Unavailable(error)),
                _ => continue,
            }
            let Ok(mut state) = hub.state.lock() else {
                continue;
            };
            if state.closed {
                continue;
            }
            let initial = state.catch_up(event, last, format).into_iter().collect();
            let at = state.version;
            let live = hub.frames.subscribe();
            drop(state);
            return Ok(Subscription {
                initial,
                at,
                live,
                hub: hub.clone(),
                format,
                _slot: slot,
            });
        }
        Err(LiveError::Unavailable(
            "the live hub kept restarting".into(),
        ))
    }

    fn hub(&self, event: EventId) -> Arc<Hub> {
        if let Some(hub) = self.hubs.get(&event) {
            return hub.clone();
        }
        let entry = self.hubs.entry(event).or_insert_with(|| {
            let (frames, _) = broadcast::channel(self.settings.channel_capacity);
            let (inbox, deltas) = mpsc::channel(4096);
            let (loaded_tx, loaded) = watch::channel(None);
            let hub = Arc::new(Hub {
                event_id: event,
                state: Mutex::new(HubState::default()),
                frames,
                inbox,
                loaded,
            });
            let task = run(
                hub.clone(),
                deltas,
                loaded_tx,
                self.pool.clone(),
                self.settings.clone(),
                self.hubs.clone(),
            );
            self.runtime.spawn(task);
            hub
        });
        let hub = entry.clone();
        drop(entry);
        hub
    }
}

async fn load(pool: &PgPool, event: EventId) -> Result<(i64, Vec<SeatView>), String> {
    match seats::snapshot(pool, event).await {
        Ok(Some(snapshot)) => Ok((snapshot.version, snapshot.seats)),
        Ok(None) => Err(format!("event {event} does not exist")),
        Err(error) => Err(error.to_string()),
    }
}

/// The hub's task: load, then apply deltas and flush merged frames each tick.
async fn run(
    hub: Arc<Hub>,
    mut deltas: mpsc::Receiver<Arc<SeatDelta>>,
    loaded: watch::Sender<Option<Result<(), String>>>,
    pool: PgPool,
    settings: LiveSettings,
    hubs: Arc<DashMap<EventId, Arc<Hub>>>,
) {
    match load(&pool, hub.event_id).await {
        Ok((version, layout)) => {
            if let Ok(mut state) = hub.state.lock() {
                state.install(version, layout);
            }
            let _ = loaded.send(Some(Ok(())));
        }
        Err(error) => {
            tracing::warn!(event.id = %hub.event_id, %error, "live hub could not load");
            if let Ok(mut state) = hub.state.lock() {
                state.closed = true;
            }
            let _ = loaded.send(Some(Err(error)));
            hubs.remove_if(&hub.event_id, |_, h| Arc::ptr_eq(h, &hub));
            return;
        }
    }
    let mut tick = tokio::time::interval(Duration::from_millis(settings.flush_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_since: Option<Instant> = None;
    loop {
        tokio::select! {
            delta = deltas.recv() => match delta {
                Some(delta) => {
                    if let Ok(mut state) = hub.state.lock() {
                        state.apply(delta, settings.ring_size);
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                flush(&hub);
                let gap = hub.state.lock().ok().and_then(|s| s.gap_since).is_some_and(|since| since.elapsed() > Duration::from_secs(1));
                if gap {
                    resync(&hub, &pool).await;
                }
                if hub.frames.receiver_count() == 0 {
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(settings.idle_seconds) {
                        break;
                    }
                } else {
                    idle_since = None;
                }
            }
        }
    }
    if let Ok(mut state) = hub.state.lock() {
        state.closed = true;
    }
    hubs.remove_if(&hub.event_id, |_, h| Arc::ptr_eq(h, &hub));
    tracing::debug!(event.id = %hub.event_id, "live hub stopped");
}

/// Sends what was applied since the last tick as one merged message.
fn flush(hub: &Hub) {
    let Ok(mut state) = hub.state.lock() else {
        return;
    };
    if state.unflushed.is_empty() {
        return;
    }
    let deltas = std::mem::take(&mut state.unflushed);
    let since = state.unflushed_since.take();
    let Some(frame) = frames::merged_delta(hub.event_id, &deltas) else {
        return;
    };
    let receivers = hub.frames.send(Arc::new(frame)).unwrap_or(0);
    drop(state);
    metrics::counter!("boxoffice_live_messages_sent_total").increment(receivers as u64);
    if let Some(since) = since {
        metrics::histogram!("boxoffice_live_delta_send_delay_seconds")
            .record(since.elapsed().as_secs_f64());
    }
}

/// A delta never came: reload from PostgreSQL and make every subscriber
/// start again from a snapshot.
async fn resync(hub: &Hub, pool: &PgPool) {
    tracing::info!(event.id = %hub.event_id, "live hub missed a delta; reloading");
    metrics::counter!("boxoffice_live_resyncs_total").increment(1);
    match load(pool, hub.event_id).await {
        Ok((version, layout)) => {
            if let Ok(mut state) = hub.state.lock() {
                state.unflushed.clear();
                state.unflushed_since = None;
                state.install(version, layout);
                let marker = Frame::new(Kind::Snapshot, version, String::new());
                let _ = hub.frames.send(Arc::new(marker));
            }
        }
        Err(error) => {
            tracing::warn!(event.id = %hub.event_id, %error, "live hub reload failed; retrying")
        }
    }
}

impl Subscription {
    /// The messages for this subscriber: its first message(s), then every
    /// merged delta. Ends when the subscriber falls too far behind.
    pub fn into_stream(self) -> impl Stream<Item = Arc<Frame>> {
        futures_util::stream::unfold(self, |mut sub| async move {
            if let Some(frame) = sub.initial.pop_front() {
                return Some((frame, sub));
            }
            loop {
                match sub.live.recv().await {
                    Ok(frame) if frame.kind == Kind::Snapshot => {
                        // A resync marker: this subscriber's fresh snapshot.
                        let snapshot = sub
                            .hub
                            .state
                            .lock()
                            .ok()?
                            .snapshot(sub.hub.event_id, sub.format);
                        sub.at = snapshot.version;
                        return Some((snapshot, sub));
                    }
                    Ok(frame) if frame.version <= sub.at => continue,
                    Ok(frame) => {
                        sub.at = frame.version;
                        return Some((frame, sub));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        metrics::counter!("boxoffice_live_slow_clients_dropped_total").increment(1);
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}
