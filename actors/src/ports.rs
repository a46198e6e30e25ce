//! The storage traits ("ports") the actors call. The server crate implements
//! them with PostgreSQL (the ledger: the truth), Redis (the seat locks: a fast
//! first "no") and Redis pub/sub (the delta bus between nodes).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{BookingId, BookingStatus, EventId, SeatId, SeatStatus, UserId};

/// One seat's new status in a committed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatChange {
    pub seat_id: SeatId,
    pub status: SeatStatus,
}

/// Everything one committed transaction changed on an event's seats. Versions
/// grow by exactly one per commit, so a receiver can tell a gap from a repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeatDelta {
    pub event_id: EventId,
    pub version: i64,
    pub changes: Vec<SeatChange>,
}

/// The committed seat state of an event.
#[derive(Debug, Clone, Default)]
pub struct SeatMap {
    pub version: i64,
    pub seats: Vec<(SeatId, SeatStatus)>,
    /// The venue's rows in layout order, for best-available picking (empty
    /// when the ledger does not know the layout: nothing can be picked).
    pub rows: Vec<SeatRow>,
}

/// One row of a venue as its layout lists it: seats side by side in order
/// (neighbours in the list are neighbours in the hall), with the event's
/// price zone of its section.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatRow {
    pub section: String,
    pub row: String,
    pub zone: Option<String>,
    pub seats: Vec<SeatId>,
    /// How far the row is from the stage, when the venue has one.
    pub stage_distance: Option<f32>,
}

/// A request to hold seats, as the batch hands it to the ledger.
#[derive(Debug, Clone)]
pub struct HoldPlan {
    pub user_id: UserId,
    pub seats: Vec<SeatId>,
    /// The value of the request's Redis seat locks.
    pub lock_token: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HoldOutcome {
    Held {
        booking_id: BookingId,
        expires_at: DateTime<Utc>,
        amount_cents: i64,
    },
    /// Some seats were not AVAILABLE in PostgreSQL; nothing was held.
    Taken { seats: Vec<SeatId> },
    /// The buyer already holds (PENDING) so many of this event's seats that
    /// this plan would take them beyond `limit`; nothing was held.
    LimitReached { limit: usize },
    /// PostgreSQL could not decide this plan (it failed after other plans of
    /// the batch had committed): nothing was held for it, the caller may retry.
    Unavailable { reason: String },
}

/// What a release or expiry freed: the seats and the lock token to clear.
#[derive(Debug, Clone, PartialEq)]
pub struct Freed {
    pub booking_id: BookingId,
    pub seats: Vec<SeatId>,
    pub lock_token: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseOutcome {
    Released(Freed),
    /// Already released or expired: nothing to do (releasing is idempotent).
    AlreadyEnded,
    Confirmed,
    PaymentInFlight,
    NotFound,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmOutcome {
    /// The booking is confirmed by this payment (now, or it already was).
    Confirmed {
        confirmation_number: String,
    },
    /// The booking was already paid for by another payment: this one must
    /// be refunded.
    PaidByAnother,
    /// The hold ended and its seats went to someone else: nothing confirmed.
    SeatsGone,
    NotFound,
    /// The buyer released the booking: a charge landing later is refunded.
    Released,
    /// The payment attempt is no longer processing (its refund was decided):
    /// it can never pay for the booking.
    AttemptClosed,
}

/// Cancel a paid booking and put its seats back on sale, so that its charge
/// can be given back. The ledger takes the paying attempt's lease for the
/// caller in the same transaction (the attempt turns REFUNDING), so the
/// caller, and only it, refunds next.
#[derive(Debug, Clone)]
pub struct Cancellation {
    pub booking_id: BookingId,
    /// The canceller's `Idempotency-Key`, recorded with the booking.
    pub idempotency_key: String,
    /// The operator (or buyer) who cancels.
    pub requested_by: UserId,
    /// The lease token the caller holds the paying attempt under.
    pub lease_token: String,
    /// How long that lease lasts.
    pub lease: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// Cancelled by this call: seats freed, tickets void; the paying attempt
    /// is REFUNDING under the caller's lease, its charge to be refunded.
    Cancelled {
        freed: Freed,
        payment_id: i64,
        charge_id: String,
        amount_cents: i64,
    },
    /// Cancelled before, under `idempotency_key`; its charge was (or is
    /// being) given back through attempt `payment_id`.
    AlreadyCancelled {
        idempotency_key: String,
        payment_id: i64,
    },
    /// Not a paid booking (a hold, released or expired): nothing to refund.
    NotConfirmed(BookingStatus),
    /// One of its tickets has been admitted at the door (first at
    /// `first_scan_at`): refunding would put an admitted seat back on sale,
    /// and a resold ticket for it would admit the seat a second time.
    CheckedIn {
        first_scan_at: chrono::DateTime<chrono::Utc>,
    },
    /// Confirmed without a settled charge to give back.
    NotPaid,
    NotFound,
}

/// The result of a ledger call and the deltas it committed: none when it
/// changed nothing, usually one, several when a batch had to be retried
/// request by request.
#[derive(Debug, Clone)]
pub struct Committed<T> {
    pub outcome: T,
    pub deltas: Vec<SeatDelta>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// Unreachable, timed out or overloaded: the caller may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A guard fired that the plan did not expect (a constraint violation):
    /// the request is refused, the transaction rolled back.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("storage error: {0}")]
    Other(String),
}

/// PostgreSQL: the only place that can say "yes".
#[async_trait]
pub trait SeatLedger: Send + Sync + 'static {
    async fn load(&self, event: EventId) -> Result<SeatMap, StorageError>;

    /// The event's latest committed version (`events.seat_version`): one
    /// primary-key read that never waits for the event-row lock.
    async fn committed_version(&self, event: EventId) -> Result<i64, StorageError>;

    /// Holds each plan's seats all-or-nothing, in one transaction for the whole
    /// batch. Plans in one call never share a seat. A plan whose seats are taken
    /// gets `Taken` without failing the others.
    async fn hold(
        &self,
        event: EventId,
        plans: &[HoldPlan],
        hold_for: Duration,
    ) -> Result<Committed<Vec<HoldOutcome>>, StorageError>;

    /// Releases a pending booking of `user` (or any user's for `None`).
    async fn release(
        &self,
        event: EventId,
        booking: BookingId,
        user: Option<UserId>,
    ) -> Result<Committed<ReleaseOutcome>, StorageError>;

    /// Expires the given bookings where they are still pending, past their
    /// hold and without a payment in flight; others are left alone.
    async fn expire(
        &self,
        event: EventId,
        bookings: &[BookingId],
    ) -> Result<Committed<Vec<Freed>>, StorageError>;

    /// Confirms a booking paid by payment attempt `payment` (re-taking its
    /// seats if its hold had lapsed and they are still free).
    async fn confirm(
        &self,
        event: EventId,
        booking: BookingId,
        payment: i64,
    ) -> Result<Committed<ConfirmOutcome>, StorageError>;

    /// Cancels a confirmed booking (see [`Cancellation`]): one transaction
    /// frees its seats, voids its tickets and turns its paying attempt
    /// REFUNDING under the caller's lease.
    async fn cancel(
        &self,
        event: EventId,
        cancellation: &Cancellation,
    ) -> Result<Committed<CancelOutcome>, StorageError>;
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("seat lock unavailable: {0}")]
pub struct LockUnavailable(pub String);

/// Redis `SET NX EX`: keeps losers away from PostgreSQL. Never the guarantee.
#[async_trait]
pub trait SeatLock: Send + Sync + 'static {
    /// For each claim (lock token, seats), takes all its seat locks or none;
    /// one round trip for the whole batch. `true` where the claim got them.
    async fn acquire(
        &self,
        event: EventId,
        claims: &[(&str, &[SeatId])],
        ttl: Duration,
    ) -> Result<Vec<bool>, LockUnavailable>;

    /// Deletes the locks that still hold each claim's token.
    async fn release(
        &self,
        event: EventId,
        claims: &[(&str, &[SeatId])],
    ) -> Result<(), LockUnavailable>;

    /// Sets each claim's seat locks to its token whatever they held: only
    /// after PostgreSQL committed the hold, so whatever was there was stale.
    async fn overwrite(
        &self,
        event: EventId,
        claims: &[(&str, &[SeatId])],
        ttl: Duration,
    ) -> Result<(), LockUnavailable>;
}

/// Carries committed deltas to this node's subscribers and to other nodes.
#[async_trait]
pub trait DeltaBus: Send + Sync + 'static {
    /// Publishes `delta` and records its version as the event's latest;
    /// returns once the delta has left this node (or failed to).
    async fn publish(&self, delta: &SeatDelta);

    /// The latest version any node has published for `event`, if known.
    async fn latest_version(&self, event: EventId) -> Option<i64>;

    /// Makes sure this node hears other nodes' deltas of `event` from now on
    /// (a bus that hears every event, as one Redis's pattern subscription
    /// does, has nothing to do); returns once it does, or failed to (then
    /// the version checks heal what is missed). Called before a seat map is
    /// read, so no delta committed after the read passes unheard.
    async fn follow(&self, _event: EventId) {}
}
