//! Finds or starts the event actor of an event, and maps mailbox failures once.
//!
//! Actors run on the registry's own arbiter (one thread), off the HTTP
//! workers. An actor delists itself when it stops (idle, or its load failed);
//! a request that races with that stop is retried once on a fresh actor.
//!
//! Deltas from other nodes reach an actor through its bounded mailbox
//! (`try_send`, never `do_send`, which ignores the bound): when it is full the
//! delta is dropped and counted, and the actor's gap reload or version check
//! brings its memory back to PostgreSQL's.
//!
//! **Deadlines.** Every call waits at most `request_timeout` for its actor
//! (then `Unavailable`, which the HTTP layer answers 503 with `Retry-After`).
//! A hold request hands the actor its own reply channel and deadline, so a
//! requester that gave up (or whose HTTP client went away and dropped the
//! handler) is not planned, and a hold committed for it is released.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix::prelude::*;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::oneshot;
use tokio::time::timeout_at;

use crate::event_actor::{
    ApplyDelta, Availability, Cancel, Confirm, EventActor, EventActorConfig, Expire, Hold, Ports,
    Release, Reserve, ReserveError,
};
use crate::model::{BookingId, EventId, UserId};
use crate::ports::{
    CancelOutcome, Cancellation, ConfirmOutcome, Freed, ReleaseOutcome, SeatDelta, StorageError,
};
use crate::reservation::Reservation;

/// Messages (holds, deltas, releases) one event actor's mailbox takes
/// before senders wait (`send`) or deltas are dropped (`deliver`).
pub const MAILBOX_CAPACITY: usize = 4096;

/// The event actors of this node, shared by every HTTP worker (one
/// `web::Data<Registry>`), the sweeper and the delta route.
pub struct Registry {
    /// The running actor of each event. A `DashMap` (sharded locks) because
    /// every request of every worker looks its event up here and only a
    /// first use or a stop writes; an entry's shard lock is held for the
    /// check-and-start in [`Registry::get_or_start`], so two workers never
    /// start two actors for one event. Shared (`Arc`) with each actor, which
    /// removes itself on stop with `remove_if(addr == me)`, so a stopping
    /// actor never delists its successor. An `Addr` may outlive its actor
    /// (`connected()` is checked, and a stopped entry replaced).
    actors: Arc<DashMap<EventId, Addr<EventActor>>>,
    /// The storage every actor calls (PostgreSQL ledger, Redis lock, delta
    /// bus), cloned into each new actor: actors are handed their ports,
    /// never fetch them.
    ports: Ports,
    /// Batch size, hold time, idle and gap timeouts, request deadline:
    /// the same for every actor of the node.
    config: EventActorConfig,
    /// The one thread the actors run on (the node's actor arbiter), off the
    /// HTTP workers, so a burst of requests never starves an actor of a
    /// thread and an actor outlives the worker that first asked for it.
    arbiter: ArbiterHandle,
    /// Deltas dropped because an actor's mailbox was full (for tests; the
    /// metric `boxoffice_actor_deltas_dropped_total` counts them too). A
    /// relaxed atomic: a tally nothing else orders on.
    dropped_deltas: AtomicUsize,
}

impl Registry {
    pub fn new(ports: Ports, config: EventActorConfig, arbiter: ArbiterHandle) -> Registry {
        Registry {
            actors: Arc::new(DashMap::new()),
            ports,
            config,
            arbiter,
            dropped_deltas: AtomicUsize::new(0),
        }
    }

    /// The running actor of `event`, if this node has one.
    pub fn get(&self, event: EventId) -> Option<Addr<EventActor>> {
        self.actors
            .get(&event)
            .map(|a| a.clone())
            .filter(Addr::connected)
    }

    pub fn get_or_start(&self, event: EventId) -> Addr<EventActor> {
        match self.actors.entry(event) {
            Entry::Occupied(running) if running.get().connected() => running.get().clone(),
            Entry::Occupied(mut stopped) => {
                let addr = self.start(event);
                stopped.insert(addr.clone());
                addr
            }
            Entry::Vacant(vacant) => {
                let addr = self.start(event);
                vacant.insert(addr.clone());
                addr
            }
        }
    }

    fn start(&self, event: EventId) -> Addr<EventActor> {
        let (ports, config, registry) =
            (self.ports.clone(), self.config.clone(), self.actors.clone());
        EventActor::start_in_arbiter(&self.arbiter, move |ctx| {
            // Bounded from the first message, before `started` runs.
            ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
            EventActor::new(event, ports, config, registry)
        })
    }

    /// Number of running event actors on this node.
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }

    /// Holds the reservation's seats for `user_id`, through the event's actor.
    pub async fn reserve(
        &self,
        user_id: UserId,
        reservation: &Reservation,
    ) -> Result<Hold, ReserveError> {
        let event = reservation.event_id();
        let deadline = Instant::now() + self.config.request_timeout;
        let until = tokio::time::Instant::from_std(deadline);
        for attempt in 0..2 {
            let addr = self.get_or_start(event);
            let (reply, answer) = oneshot::channel();
            let message = Reserve {
                user_id,
                wanted: reservation.wanted().clone(),
                deadline,
                reply,
            };
            match timeout_at(until, addr.send(message)).await {
                Ok(Ok(())) => {}
                Ok(Err(MailboxError::Closed)) if attempt == 0 => continue,
                Ok(Err(error)) => return Err(ReserveError::Unavailable(error.to_string())),
                Err(_) => return Err(timed_out()),
            }
            return match timeout_at(until, answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(ReserveError::Unavailable("event actor stopped".into())),
                Err(_) => Err(timed_out()),
            };
        }
        Err(ReserveError::Unavailable("event actor unavailable".into()))
    }

    pub async fn release(
        &self,
        event: EventId,
        booking_id: BookingId,
        user_id: Option<UserId>,
    ) -> Result<ReleaseOutcome, StorageError> {
        self.call(event, || Release {
            booking_id,
            user_id,
        })
        .await
    }

    pub async fn expire(
        &self,
        event: EventId,
        booking_ids: Vec<BookingId>,
    ) -> Result<Vec<Freed>, StorageError> {
        self.call(event, || Expire {
            booking_ids: booking_ids.clone(),
        })
        .await
    }

    pub async fn confirm(
        &self,
        event: EventId,
        booking_id: BookingId,
        payment_id: i64,
    ) -> Result<ConfirmOutcome, StorageError> {
        self.call(event, || Confirm {
            booking_id,
            payment_id,
        })
        .await
    }

    /// Cancels a paid booking through the event's actor (its seats go back
    /// on sale and every map sees them).
    pub async fn cancel(
        &self,
        event: EventId,
        cancellation: Cancellation,
    ) -> Result<CancelOutcome, StorageError> {
        self.call(event, || Cancel(cancellation.clone())).await
    }

    /// Seats still available for `event` as this node's actor knows them.
    pub async fn availability(&self, event: EventId) -> Option<usize> {
        let answer = self.get_or_start(event).send(Availability);
        tokio::time::timeout(self.config.request_timeout, answer)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    }

    /// Hands a delta committed elsewhere to this node's actor, if it has one.
    /// Never waits and never queues beyond the mailbox: a delta that does
    /// not fit is dropped and counted, and the actor heals by reloading.
    pub fn deliver(&self, delta: SeatDelta) {
        // The listed address itself, not a clone: a fresh clone is a fresh
        // sender, which actix lets past a full mailbox once, so cloning per
        // delta would queue without bound. Only `deliver` sends through it.
        let Some(addr) = self.actors.get(&delta.event_id) else {
            return;
        };
        if let Err(SendError::Full(_)) = addr.try_send(ApplyDelta(delta)) {
            self.dropped_deltas.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("boxoffice_actor_deltas_dropped_total").increment(1);
        }
    }

    /// Deltas dropped so far because an actor's mailbox was full.
    pub fn dropped_deltas(&self) -> usize {
        self.dropped_deltas.load(Ordering::Relaxed)
    }

    async fn call<M, T>(&self, event: EventId, message: impl Fn() -> M) -> Result<T, StorageError>
    where
        M: Message<Result = Result<T, StorageError>> + Send + 'static,
        T: Send + 'static,
        EventActor: Handler<M>,
    {
        let until = tokio::time::Instant::now() + self.config.request_timeout;
        for attempt in 0..2 {
            match timeout_at(until, self.get_or_start(event).send(message())).await {
                Ok(Ok(result)) => return result,
                Ok(Err(MailboxError::Closed)) if attempt == 0 => continue,
                Ok(Err(error)) => return Err(StorageError::Unavailable(error.to_string())),
                Err(_) => {
                    metrics::counter!("boxoffice_actor_timeouts_total").increment(1);
                    return Err(StorageError::Unavailable(
                        "event actor did not answer in time".into(),
                    ));
                }
            }
        }
        Err(StorageError::Unavailable("event actor unavailable".into()))
    }
}

fn timed_out() -> ReserveError {
    metrics::counter!("boxoffice_actor_timeouts_total").increment(1);
    ReserveError::Unavailable("event actor did not answer in time".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;
    use crate::fakes::{FakeBus, FakeLedger, FakeLock};
    use crate::model::{SeatId, SeatStatus};
    use crate::ports::SeatChange;

    fn registry(arbiter: &Arbiter) -> (Registry, Arc<FakeLedger>) {
        let ledger = Arc::new(FakeLedger::with_seats(10, Duration::ZERO));
        let ports = Ports {
            ledger: ledger.clone(),
            lock: Arc::new(FakeLock::default()),
            bus: Arc::new(FakeBus::default()),
        };
        let config = EventActorConfig {
            batch_max: 8,
            hold_for: Duration::from_secs(600),
            idle_after: Duration::from_secs(60),
            gap_timeout: Duration::from_secs(1),
            version_check_every: Duration::from_secs(600),
            parallel_writes: 2,
            request_timeout: Duration::from_secs(5),
        };
        (Registry::new(ports, config, arbiter.handle()), ledger)
    }

    #[actix::test]
    async fn a_delta_burst_beyond_the_mailbox_is_dropped_not_queued_and_the_actor_carries_on() {
        let arbiter = Arbiter::new();
        let (registry, ledger) = registry(&arbiter);
        let event = EventId(1);
        // Started and loaded.
        assert_eq!(registry.availability(event).await, Some(10));

        // The actor's thread is busy while a burst arrives.
        let (busy_tx, busy) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        arbiter.spawn(async move {
            started_tx.send(()).unwrap();
            let _ = busy.recv_timeout(Duration::from_secs(10));
        });
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        let burst = 3 * MAILBOX_CAPACITY;
        for _ in 0..burst {
            // Already-applied versions: harmless, but each takes a slot.
            registry.deliver(SeatDelta {
                event_id: event,
                version: 0,
                changes: vec![SeatChange {
                    seat_id: SeatId(1),
                    status: SeatStatus::Confirmed,
                }],
            });
        }
        let dropped = registry.dropped_deltas();
        busy_tx.send(()).unwrap();
        assert!(
            dropped >= burst - MAILBOX_CAPACITY - 64,
            "a full mailbox drops deltas instead of queueing them (dropped {dropped} of {burst})"
        );

        // The actor drained its mailbox and still answers from correct state.
        let hold = tokio::time::timeout(
            Duration::from_secs(5),
            registry.reserve(
                UserId(1),
                &Reservation::new(event, vec![SeatId(1)], 10).unwrap(),
            ),
        )
        .await
        .expect("an answer before the deadline");
        assert!(hold.is_ok(), "{hold:?}");
        assert_eq!(ledger.status(SeatId(1)), SeatStatus::Reserved);
        assert_eq!(registry.availability(event).await, Some(9));
    }
}
