//! One actor per hot event: the single writer of that event's seats on this node.
//!
//! **Owns** the in-memory seat state of one event (loaded from PostgreSQL on
//! start, so a restarted actor rebuilds itself) and the queue of hold requests
//! waiting for the next group commit.
//!
//! **Order.** At most one hold batch is in flight. While it is, new requests
//! queue; the next batch takes up to `batch_max` of them in arrival order, with
//! one Redis pipeline (seat locks) and one PostgreSQL transaction. Releases,
//! expiries and confirmations run as their own transactions, at most
//! `parallel_writes` at a time (the rest wait their turn), so a burst of them
//! on one hot event cannot take every pool connection. Across every node,
//! PostgreSQL serialises all of an event's seat transactions on the event row
//! (each bumps its `seat_version`), and memory applies their deltas strictly in
//! version order (see `seat_state` and `sequencer`).
//!
//! **Guarantees.** Memory only ever says "no" early: a refusal from memory is
//! answered only once a version read (Redis's published version, PostgreSQL's
//! `seat_version` when Redis cannot say) shows memory is not behind, and only
//! if memory, as it stands when that read returns, still refuses; otherwise
//! PostgreSQL decides the request in the next batch. Only a PostgreSQL commit
//! says "yes", and every reply is sent after the commit it reports on and after
//! its delta was published.
//!
//! **Self-healing memory.** At least every `version_check_every` the actor
//! reads PostgreSQL's `seat_version` and reloads when memory is behind it once
//! its own transactions begun before the read have landed; a version gap open
//! for `gap_timeout` reloads too, batches in flight or not. A reload never
//! pauses the actor (`ctx.spawn`, not `ctx.wait`): a batch in flight keeps its
//! event-row lock no longer than its own work, and deltas arriving meanwhile
//! are replayed on the fresh state.
//!
//! **Deadlines.** Every hold request carries its requester's deadline and reply
//! channel: a request whose requester left is not planned, and a hold committed
//! for a requester who left is released at once.
//!
//! **Failure.** Redis unreachable: the lock layer is skipped (logged, counted)
//! and PostgreSQL alone decides. A Redis "no" for seats memory says are free,
//! while memory is current, is a stale lock: PostgreSQL decides and the lock is
//! overwritten for the hold it commits. PostgreSQL unreachable: every request
//! of the batch gets `Unavailable` and its Redis locks are released. A failed
//! reload keeps the old state (and retries); only a failed first load stops the
//! actor, once nothing of its own is in flight.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use tokio::sync::{Semaphore, oneshot};

use crate::batch::{self, BestWanted, WantsSeats};
use crate::group_commit::{BatchInput, BatchResult, lock_token, run_batch};
use crate::model::{BookingId, EventId, SeatId, UserId};
use crate::ports::{
    CancelOutcome, Cancellation, Committed, ConfirmOutcome, DeltaBus, Freed, HoldOutcome, HoldPlan,
    ReleaseOutcome, SeatDelta, SeatLedger, SeatLock, StorageError,
};
use crate::reservation::Wanted;
use crate::seat_state::{Applied, SeatState};

/// How often a best-available request is picked again after the seats
/// picked for it turned out taken (another node's hold memory had not seen
/// yet); each retry leaves those seats out, so it always moves on.
const BEST_AVAILABLE_RETRIES: u32 = 8;

/// The adapters an event actor works through.
#[derive(Clone)]
pub struct Ports {
    pub ledger: Arc<dyn SeatLedger>,
    pub lock: Arc<dyn SeatLock>,
    pub bus: Arc<dyn DeltaBus>,
}

#[derive(Debug, Clone)]
pub struct EventActorConfig {
    pub batch_max: usize,
    pub hold_for: Duration,
    /// An actor with nothing to do for this long stops.
    pub idle_after: Duration,
    /// A version gap still open after this long makes the actor reload.
    pub gap_timeout: Duration,
    /// How often the actor compares its version with PostgreSQL's.
    pub version_check_every: Duration,
    /// Release, expiry and confirmation transactions of the event that may
    /// run at once on this node (the others wait their turn).
    pub parallel_writes: usize,
    /// How long a caller waits for the actor before giving up (503).
    pub request_timeout: Duration,
}

/// A hold that committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub booking_id: BookingId,
    pub event_id: EventId,
    pub seat_ids: Vec<SeatId>,
    pub expires_at: DateTime<Utc>,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReserveError {
    #[error("seats are not available")]
    SeatsUnavailable(Vec<SeatId>),
    #[error("seats are not seats of this event")]
    UnknownSeats(Vec<SeatId>),
    #[error("the buyer already holds the most seats allowed per event ({limit})")]
    HoldLimitReached { limit: usize },
    /// No block of that many adjacent seats in one row (of the zone) is left.
    #[error("no {count} adjacent seats are left")]
    NotEnoughSeats { count: usize },
    /// A best-available request named a zone the event does not have.
    #[error("the event has no zone named {0:?}")]
    UnknownZone(String),
    #[error("booking is unavailable right now: {0}")]
    Unavailable(String),
}

pub type ReserveReply = Result<Hold, ReserveError>;

/// Hold these seats (or the best block the actor picks) for this user, all
/// or none. The answer goes to `reply`; a requester that drops its receiver
/// or lets `deadline` pass has left, and no hold is kept for it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reserve {
    pub user_id: UserId,
    pub wanted: Wanted,
    pub deadline: Instant,
    pub reply: oneshot::Sender<ReserveReply>,
}

/// Release a pending booking now (`user_id`: only if it is theirs).
#[derive(Message)]
#[rtype(result = "Result<ReleaseOutcome, StorageError>")]
pub struct Release {
    pub booking_id: BookingId,
    pub user_id: Option<UserId>,
}

/// Expire these bookings if their holds have run out.
#[derive(Message)]
#[rtype(result = "Result<Vec<Freed>, StorageError>")]
pub struct Expire {
    pub booking_ids: Vec<BookingId>,
}

/// Confirm a paid booking.
#[derive(Message)]
#[rtype(result = "Result<ConfirmOutcome, StorageError>")]
pub struct Confirm {
    pub booking_id: BookingId,
    /// The payment attempt whose charge pays for it.
    pub payment_id: i64,
}

/// Cancel a paid booking: its seats go back on sale (see `ports::Cancellation`).
#[derive(Message)]
#[rtype(result = "Result<CancelOutcome, StorageError>")]
pub struct Cancel(pub Cancellation);

/// A delta committed elsewhere (another node, or this node outside the actor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyDelta(pub SeatDelta);

/// How many seats are still available, as far as this node knows.
#[derive(Message)]
#[rtype(result = "Option<usize>")]
pub struct Availability;

struct PendingHold {
    user_id: UserId,
    /// The seats asked for; for a best-available request, the seats picked
    /// for it by the batch being selected (empty before).
    seat_ids: Vec<SeatId>,
    /// Set for a best-available request.
    best: Option<BestRequest>,
    deadline: Instant,
    reply: oneshot::Sender<ReserveReply>,
    /// Memory refused it but could not vouch for itself: PostgreSQL decides.
    bypass_memory: bool,
}

/// A best-available request's wish and what it learnt on the way.
struct BestRequest {
    count: usize,
    zone: Option<String>,
    /// Seats picked for it before that Redis or PostgreSQL found taken.
    avoid: HashSet<SeatId>,
    retries: u32,
}

impl PendingHold {
    fn new(msg: Reserve) -> PendingHold {
        let (seat_ids, best) = match msg.wanted {
            Wanted::Seats(seats) => (seats, None),
            Wanted::BestAvailable(wish) => (
                Vec::new(),
                Some(BestRequest {
                    count: wish.count,
                    zone: wish.zone,
                    avoid: HashSet::new(),
                    retries: 0,
                }),
            ),
        };
        PendingHold {
            user_id: msg.user_id,
            seat_ids,
            best,
            deadline: msg.deadline,
            reply: msg.reply,
            bypass_memory: false,
        }
    }

    /// Why `state` cannot take this request at all (seats of another event,
    /// a zone it does not have), if it cannot.
    fn misdirected(&self, state: &SeatState) -> Option<ReserveError> {
        match &self.best {
            Some(best) => best
                .zone
                .as_ref()
                .filter(|zone| !state.has_zone(zone))
                .map(|zone| ReserveError::UnknownZone(zone.clone())),
            None => {
                let unknown = state.unknown(&self.seat_ids);
                (!unknown.is_empty()).then_some(ReserveError::UnknownSeats(unknown))
            }
        }
    }

    /// Whether memory, as it stands, would take this request into a batch.
    fn memory_allows(&self, state: &SeatState) -> bool {
        match &self.best {
            Some(best) => state
                .pick(best.count, best.zone.as_deref(), |s| {
                    best.avoid.contains(&s)
                })
                .is_some(),
            None => state.taken(&self.seat_ids).is_empty(),
        }
    }

    /// Memory's refusal, once memory has shown it is current.
    fn refusal(&self, state: &SeatState) -> ReserveError {
        match &self.best {
            Some(best) => ReserveError::NotEnoughSeats { count: best.count },
            None => ReserveError::SeatsUnavailable(state.taken(&self.seat_ids)),
        }
    }

    /// The requester left (dropped its receiver) or its deadline passed.
    fn gone(&self) -> bool {
        self.reply.is_closed() || Instant::now() >= self.deadline
    }

    fn answer(self, reply: ReserveReply) {
        let _ = self.reply.send(reply);
    }
}

impl WantsSeats for PendingHold {
    fn seats(&self) -> &[SeatId] {
        &self.seat_ids
    }

    fn bypasses_memory(&self) -> bool {
        self.bypass_memory
    }

    fn best_available(&self) -> Option<BestWanted<'_>> {
        self.best.as_ref().map(|best| BestWanted {
            count: best.count,
            zone: best.zone.as_deref(),
            avoid: &best.avoid,
        })
    }

    fn assign(&mut self, seats: Vec<SeatId>) {
        self.seat_ids = seats;
    }
}

type Refusal = (PendingHold, Vec<SeatId>);

/// Why a version was read.
enum Purpose {
    /// Memory refused these; answer them only if memory is not behind.
    Refusals(Vec<Refusal>),
    /// The periodic comparison with PostgreSQL.
    Watch,
}

/// A version read waiting for this actor's own transactions begun before it
/// (whose versions it may include) to be applied to memory.
struct Parked {
    /// The latest committed version, `None` when nobody could say.
    latest: Option<i64>,
    /// Own operations numbered below this had begun when the read was made.
    barrier: u64,
    purpose: Purpose,
}

pub struct EventActor {
    event_id: EventId,
    ports: Ports,
    config: EventActorConfig,
    /// `None` until first loaded from PostgreSQL (hold requests wait).
    state: Option<SeatState>,
    /// Hold requests waiting for the next batch. Bounded in time: each has
    /// a deadline after which it is dropped unplanned.
    queue: VecDeque<PendingHold>,
    in_flight: bool,
    /// Requests memory refused, waiting for the next version read (one read
    /// serves all of them).
    refusals: Vec<Refusal>,
    /// A version read for refusals is under way.
    checking: bool,
    /// Version reads waiting for own transactions begun before them.
    parked: Vec<Parked>,
    /// The number the next own transaction (batch or single write) gets.
    own_next: u64,
    /// Own transactions begun (holding or waiting for the event row) whose
    /// deltas are not yet applied here. A version read is judged only once
    /// every own transaction begun before it has landed, so our own commits
    /// never look like another node's, and nothing waits for a whole burst.
    own_running: BTreeSet<u64>,
    /// Release/expiry/confirmation messages received and not yet answered.
    writes_pending: usize,
    /// Bounds this event's release/expiry/confirmation transactions.
    writes: Arc<Semaphore>,
    /// A reload from PostgreSQL is under way: no batch starts until it ends.
    reloading: bool,
    /// Deltas received while reloading, replayed on the fresh state.
    reload_buffer: Vec<SeatDelta>,
    /// When the last reload failed, if it did (retries are spaced out).
    reload_failed_at: Option<Instant>,
    /// Availability questions asked before the first load ended.
    availability_waiting: Vec<oneshot::Sender<Option<usize>>>,
    /// The periodic version read is under way.
    watching: bool,
    last_watch: Instant,
    /// The highest published version PostgreSQL has disowned (a restored
    /// database, a stale key): Redis saying no more than this cannot vouch
    /// for memory, so PostgreSQL is asked instead.
    acknowledged_latest: i64,
    last_active: Instant,
    /// The registry this actor is listed in, to delist itself on stop.
    registry: Arc<DashMap<EventId, Addr<EventActor>>>,
}

impl EventActor {
    pub fn new(
        event_id: EventId,
        ports: Ports,
        config: EventActorConfig,
        registry: Arc<DashMap<EventId, Addr<EventActor>>>,
    ) -> EventActor {
        let writes = Arc::new(Semaphore::new(config.parallel_writes.max(1)));
        EventActor {
            event_id,
            ports,
            config,
            state: None,
            queue: VecDeque::new(),
            in_flight: false,
            refusals: Vec::new(),
            checking: false,
            parked: Vec::new(),
            own_next: 0,
            own_running: BTreeSet::new(),
            writes_pending: 0,
            writes,
            reloading: false,
            reload_buffer: Vec::new(),
            reload_failed_at: None,
            availability_waiting: Vec::new(),
            watching: false,
            last_watch: Instant::now(),
            acknowledged_latest: i64::MIN,
            last_active: Instant::now(),
            registry,
        }
    }

    fn own_begin(&mut self) -> u64 {
        let id = self.own_next;
        self.own_next += 1;
        self.own_running.insert(id);
        id
    }

    fn own_end(&mut self, id: u64, ctx: &mut Context<Self>) {
        self.own_running.remove(&id);
        self.resolve_parked(ctx);
    }

    /// Every own transaction numbered below `barrier` has landed.
    fn settled(&self, barrier: u64) -> bool {
        self.own_running
            .first()
            .is_none_or(|first| *first >= barrier)
    }

    /// Replaces memory with the committed state. Spawned, not waited on: the
    /// batch in flight and the write transactions keep running (a paused
    /// transaction would hold the event row of every node hostage), deltas
    /// arriving meanwhile are buffered and replayed on the fresh state, and
    /// no new batch starts until it is loaded.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        if self.reloading {
            return;
        }
        // After a failure, wait a gap timeout before asking again: a
        // struggling database gets no full-map read every tick.
        if self
            .reload_failed_at
            .is_some_and(|at| at.elapsed() < self.config.gap_timeout)
        {
            return;
        }
        self.reloading = true;
        self.reload_buffer.clear();
        metrics::counter!("boxoffice_seat_state_reloads_total").increment(1);
        let (ledger, bus) = (self.ports.ledger.clone(), self.ports.bus.clone());
        let event_id = self.event_id;
        ctx.spawn(async move {
            // Hear other nodes' deltas before reading (a no-op once followed).
            bus.follow(event_id).await;
            ledger.load(event_id).await
        }.into_actor(self).map(|loaded, actor, ctx| {
            actor.reloading = false;
            actor.reload_failed_at = loaded.is_err().then(Instant::now);
            let buffered = std::mem::take(&mut actor.reload_buffer);
            match loaded {
                Ok(map) => {
                    tracing::debug!(event.id = %actor.event_id, version = map.version, "seat state loaded");
                    let mut state = SeatState::new(map);
                    for delta in &buffered {
                        state.apply(delta);
                    }
                    actor.state = Some(state);
                }
                Err(error) if actor.state.is_some() => {
                    // Keep serving on the old state (it only says "no" after a
                    // version check); the next check or gap tick retries.
                    tracing::warn!(event.id = %actor.event_id, %error, "cannot reload seat state; keeping the old one");
                }
                Err(error) => {
                    tracing::error!(event.id = %actor.event_id, %error, "cannot load seat state");
                    let reason = error.to_string();
                    for pending in actor.queue.drain(..) {
                        pending.answer(Err(ReserveError::Unavailable(reason.clone())));
                    }
                    for (pending, _) in actor.refusals.drain(..) {
                        pending.answer(Err(ReserveError::Unavailable(reason.clone())));
                    }
                    actor.availability_waiting.clear();
                    // Stopped by the tick once nothing of its own is in flight.
                    return;
                }
            }
            let available = actor.state.as_ref().map(SeatState::available);
            for waiting in actor.availability_waiting.drain(..) {
                let _ = waiting.send(available);
            }
            actor.resolve_parked(ctx);
            actor.verify_refusals(ctx);
            actor.start_batch(ctx);
        }));
    }

    fn apply(&mut self, delta: &SeatDelta) {
        if self.reloading {
            self.reload_buffer.push(delta.clone());
        }
        match self.state.as_mut().map(|state| state.apply(delta)) {
            Some(Applied::Buffered) => {
                tracing::debug!(event.id = %self.event_id, version = delta.version, "delta ahead of a gap; buffered");
            }
            Some(Applied::Dropped) => {
                tracing::debug!(event.id = %self.event_id, version = delta.version, "delta ahead of a full gap buffer; dropped, the reload covers it");
            }
            _ => {}
        }
    }

    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.reloading || self.queue.is_empty() {
            return;
        }
        let Some(state) = self.state.as_ref() else {
            return;
        };
        // A requester who left costs no hold; seats of another event (asked
        // for before the state was loaded) are told apart here.
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for pending in self.queue.drain(..) {
            if pending.gone() {
                metrics::counter!("boxoffice_reservations_total", "outcome" => "abandoned")
                    .increment(1);
                pending.answer(Err(ReserveError::Unavailable("deadline passed".into())));
            } else if let Some(error) = pending.misdirected(state) {
                pending.answer(Err(error));
            } else {
                kept.push_back(pending);
            }
        }
        self.queue = kept;
        let selection = batch::select(&mut self.queue, self.config.batch_max, state);
        let memory_version = state.version();
        metrics::gauge!("boxoffice_event_queue_depth").set(self.queue.len() as f64);
        if !selection.refused.is_empty() {
            self.refusals.extend(selection.refused);
            self.verify_refusals(ctx);
        }
        if selection.batch.is_empty() {
            return;
        }
        self.in_flight = true;
        let op = self.own_begin();
        let plans: Vec<HoldPlan> = selection
            .batch
            .iter()
            .map(|p| HoldPlan {
                user_id: p.user_id,
                seats: p.seat_ids.clone(),
                lock_token: lock_token(),
            })
            .collect();
        let memory_free: Vec<bool> = selection.batch.iter().map(|p| !p.bypass_memory).collect();
        let work = run_batch(
            self.ports.clone(),
            self.event_id,
            BatchInput {
                plans,
                memory_free,
                memory_version,
                acknowledged_latest: self.acknowledged_latest,
            },
            self.config.hold_for,
        );
        let waiting = selection.batch;
        ctx.spawn(work.into_actor(self).map(move |result, actor, ctx| {
            actor.in_flight = false;
            actor.last_active = Instant::now();
            actor.finish_batch(result, waiting, ctx);
            actor.own_end(op, ctx);
            actor.verify_refusals(ctx);
            actor.start_batch(ctx);
        }));
    }

    /// Reads the latest committed version for the refusals waiting: Redis's
    /// published version, or PostgreSQL's when Redis cannot say (down, no
    /// key, or a key PostgreSQL has disowned). Runs beside the batch in
    /// flight. The answer is judged in `resolve_parked`.
    fn verify_refusals(&mut self, ctx: &mut Context<Self>) {
        if self.checking || self.refusals.is_empty() || self.state.is_none() {
            return;
        }
        self.checking = true;
        let refusals = std::mem::take(&mut self.refusals);
        let barrier = self.own_next;
        let (bus, ledger, event_id) = (
            self.ports.bus.clone(),
            self.ports.ledger.clone(),
            self.event_id,
        );
        let acknowledged = self.acknowledged_latest;
        let read = async move {
            match bus.latest_version(event_id).await {
                Some(published) if published > acknowledged => Some(published),
                _ => ledger.committed_version(event_id).await.ok(),
            }
        };
        ctx.spawn(read.into_actor(self).map(move |latest, actor, ctx| {
            actor.checking = false;
            actor.parked.push(Parked {
                latest,
                barrier,
                purpose: Purpose::Refusals(refusals),
            });
            actor.resolve_parked(ctx);
            actor.verify_refusals(ctx);
        }));
    }

    /// The periodic comparison with PostgreSQL: one primary-key read (and the
    /// published version, to notice a Redis key PostgreSQL disowns).
    fn watch_version(&mut self, ctx: &mut Context<Self>) {
        if self.watching || self.reloading || self.state.is_none() {
            return;
        }
        self.watching = true;
        let barrier = self.own_next;
        let (bus, ledger, event_id) = (
            self.ports.bus.clone(),
            self.ports.ledger.clone(),
            self.event_id,
        );
        let read = async move {
            // Published first: whatever Redis names was committed before it
            // was published, so PostgreSQL read after it can only be behind
            // it if PostgreSQL never committed that version.
            let published = bus.latest_version(event_id).await;
            let committed = ledger.committed_version(event_id).await;
            (published, committed)
        };
        ctx.spawn(
            read.into_actor(self)
                .map(move |(published, committed), actor, ctx| {
                    actor.watching = false;
                    actor.last_watch = Instant::now();
                    if let (Some(published), Ok(committed)) = (published, &committed)
                        && published > *committed
                    {
                        actor.acknowledged_latest = actor.acknowledged_latest.max(published);
                    }
                    if let Err(error) = &committed {
                        tracing::debug!(event.id = %actor.event_id, %error, "version check failed");
                    }
                    actor.parked.push(Parked {
                        latest: committed.ok(),
                        barrier,
                        purpose: Purpose::Watch,
                    });
                    actor.resolve_parked(ctx);
                }),
        );
    }

    /// Judges the version reads whose own transactions have all landed. A
    /// refusal is answered only if memory is not behind the read *and*
    /// memory as it stands now still refuses it (a delta may have freed the
    /// seats meanwhile); if memory cannot vouch for itself, PostgreSQL decides
    /// it in the next batch. A periodic read ahead of memory reloads.
    fn resolve_parked(&mut self, ctx: &mut Context<Self>) {
        if self.parked.is_empty() || self.reloading {
            return;
        }
        let Some(version) = self.state.as_ref().map(SeatState::version) else {
            return;
        };
        let mut requeue = Vec::new();
        let mut reload = false;
        for parked in std::mem::take(&mut self.parked) {
            if !self.settled(parked.barrier) {
                self.parked.push(parked);
                continue;
            }
            // `None`: nobody could say whether memory is current.
            let current = parked.latest.map(|latest| latest <= version);
            match parked.purpose {
                Purpose::Watch => {
                    if current == Some(false) {
                        tracing::info!(event.id = %self.event_id, version, latest = ?parked.latest, "memory behind PostgreSQL; reloading");
                        metrics::counter!("boxoffice_seat_state_behind_total").increment(1);
                        reload = true;
                    }
                }
                Purpose::Refusals(refusals) => {
                    for (mut pending, _) in refusals {
                        if pending.gone() {
                            metrics::counter!("boxoffice_reservations_total", "outcome" => "abandoned")
                                .increment(1);
                            pending
                                .answer(Err(ReserveError::Unavailable("deadline passed".into())));
                            continue;
                        }
                        let Some(state) = self.state.as_ref() else {
                            requeue.push(pending);
                            continue;
                        };
                        if pending.memory_allows(state) {
                            requeue.push(pending);
                        } else if current == Some(true) {
                            metrics::counter!("boxoffice_reservations_total", "outcome" => "refused_early")
                                .increment(1);
                            let refusal = pending.refusal(state);
                            pending.answer(Err(refusal));
                        } else if pending.best.is_none() {
                            pending.bypass_memory = true;
                            requeue.push(pending);
                        } else if current == Some(false) {
                            // PostgreSQL cannot pick the best seats: memory
                            // catches up first, then picks again.
                            reload = true;
                            requeue.push(pending);
                        } else {
                            pending.answer(Err(ReserveError::Unavailable(
                                "cannot tell which seats are free right now".into(),
                            )));
                        }
                    }
                }
            }
        }
        for pending in requeue.into_iter().rev() {
            self.queue.push_front(pending);
        }
        if reload {
            self.reload(ctx);
        }
        self.start_batch(ctx);
    }

    fn finish_batch(
        &mut self,
        result: BatchResult,
        waiting: Vec<PendingHold>,
        ctx: &mut Context<Self>,
    ) {
        for delta in &result.deltas {
            self.apply(delta);
        }
        let mut retry = Vec::new();
        for (mut pending, outcome) in waiting.into_iter().zip(result.outcomes) {
            if let (Ok(HoldOutcome::Taken { seats }), Some(best)) = (&outcome, &mut pending.best)
                && best.retries < BEST_AVAILABLE_RETRIES
                && !pending.reply.is_closed()
                && Instant::now() < pending.deadline
            {
                // Another node's hold memory had not seen yet: pick again,
                // without those seats, instead of a needless 409.
                metrics::counter!("boxoffice_reservations_total", "outcome" => "best_available_repick")
                    .increment(1);
                best.retries += 1;
                best.avoid.extend(seats.iter().copied());
                pending.seat_ids.clear();
                retry.push(pending);
                continue;
            }
            let reply = match outcome {
                Ok(HoldOutcome::Held {
                    booking_id,
                    expires_at,
                    amount_cents,
                }) => Ok(Hold {
                    booking_id,
                    event_id: self.event_id,
                    seat_ids: pending.seat_ids.clone(),
                    expires_at,
                    amount_cents,
                }),
                Ok(HoldOutcome::Taken { .. }) if pending.best.is_some() => {
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "conflict")
                        .increment(1);
                    Err(ReserveError::Unavailable(
                        "the seats picked kept being taken; try again".into(),
                    ))
                }
                Ok(HoldOutcome::Taken { seats }) => {
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "conflict")
                        .increment(1);
                    Err(ReserveError::SeatsUnavailable(seats))
                }
                Ok(HoldOutcome::LimitReached { limit }) => {
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "hold_limit")
                        .increment(1);
                    Err(ReserveError::HoldLimitReached { limit })
                }
                Ok(HoldOutcome::Unavailable { reason }) => {
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "error")
                        .increment(1);
                    Err(ReserveError::Unavailable(reason))
                }
                Err(error) => {
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "error")
                        .increment(1);
                    Err(error)
                }
            };
            let held = reply.as_ref().ok().map(|hold| hold.booking_id);
            let delivered = !pending.gone() && pending.reply.send(reply).is_ok();
            match held {
                Some(booking_id) if !delivered => {
                    // Committed for a requester who left: it costs no hold.
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "abandoned")
                        .increment(1);
                    tracing::info!(event.id = %self.event_id, booking.id = %booking_id, "requester left; releasing its hold");
                    let release = self.release_booking(booking_id, None);
                    ctx.spawn(release.map(|_, _, _| ()));
                }
                Some(_) => {
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "held")
                        .increment(1);
                }
                None => {}
            }
        }
        // Picked again first thing in the next batch, ahead of later arrivals.
        for pending in retry.into_iter().rev() {
            self.queue.push_front(pending);
        }
    }

    fn release_booking(
        &mut self,
        booking_id: BookingId,
        user_id: Option<UserId>,
    ) -> ResponseActFuture<Self, Result<ReleaseOutcome, StorageError>> {
        let (event_id, lock) = (self.event_id, self.ports.lock.clone());
        self.run_write(move |ledger| async move {
            let committed = ledger.release(event_id, booking_id, user_id).await?;
            if let ReleaseOutcome::Released(freed) = &committed.outcome {
                release_locks(lock.as_ref(), event_id, std::slice::from_ref(freed)).await;
            }
            Ok(committed)
        })
    }

    /// Runs a single-booking ledger operation once one of the event's write
    /// permits is free, publishes and applies its delta, replies.
    fn run_write<T, F, Fut>(
        &mut self,
        operation: F,
    ) -> ResponseActFuture<Self, Result<T, StorageError>>
    where
        T: 'static,
        F: FnOnce(Arc<dyn SeatLedger>) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<Committed<T>, StorageError>> + 'static,
    {
        self.last_active = Instant::now();
        self.writes_pending += 1;
        let ports = self.ports.clone();
        let permit = self.writes.clone().acquire_owned();
        Box::pin(
            wrap_future::<_, Self>(permit).then(move |permit, actor: &mut Self, _ctx| {
                // Numbered only once it may touch the event row: a version read
                // never waits for writes still queued behind the permit.
                let op = actor.own_begin();
                let bus = ports.bus.clone();
                let work = operation(ports.ledger.clone());
                wrap_future::<_, Self>(async move {
                    let _permit = permit
                        .map_err(|_| StorageError::Unavailable("event actor closing".into()))?;
                    let committed = work.await?;
                    for delta in &committed.deltas {
                        bus.publish(delta).await;
                    }
                    Ok(committed)
                })
                .map(
                    move |result: Result<Committed<T>, StorageError>, actor: &mut Self, ctx| {
                        actor.writes_pending -= 1;
                        actor.last_active = Instant::now();
                        if let Ok(committed) = &result {
                            for delta in &committed.deltas {
                                actor.apply(delta);
                            }
                        }
                        actor.own_end(op, ctx);
                        actor.verify_refusals(ctx);
                        actor.start_batch(ctx);
                        result.map(|committed| committed.outcome)
                    },
                )
            }),
        )
    }

    fn idle(&self) -> bool {
        !self.in_flight
            && !self.reloading
            && !self.checking
            && self.queue.is_empty()
            && self.refusals.is_empty()
            && self
                .parked
                .iter()
                .all(|p| matches!(p.purpose, Purpose::Watch))
            && self.writes_pending == 0
            && self.own_running.is_empty()
            && self.last_active.elapsed() > self.config.idle_after
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.idle() {
            tracing::debug!(event.id = %self.event_id, "idle; stopping");
            ctx.stop();
            return;
        }
        if self.state.is_none() {
            if self.reloading {
                return;
            }
            if self.own_running.is_empty() && self.writes_pending == 0 {
                // The first load failed and nothing of ours is in flight.
                ctx.stop();
            } else {
                self.reload(ctx);
            }
            return;
        }
        let gap_open_too_long = self
            .state
            .as_ref()
            .and_then(SeatState::gap_age)
            .is_some_and(|age| age > self.config.gap_timeout);
        if gap_open_too_long {
            // Even with batches in flight: their deltas are replayed.
            tracing::info!(event.id = %self.event_id, "missing delta; reloading seat state");
            self.reload(ctx);
        } else if self.last_watch.elapsed() >= self.config.version_check_every {
            self.watch_version(ctx);
        }
    }
}

impl Actor for EventActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::registry::MAILBOX_CAPACITY);
        self.reload(ctx);
        let every = self.config.gap_timeout.min(self.config.version_check_every) / 4;
        ctx.run_interval(every.max(Duration::from_millis(25)), |actor, ctx| {
            actor.tick(ctx)
        });
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address();
        self.registry
            .remove_if(&self.event_id, |_, addr| *addr == me);
        let stopped = || Err(ReserveError::Unavailable("event actor stopped".into()));
        for pending in self.queue.drain(..) {
            pending.answer(stopped());
        }
        for (pending, _) in self.refusals.drain(..) {
            pending.answer(stopped());
        }
        for parked in self.parked.drain(..) {
            if let Purpose::Refusals(refusals) = parked.purpose {
                for (pending, _) in refusals {
                    pending.answer(stopped());
                }
            }
        }
    }
}

impl Handler<Reserve> for EventActor {
    type Result = ();

    fn handle(&mut self, msg: Reserve, ctx: &mut Context<Self>) {
        self.last_active = Instant::now();
        let pending = PendingHold::new(msg);
        let Some(state) = self.state.as_ref() else {
            // Not loaded yet: judged when the batch is selected.
            self.queue.push_back(pending);
            return;
        };
        if let Some(error) = pending.misdirected(state) {
            pending.answer(Err(error));
            return;
        }
        let taken = state.taken(&pending.seat_ids);
        if taken.is_empty() {
            self.queue.push_back(pending);
            self.start_batch(ctx);
        } else {
            // Memory says no: answer without waiting for the batch in flight.
            self.refusals.push((pending, taken));
            self.verify_refusals(ctx);
        }
    }
}

impl Handler<Release> for EventActor {
    type Result = ResponseActFuture<Self, Result<ReleaseOutcome, StorageError>>;

    fn handle(&mut self, msg: Release, _ctx: &mut Context<Self>) -> Self::Result {
        self.release_booking(msg.booking_id, msg.user_id)
    }
}

impl Handler<Expire> for EventActor {
    type Result = ResponseActFuture<Self, Result<Vec<Freed>, StorageError>>;

    fn handle(&mut self, msg: Expire, _ctx: &mut Context<Self>) -> Self::Result {
        let (event_id, lock) = (self.event_id, self.ports.lock.clone());
        self.run_write(move |ledger| async move {
            let committed = ledger.expire(event_id, &msg.booking_ids).await?;
            release_locks(lock.as_ref(), event_id, &committed.outcome).await;
            Ok(committed)
        })
    }
}

impl Handler<Confirm> for EventActor {
    type Result = ResponseActFuture<Self, Result<ConfirmOutcome, StorageError>>;

    fn handle(&mut self, msg: Confirm, _ctx: &mut Context<Self>) -> Self::Result {
        let event_id = self.event_id;
        self.run_write(move |ledger| async move {
            ledger
                .confirm(event_id, msg.booking_id, msg.payment_id)
                .await
        })
    }
}

impl Handler<Cancel> for EventActor {
    type Result = ResponseActFuture<Self, Result<CancelOutcome, StorageError>>;

    fn handle(&mut self, msg: Cancel, _ctx: &mut Context<Self>) -> Self::Result {
        let (event_id, lock) = (self.event_id, self.ports.lock.clone());
        self.run_write(move |ledger| async move {
            let committed = ledger.cancel(event_id, &msg.0).await?;
            if let CancelOutcome::Cancelled { freed, .. } = &committed.outcome {
                release_locks(lock.as_ref(), event_id, std::slice::from_ref(freed)).await;
            }
            Ok(committed)
        })
    }
}

impl Handler<ApplyDelta> for EventActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyDelta, ctx: &mut Context<Self>) {
        self.apply(&msg.0);
        self.resolve_parked(ctx);
    }
}

impl Handler<Availability> for EventActor {
    type Result = ResponseFuture<Option<usize>>;

    fn handle(&mut self, _msg: Availability, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(state) = self.state.as_ref() {
            let available = state.available();
            return Box::pin(async move { Some(available) });
        }
        // Not loaded yet: answered when the first load ends.
        let (reply, answer) = oneshot::channel();
        self.availability_waiting.push(reply);
        Box::pin(async move { answer.await.ok().flatten() })
    }
}

async fn release_locks(lock: &dyn SeatLock, event_id: EventId, freed: &[Freed]) {
    if freed.is_empty() {
        return;
    }
    let claims: Vec<(&str, &[SeatId])> = freed
        .iter()
        .map(|f| (f.lock_token.as_str(), f.seats.as_slice()))
        .collect();
    if let Err(error) = lock.release(event_id, &claims).await {
        tracing::warn!(event.id = %event_id, %error, "seat locks left to expire by their TTL");
    }
}
