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
//! and no duplicate. Version order, early deltas and gaps are kept by
//! [`Sequencer`] (the same one the event actor uses): a version gap that
//! stays open (a lost pub/sub message) makes the hub reload from PostgreSQL
//! and tell every subscriber to resync.
//!
//! **Healing without a later commit.** A lost delta with no commit after it
//! leaves no gap to see, so every second the hub also asks for the latest
//! committed version (the published one in Redis; PostgreSQL's
//! `seat_version` when Redis cannot say, and every fifth check regardless).
//! A hub still short of it a second later reloads and resyncs, as for a gap.
//!
//! **Bounded.** Deltas reach a hub through a bounded inbox (`try_send`): a
//! burst beyond it is dropped and counted, never queued without end; the gap
//! or the version check heals what was dropped.
//!
//! **Seat map reads.** `GET /events/{id}/seats` is answered from the hub too
//! (`Hubs::seat_map`), once the hub has reached the version committed when
//! the request came: as fresh as reading PostgreSQL, without reading every
//! seat of the event from it per request. The body is built at most once
//! per version, one build at a time, off the async workers.
//!
//! **Stopping.** A hub without subscribers (or seat map reads) for
//! `live.idle_seconds` stops. The decision, `closed` and leaving the map
//! happen under the state lock, the same lock a subscriber holds to join: a
//! subscriber either joined first (and the hub stays) or finds it closed and
//! goes to a fresh one.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::ArbiterHandle;
use actix_web::web::Bytes;
use actors::model::{EventId, SeatId, SeatStatus};
use actors::ports::{DeltaBus, SeatDelta};
use actors::sequencer::{Pushed, Sequencer};
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

/// How often a hub compares its version with the latest committed one.
const VERSION_CHECK: Duration = Duration::from_secs(1);
/// Every this many checks, PostgreSQL is asked even when Redis answered (a
/// publish that failed outright never reached Redis either).
const DATABASE_CHECK_EVERY: u32 = 5;
/// A gap, or a version check this hub has not caught up with, older than
/// this makes it reload.
const GAP_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a seat map read waits for the hub to reach the committed
/// version before PostgreSQL is read instead.
const SEAT_MAP_WAIT: Duration = Duration::from_millis(250);

/// All hubs of this node, and the cap on their subscribers.
pub struct Hubs {
    /// The hub of each watched event. A `DashMap` because every subscribe
    /// and every routed delta looks an event up and only a first subscriber
    /// or a stop writes. Shared (`Arc`) with each hub's task, which removes
    /// its own hub (`remove_if(ptr_eq)`) when it stops, never a successor.
    hubs: Arc<DashMap<EventId, Arc<Hub>>>,
    /// For a hub's first load and its reloads (snapshot + version), and the
    /// version check when Redis cannot say.
    pool: PgPool,
    settings: LiveSettings,
    /// Subscribers on this node, against `settings.max_subscribers`. An
    /// atomic, not a lock: a subscriber takes a slot with one `fetch_add`
    /// and gives it back in `Drop` (`SubscriberSlot`), whatever ends its
    /// stream.
    subscribers: Arc<AtomicUsize>,
    /// Where hub tasks are spawned: the node's actor arbiter, not the HTTP
    /// worker that happened to start the hub (its tasks would compete with
    /// that worker's requests, and die with it).
    runtime: ArbiterHandle,
    /// Where the latest published version of an event is read (Redis).
    published: Option<Arc<dyn DeltaBus>>,
    /// Deltas dropped because a hub's inbox was full (or the route lagged).
    dropped: Arc<AtomicUsize>,
}

/// One event's live seat map on this node; see the module doc.
struct Hub {
    event_id: EventId,
    /// Everything a subscriber's first message and place in the broadcast
    /// must agree on. A std `Mutex`, not tokio's: it is never held across
    /// an `.await` (loads happen outside it, then `install` under it), and
    /// holding it while subscribing to `frames` is what makes snapshot +
    /// deltas gapless.
    state: Mutex<HubState>,
    /// Merged deltas, and `Resync` markers after a reload. A bounded
    /// `broadcast`: one send reaches every subscriber, and a subscriber that
    /// falls `channel_capacity` behind gets `Lagged` and is dropped instead
    /// of slowing the hub.
    frames: broadcast::Sender<Arc<Frame>>,
    /// Deltas routed to this hub. A bounded `mpsc` fed with `try_send`: a
    /// burst beyond it is dropped and counted, healed by the gap or version
    /// check, never queued without end.
    inbox: mpsc::Sender<Arc<SeatDelta>>,
    /// The first load's outcome (`None` while loading). A `watch`, so every
    /// subscriber that arrives during the load waits for the same one.
    loaded: watch::Receiver<Option<Result<(), String>>>,
    /// The version `state` is at, for seat map reads to wait on without
    /// taking the lock.
    version: watch::Sender<i64>,
    /// Seat map reads served: they keep the hub from stopping as idle, as
    /// subscribers do.
    reads: AtomicUsize,
    /// The last seat map body built, with its version.
    seat_map: Mutex<Option<(i64, Bytes)>>,
    /// One seat map build at a time: readers behind it take its body.
    seat_map_build: tokio::sync::Mutex<()>,
}

/// What a seat map read found.
enum MapRead {
    Body(Bytes),
    /// The hub stopped: read from a fresh one.
    Closed,
    /// The hub is behind the version asked for (it reloaded to an older
    /// one): PostgreSQL answers.
    Behind,
}

/// A hub's state, behind [`Hub::state`]: changed only by the hub's task
/// (deltas, reloads, flushes) and read by joining subscribers.
#[derive(Default)]
struct HubState {
    /// The version `statuses` is at; deltas beyond a gap (or before the
    /// first load) waiting for their turn; how long a version is missing.
    sequencer: Sequencer<Arc<SeatDelta>>,
    /// Sections, rows and numbers in layout order, as loaded; an `Arc` so a
    /// snapshot shares it instead of copying it. Statuses live apart, in
    /// `statuses`, so a delta touches one small vector.
    layout: Arc<Vec<SeatView>>,
    /// The status of each seat of `layout`, same order.
    statuses: Vec<SeatStatus>,
    /// Where each seat is in `layout`/`statuses`, for applying deltas.
    index: HashMap<SeatId, usize>,
    /// The most recent applied deltas, oldest first.
    ring: VecDeque<Arc<SeatDelta>>,
    /// Applied since the last flush, and when the first of them arrived.
    unflushed: Vec<Arc<SeatDelta>>,
    unflushed_since: Option<Instant>,
    /// Serialised snapshots of the current version, per format.
    cached: [Option<Arc<Frame>>; 2],
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

impl HubState {
    fn install(&mut self, version: i64, layout: Vec<SeatView>) {
        self.statuses = layout.iter().map(|s| s.status).collect();
        self.index = layout
            .iter()
            .enumerate()
            .map(|(i, s)| (s.seat_id, i))
            .collect();
        self.layout = Arc::new(layout);
        self.ring.clear();
        self.cached = [None, None];
        self.sequencer.reset(version);
        self.drain_ahead(1024);
    }

    fn version(&self) -> i64 {
        self.sequencer.version()
    }

    fn apply(&mut self, delta: Arc<SeatDelta>, ring_size: usize) {
        match self.sequencer.push(delta.version, delta) {
            Pushed::Ready => self.drain_ahead(ring_size),
            Pushed::Stale | Pushed::Buffered => {}
            Pushed::Dropped => {
                // Bounded too: the reload this gap leads to (or the version
                // check) covers what is dropped here.
                metrics::counter!("boxoffice_live_deltas_dropped_total").increment(1);
            }
        }
    }

    fn drain_ahead(&mut self, ring_size: usize) {
        while let Some(next) = self.sequencer.pop_ready() {
            self.apply_in_order(next, ring_size);
        }
    }

    /// A version check says `latest` is committed: until this hub reaches
    /// it, that counts as an open gap (its delta may still be on its way).
    fn note_latest(&mut self, latest: i64) {
        self.sequencer.note_latest(latest);
    }

    /// A gap has been open for longer than `timeout`.
    fn stuck(&self, timeout: Duration) -> bool {
        self.sequencer.stuck(timeout)
    }

    fn apply_in_order(&mut self, delta: Arc<SeatDelta>, ring_size: usize) {
        for change in &delta.changes {
            if let Some(&i) = self.index.get(&change.seat_id) {
                self.statuses[i] = change.status;
            }
        }
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
            self.version(),
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
            Some(last) if last == self.version() => None,
            Some(last)
                if last < self.version()
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

impl Hub {
    fn new(event_id: EventId, settings: &LiveSettings) -> (Arc<Hub>, HubInputs) {
        let (frames, _) = broadcast::channel(settings.channel_capacity);
        let (inbox, deltas) = mpsc::channel(settings.inbox_capacity.max(1));
        let (loaded_tx, loaded) = watch::channel(None);
        let hub = Arc::new(Hub {
            event_id,
            state: Mutex::new(HubState::default()),
            frames,
            inbox,
            loaded,
            version: watch::Sender::new(i64::MIN),
            reads: AtomicUsize::new(0),
            seat_map: Mutex::new(None),
            seat_map_build: tokio::sync::Mutex::new(()),
        });
        (
            hub,
            HubInputs {
                deltas,
                loaded: loaded_tx,
            },
        )
    }

    /// Joins this hub's subscribers: the first message(s) and a place in the
    /// broadcast, under the state lock. `None` once the hub has closed.
    fn join(&self, last: Option<i64>, format: Format) -> Option<Joined> {
        let mut state = self.state.lock().ok()?;
        if state.closed {
            return None;
        }
        Some(Joined {
            initial: state
                .catch_up(self.event_id, last, format)
                .into_iter()
                .collect(),
            at: state.version(),
            live: self.frames.subscribe(),
        })
    }

    /// Tells seat map readers the version `state` is at.
    fn publish_version(&self, state: &HubState) {
        let now = state.version();
        self.version.send_if_modified(|shown| {
            let changed = *shown != now;
            *shown = now;
            changed
        });
    }

    /// The seat map body at this hub's version, if that is `at_least`:
    /// the last one built, or a new one (one build at a time, off the
    /// async workers).
    async fn seat_map_at_least(&self, at_least: i64) -> MapRead {
        let cached = || {
            let cached = self.seat_map.lock().ok()?;
            cached
                .as_ref()
                .filter(|(version, _)| *version >= at_least)
                .map(|(_, body)| body.clone())
        };
        if let Some(body) = cached() {
            return MapRead::Body(body);
        }
        let _building = self.seat_map_build.lock().await;
        if let Some(body) = cached() {
            return MapRead::Body(body);
        }
        let (version, layout, statuses) = {
            let Ok(state) = self.state.lock() else {
                return MapRead::Closed;
            };
            if state.closed {
                return MapRead::Closed;
            }
            if state.version() < at_least {
                return MapRead::Behind;
            }
            (
                state.version(),
                state.layout.clone(),
                state.statuses.clone(),
            )
        };
        let event_id = self.event_id;
        let built = tokio::task::spawn_blocking(move || {
            frames::seat_map(event_id, version, &layout, &statuses)
        })
        .await;
        let Ok(body) = built else {
            return MapRead::Behind;
        };
        if let Ok(mut cached) = self.seat_map.lock()
            && cached.as_ref().is_none_or(|(v, _)| *v < version)
        {
            *cached = Some((version, body.clone()));
        }
        MapRead::Body(body)
    }

    /// Closes the hub and takes it off the map if nobody is subscribed,
    /// atomically with [`Hub::join`].
    fn close_if_unwatched(self: &Arc<Self>, hubs: &DashMap<EventId, Arc<Hub>>) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        if self.frames.receiver_count() > 0 {
            return false;
        }
        state.closed = true;
        hubs.remove_if(&self.event_id, |_, h| Arc::ptr_eq(h, self));
        true
    }
}

/// A new subscriber's first message(s), version and place in the broadcast.
struct Joined {
    initial: VecDeque<Arc<Frame>>,
    at: i64,
    live: broadcast::Receiver<Arc<Frame>>,
}

/// The hub task's ends of the hub's channels.
struct HubInputs {
    deltas: mpsc::Receiver<Arc<SeatDelta>>,
    loaded: watch::Sender<Option<Result<(), String>>>,
}

impl Hubs {
    pub fn new(pool: PgPool, settings: LiveSettings, runtime: ArbiterHandle) -> Hubs {
        Hubs {
            hubs: Arc::new(DashMap::new()),
            pool,
            settings,
            subscribers: Arc::new(AtomicUsize::new(0)),
            runtime,
            published: None,
            dropped: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Reads each event's latest published version from `bus` (else every
    /// version check asks PostgreSQL).
    pub fn with_published_versions(mut self, bus: Arc<dyn DeltaBus>) -> Hubs {
        self.published = Some(bus);
        self
    }

    /// Deltas dropped so far because a hub could not take them in time.
    pub fn dropped_deltas(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count_dropped(&self, deltas: usize) {
        self.dropped.fetch_add(deltas, Ordering::Relaxed);
        metrics::counter!("boxoffice_live_deltas_dropped_total").increment(deltas as u64);
    }

    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::SeqCst)
    }

    /// Whether this node has a live hub for `event` (it needs the event's deltas).
    pub fn watches(&self, event: EventId) -> bool {
        self.hubs.contains_key(&event)
    }

    /// Routes every delta this node learns of to the hub of its event, until
    /// the bus closes. A lagging route makes every hub reload.
    pub async fn route(self: Arc<Self>, mut deltas: broadcast::Receiver<Arc<SeatDelta>>) {
        loop {
            match deltas.recv().await {
                Ok(delta) => {
                    let Some(hub) = self.hubs.get(&delta.event_id).map(|h| h.clone()) else {
                        continue;
                    };
                    if hub.inbox.try_send(delta).is_err() {
                        self.count_dropped(1);
                        tracing::debug!(event.id = %hub.event_id, "live hub inbox full; delta dropped, the version check heals it");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    self.count_dropped(missed as usize);
                    tracing::warn!(
                        missed,
                        "live hubs missed deltas; the gap or version check heals them"
                    );
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
            let Some(Joined { initial, at, live }) = hub.join(last, format) else {
                // Closed under us: make sure the next try starts a fresh hub.
                self.hubs.remove_if(&event, |_, h| Arc::ptr_eq(h, &hub));
                continue;
            };
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

    /// The seat map of `event` as `GET /events/{id}/seats` answers it, at
    /// a version no older than `at_least` (the one committed when the
    /// request came), from this node's hub, started if need be. `None` when
    /// the hub cannot load or does not reach `at_least` within
    /// `SEAT_MAP_WAIT`: the caller reads PostgreSQL instead.
    pub async fn seat_map(&self, event: EventId, at_least: i64) -> Option<Bytes> {
        for _ in 0..3 {
            let hub = self.hub(event);
            let mut loaded = hub.loaded.clone();
            match loaded.wait_for(Option::is_some).await.map(|v| v.clone()) {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(_))) => return None,
                _ => continue,
            }
            hub.reads.fetch_add(1, Ordering::Relaxed);
            let mut version = hub.version.subscribe();
            let reached =
                tokio::time::timeout(SEAT_MAP_WAIT, version.wait_for(|v| *v >= at_least)).await;
            if !matches!(reached, Ok(Ok(_))) {
                metrics::counter!("boxoffice_live_seat_map_reads_total", "from" => "postgres")
                    .increment(1);
                return None;
            }
            match hub.seat_map_at_least(at_least).await {
                MapRead::Body(body) => {
                    metrics::counter!("boxoffice_live_seat_map_reads_total", "from" => "hub")
                        .increment(1);
                    return Some(body);
                }
                MapRead::Behind => return None,
                MapRead::Closed => {
                    self.hubs.remove_if(&event, |_, h| Arc::ptr_eq(h, &hub));
                }
            }
        }
        None
    }

    fn hub(&self, event: EventId) -> Arc<Hub> {
        if let Some(hub) = self.hubs.get(&event) {
            return hub.clone();
        }
        let entry = self.hubs.entry(event).or_insert_with(|| {
            let (hub, inputs) = Hub::new(event, &self.settings);
            let task = run(
                hub.clone(),
                inputs,
                Sources {
                    pool: self.pool.clone(),
                    published: self.published.clone(),
                },
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

/// Where a hub reads committed state: the seat map, and the latest version.
struct Sources {
    pool: PgPool,
    published: Option<Arc<dyn DeltaBus>>,
}

impl Sources {
    /// The latest committed version of `event`: the published one, or
    /// PostgreSQL's when Redis cannot say or `ask_database`; `None` when
    /// neither answers in time.
    async fn latest_version(&self, event: EventId, ask_database: bool) -> Option<i64> {
        let check = async {
            let published = match &self.published {
                Some(bus) => bus.latest_version(event).await,
                None => None,
            };
            if published.is_some() && !ask_database {
                return published;
            }
            let committed = seats::version(&self.pool, event).await.ok().flatten();
            published.max(committed)
        };
        tokio::time::timeout(VERSION_CHECK, check)
            .await
            .ok()
            .flatten()
    }
}

/// The hub's task: load, then apply deltas and flush merged frames each
/// tick, and compare its version with the latest committed one each second.
async fn run(
    hub: Arc<Hub>,
    inputs: HubInputs,
    sources: Sources,
    settings: LiveSettings,
    hubs: Arc<DashMap<EventId, Arc<Hub>>>,
) {
    let HubInputs { mut deltas, loaded } = inputs;
    let pool = &sources.pool;
    // Hear other nodes' deltas of the event before reading the map, so none
    // committed after the read can pass unheard.
    if let Some(bus) = &sources.published {
        bus.follow(hub.event_id).await;
    }
    match load(pool, hub.event_id).await {
        Ok((version, layout)) => {
            if let Ok(mut state) = hub.state.lock() {
                state.install(version, layout);
                hub.publish_version(&state);
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
    let mut check = tokio::time::interval(VERSION_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checks: u32 = 0;
    let mut idle_since: Option<Instant> = None;
    let mut reads_seen = 0;
    loop {
        tokio::select! {
            delta = deltas.recv() => match delta {
                Some(delta) => {
                    if let Ok(mut state) = hub.state.lock() {
                        state.apply(delta, settings.ring_size);
                        hub.publish_version(&state);
                    }
                }
                None => break,
            },
            _ = check.tick() => {
                checks = checks.wrapping_add(1);
                let ask_database = checks.is_multiple_of(DATABASE_CHECK_EVERY);
                if let Some(latest) = sources.latest_version(hub.event_id, ask_database).await
                    && let Ok(mut state) = hub.state.lock()
                {
                    state.note_latest(latest);
                }
            }
            _ = tick.tick() => {
                flush(&hub);
                let stuck = hub.state.lock().ok().is_some_and(|s| s.stuck(GAP_TIMEOUT));
                if stuck {
                    resync(&hub, pool).await;
                }
                let reads = hub.reads.load(Ordering::Relaxed);
                if hub.frames.receiver_count() == 0 && reads == reads_seen {
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    // At least a second: the subscriber that started the hub
                    // joins just after the load, on another thread.
                    let idle_for = Duration::from_secs(settings.idle_seconds.max(1));
                    if since.elapsed() > idle_for && hub.close_if_unwatched(&hubs)
                    {
                        break;
                    }
                } else {
                    idle_since = None;
                    reads_seen = reads;
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
        Ok((version, layout)) => reinstall(hub, version, layout),
        Err(error) => {
            tracing::warn!(event.id = %hub.event_id, %error, "live hub reload failed; retrying");
            if let Ok(mut state) = hub.state.lock() {
                // Try again in a second, not on every tick.
                state.sequencer.restart_gap_clock();
            }
        }
    }
}

/// Replaces the hub's state with a fresh load and tells every subscriber to
/// take a fresh snapshot (the marker is sent under the lock, so a subscriber
/// joining now either got the new state or gets the marker).
fn reinstall(hub: &Hub, version: i64, layout: Vec<SeatView>) {
    if let Ok(mut state) = hub.state.lock() {
        state.unflushed.clear();
        state.unflushed_since = None;
        state.install(version, layout);
        hub.publish_version(&state);
        let marker = Frame::new(Kind::Snapshot, version, String::new());
        let _ = hub.frames.send(Arc::new(marker));
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

#[cfg(test)]
mod tests {
    use actors::ports::SeatChange;
    use actors::sequencer::MAX_AHEAD;
    use futures_util::StreamExt;

    use super::*;

    const EVENT: EventId = EventId(1);

    fn settings() -> LiveSettings {
        LiveSettings {
            max_subscribers: 10,
            flush_ms: 100,
            ring_size: 16,
            channel_capacity: 16,
            keep_alive_seconds: 15,
            idle_seconds: 60,
            inbox_capacity: 16,
        }
    }

    /// Seats 1..=n with the given statuses.
    fn layout(statuses: &[&str]) -> Vec<SeatView> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, status)| SeatView {
                seat_id: SeatId(i as i64 + 1),
                section: "A".into(),
                row: "1".into(),
                number: i as i32 + 1,
                status: status.parse().unwrap(),
                zone: None,
                price_cents: 100,
                x: 0.0,
                y: 0.0,
            })
            .collect()
    }

    fn delta(version: i64, seat: i64, status: SeatStatus) -> Arc<SeatDelta> {
        Arc::new(SeatDelta {
            event_id: EVENT,
            version,
            changes: vec![SeatChange {
                seat_id: SeatId(seat),
                status,
            }],
        })
    }

    fn loaded_hub(version: i64, statuses: &[&str]) -> Arc<Hub> {
        let (hub, _inputs) = Hub::new(EVENT, &settings());
        hub.state.lock().unwrap().install(version, layout(statuses));
        hub
    }

    fn subscription(hub: &Arc<Hub>) -> Subscription {
        let Joined { initial, at, live } = hub.join(None, Format::Full).unwrap();
        Subscription {
            initial,
            at,
            live,
            hub: hub.clone(),
            format: Format::Full,
            _slot: SubscriberSlot(Arc::new(AtomicUsize::new(1))),
        }
    }

    fn statuses(hub: &Hub) -> (i64, Vec<SeatStatus>) {
        let state = hub.state.lock().unwrap();
        (state.version(), state.statuses.clone())
    }

    fn snapshot_statuses(frame: &Frame) -> Vec<String> {
        let body: serde_json::Value = serde_json::from_str(&frame.json).unwrap();
        body["seats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .collect()
    }

    #[actix::test]
    async fn a_resync_replaces_the_state_and_sends_every_subscriber_a_fresh_snapshot() {
        let hub = loaded_hub(1, &["AVAILABLE", "AVAILABLE", "AVAILABLE"]);
        let mut stream = Box::pin(subscription(&hub).into_stream());
        let first = stream.next().await.unwrap();
        assert_eq!((first.kind, first.version), (Kind::Snapshot, 1));
        // A delta applied but not yet flushed, then a reload that knows better.
        hub.state
            .lock()
            .unwrap()
            .apply(delta(2, 1, SeatStatus::Reserved), 16);

        reinstall(&hub, 5, layout(&["CONFIRMED", "AVAILABLE", "RESERVED"]));

        assert_eq!(
            statuses(&hub),
            (
                5,
                vec![
                    SeatStatus::Confirmed,
                    SeatStatus::Available,
                    SeatStatus::Reserved
                ]
            )
        );
        {
            let state = hub.state.lock().unwrap();
            assert!(
                state.unflushed.is_empty(),
                "nothing stale is flushed after a reload"
            );
            assert!(
                state.ring.is_empty(),
                "no resume from deltas the reload replaced"
            );
            assert!(state.sequencer.gap_age().is_none());
        }
        let fresh = tokio::time::timeout(Duration::from_secs(1), stream.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((fresh.kind, fresh.version), (Kind::Snapshot, 5));
        assert_eq!(
            snapshot_statuses(&fresh),
            vec!["CONFIRMED", "AVAILABLE", "RESERVED"]
        );
    }

    #[actix::test]
    async fn a_resync_keeps_buffered_deltas_beyond_the_reloaded_version() {
        let hub = loaded_hub(1, &["AVAILABLE", "AVAILABLE"]);
        {
            let mut state = hub.state.lock().unwrap();
            state.apply(delta(3, 1, SeatStatus::Reserved), 16); // 2 lost: a gap
            state.apply(delta(6, 2, SeatStatus::Reserved), 16);
            assert!(state.sequencer.gap_age().is_some());
            assert_eq!(state.version(), 1);
        }
        // PostgreSQL is at 5: 3 is covered, 6 is applied on top.
        reinstall(&hub, 5, layout(&["CONFIRMED", "AVAILABLE"]));
        let state = hub.state.lock().unwrap();
        assert_eq!(state.version(), 6);
        assert_eq!(
            state.statuses,
            vec![SeatStatus::Confirmed, SeatStatus::Reserved]
        );
        assert_eq!(state.sequencer.buffered(), 0);
        assert!(state.sequencer.gap_age().is_none());
    }

    #[test]
    fn deltas_beyond_a_gap_are_buffered_up_to_a_bound() {
        let hub = loaded_hub(1, &["AVAILABLE"]);
        let mut state = hub.state.lock().unwrap();
        for version in 3..(3 + 2 * MAX_AHEAD as i64) {
            state.apply(delta(version, 1, SeatStatus::Reserved), 16);
        }
        assert_eq!(state.sequencer.buffered(), MAX_AHEAD);
        assert!(
            state.sequencer.gap_age().is_some(),
            "the gap still makes it reload"
        );
    }

    #[test]
    fn joining_and_closing_at_once_never_leave_a_subscriber_on_a_closed_hub() {
        for _ in 0..1000 {
            let hubs = Arc::new(DashMap::new());
            let hub = loaded_hub(1, &["AVAILABLE"]);
            hubs.insert(EVENT, hub.clone());
            let closer = {
                let (hub, hubs) = (hub.clone(), hubs.clone());
                std::thread::spawn(move || while !hub.close_if_unwatched(&hubs) {})
            };
            if let Some(joined) = hub.join(None, Format::Full) {
                std::thread::yield_now();
                assert!(
                    !hub.state.lock().unwrap().closed,
                    "a hub closed under a subscriber that joined it"
                );
                drop(joined);
            }
            closer.join().unwrap();
            assert!(hub.state.lock().unwrap().closed);
            assert!(!hubs.contains_key(&EVENT));
        }
    }

    #[actix::test]
    async fn a_hub_short_of_the_latest_committed_version_is_stuck_until_it_reaches_it() {
        let hub = loaded_hub(3, &["AVAILABLE", "AVAILABLE"]);
        let mut state = hub.state.lock().unwrap();
        state.note_latest(3);
        assert!(state.sequencer.gap_age().is_none(), "not behind: no gap");
        state.note_latest(5);
        assert!(
            state.stuck(Duration::ZERO),
            "behind with no later delta: a gap"
        );
        state.apply(delta(4, 1, SeatStatus::Reserved), 16);
        assert!(state.stuck(Duration::ZERO), "still short of 5");
        state.apply(delta(5, 2, SeatStatus::Reserved), 16);
        assert!(state.sequencer.gap_age().is_none(), "caught up: no reload");
    }

    #[actix::test]
    async fn a_published_version_a_reload_did_not_confirm_reloads_once_only() {
        let hub = loaded_hub(3, &["AVAILABLE"]);
        hub.state.lock().unwrap().note_latest(9);
        // PostgreSQL says 3 (a stale Redis key, a restored database).
        reinstall(&hub, 3, layout(&["AVAILABLE"]));
        let mut state = hub.state.lock().unwrap();
        state.note_latest(9);
        assert!(
            state.sequencer.gap_age().is_none(),
            "already answered by the reload"
        );
        state.note_latest(10);
        assert!(
            state.sequencer.gap_age().is_some(),
            "a newer version is news again"
        );
    }

    #[actix::test]
    async fn a_hub_with_a_subscriber_is_never_closed_as_idle_and_a_closed_one_takes_none() {
        let hubs = DashMap::new();
        let hub = loaded_hub(1, &["AVAILABLE"]);
        hubs.insert(EVENT, hub.clone());

        let joined = hub.join(None, Format::Full);
        assert!(joined.is_some());
        assert!(!hub.close_if_unwatched(&hubs), "a subscriber joined first");
        assert!(hubs.contains_key(&EVENT));

        drop(joined);
        assert!(hub.close_if_unwatched(&hubs));
        assert!(
            !hubs.contains_key(&EVENT),
            "a closed hub leaves the map at once"
        );
        assert!(
            hub.join(None, Format::Full).is_none(),
            "nobody joins a closed hub (its stream would be dead)"
        );
    }

    #[actix::test]
    async fn the_route_drops_what_a_full_inbox_cannot_take_and_counts_it() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let hubs = Arc::new(Hubs::new(pool, settings(), actix::Arbiter::current()));
        let (hub, inputs) = Hub::new(EVENT, &settings());
        hubs.hubs.insert(EVENT, hub);
        let (bus, deltas) = broadcast::channel(1024);
        let routing = tokio::spawn(hubs.clone().route(deltas));
        for version in 1..=100 {
            bus.send(delta(version, 1, SeatStatus::Reserved)).unwrap();
        }
        drop(bus);
        routing.await.unwrap();
        // Nothing drained the inbox: it holds its capacity, the rest dropped.
        assert_eq!(inputs.deltas.len(), 16);
        assert_eq!(hubs.dropped_deltas(), 100 - 16);
    }
}
