//! In-memory fakes of the ports, for fast tests of the actor logic. The real
//! adapters are tested against PostgreSQL and Redis in the server's tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use crate::domain::{BookingId, EventId, SeatId, SeatStatus, UserId};
use crate::ports::{
    Committed, ConfirmOutcome, DeltaBus, Freed, HoldOutcome, HoldPlan, LockUnavailable,
    ReleaseOutcome, SeatChange, SeatDelta, SeatLedger, SeatLock, SeatMap, StorageError,
};

#[derive(Default)]
struct Ledger {
    version: i64,
    seats: HashMap<SeatId, (SeatStatus, Option<BookingId>)>,
    bookings: HashMap<BookingId, (UserId, Vec<SeatId>, String)>,
    next_booking: i64,
}

/// A ledger in a mutex; every call is one "transaction". Counts transactions.
pub struct FakeLedger {
    inner: Mutex<Ledger>,
    pub transactions: AtomicUsize,
    pub loads: AtomicUsize,
    pub delay: Duration,
}

impl FakeLedger {
    pub fn with_seats(n: i64, delay: Duration) -> FakeLedger {
        let seats = (1..=n)
            .map(|i| (SeatId(i), (SeatStatus::Available, None)))
            .collect();
        FakeLedger {
            inner: Mutex::new(Ledger {
                seats,
                ..Ledger::default()
            }),
            transactions: AtomicUsize::new(0),
            loads: AtomicUsize::new(0),
            delay,
        }
    }

    pub fn status(&self, seat: SeatId) -> SeatStatus {
        self.inner.lock().unwrap().seats[&seat].0
    }
}

#[async_trait]
impl SeatLedger for FakeLedger {
    async fn load(&self, _event: EventId) -> Result<SeatMap, StorageError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let l = self.inner.lock().unwrap();
        Ok(SeatMap {
            version: l.version,
            seats: l.seats.iter().map(|(s, (st, _))| (*s, *st)).collect(),
        })
    }

    async fn hold(
        &self,
        event: EventId,
        plans: &[HoldPlan],
        _hold_for: Duration,
    ) -> Result<Committed<Vec<HoldOutcome>>, StorageError> {
        tokio::time::sleep(self.delay).await;
        self.transactions.fetch_add(1, Ordering::SeqCst);
        let mut l = self.inner.lock().unwrap();
        let mut outcomes = Vec::new();
        let mut changes = Vec::new();
        for plan in plans {
            let taken: Vec<SeatId> = plan
                .seats
                .iter()
                .copied()
                .filter(|s| l.seats[s].0 != SeatStatus::Available)
                .collect();
            if !taken.is_empty() {
                outcomes.push(HoldOutcome::Taken { seats: taken });
                continue;
            }
            l.next_booking += 1;
            let booking = BookingId(l.next_booking);
            for seat in &plan.seats {
                l.seats.insert(*seat, (SeatStatus::Reserved, Some(booking)));
                changes.push(SeatChange {
                    seat_id: *seat,
                    status: SeatStatus::Reserved,
                });
            }
            l.bookings.insert(
                booking,
                (plan.user_id, plan.seats.clone(), plan.lock_token.clone()),
            );
            outcomes.push(HoldOutcome::Held {
                booking_id: booking,
                expires_at: Utc::now(),
                amount_cents: 0,
            });
        }
        let deltas = if changes.is_empty() {
            Vec::new()
        } else {
            l.version += 1;
            vec![SeatDelta {
                event_id: event,
                version: l.version,
                changes,
            }]
        };
        Ok(Committed {
            outcome: outcomes,
            deltas,
        })
    }

    async fn release(
        &self,
        event: EventId,
        booking: BookingId,
        _user: Option<UserId>,
    ) -> Result<Committed<ReleaseOutcome>, StorageError> {
        let mut l = self.inner.lock().unwrap();
        let Some((_, seats, token)) = l.bookings.remove(&booking) else {
            return Ok(Committed {
                outcome: ReleaseOutcome::AlreadyEnded,
                deltas: Vec::new(),
            });
        };
        for seat in &seats {
            l.seats.insert(*seat, (SeatStatus::Available, None));
        }
        l.version += 1;
        let changes = seats
            .iter()
            .map(|s| SeatChange {
                seat_id: *s,
                status: SeatStatus::Available,
            })
            .collect();
        let delta = SeatDelta {
            event_id: event,
            version: l.version,
            changes,
        };
        Ok(Committed {
            outcome: ReleaseOutcome::Released(Freed {
                booking_id: booking,
                seats,
                lock_token: token,
            }),
            deltas: vec![delta],
        })
    }

    async fn expire(
        &self,
        _event: EventId,
        _bookings: &[BookingId],
    ) -> Result<Committed<Vec<Freed>>, StorageError> {
        Ok(Committed {
            outcome: Vec::new(),
            deltas: Vec::new(),
        })
    }

    async fn confirm(
        &self,
        _event: EventId,
        _booking: BookingId,
        _payment: i64,
    ) -> Result<Committed<ConfirmOutcome>, StorageError> {
        Ok(Committed {
            outcome: ConfirmOutcome::NotFound,
            deltas: Vec::new(),
        })
    }
}

/// Seat locks in a map; `down` makes every call fail like an unreachable Redis.
#[derive(Default)]
pub struct FakeLock {
    locks: Mutex<HashMap<SeatId, String>>,
    pub down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl SeatLock for FakeLock {
    async fn acquire(
        &self,
        _event: EventId,
        claims: &[(&str, &[SeatId])],
        _ttl: Duration,
    ) -> Result<Vec<bool>, LockUnavailable> {
        if self.down.load(Ordering::SeqCst) {
            return Err(LockUnavailable("down".into()));
        }
        let mut locks = self.locks.lock().unwrap();
        Ok(claims
            .iter()
            .map(|(token, seats)| {
                let free = seats
                    .iter()
                    .all(|s| locks.get(s).is_none_or(|t| t == token));
                if free {
                    for s in *seats {
                        locks.insert(*s, token.to_string());
                    }
                }
                free
            })
            .collect())
    }

    async fn release(
        &self,
        _event: EventId,
        claims: &[(&str, &[SeatId])],
    ) -> Result<(), LockUnavailable> {
        let mut locks = self.locks.lock().unwrap();
        for (token, seats) in claims {
            for s in *seats {
                if locks.get(s).is_some_and(|t| t == token) {
                    locks.remove(s);
                }
            }
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct FakeBus {
    pub published: Mutex<Vec<SeatDelta>>,
}

#[async_trait]
impl DeltaBus for FakeBus {
    async fn publish(&self, delta: &SeatDelta) {
        self.published.lock().unwrap().push(delta.clone());
    }

    async fn latest_version(&self, _event: EventId) -> Option<i64> {
        self.published
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.version)
            .max()
    }
}
