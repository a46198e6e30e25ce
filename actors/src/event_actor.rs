//! One actor per hot event: the single writer of that event's seats on this node.
//!
//! **Owns** the in-memory seat state of one event (loaded from PostgreSQL on
//! start, so a restarted actor rebuilds itself) and the queue of hold requests
//! waiting for the next group commit.
//!
//! **Order.** At most one hold batch is in flight. While it is, new requests
//! queue; the next batch takes up to `batch_max` of them in arrival order, with
//! one Redis pipeline (seat locks) and one PostgreSQL transaction. Releases,
//! expiries and confirmations run as their own transactions. Across every node,
//! PostgreSQL serialises all of an event's seat transactions on the event row
//! (each bumps its `seat_version`), and memory applies their deltas strictly in
//! version order (see `seat_state`).
//!
//! **Guarantees.** Memory only ever says "no" early: a request is refused from
//! memory only when memory is not behind the latest published version; when it
//! might be, the request waits for the next batch on fresh state. Only a
//! PostgreSQL commit says "yes", and every reply is sent after the commit it
//! reports on and after its delta was published.
//!
//! **Failure.** Redis unreachable: the lock layer is skipped (logged, counted)
//! and PostgreSQL alone decides. PostgreSQL unreachable: every request of the
//! batch gets `Unavailable` and its Redis locks are released. The load failing
//! stops the actor; the registry starts a fresh one on the next request.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use tokio::sync::oneshot;

use crate::batch::{self, WantsSeats};
use crate::domain::{BookingId, EventId, SeatId, UserId};
use crate::ports::{
    Committed, ConfirmOutcome, DeltaBus, Freed, HoldOutcome, HoldPlan, ReleaseOutcome, SeatDelta,
    SeatLedger, SeatLock, StorageError,
};
use crate::seat_state::{Applied, SeatState};

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
    #[error("booking is unavailable right now: {0}")]
    Unavailable(String),
}

/// Hold these seats for this user, all or none.
#[derive(Message)]
#[rtype(result = "Result<Hold, ReserveError>")]
pub struct Reserve {
    pub user_id: UserId,
    pub seat_ids: Vec<SeatId>,
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
    seat_ids: Vec<SeatId>,
    reply: oneshot::Sender<Result<Hold, ReserveError>>,
}

impl WantsSeats for PendingHold {
    fn seats(&self) -> &[SeatId] {
        &self.seat_ids
    }
}

pub struct EventActor {
    event_id: EventId,
    ports: Ports,
    config: EventActorConfig,
    /// `None` until loaded from PostgreSQL (no message is handled before).
    state: Option<SeatState>,
    /// Hold requests waiting for the next batch. Bounded by the mailbox in
    /// front of it: the handle refuses new requests when the mailbox is full.
    queue: VecDeque<PendingHold>,
    in_flight: bool,
    /// Requests memory refused, waiting for the check that memory is not
    /// behind another node (one Redis read serves all of them).
    refusals: Vec<(PendingHold, Vec<SeatId>)>,
    verifying: bool,
    /// This actor's own transactions whose deltas may be published but not
    /// yet applied here: while any runs, a published version ahead of memory
    /// may be our own, so the check waits for them instead of reloading.
    own_in_flight: usize,
    /// A reload from PostgreSQL is under way: no batch starts until it ends.
    reloading: bool,
    /// The highest published version already accounted for by a reload: a
    /// published version that PostgreSQL did not confirm (a restored database,
    /// a stale key) must not trigger reload after reload.
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
        EventActor {
            event_id,
            ports,
            config,
            state: None,
            queue: VecDeque::new(),
            in_flight: false,
            refusals: Vec::new(),
            verifying: false,
            own_in_flight: 0,
            reloading: false,
            acknowledged_latest: i64::MIN,
            last_active: Instant::now(),
            registry,
        }
    }

    /// Replaces memory with the committed state; `wait` so no message is
    /// handled against a half-built state.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        if self.reloading {
            return;
        }
        self.reloading = true;
        metrics::counter!("boxoffice_seat_state_reloads_total").increment(1);
        let ledger = self.ports.ledger.clone();
        let event_id = self.event_id;
        ctx.wait(async move { ledger.load(event_id).await }.into_actor(self).map(|loaded, actor, ctx| {
            actor.reloading = false;
                match loaded {
                Ok(map) => {
                    tracing::debug!(event.id = %actor.event_id, version = map.version, "seat state loaded");
                    actor.state = Some(SeatState::new(map));
                    actor.start_batch(ctx);
                }
                Err(error) => {
                    tracing::error!(event.id = %actor.event_id, %error, "cannot load seat state; stopping");
                    for pending in actor.queue.drain(..) {
                        let _ = pending.reply.send(Err(ReserveError::Unavailable(error.to_string())));
                    }
                    ctx.stop();
                }
            }
        }));
    }

    fn apply(&mut self, delta: &SeatDelta) {
        if let Some(state) = self.state.as_mut()
            && state.apply(delta) == Applied::Buffered
        {
            tracing::debug!(event.id = %self.event_id, version = delta.version, "delta ahead of a gap; buffered");
        }
    }

    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.reloading || self.queue.is_empty() {
            return;
        }
        let Some(state) = self.state.as_ref() else {
            return;
        };
        let selection = batch::select(&mut self.queue, self.config.batch_max, state);
        metrics::gauge!("boxoffice_event_queue_depth").set(self.queue.len() as f64);
        if !selection.refused.is_empty() {
            self.refusals.extend(selection.refused);
            self.verify_refusals(ctx);
        }
        if selection.batch.is_empty() {
            return;
        }
        self.in_flight = true;
        self.own_in_flight += 1;
        let plans: Vec<HoldPlan> = selection
            .batch
            .iter()
            .map(|p| HoldPlan {
                user_id: p.user_id,
                seats: p.seat_ids.clone(),
                lock_token: lock_token(),
            })
            .collect();
        let work = run_batch(
            self.ports.clone(),
            self.event_id,
            plans,
            self.config.hold_for,
        );
        let waiting = selection.batch;
        ctx.spawn(work.into_actor(self).map(move |result, actor, ctx| {
            actor.in_flight = false;
            actor.own_in_flight -= 1;
            actor.finish_batch(result, waiting);
            actor.verify_refusals(ctx);
            actor.start_batch(ctx);
        }));
    }

    /// Answers memory's refusals once one Redis read shows no node has
    /// published a version this actor has not seen; otherwise sends them back
    /// to the queue and reloads, so stale memory never refuses anyone. Runs
    /// beside the batch in flight: a batch only takes seats, so it can never
    /// make a refusal wrong.
    fn verify_refusals(&mut self, ctx: &mut Context<Self>) {
        if self.verifying || self.refusals.is_empty() {
            return;
        }
        if self.state.is_none() {
            return;
        }
        self.verifying = true;
        let refusals = std::mem::take(&mut self.refusals);
        let (bus, event_id) = (self.ports.bus.clone(), self.event_id);
        let check = async move { bus.latest_version(event_id).await };
        ctx.spawn(check.into_actor(self).map(move |latest, actor, ctx| {
            actor.verifying = false;
            let known = actor.state.as_ref().map_or(i64::MIN, SeatState::version).max(actor.acknowledged_latest);
            match latest.filter(|latest| *latest > known) {
                None => {
                    for (pending, seats) in refusals {
                        metrics::counter!("boxoffice_reservations_total", "outcome" => "refused_early")
                            .increment(1);
                        let _ = pending.reply.send(Err(ReserveError::SeatsUnavailable(seats)));
                    }
                }
                Some(_) if actor.own_in_flight > 0 => {
                    // Perhaps our own commit, published but not yet applied:
                    // check again when it lands.
                    let later = std::mem::take(&mut actor.refusals);
                    actor.refusals = refusals;
                    actor.refusals.extend(later);
                    return;
                }
                Some(latest) => {
                    // Memory may be behind another node: fresh state judges them.
                    for (pending, _) in refusals.into_iter().rev() {
                        actor.queue.push_front(pending);
                    }
                    actor.acknowledged_latest = actor.acknowledged_latest.max(latest);
                    actor.reload(ctx);
                }
            }
            actor.verify_refusals(ctx);
        }));
    }

    fn finish_batch(&mut self, result: BatchResult, waiting: Vec<PendingHold>) {
        for delta in &result.deltas {
            self.apply(delta);
        }
        for (pending, outcome) in waiting.into_iter().zip(result.outcomes) {
            let reply = match outcome {
                Ok(HoldOutcome::Held {
                    booking_id,
                    expires_at,
                    amount_cents,
                }) => {
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "held")
                        .increment(1);
                    Ok(Hold {
                        booking_id,
                        event_id: self.event_id,
                        seat_ids: pending.seat_ids,
                        expires_at,
                        amount_cents,
                    })
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
                Err(error) => {
                    metrics::counter!("boxoffice_reservations_total", "outcome" => "error")
                        .increment(1);
                    Err(error)
                }
            };
            let _ = pending.reply.send(reply);
        }
    }

    /// Runs a single-booking ledger operation, applies its delta, replies.
    fn run_single<T, F, Fut>(
        &mut self,
        ctx: &mut Context<Self>,
        operation: F,
    ) -> ResponseActFuture<Self, Result<T, StorageError>>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn SeatLedger>) -> Fut,
        Fut: std::future::Future<Output = Result<Committed<T>, StorageError>> + 'static,
    {
        let _ = ctx;
        self.last_active = Instant::now();
        self.own_in_flight += 1;
        let bus = self.ports.bus.clone();
        let work = operation(self.ports.ledger.clone());
        Box::pin(
            async move {
                let committed = work.await?;
                for delta in &committed.deltas {
                    bus.publish(delta).await;
                }
                Ok(committed)
            }
            .into_actor(self)
            .map(|result: Result<Committed<T>, StorageError>, actor, ctx| {
                actor.own_in_flight -= 1;
                if let Ok(committed) = &result {
                    for delta in &committed.deltas {
                        actor.apply(delta);
                    }
                }
                actor.verify_refusals(ctx);
                result.map(|committed| committed.outcome)
            }),
        )
    }
}

/// A fresh random lock token (128 bits, hex): unguessable, so no other
/// request can delete this one's locks.
fn lock_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

struct BatchResult {
    /// One per plan, in order.
    outcomes: Vec<Result<HoldOutcome, ReserveError>>,
    deltas: Vec<SeatDelta>,
}

/// Locks in Redis, commits in PostgreSQL, cleans up locks of the losers,
/// publishes the delta. Never fails as a whole: each plan gets its outcome.
async fn run_batch(
    ports: Ports,
    event_id: EventId,
    plans: Vec<HoldPlan>,
    hold_for: Duration,
) -> BatchResult {
    metrics::histogram!("boxoffice_batch_size").record(plans.len() as f64);

    // Layer 1: Redis seat locks, one pipeline for the batch.
    let claims: Vec<(&str, &[SeatId])> = plans
        .iter()
        .map(|p| (p.lock_token.as_str(), p.seats.as_slice()))
        .collect();
    let locked = match ports.lock.acquire(event_id, &claims, hold_for).await {
        Ok(locked) => locked,
        Err(error) => {
            tracing::warn!(event.id = %event_id, %error, "seat locks skipped; PostgreSQL decides alone");
            metrics::counter!("boxoffice_lock_layer_skipped_total").increment(1);
            vec![true; plans.len()]
        }
    };
    let mut outcomes: Vec<Option<Result<HoldOutcome, ReserveError>>> = vec![None; plans.len()];
    let mut to_commit = Vec::new();
    let mut commit_index = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        if locked.get(i).copied().unwrap_or(true) {
            to_commit.push(plan.clone());
            commit_index.push(i);
        } else {
            outcomes[i] = Some(Ok(HoldOutcome::Taken {
                seats: plan.seats.clone(),
            }));
        }
    }

    // Layer 2: PostgreSQL, one transaction for the batch.
    let mut deltas = Vec::new();
    let mut unlock: Vec<usize> = Vec::new();
    if !to_commit.is_empty() {
        let started = Instant::now();
        let committed = ports.ledger.hold(event_id, &to_commit, hold_for).await;
        metrics::histogram!("boxoffice_postgres_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        match committed {
            Ok(committed) => {
                for (outcome, &i) in committed.outcome.into_iter().zip(&commit_index) {
                    if !matches!(outcome, HoldOutcome::Held { .. }) {
                        unlock.push(i);
                    }
                    outcomes[i] = Some(Ok(outcome));
                }
                deltas = committed.deltas;
            }
            Err(error) => {
                tracing::error!(event.id = %event_id, %error, "hold batch failed");
                for &i in &commit_index {
                    outcomes[i] = Some(Err(ReserveError::Unavailable(error.to_string())));
                    unlock.push(i);
                }
            }
        }
    }
    if !unlock.is_empty() {
        let claims: Vec<(&str, &[SeatId])> = unlock
            .iter()
            .map(|&i| (plans[i].lock_token.as_str(), plans[i].seats.as_slice()))
            .collect();
        if let Err(error) = ports.lock.release(event_id, &claims).await {
            tracing::debug!(%error, "seat locks of refused holds left to expire");
        }
    }
    for delta in &deltas {
        ports.bus.publish(delta).await;
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(ReserveError::Unavailable("no outcome".into()))))
        .collect();
    BatchResult { outcomes, deltas }
}

impl Actor for EventActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        self.reload(ctx);
        let tick = (self.config.gap_timeout / 2).max(Duration::from_millis(50));
        ctx.run_interval(tick, |actor, ctx| {
            let idle = !actor.in_flight
                && actor.queue.is_empty()
                && actor.last_active.elapsed() > actor.config.idle_after;
            if idle {
                tracing::debug!(event.id = %actor.event_id, "idle; stopping");
                ctx.stop();
                return;
            }
            let gap_open_too_long = actor
                .state
                .as_ref()
                .and_then(SeatState::gap_age)
                .is_some_and(|age| age > actor.config.gap_timeout);
            if gap_open_too_long && !actor.in_flight {
                tracing::info!(event.id = %actor.event_id, "missing delta; reloading seat state");
                actor.reload(ctx);
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address();
        self.registry
            .remove_if(&self.event_id, |_, addr| *addr == me);
        for pending in self.queue.drain(..) {
            let _ = pending
                .reply
                .send(Err(ReserveError::Unavailable("event actor stopped".into())));
        }
    }
}

impl Handler<Reserve> for EventActor {
    type Result = ResponseFuture<Result<Hold, ReserveError>>;

    fn handle(&mut self, msg: Reserve, ctx: &mut Context<Self>) -> Self::Result {
        self.last_active = Instant::now();
        let unknown = self
            .state
            .as_ref()
            .map(|s| s.unknown(&msg.seat_ids))
            .unwrap_or_default();
        if !unknown.is_empty() {
            return Box::pin(async move { Err(ReserveError::UnknownSeats(unknown)) });
        }
        let (reply, answer) = oneshot::channel();
        let pending = PendingHold {
            user_id: msg.user_id,
            seat_ids: msg.seat_ids,
            reply,
        };
        let taken = self
            .state
            .as_ref()
            .map(|s| s.taken(&pending.seat_ids))
            .unwrap_or_default();
        if taken.is_empty() {
            self.queue.push_back(pending);
            self.start_batch(ctx);
        } else {
            // Memory says no: answer without waiting for the batch in flight.
            self.refusals.push((pending, taken));
            self.verify_refusals(ctx);
        }
        Box::pin(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(ReserveError::Unavailable("event actor stopped".into())))
        })
    }
}

impl Handler<Release> for EventActor {
    type Result = ResponseActFuture<Self, Result<ReleaseOutcome, StorageError>>;

    fn handle(&mut self, msg: Release, ctx: &mut Context<Self>) -> Self::Result {
        let (event_id, lock) = (self.event_id, self.ports.lock.clone());
        self.run_single(ctx, move |ledger| async move {
            let committed = ledger
                .release(event_id, msg.booking_id, msg.user_id)
                .await?;
            if let ReleaseOutcome::Released(freed) = &committed.outcome {
                release_locks(lock.as_ref(), event_id, std::slice::from_ref(freed)).await;
            }
            Ok(committed)
        })
    }
}

impl Handler<Expire> for EventActor {
    type Result = ResponseActFuture<Self, Result<Vec<Freed>, StorageError>>;

    fn handle(&mut self, msg: Expire, ctx: &mut Context<Self>) -> Self::Result {
        let (event_id, lock) = (self.event_id, self.ports.lock.clone());
        self.run_single(ctx, move |ledger| async move {
            let committed = ledger.expire(event_id, &msg.booking_ids).await?;
            release_locks(lock.as_ref(), event_id, &committed.outcome).await;
            Ok(committed)
        })
    }
}

impl Handler<Confirm> for EventActor {
    type Result = ResponseActFuture<Self, Result<ConfirmOutcome, StorageError>>;

    fn handle(&mut self, msg: Confirm, ctx: &mut Context<Self>) -> Self::Result {
        let event_id = self.event_id;
        self.run_single(ctx, move |ledger| async move {
            ledger
                .confirm(event_id, msg.booking_id, msg.payment_id)
                .await
        })
    }
}

impl Handler<ApplyDelta> for EventActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyDelta, _ctx: &mut Context<Self>) {
        self.apply(&msg.0);
    }
}

impl Handler<Availability> for EventActor {
    type Result = Option<usize>;

    fn handle(&mut self, _msg: Availability, _ctx: &mut Context<Self>) -> Option<usize> {
        self.state.as_ref().map(SeatState::available)
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
