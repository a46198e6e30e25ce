//! The event actor against in-memory fakes: group commit, all-or-nothing,
//! memory refusals, the lock layer down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;
use dashmap::DashMap;
use futures_util::future::join_all;

use crate::domain::{EventId, SeatId, SeatStatus, UserId};
use crate::event_actor::{EventActor, EventActorConfig, Ports, Release, Reserve, ReserveError};
use crate::fakes::{FakeBus, FakeLedger, FakeLock};

struct Setup {
    actor: Addr<EventActor>,
    ledger: Arc<FakeLedger>,
    lock: Arc<FakeLock>,
    bus: Arc<FakeBus>,
}

fn setup(seats: i64, batch_max: usize, commit_delay: Duration) -> Setup {
    let ledger = Arc::new(FakeLedger::with_seats(seats, commit_delay));
    let lock = Arc::new(FakeLock::default());
    let bus = Arc::new(FakeBus::default());
    let ports = Ports {
        ledger: ledger.clone(),
        lock: lock.clone(),
        bus: bus.clone(),
    };
    let config = EventActorConfig {
        batch_max,
        hold_for: Duration::from_secs(600),
        idle_after: Duration::from_secs(60),
        gap_timeout: Duration::from_secs(1),
    };
    // On a thread of its own, so a test's deadline fires even if the actor spins.
    let arbiter = Arbiter::new();
    let actor = EventActor::start_in_arbiter(&arbiter.handle(), move |_| {
        EventActor::new(EventId(1), ports, config, Arc::new(DashMap::new()))
    });
    Setup {
        actor,
        ledger,
        lock,
        bus,
    }
}

fn reserve(user: i64, seats: &[i64]) -> Reserve {
    Reserve {
        user_id: UserId(user),
        seat_ids: seats.iter().map(|s| SeatId(*s)).collect(),
    }
}

#[actix::test]
async fn concurrent_requests_share_commits_and_each_seat_has_one_winner() {
    let s = setup(10, 256, Duration::from_millis(20));
    let requests = (0..200).map(|i| s.actor.send(reserve(i, &[1 + i % 10])));
    let results: Vec<_> = join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
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
    let results = join_all((0..20).map(|i| s.actor.send(reserve(i, &[i + 1])))).await;
    assert!(results.into_iter().all(|r| r.unwrap().is_ok()));
    assert_eq!(s.ledger.transactions.load(Ordering::SeqCst), 20);
}

#[actix::test]
async fn one_conflicting_request_never_fails_the_others_in_its_batch() {
    let s = setup(5, 256, Duration::from_millis(10));
    s.actor.send(reserve(1, &[3])).await.unwrap().unwrap();
    let results = join_all(
        [reserve(2, &[1, 2]), reserve(3, &[3, 4]), reserve(4, &[5])].map(|r| s.actor.send(r)),
    )
    .await;
    let results: Vec<_> = results.into_iter().map(|r| r.unwrap()).collect();
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
    s.actor.send(reserve(1, &[1])).await.unwrap().unwrap();
    let before = s.ledger.transactions.load(Ordering::SeqCst);
    let refused = s.actor.send(reserve(2, &[1])).await.unwrap();
    assert_eq!(
        refused,
        Err(ReserveError::SeatsUnavailable(vec![SeatId(1)]))
    );
    assert_eq!(s.ledger.transactions.load(Ordering::SeqCst), before);
}

#[actix::test]
async fn seats_of_another_event_are_unknown() {
    let s = setup(2, 256, Duration::ZERO);
    let answer = s.actor.send(reserve(1, &[2, 99])).await.unwrap();
    assert_eq!(answer, Err(ReserveError::UnknownSeats(vec![SeatId(99)])));
}

#[actix::test]
async fn with_the_lock_layer_down_the_ledger_alone_decides() {
    let s = setup(3, 256, Duration::from_millis(5));
    s.lock.down.store(true, Ordering::SeqCst);
    let results = join_all((0..30).map(|i| s.actor.send(reserve(i, &[1 + i % 3])))).await;
    let held = results
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(_))))
        .count();
    assert_eq!(held, 3);
}

#[actix::test]
async fn a_release_frees_seats_for_the_next_request_and_publishes_each_change_in_order() {
    let s = setup(1, 256, Duration::ZERO);
    let hold = s.actor.send(reserve(1, &[1])).await.unwrap().unwrap();
    s.actor
        .send(Release {
            booking_id: hold.booking_id,
            user_id: None,
        })
        .await
        .unwrap()
        .unwrap();
    s.actor.send(reserve(2, &[1])).await.unwrap().unwrap();
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
async fn a_published_version_ahead_of_the_ledger_does_not_starve_refused_requests() {
    // Redis remembers version 1000 from a database that no longer exists.
    let s = setup(2, 256, Duration::ZERO);
    s.bus
        .published
        .lock()
        .unwrap()
        .push(crate::ports::SeatDelta {
            event_id: EventId(1),
            version: 1000,
            changes: Vec::new(),
        });
    s.actor.send(reserve(1, &[1])).await.unwrap().unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        join_all((0..20).map(|i| s.actor.send(reserve(10 + i, &[1])))),
    )
    .await
    .expect("refused requests were answered");
    assert!(
        refused
            .into_iter()
            .all(|r| matches!(r, Ok(Err(ReserveError::SeatsUnavailable(_)))))
    );
}

#[actix::test]
async fn its_own_published_versions_never_make_an_actor_reload() {
    let s = setup(10, 256, Duration::from_millis(10));
    for round in 0..5 {
        let requests = (0..50).map(|i| s.actor.send(reserve(round * 100 + i, &[1 + i % 10])));
        join_all(requests).await;
    }
    assert_eq!(
        s.ledger.loads.load(Ordering::SeqCst),
        1,
        "only the initial load"
    );
}
