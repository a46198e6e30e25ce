//! The event actor against in-memory fakes: group commit, all-or-nothing,
//! memory refusals and their version checks, self-healing memory, stale
//! locks, deadlines, bounded writes, idle stop, the lock layer down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;
use dashmap::DashMap;
use futures_util::future::join_all;
use tokio::sync::oneshot;

use crate::event_actor::{
    ApplyDelta, Availability, Confirm, EventActor, EventActorConfig, Expire, Ports, Release,
    Reserve, ReserveError, ReserveReply,
};
use crate::fakes::{BookingStatus, FakeBus, FakeLedger, FakeLock};
use crate::model::{BookingId, EventId, SeatId, SeatStatus, UserId};
use crate::ports::{ConfirmOutcome, ReleaseOutcome, SeatDelta};
use crate::registry::Registry;
use crate::reservation::{BestAvailable, Wanted};

const EVENT: EventId = EventId(1);

struct Setup {
    actor: Addr<EventActor>,
    ledger: Arc<FakeLedger>,
    lock: Arc<FakeLock>,
    bus: Arc<FakeBus>,
    listed: Arc<DashMap<EventId, Addr<EventActor>>>,
    ports: Ports,
    config: EventActorConfig,
    arbiter: Arbiter,
}

fn config(batch_max: usize) -> EventActorConfig {
    EventActorConfig {
        batch_max,
        hold_for: Duration::from_secs(600),
        idle_after: Duration::from_secs(60),
        gap_timeout: Duration::from_secs(1),
        version_check_every: Duration::from_secs(1),
        parallel_writes: 2,
        request_timeout: Duration::from_secs(5),
    }
}

fn setup(seats: i64, batch_max: usize, commit_delay: Duration) -> Setup {
    setup_with(seats, commit_delay, config(batch_max))
}

fn setup_with(seats: i64, commit_delay: Duration, config: EventActorConfig) -> Setup {
    setup_ledger(FakeLedger::with_seats(seats, commit_delay), config)
}

fn setup_ledger(ledger: FakeLedger, config: EventActorConfig) -> Setup {
    let ledger = Arc::new(ledger);
    let lock = Arc::new(FakeLock::default());
    let bus = Arc::new(FakeBus::default());
    let ports = Ports {
        ledger: ledger.clone(),
        lock: lock.clone(),
        bus: bus.clone(),
    };
    // On a thread of its own, so a test's deadline fires even if the actor spins.
    let arbiter = Arbiter::new();
    let listed = Arc::new(DashMap::new());
    let actor = start(&arbiter, &ports, &config, &listed);
    Setup {
        actor,
        ledger,
        lock,
        bus,
        listed,
        ports,
        config,
        arbiter,
    }
}

fn start(
    arbiter: &Arbiter,
    ports: &Ports,
    config: &EventActorConfig,
    listed: &Arc<DashMap<EventId, Addr<EventActor>>>,
) -> Addr<EventActor> {
    let (ports, config, registry) = (ports.clone(), config.clone(), listed.clone());
    let actor = EventActor::start_in_arbiter(&arbiter.handle(), move |_| {
        EventActor::new(EVENT, ports, config, registry)
    });
    listed.insert(EVENT, actor.clone());
    actor
}

fn seats(ids: &[i64]) -> Vec<SeatId> {
    ids.iter().map(|s| SeatId(*s)).collect()
}

/// The reply channel and the message carrying it, for tests that play with
/// the requester's side.
fn reserve_within(
    user: i64,
    ids: &[i64],
    within: Duration,
) -> (Reserve, oneshot::Receiver<ReserveReply>) {
    let (reply, answer) = oneshot::channel();
    let message = Reserve {
        user_id: UserId(user),
        wanted: Wanted::Seats(seats(ids)),
        deadline: Instant::now() + within,
        reply,
    };
    (message, answer)
}

/// Asks for a hold and waits for the answer (at most ten seconds).
fn ask(
    actor: &Addr<EventActor>,
    user: i64,
    ids: &[i64],
) -> impl std::future::Future<Output = ReserveReply> + use<> {
    let (message, answer) = reserve_within(user, ids, Duration::from_secs(10));
    let actor = actor.clone();
    async move {
        actor.send(message).await.expect("actor running");
        tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("an answer within the deadline")
            .expect("the actor answered")
    }
}

/// Waits (with a deadline) until `check` holds.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the actor has loaded its memory.
async fn loaded(actor: &Addr<EventActor>) {
    eventually(
        "the actor loaded its seats",
        Duration::from_secs(3),
        || async { actor.send(Availability).await.unwrap().is_some() },
    )
    .await;
}

/// `loopers` requesters each asking for fresh seats from `first_seat` on,
/// one after the other, until the test ends: batches are always in flight.
fn sustained_load(s: &Setup, first_seat: i64, loopers: i64) {
    for l in 0..loopers {
        let actor = s.actor.clone();
        actix::spawn(async move {
            let mut seat = first_seat + l;
            loop {
                let _ = ask(&actor, 1000 + l, &[seat]).await;
                seat += loopers;
            }
        });
    }
}

#[actix::test]
async fn concurrent_requests_share_commits_and_each_seat_has_one_winner() {
    let s = setup(10, 256, Duration::from_millis(20));
    let requests = (0..200).map(|i| ask(&s.actor, i, &[1 + i % 10]));
    let results = join_all(requests).await;
    let held: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(held.len(), 10, "one winner per seat");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(ReserveError::SeatsUnavailable(_))))
    );
    let transactions = s.ledger.transactions.load(Ordering::SeqCst);
    assert!(
        transactions <= 3,
        "200 requests took {transactions} transactions: group commit is not grouping"
    );
}

#[actix::test]
async fn a_batch_of_one_still_serves_every_request() {
    let s = setup(20, 1, Duration::ZERO);
    let results = join_all((0..20).map(|i| ask(&s.actor, i, &[i + 1]))).await;
    assert!(results.into_iter().all(|r| r.is_ok()));
    assert_eq!(s.ledger.transactions.load(Ordering::SeqCst), 20);
}

#[actix::test]
async fn one_conflicting_request_never_fails_the_others_in_its_batch() {
    let s = setup(5, 256, Duration::from_millis(10));
    ask(&s.actor, 1, &[3]).await.unwrap();
    let results = join_all([
        ask(&s.actor, 2, &[1, 2]),
        ask(&s.actor, 3, &[3, 4]),
        ask(&s.actor, 4, &[5]),
    ])
    .await;
    assert!(results[0].is_ok());
    assert_eq!(
        results[1],
        Err(ReserveError::SeatsUnavailable(vec![SeatId(3)]))
    );
    assert!(results[2].is_ok());
    assert_eq!(
        s.ledger.status(SeatId(4)),
        SeatStatus::Available,
        "all or nothing"
    );
}

#[actix::test]
async fn memory_refuses_known_taken_seats_without_a_transaction() {
    let s = setup(2, 256, Duration::ZERO);
    ask(&s.actor, 1, &[1]).await.unwrap();
    let before = s.ledger.transactions.load(Ordering::SeqCst);
    let refused = ask(&s.actor, 2, &[1]).await;
    assert_eq!(
        refused,
        Err(ReserveError::SeatsUnavailable(vec![SeatId(1)]))
    );
    assert_eq!(s.ledger.transactions.load(Ordering::SeqCst), before);
}

#[actix::test]
async fn a_restarted_actor_rebuilds_its_memory_and_refuses_from_it() {
    let s = setup(2, 256, Duration::ZERO);
    ask(&s.actor, 1, &[1]).await.unwrap();
    s.arbiter.stop();
    let arbiter = Arbiter::new();
    let fresh = start(&arbiter, &s.ports, &s.config, &s.listed);
    let before = s.ledger.transactions.load(Ordering::SeqCst);
    assert_eq!(
        ask(&fresh, 2, &[1]).await,
        Err(ReserveError::SeatsUnavailable(vec![SeatId(1)]))
    );
    assert_eq!(
        s.ledger.transactions.load(Ordering::SeqCst),
        before,
        "the refusal came from memory loaded at start"
    );
    assert_eq!(s.ledger.loads.load(Ordering::SeqCst), 2);
    assert!(ask(&fresh, 2, &[2]).await.is_ok());
}

#[actix::test]
async fn seats_of_another_event_are_unknown() {
    let s = setup(2, 256, Duration::ZERO);
    let answer = ask(&s.actor, 1, &[2, 99]).await;
    assert_eq!(answer, Err(ReserveError::UnknownSeats(vec![SeatId(99)])));
}

#[actix::test]
async fn with_the_lock_layer_down_the_ledger_alone_decides() {
    let s = setup(3, 256, Duration::from_millis(5));
    s.lock.down.store(true, Ordering::SeqCst);
    let results = join_all((0..30).map(|i| ask(&s.actor, i, &[1 + i % 3]))).await;
    let held = results.into_iter().filter(|r| r.is_ok()).count();
    assert_eq!(held, 3);
}

#[actix::test]
async fn a_release_frees_seats_for_the_next_request_and_publishes_each_change_in_order() {
    let s = setup(1, 256, Duration::ZERO);
    let hold = ask(&s.actor, 1, &[1]).await.unwrap();
    let token = s.ledger.booking(hold.booking_id).token;
    assert_eq!(s.lock.holder(SeatId(1)), Some(token));
    s.actor
        .send(Release {
            booking_id: hold.booking_id,
            user_id: None,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.lock.holder(SeatId(1)),
        None,
        "the lock went with the hold"
    );
    ask(&s.actor, 2, &[1]).await.unwrap();
    let versions: Vec<i64> = s
        .bus
        .published
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
}

#[actix::test]
async fn expiry_frees_only_holds_that_ran_out_with_their_locks() {
    let s = setup(2, 256, Duration::ZERO);
    let old = ask(&s.actor, 1, &[1]).await.unwrap();
    let fresh = ask(&s.actor, 2, &[2]).await.unwrap();
    s.ledger.run_out(old.booking_id);
    let freed = s
        .actor
        .send(Expire {
            booking_ids: vec![old.booking_id, fresh.booking_id],
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(freed.len(), 1);
    assert_eq!(freed[0].booking_id, old.booking_id);
    assert_eq!(
        s.ledger.booking(old.booking_id).status,
        BookingStatus::Expired
    );
    assert_eq!(
        s.ledger.booking(fresh.booking_id).status,
        BookingStatus::Pending
    );
    assert_eq!(s.lock.holder(SeatId(1)), None);
    assert!(s.lock.holder(SeatId(2)).is_some());
    assert_eq!(s.actor.send(Availability).await.unwrap(), Some(1));
    assert!(ask(&s.actor, 3, &[1]).await.is_ok());
}

#[actix::test]
async fn a_confirmed_booking_stays_sold_and_cannot_be_released() {
    let s = setup(2, 256, Duration::ZERO);
    let hold = ask(&s.actor, 1, &[1]).await.unwrap();
    let confirmed = s
        .actor
        .send(Confirm {
            booking_id: hold.booking_id,
            payment_id: 7,
        })
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(confirmed, ConfirmOutcome::Confirmed { .. }));
    assert_eq!(s.ledger.status(SeatId(1)), SeatStatus::Confirmed);
    let release = s
        .actor
        .send(Release {
            booking_id: hold.booking_id,
            user_id: None,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(release, ReleaseOutcome::Confirmed);
    assert_eq!(
        ask(&s.actor, 2, &[1]).await,
        Err(ReserveError::SeatsUnavailable(vec![SeatId(1)]))
    );
}

#[actix::test]
async fn a_delta_from_another_node_updates_memory() {
    let s = setup(2, 256, Duration::ZERO);
    loaded(&s.actor).await;
    let sold = s
        .ledger
        .commit_elsewhere(EVENT, SeatId(1), SeatStatus::Confirmed);
    s.bus.published.lock().unwrap().push(sold.clone());
    s.actor.send(ApplyDelta(sold)).await.unwrap();
    assert_eq!(s.actor.send(Availability).await.unwrap(), Some(1));
    assert_eq!(
        ask(&s.actor, 1, &[1]).await,
        Err(ReserveError::SeatsUnavailable(vec![SeatId(1)]))
    );
    assert_eq!(
        s.ledger.transactions.load(Ordering::SeqCst),
        0,
        "refused from memory"
    );
    let freed = s
        .ledger
        .commit_elsewhere(EVENT, SeatId(1), SeatStatus::Available);
    s.bus.published.lock().unwrap().push(freed.clone());
    s.actor.send(ApplyDelta(freed)).await.unwrap();
    assert!(ask(&s.actor, 1, &[1]).await.is_ok());
    assert_eq!(s.ledger.loads.load(Ordering::SeqCst), 1, "no reload needed");
}

#[actix::test]
async fn a_refusal_on_stale_memory_goes_to_postgres() {
    // Another node freed the seat and published it; the delta got lost.
    let s = setup(1, 256, Duration::ZERO);
    ask(&s.actor, 1, &[1]).await.unwrap();
    let freed = s
        .ledger
        .commit_elsewhere(EVENT, SeatId(1), SeatStatus::Available);
    s.lock
        .release(EVENT, &[(&s.ledger_token(1), &seats(&[1]))])
        .await
        .unwrap();
    s.bus.published.lock().unwrap().push(freed);
    assert!(ask(&s.actor, 2, &[1]).await.is_ok());
}

impl Setup {
    fn ledger_token(&self, booking: i64) -> String {
        self.ledger.booking(BookingId(booking)).token
    }
}

use crate::ports::SeatLock as _;

#[actix::test]
async fn a_lost_delta_heals_by_itself_without_any_later_commit() {
    // Another node frees the seat; neither its delta nor its version is
    // published (pub/sub lost). Nothing else ever commits.
    let s = setup(1, 256, Duration::ZERO);
    let hold = ask(&s.actor, 1, &[1]).await.unwrap();
    s.ledger
        .commit_elsewhere(EVENT, SeatId(1), SeatStatus::Available);
    let token = s.ledger.booking(hold.booking_id).token;
    s.lock
        .release(EVENT, &[(&token, &seats(&[1]))])
        .await
        .unwrap();

    eventually("the freed seat is sold", Duration::from_secs(5), || async {
        ask(&s.actor, 2, &[1]).await.is_ok()
    })
    .await;
    assert_eq!(s.actor.send(Availability).await.unwrap(), Some(0));
}

#[actix::test]
async fn with_the_published_version_unknown_a_memory_refusal_asks_postgres() {
    let mut config = config(256);
    config.version_check_every = Duration::from_secs(600);
    let s = setup_with(1, Duration::ZERO, config);
    let hold = ask(&s.actor, 1, &[1]).await.unwrap();
    s.bus.down.store(true, Ordering::SeqCst);
    s.ledger
        .commit_elsewhere(EVENT, SeatId(1), SeatStatus::Available);
    let token = s.ledger.booking(hold.booking_id).token;
    s.lock
        .release(EVENT, &[(&token, &seats(&[1]))])
        .await
        .unwrap();
    assert!(
        ask(&s.actor, 2, &[1]).await.is_ok(),
        "Redis could not say; PostgreSQL knew the seat was free"
    );
}

#[actix::test]
async fn a_refusal_is_rechecked_against_memory_when_the_version_read_returns() {
    let s = setup(1, 256, Duration::ZERO);
    let hold = ask(&s.actor, 1, &[1]).await.unwrap();
    *s.bus.read_delay.lock().unwrap() = Duration::from_millis(300);
    let (message, answer) = reserve_within(2, &[1], Duration::from_secs(10));
    s.actor.send(message).await.unwrap();
    // While the version read is out, the seat is released and memory learns it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let released = s
        .actor
        .send(Release {
            booking_id: hold.booking_id,
            user_id: None,
        })
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(released, ReleaseOutcome::Released(_)));
    let answer = tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.is_ok(),
        "refused on memory that no longer said no: {answer:?}"
    );
}

#[actix::test]
async fn a_published_version_ahead_of_the_ledger_does_not_starve_refused_requests() {
    // Redis remembers version 1000 from a database that no longer exists.
    let s = setup(2, 256, Duration::ZERO);
    s.bus.published.lock().unwrap().push(SeatDelta {
        event_id: EVENT,
        version: 1000,
        changes: Vec::new(),
    });
    ask(&s.actor, 1, &[1]).await.unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        join_all((0..20).map(|i| ask(&s.actor, 10 + i, &[1]))),
    )
    .await
    .expect("refused requests were answered");
    assert!(
        refused
            .into_iter()
            .all(|r| matches!(r, Err(ReserveError::SeatsUnavailable(_))))
    );
}

#[actix::test]
async fn refusals_are_answered_while_own_batches_keep_committing() {
    let s = setup(5000, 4, Duration::from_millis(20));
    s.bus.published.lock().unwrap().push(SeatDelta {
        event_id: EVENT,
        version: 1000,
        changes: Vec::new(),
    });
    ask(&s.actor, 1, &[1]).await.unwrap();
    sustained_load(&s, 100, 16);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let refused = tokio::time::timeout(Duration::from_secs(2), ask(&s.actor, 2, &[1]))
        .await
        .expect("a refusal never waits for the whole burst");
    assert_eq!(
        refused,
        Err(ReserveError::SeatsUnavailable(vec![SeatId(1)]))
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[actix::test]
async fn its_own_published_versions_never_make_an_actor_reload() {
    let s = setup(10, 256, Duration::from_millis(10));
    for round in 0..5 {
        let requests = (0..50).map(|i| ask(&s.actor, round * 100 + i, &[1 + i % 10]));
        join_all(requests).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        s.ledger.loads.load(Ordering::SeqCst),
        1,
        "only the initial load"
    );
}

#[actix::test]
async fn a_gap_reloads_even_while_batches_are_in_flight() {
    let mut config = config(4);
    config.version_check_every = Duration::from_secs(600);
    config.gap_timeout = Duration::from_millis(200);
    let s = setup_with(5000, Duration::from_millis(20), config);
    ask(&s.actor, 1, &[2]).await.unwrap();
    sustained_load(&s, 100, 16);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Two commits elsewhere; only the second one's delta arrives.
    s.ledger
        .commit_elsewhere(EVENT, SeatId(1), SeatStatus::Confirmed);
    let second = s
        .ledger
        .commit_elsewhere(EVENT, SeatId(3), SeatStatus::Confirmed);
    s.actor.send(ApplyDelta(second)).await.unwrap();
    eventually(
        "the gap made the actor reload",
        Duration::from_secs(3),
        || async { s.ledger.loads.load(Ordering::SeqCst) >= 2 },
    )
    .await;
    eventually(
        "memory knows seat 1 is sold",
        Duration::from_secs(3),
        || async {
            ask(&s.actor, 2, &[1]).await == Err(ReserveError::SeatsUnavailable(vec![SeatId(1)]))
        },
    )
    .await;
}

#[actix::test]
async fn a_reload_does_not_pause_the_batch_in_flight() {
    let mut config = config(256);
    config.gap_timeout = Duration::from_millis(100);
    let s = setup_with(10, Duration::from_millis(600), config);
    ask(&s.actor, 1, &[1]).await.unwrap();
    *s.ledger.load_delay.lock().unwrap() = Duration::from_secs(3);
    let (message, answer) = reserve_within(2, &[2], Duration::from_secs(10));
    s.actor.send(message).await.unwrap();
    let ahead = SeatDelta {
        event_id: EVENT,
        version: 5,
        changes: Vec::new(),
    };
    s.actor.send(ApplyDelta(ahead)).await.unwrap();
    eventually("the reload started", Duration::from_secs(2), || async {
        s.ledger.loads.load(Ordering::SeqCst) >= 2
    })
    .await;
    let held = tokio::time::timeout(Duration::from_millis(1500), answer)
        .await
        .expect("the batch in flight finished while the reload ran")
        .unwrap();
    assert!(held.is_ok());
}

#[actix::test]
async fn a_failed_reload_keeps_the_actor_and_drops_no_batch() {
    let mut config = config(256);
    config.gap_timeout = Duration::from_millis(100);
    let s = setup_with(10, Duration::from_millis(400), config);
    ask(&s.actor, 1, &[1]).await.unwrap();
    s.ledger.loads_fail.store(true, Ordering::SeqCst);
    let (message, answer) = reserve_within(2, &[2], Duration::from_secs(10));
    s.actor.send(message).await.unwrap();
    s.actor
        .send(ApplyDelta(SeatDelta {
            event_id: EVENT,
            version: 5,
            changes: Vec::new(),
        }))
        .await
        .unwrap();
    eventually("a reload failed", Duration::from_secs(2), || async {
        s.ledger.loads.load(Ordering::SeqCst) >= 2
    })
    .await;
    let held = tokio::time::timeout(Duration::from_secs(2), answer)
        .await
        .unwrap()
        .unwrap();
    assert!(held.is_ok(), "a committed hold was dropped: {held:?}");
    assert!(s.actor.connected());
    // Retries are spaced out by the gap timeout, not made every tick.
    let loads = s.ledger.loads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(s.ledger.loads.load(Ordering::SeqCst) - loads <= 5);
    assert_eq!(
        ask(&s.actor, 3, &[1]).await,
        Err(ReserveError::SeatsUnavailable(vec![SeatId(1)]))
    );
}

#[actix::test]
async fn a_stale_lock_on_a_free_seat_does_not_block_a_hold() {
    let s = setup(2, 256, Duration::ZERO);
    s.lock.plant(SeatId(1), "left-by-a-crashed-node");
    let hold = tokio::time::timeout(Duration::from_secs(2), ask(&s.actor, 1, &[1]))
        .await
        .expect("promptly")
        .expect("PostgreSQL said the seat was free");
    assert_eq!(
        s.lock.holder(SeatId(1)),
        Some(s.ledger.booking(hold.booking_id).token),
        "the stale lock now belongs to the hold"
    );
}

#[actix::test]
async fn a_lock_for_a_seat_memory_has_not_heard_of_is_respected() {
    // Another node held seat 1 and published it; its delta has not arrived.
    let s = setup(2, 256, Duration::ZERO);
    let held = s
        .ledger
        .commit_elsewhere(EVENT, SeatId(1), SeatStatus::Reserved);
    s.bus.published.lock().unwrap().push(held);
    s.lock.plant(SeatId(1), "another-node");
    assert_eq!(
        ask(&s.actor, 1, &[1]).await,
        Err(ReserveError::SeatsUnavailable(seats(&[1])))
    );
    assert_eq!(
        s.ledger.transactions.load(Ordering::SeqCst),
        0,
        "the lock kept the loser away from PostgreSQL"
    );
}

#[actix::test]
async fn a_requester_that_left_before_planning_costs_nothing() {
    let s = setup(3, 256, Duration::from_millis(300));
    loaded(&s.actor).await;
    let (first, first_answer) = reserve_within(1, &[1], Duration::from_secs(10));
    s.actor.send(first).await.unwrap();
    let (gone, gone_answer) = reserve_within(2, &[2], Duration::from_secs(10));
    s.actor.send(gone).await.unwrap();
    drop(gone_answer);
    let (late, _late_answer) = reserve_within(3, &[3], Duration::from_millis(100));
    s.actor.send(late).await.unwrap();
    assert!(first_answer.await.unwrap().is_ok());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.ledger.transactions.load(Ordering::SeqCst), 1);
    assert_eq!(s.ledger.status(SeatId(2)), SeatStatus::Available);
    assert_eq!(s.ledger.status(SeatId(3)), SeatStatus::Available);
    assert_eq!(s.lock.holder(SeatId(2)), None);
}

#[actix::test]
async fn a_hold_committed_for_a_requester_who_left_is_released() {
    let s = setup(1, 256, Duration::from_millis(300));
    let (message, answer) = reserve_within(1, &[1], Duration::from_millis(100));
    s.actor.send(message).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(answer);
    eventually(
        "the abandoned hold was released",
        Duration::from_secs(3),
        || async { s.ledger.bookings_with(BookingStatus::Released) == 1 },
    )
    .await;
    assert_eq!(s.ledger.status(SeatId(1)), SeatStatus::Available);
    assert_eq!(s.lock.holder(SeatId(1)), None);
    assert!(ask(&s.actor, 2, &[1]).await.is_ok());
}

#[actix::test]
async fn a_request_to_a_stuck_actor_gets_an_answer_by_its_deadline() {
    let ledger = Arc::new(FakeLedger::with_seats(1, Duration::from_secs(5)));
    let ports = Ports {
        ledger: ledger.clone(),
        lock: Arc::new(FakeLock::default()),
        bus: Arc::new(FakeBus::default()),
    };
    let mut config = config(256);
    config.request_timeout = Duration::from_millis(300);
    let arbiter = Arbiter::new();
    let registry = Registry::new(ports, config, arbiter.handle());
    let started = Instant::now();
    let reservation = crate::reservation::Reservation::new(EVENT, seats(&[1]), 10).unwrap();
    let answer = registry.reserve(UserId(1), &reservation).await;
    assert!(
        matches!(answer, Err(ReserveError::Unavailable(_))),
        "{answer:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // The requester is gone: the hold committed after its deadline is undone.
    let released = registry.release(EVENT, BookingId(1), None).await;
    assert!(released.is_err(), "a stuck release times out too");
}

#[actix::test]
async fn a_burst_of_writes_runs_a_bounded_number_of_transactions_at_once() {
    let s = setup(40, 256, Duration::from_millis(10));
    let holds = join_all((0..40).map(|i| ask(&s.actor, i, &[i + 1]))).await;
    s.ledger.most_writes_at_once.store(0, Ordering::SeqCst);
    let releases = holds.into_iter().map(|hold| {
        s.actor.send(Release {
            booking_id: hold.unwrap().booking_id,
            user_id: None,
        })
    });
    let released = join_all(releases).await;
    assert!(
        released
            .into_iter()
            .all(|r| matches!(r, Ok(Ok(ReleaseOutcome::Released(_)))))
    );
    assert_eq!(
        s.ledger.most_writes_at_once.load(Ordering::SeqCst),
        s.config.parallel_writes
    );
    assert_eq!(s.actor.send(Availability).await.unwrap(), Some(40));
}

#[actix::test]
async fn an_idle_actor_stops_and_delists_itself() {
    let mut config = config(256);
    config.idle_after = Duration::from_millis(200);
    config.gap_timeout = Duration::from_millis(100);
    let s = setup_with(1, Duration::ZERO, config);
    ask(&s.actor, 1, &[1]).await.unwrap();
    eventually("the idle actor stopped", Duration::from_secs(3), || async {
        !s.actor.connected() && s.listed.is_empty()
    })
    .await;
}

#[actix::test]
async fn an_actor_never_stops_idle_under_a_write_in_flight() {
    let mut config = config(256);
    config.idle_after = Duration::from_millis(100);
    config.gap_timeout = Duration::from_millis(100);
    let s = setup_with(1, Duration::from_millis(700), config);
    let hold = ask(&s.actor, 1, &[1]).await.unwrap();
    let released = s
        .actor
        .send(Release {
            booking_id: hold.booking_id,
            user_id: None,
        })
        .await
        .expect("the actor answered before stopping");
    assert!(matches!(released, Ok(ReleaseOutcome::Released(_))));
}

/// Asks for the best `count` seats (in `zone`) and waits for the answer.
fn ask_best(
    actor: &Addr<EventActor>,
    user: i64,
    count: usize,
    zone: Option<&str>,
) -> impl std::future::Future<Output = ReserveReply> + use<> {
    let (reply, answer) = oneshot::channel();
    let message = Reserve {
        user_id: UserId(user),
        wanted: Wanted::BestAvailable(BestAvailable {
            count,
            zone: zone.map(str::to_owned),
        }),
        deadline: Instant::now() + Duration::from_secs(10),
        reply,
    };
    let actor = actor.clone();
    async move {
        actor.send(message).await.expect("actor running");
        tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("an answer within the deadline")
            .expect("the actor answered")
    }
}

/// Rows of `per_row` seats, ids row by row from 1 (row r holds
/// `r*per_row+1 ..= (r+1)*per_row`): the row of a seat and its neighbours.
fn row_of(seat: SeatId, per_row: i64) -> i64 {
    (seat.0 - 1) / per_row
}

#[actix::test]
async fn racing_best_available_buyers_get_disjoint_adjacent_blocks_until_the_hall_is_full() {
    // 4 rows of 20: forty pairs fit exactly, if no seat is ever stranded.
    let s = setup_ledger(
        FakeLedger::with_rows(4, 20, Duration::from_millis(5)),
        config(16),
    );
    let results = join_all((0..40).map(|i| ask_best(&s.actor, i, 2, None))).await;
    let mut seen = std::collections::HashSet::new();
    for result in &results {
        let hold = result.as_ref().expect("every pair is seated");
        let [a, b] = hold.seat_ids[..] else {
            panic!("two seats: {hold:?}")
        };
        assert_eq!((b.0 - a.0).abs(), 1, "adjacent: {hold:?}");
        assert_eq!(row_of(a, 20), row_of(b, 20), "one row: {hold:?}");
        assert!(seen.insert(a) && seen.insert(b), "no seat twice: {hold:?}");
    }
    assert_eq!(
        ask_best(&s.actor, 99, 1, None).await,
        Err(ReserveError::NotEnoughSeats { count: 1 })
    );
}

#[actix::test]
async fn the_front_row_fills_first_and_a_zone_keeps_to_its_rows() {
    let s = setup_ledger(FakeLedger::with_rows(3, 10, Duration::ZERO), config(16));
    let front = ask_best(&s.actor, 1, 4, None).await.unwrap();
    assert!(front.seat_ids.iter().all(|seat| row_of(*seat, 10) == 0));
    let back = ask_best(&s.actor, 2, 4, Some("Back")).await.unwrap();
    assert!(back.seat_ids.iter().all(|seat| row_of(*seat, 10) == 1));
    assert_eq!(
        ask_best(&s.actor, 3, 2, Some("Pit")).await,
        Err(ReserveError::UnknownZone("Pit".into()))
    );
    // The first block (3-6) left 1-2 and 7-10: room for one more four.
    assert_eq!(front.seat_ids, (3..=6).map(SeatId).collect::<Vec<_>>());
    let more = ask_best(&s.actor, 4, 4, Some("Front")).await.unwrap();
    assert_eq!(more.seat_ids, (7..=10).map(SeatId).collect::<Vec<_>>());
    assert_eq!(
        ask_best(&s.actor, 5, 3, Some("Front")).await,
        Err(ReserveError::NotEnoughSeats { count: 3 })
    );
}

#[actix::test]
async fn seats_another_node_took_unseen_are_picked_around_not_refused() {
    let s = setup_ledger(FakeLedger::with_rows(1, 10, Duration::ZERO), config(16));
    loaded(&s.actor).await;
    // Another node holds the centre of the row; nobody tells this node.
    for seat in [5, 6] {
        s.ledger
            .commit_elsewhere(EVENT, SeatId(seat), SeatStatus::Reserved);
    }
    let hold = ask_best(&s.actor, 1, 2, None).await.expect("picked again");
    assert!(
        !hold.seat_ids.contains(&SeatId(5)) && !hold.seat_ids.contains(&SeatId(6)),
        "{hold:?}"
    );
    assert_eq!(
        (hold.seat_ids[1].0 - hold.seat_ids[0].0).abs(),
        1,
        "adjacent: {hold:?}"
    );
}

#[actix::test]
async fn no_block_left_is_said_only_once_memory_is_known_current() {
    let s = setup_ledger(FakeLedger::with_rows(1, 4, Duration::ZERO), config(16));
    ask_best(&s.actor, 1, 4, None).await.unwrap();
    // Another node frees two seats and publishes their version; the deltas
    // get lost on the way here. Memory, behind that version, does not answer
    // "no block" from itself: it catches up and picks.
    for seat in [1, 2] {
        let freed = s
            .ledger
            .commit_elsewhere(EVENT, SeatId(seat), SeatStatus::Available);
        s.bus.published.lock().unwrap().push(freed);
    }
    s.lock
        .release(EVENT, &[(&s.ledger_token(1), &seats(&[1, 2]))])
        .await
        .unwrap();
    let hold = ask_best(&s.actor, 2, 2, None)
        .await
        .expect("seats came back");
    assert_eq!(hold.seat_ids, vec![SeatId(1), SeatId(2)]);
    assert_eq!(
        ask_best(&s.actor, 3, 1, None).await,
        Err(ReserveError::NotEnoughSeats { count: 1 })
    );
}
