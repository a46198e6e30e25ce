//! In-memory fakes of the ports, for fast tests of the actor logic. The real
//! adapters are tested against PostgreSQL and Redis in the server's tests.
//!
//! The fake ledger keeps PostgreSQL's rules that the actor relies on: one
//! version per committing "transaction", holds that expire, confirmations,
//! and changes made "on another node" that nobody publishes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;

pub use crate::model::BookingStatus;
use crate::model::{BookingId, EventId, SeatId, SeatStatus, UserId};
use crate::ports::{
    CancelOutcome, Cancellation, Committed, ConfirmOutcome, DeltaBus, Freed, HoldOutcome, HoldPlan,
    LockUnavailable, ReleaseOutcome, SeatChange, SeatDelta, SeatLedger, SeatLock, SeatMap, SeatRow,
    StorageError,
};

#[derive(Debug, Clone)]
pub struct FakeBooking {
    pub user: UserId,
    pub seats: Vec<SeatId>,
    pub token: String,
    pub expires_at: Instant,
    pub status: BookingStatus,
}

#[derive(Default)]
struct Ledger {
    version: i64,
    seats: HashMap<SeatId, SeatStatus>,
    bookings: HashMap<BookingId, FakeBooking>,
    next_booking: i64,
}

impl Ledger {
    fn commit(&mut self, event: EventId, changes: Vec<SeatChange>) -> SeatDelta {
        for change in &changes {
            self.seats.insert(change.seat_id, change.status);
        }
        self.version += 1;
        SeatDelta {
            event_id: event,
            version: self.version,
            changes,
        }
    }

    /// One version moving `seats` to `status`, or none when there are no
    /// seats (a transaction that changes nothing commits no version).
    fn commit_any(
        &mut self,
        event: EventId,
        seats: &[SeatId],
        status: SeatStatus,
    ) -> Vec<SeatDelta> {
        if seats.is_empty() {
            return Vec::new();
        }
        vec![self.commit(event, changes(seats, status))]
    }
}

fn changes(seats: &[SeatId], status: SeatStatus) -> Vec<SeatChange> {
    seats
        .iter()
        .map(|&seat_id| SeatChange { seat_id, status })
        .collect()
}

/// A ledger in a mutex; every call is one "transaction". Counts transactions,
/// loads, and how many write transactions ran at once.
pub struct FakeLedger {
    inner: Mutex<Ledger>,
    pub transactions: AtomicUsize,
    pub loads: AtomicUsize,
    /// How long a hold, release, expiry or confirmation takes.
    pub delay: Duration,
    /// How long a load takes.
    pub load_delay: Mutex<Duration>,
    /// Loads fail (PostgreSQL unreachable) while set.
    pub loads_fail: AtomicBool,
    writes_running: AtomicUsize,
    pub most_writes_at_once: AtomicUsize,
    /// The venue's rows (the layout never changes).
    rows: Vec<SeatRow>,
}

impl FakeLedger {
    /// Seats 1..=n in one row.
    pub fn with_seats(n: i64, delay: Duration) -> FakeLedger {
        FakeLedger::with_rows(1, n, delay)
    }

    /// `rows` rows of `per_row` seats (ids from 1, row by row) in one
    /// section named "A".
    pub fn with_rows(rows: i64, per_row: i64, delay: Duration) -> FakeLedger {
        let n = rows * per_row;
        let seats = (1..=n)
            .map(|i| (SeatId(i), SeatStatus::Available))
            .collect();
        let rows = (0..rows)
            .map(|r| SeatRow {
                section: "A".into(),
                row: format!("{}", r + 1),
                zone: Some(if r == 0 { "Front" } else { "Back" }.into()),
                seats: (1..=per_row).map(|n| SeatId(r * per_row + n)).collect(),
                stage_distance: None,
            })
            .collect();
        FakeLedger {
            rows,
            inner: Mutex::new(Ledger {
                seats,
                ..Ledger::default()
            }),
            transactions: AtomicUsize::new(0),
            loads: AtomicUsize::new(0),
            delay,
            load_delay: Mutex::new(Duration::ZERO),
            loads_fail: AtomicBool::new(false),
            writes_running: AtomicUsize::new(0),
            most_writes_at_once: AtomicUsize::new(0),
        }
    }

    pub fn status(&self, seat: SeatId) -> SeatStatus {
        self.inner.lock().unwrap().seats[&seat]
    }

    pub fn version(&self) -> i64 {
        self.inner.lock().unwrap().version
    }

    pub fn booking(&self, booking: BookingId) -> FakeBooking {
        self.inner.lock().unwrap().bookings[&booking].clone()
    }

    pub fn bookings_with(&self, status: BookingStatus) -> usize {
        let l = self.inner.lock().unwrap();
        l.bookings.values().filter(|b| b.status == status).count()
    }

    /// Another node (or an operator in psql) commits this change; nobody
    /// publishes it. Returns the delta that would have been published.
    pub fn commit_elsewhere(&self, event: EventId, seat: SeatId, status: SeatStatus) -> SeatDelta {
        let mut l = self.inner.lock().unwrap();
        if status == SeatStatus::Available {
            for booking in l.bookings.values_mut() {
                if booking.status == BookingStatus::Pending && booking.seats.contains(&seat) {
                    booking.status = BookingStatus::Released;
                }
            }
        }
        l.commit(event, changes(&[seat], status))
    }

    /// Makes a pending hold past its time, as if it had been taken long ago.
    pub fn run_out(&self, booking: BookingId) {
        let mut l = self.inner.lock().unwrap();
        if let Some(b) = l.bookings.get_mut(&booking) {
            b.expires_at = Instant::now() - Duration::from_secs(1);
        }
    }

    /// One write transaction: counts it and how many ran at once.
    async fn write<T>(&self, work: impl FnOnce(&mut Ledger) -> T) -> T {
        let now = self.writes_running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_writes_at_once.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.transactions.fetch_add(1, Ordering::SeqCst);
        let result = work(&mut self.inner.lock().unwrap());
        self.writes_running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[async_trait]
impl SeatLedger for FakeLedger {
    async fn load(&self, _event: EventId) -> Result<SeatMap, StorageError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let delay = *self.load_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if self.loads_fail.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("down".into()));
        }
        let l = self.inner.lock().unwrap();
        Ok(SeatMap {
            version: l.version,
            seats: l.seats.iter().map(|(s, st)| (*s, *st)).collect(),
            rows: self.rows.clone(),
        })
    }

    async fn committed_version(&self, _event: EventId) -> Result<i64, StorageError> {
        Ok(self.version())
    }

    async fn hold(
        &self,
        event: EventId,
        plans: &[HoldPlan],
        hold_for: Duration,
    ) -> Result<Committed<Vec<HoldOutcome>>, StorageError> {
        self.write(|l| {
            let mut outcomes = Vec::new();
            let mut held = Vec::new();
            for plan in plans {
                let taken: Vec<SeatId> = plan
                    .seats
                    .iter()
                    .copied()
                    .filter(|s| l.seats[s] != SeatStatus::Available)
                    .collect();
                if !taken.is_empty() {
                    outcomes.push(HoldOutcome::Taken { seats: taken });
                    continue;
                }
                l.next_booking += 1;
                let booking = BookingId(l.next_booking);
                for seat in &plan.seats {
                    l.seats.insert(*seat, SeatStatus::Reserved);
                }
                held.extend_from_slice(&plan.seats);
                l.bookings.insert(
                    booking,
                    FakeBooking {
                        user: plan.user_id,
                        seats: plan.seats.clone(),
                        token: plan.lock_token.clone(),
                        expires_at: Instant::now() + hold_for,
                        status: BookingStatus::Pending,
                    },
                );
                outcomes.push(HoldOutcome::Held {
                    booking_id: booking,
                    expires_at: Utc::now(),
                    amount_cents: 0,
                });
            }
            let deltas = l.commit_any(event, &held, SeatStatus::Reserved);
            Ok(Committed {
                outcome: outcomes,
                deltas,
            })
        })
        .await
    }

    async fn release(
        &self,
        event: EventId,
        booking: BookingId,
        user: Option<UserId>,
    ) -> Result<Committed<ReleaseOutcome>, StorageError> {
        self.write(|l| {
            let nothing = |outcome| {
                Ok(Committed {
                    outcome,
                    deltas: Vec::new(),
                })
            };
            let Some(b) = l.bookings.get_mut(&booking) else {
                return nothing(ReleaseOutcome::NotFound);
            };
            if user.is_some_and(|u| u != b.user) {
                return nothing(ReleaseOutcome::NotFound);
            }
            match b.status {
                BookingStatus::Confirmed => return nothing(ReleaseOutcome::Confirmed),
                BookingStatus::Released | BookingStatus::Expired | BookingStatus::Refunded => {
                    return nothing(ReleaseOutcome::AlreadyEnded);
                }
                BookingStatus::Pending => {}
            }
            b.status = BookingStatus::Released;
            let (seats, token) = (b.seats.clone(), b.token.clone());
            let delta = l.commit(event, changes(&seats, SeatStatus::Available));
            Ok(Committed {
                outcome: ReleaseOutcome::Released(Freed {
                    booking_id: booking,
                    seats,
                    lock_token: token,
                }),
                deltas: vec![delta],
            })
        })
        .await
    }

    async fn expire(
        &self,
        event: EventId,
        bookings: &[BookingId],
    ) -> Result<Committed<Vec<Freed>>, StorageError> {
        self.write(|l| {
            let now = Instant::now();
            let mut freed = Vec::new();
            for id in bookings {
                if let Some(b) = l.bookings.get_mut(id)
                    && b.status == BookingStatus::Pending
                    && b.expires_at <= now
                {
                    b.status = BookingStatus::Expired;
                    freed.push(Freed {
                        booking_id: *id,
                        seats: b.seats.clone(),
                        lock_token: b.token.clone(),
                    });
                }
            }
            let seats: Vec<SeatId> = freed.iter().flat_map(|f| f.seats.clone()).collect();
            let deltas = l.commit_any(event, &seats, SeatStatus::Available);
            Ok(Committed {
                outcome: freed,
                deltas,
            })
        })
        .await
    }

    async fn confirm(
        &self,
        event: EventId,
        booking: BookingId,
        payment: i64,
    ) -> Result<Committed<ConfirmOutcome>, StorageError> {
        self.write(|l| {
            let Some(b) = l.bookings.get_mut(&booking) else {
                return Ok(Committed {
                    outcome: ConfirmOutcome::NotFound,
                    deltas: Vec::new(),
                });
            };
            let number = format!("C{}-{payment}", booking.0);
            match b.status {
                BookingStatus::Confirmed => {
                    return Ok(Committed {
                        outcome: ConfirmOutcome::Confirmed {
                            confirmation_number: number,
                        },
                        deltas: Vec::new(),
                    });
                }
                BookingStatus::Released | BookingStatus::Expired | BookingStatus::Refunded => {
                    return Ok(Committed {
                        outcome: ConfirmOutcome::SeatsGone,
                        deltas: Vec::new(),
                    });
                }
                BookingStatus::Pending => {}
            }
            b.status = BookingStatus::Confirmed;
            let seats = b.seats.clone();
            let delta = l.commit(event, changes(&seats, SeatStatus::Confirmed));
            Ok(Committed {
                outcome: ConfirmOutcome::Confirmed {
                    confirmation_number: number,
                },
                deltas: vec![delta],
            })
        })
        .await
    }

    async fn cancel(
        &self,
        event: EventId,
        cancellation: &Cancellation,
    ) -> Result<Committed<CancelOutcome>, StorageError> {
        self.write(|l| {
            let nothing = |outcome| {
                Ok(Committed {
                    outcome,
                    deltas: Vec::new(),
                })
            };
            let Some(b) = l.bookings.get_mut(&cancellation.booking_id) else {
                return nothing(CancelOutcome::NotFound);
            };
            match b.status {
                BookingStatus::Confirmed => {}
                BookingStatus::Refunded => {
                    return nothing(CancelOutcome::AlreadyCancelled {
                        idempotency_key: cancellation.idempotency_key.clone(),
                        payment_id: 0,
                    });
                }
                other => return nothing(CancelOutcome::NotConfirmed(other)),
            }
            b.status = BookingStatus::Refunded;
            let (seats, token) = (b.seats.clone(), b.token.clone());
            let delta = l.commit(event, changes(&seats, SeatStatus::Available));
            Ok(Committed {
                outcome: CancelOutcome::Cancelled {
                    freed: Freed {
                        booking_id: cancellation.booking_id,
                        seats,
                        lock_token: token,
                    },
                    payment_id: 0,
                    charge_id: String::new(),
                    amount_cents: 0,
                },
                deltas: vec![delta],
            })
        })
        .await
    }
}

/// Seat locks in a map; `down` makes every call fail like an unreachable Redis.
#[derive(Default)]
pub struct FakeLock {
    locks: Mutex<HashMap<SeatId, String>>,
    pub down: AtomicBool,
}

impl FakeLock {
    /// The token the seat's lock holds, if any.
    pub fn holder(&self, seat: SeatId) -> Option<String> {
        self.locks.lock().unwrap().get(&seat).cloned()
    }

    /// Leaves a lock behind as a crashed node would.
    pub fn plant(&self, seat: SeatId, token: &str) {
        self.locks.lock().unwrap().insert(seat, token.to_owned());
    }
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
        if self.down.load(Ordering::SeqCst) {
            return Err(LockUnavailable("down".into()));
        }
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

    async fn overwrite(
        &self,
        _event: EventId,
        claims: &[(&str, &[SeatId])],
        _ttl: Duration,
    ) -> Result<(), LockUnavailable> {
        if self.down.load(Ordering::SeqCst) {
            return Err(LockUnavailable("down".into()));
        }
        let mut locks = self.locks.lock().unwrap();
        for (token, seats) in claims {
            for s in *seats {
                locks.insert(*s, token.to_string());
            }
        }
        Ok(())
    }
}

/// The delta bus. `latest_version` is the highest version published, or
/// `None` while `down`; it answers after `read_delay`.
#[derive(Default)]
pub struct FakeBus {
    pub published: Mutex<Vec<SeatDelta>>,
    pub down: AtomicBool,
    pub read_delay: Mutex<Duration>,
}

#[async_trait]
impl DeltaBus for FakeBus {
    async fn publish(&self, delta: &SeatDelta) {
        if self.down.load(Ordering::SeqCst) {
            return;
        }
        self.published.lock().unwrap().push(delta.clone());
    }

    async fn latest_version(&self, _event: EventId) -> Option<i64> {
        let delay = *self.read_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if self.down.load(Ordering::SeqCst) {
            return None;
        }
        self.published
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.version)
            .max()
    }
}
