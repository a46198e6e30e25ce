//! The seat ledger on PostgreSQL: the only place that says "yes".
//!
//! Every transaction that changes an event's seats starts by bumping the
//! event's `seat_version` (`UPDATE events ... RETURNING`), which also locks the
//! event row: all seat transactions of one event, from every node, run one
//! after the other, and each commits exactly one new version. A transaction
//! that ends up changing nothing rolls back, so versions have no holes.
//!
//! Below that, the conditional `UPDATE seats ... WHERE status = 'AVAILABLE'` and
//! the partial UNIQUE index `booking_seats_active_seat_key` are the guards: if
//! either fires unexpectedly the transaction rolls back and nothing is sold.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actors::model::{BookingId, BookingStatus, EventId, SeatId, SeatStatus, UserId};
use actors::ports::{
    CancelOutcome, Cancellation, Committed, ConfirmOutcome, Freed, HoldOutcome, HoldPlan,
    ReleaseOutcome, SeatChange, SeatDelta, SeatLedger, SeatMap, SeatRow, StorageError,
};
use actors::sweeper::ExpiredHolds;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};

/// Makes the code printed on the ticket for one seat of a paid booking. The
/// ledger writes the codes in the transaction that confirms the booking, so a
/// confirmed booking always has its tickets; what a code looks like is the
/// tickets module's business (`tickets.rs` implements this for `Signer`).
pub trait TicketCodes: Send + Sync {
    fn code(&self, booking: BookingId, event: EventId, seat: SeatId) -> String;
}

pub struct PgLedger {
    pool: PgPool,
    /// Signs the ticket codes written when a booking is confirmed.
    codes: Arc<dyn TicketCodes>,
    /// How long a started payment protects its hold from the sweeper.
    payment_window: Duration,
    /// Most seats one buyer may hold (PENDING) at once per event.
    max_active_seats_per_buyer: usize,
}

impl PgLedger {
    pub fn new(
        pool: PgPool,
        codes: impl TicketCodes + 'static,
        payment_window: Duration,
    ) -> PgLedger {
        PgLedger {
            pool,
            codes: Arc::new(codes),
            payment_window,
            max_active_seats_per_buyer: usize::MAX,
        }
    }

    /// Caps the seats one buyer may hold at once per event (item: a queue
    /// token admits one buyer, not an unlimited stream of holds).
    pub fn with_hold_cap(mut self, max_active_seats_per_buyer: usize) -> PgLedger {
        self.max_active_seats_per_buyer = max_active_seats_per_buyer;
        self
    }
}

pub fn storage_error(error: sqlx::Error) -> StorageError {
    match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StorageError::Unavailable(error.to_string())
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // unique_violation, check_violation, serialization_failure, deadlock_detected
            Some("23505" | "23514" | "40001" | "40P01") => {
                StorageError::Conflict(error.to_string())
            }
            _ => StorageError::Other(error.to_string()),
        },
        _ => StorageError::Other(error.to_string()),
    }
}

/// Locks the event row and takes the next version (with the seat price).
async fn next_version(
    tx: &mut Transaction<'_, Postgres>,
    event: EventId,
) -> Result<(i64, i64), StorageError> {
    sqlx::query_as(
        "UPDATE events SET seat_version = seat_version + 1 WHERE event_id = $1 RETURNING seat_version, price_cents",
    )
    .bind(event)
    .fetch_optional(&mut **tx)
    .await
    .map_err(storage_error)?
    .ok_or_else(|| StorageError::Other(format!("event {event} does not exist")))
}

fn delta(event_id: EventId, version: i64, seats: &[SeatId], status: SeatStatus) -> SeatDelta {
    SeatDelta {
        event_id,
        version,
        changes: seats
            .iter()
            .map(|&seat_id| SeatChange { seat_id, status })
            .collect(),
    }
}

/// The venue's rows from seats in layout order: consecutive seats of one
/// section and row are one row, side by side in that order; with a stage,
/// each row's distance from it (measured at the row's middle seat).
fn rows_of(seats: Vec<crate::store::seats::SeatView>, stage: Option<(f64, f64)>) -> Vec<SeatRow> {
    let mut rows: Vec<SeatRow> = Vec::new();
    let mut places: Vec<Vec<(f32, f32)>> = Vec::new();
    for seat in seats {
        match rows.last_mut() {
            Some(row) if row.section == seat.section && row.row == seat.row => {
                row.seats.push(seat.seat_id);
            }
            _ => {
                rows.push(SeatRow {
                    section: seat.section,
                    row: seat.row,
                    zone: seat.zone,
                    seats: vec![seat.seat_id],
                    stage_distance: None,
                });
                places.push(Vec::new());
            }
        }
        if let Some(at) = places.last_mut() {
            at.push((seat.x, seat.y));
        }
    }
    if let Some((sx, sy)) = stage {
        for (row, at) in rows.iter_mut().zip(&places) {
            row.stage_distance = at
                .get(at.len() / 2)
                .map(|&(x, y)| (f64::from(x) - sx).hypot(f64::from(y) - sy) as f32);
        }
    }
    rows
}

fn ids<T: Copy>(items: &[T], f: impl Fn(T) -> i64) -> Vec<i64> {
    items.iter().map(|&i| f(i)).collect()
}

/// The batch's check, under the event-row lock: the event's new version and
/// price, the requested seats still available (with their prices), booking
/// ids for the batch, and the seats each buyer of the batch already holds.
///
/// `held` is read under the event-row lock taken with `BEGIN` (this
/// statement's snapshot is newer than that lock), so no other hold of this
/// event commits between this count and ours, on any node. It is driven by
/// the batch's buyers, one lookup each by (event, buyer) in
/// `bookings_pending_buyer_idx`, and each of their holds' seats counted by
/// primary key: subqueries, never a join or a filter the planner could turn
/// into a scan of the event's holds or of every booking seat. Given a list
/// of buyers (`user_id = ANY(..)`) instead, the planner took the index for
/// the event alone and filtered out every other pending hold whenever its
/// statistics were behind (an on-sale's tables grow faster than autovacuum
/// analyses them). Public so a test can hold its plan to that.
///
/// Seats are looked up by the requested ids (primary-key lookups), whatever
/// the statistics say; each available seat comes with its price (its zone's,
/// else the event's).
///
/// `$1` event, `$2` requested seat ids, `$3` how many booking ids, `$4` buyers.
pub const HOLD_CHECK: &str = "WITH held AS (
        SELECT u.user_id,
               (SELECT coalesce(sum((SELECT count(*) FROM booking_seats bs
                                     WHERE bs.booking_id = b.booking_id AND bs.active)), 0)::int8
                FROM bookings b
                WHERE b.event_id = $1 AND b.user_id = u.user_id AND b.status = 'PENDING') AS seats
        FROM (SELECT DISTINCT unnest($4::int8[])) AS u(user_id)
    ), free AS (
        SELECT s.seat_id, coalesce(z.price_cents, ev.price_cents) AS price
        FROM UNNEST($2::int8[]) AS w(seat_id)
        JOIN seats s ON s.event_id = $1 AND s.seat_id = w.seat_id
        JOIN events ev ON ev.event_id = $1
        LEFT JOIN event_zones z ON z.zone_id = s.zone_id
        WHERE s.status = 'AVAILABLE'
    )
    SELECT e.seat_version, e.price_cents,
           ARRAY(SELECT seat_id FROM free ORDER BY seat_id),
           ARRAY(SELECT price FROM free ORDER BY seat_id),
           ARRAY(SELECT nextval(pg_get_serial_sequence('bookings', 'booking_id'))
                 FROM generate_series(1, $3)),
           ARRAY(SELECT user_id FROM held ORDER BY user_id),
           ARRAY(SELECT seats FROM held ORDER BY user_id)
    FROM (SELECT 1) AS one LEFT JOIN events e ON e.event_id = $1";

impl PgLedger {
    /// The batch in one transaction. `Err(Conflict)` when a guard fired that
    /// the pre-check did not foresee; the caller then retries plan by plan.
    async fn hold_together(
        &self,
        event: EventId,
        plans: &[HoldPlan],
        hold_for: Duration,
    ) -> Result<Committed<Vec<HoldOutcome>>, StorageError> {
        // BEGIN and the version bump (which locks the event row) in one round
        // trip: a simple-query string, so the id is formatted in (an integer,
        // nothing to inject). The next statement reads the new version back.
        let mut tx = self
            .pool
            .begin_with(AssertSqlSafe(format!(
                "BEGIN; UPDATE events SET seat_version = seat_version + 1 WHERE event_id = {}",
                event.0
            )))
            .await
            .map_err(storage_error)?;
        let wanted: Vec<i64> = plans
            .iter()
            .flat_map(|p| p.seats.iter().map(|s| s.0))
            .collect();
        let buyers: Vec<i64> = plans.iter().map(|p| p.user_id.0).collect();
        #[allow(clippy::type_complexity)]
        let (version, price_cents, available, prices, booking_ids, holders, held): (
            Option<i64>,
            Option<i64>,
            Vec<i64>,
            Vec<i64>,
            Vec<i64>,
            Vec<i64>,
            Vec<i64>,
        ) = sqlx::query_as(HOLD_CHECK)
            .bind(event)
            .bind(&wanted)
            .bind(plans.len() as i32)
            .bind(&buyers)
            .fetch_one(&mut *tx)
            .await
            .map_err(storage_error)?;
        let (Some(version), Some(price_cents)) = (version, price_cents) else {
            tx.rollback().await.map_err(storage_error)?;
            return Err(StorageError::Other(format!("event {event} does not exist")));
        };
        let available: HashMap<i64, i64> = available.into_iter().zip(prices).collect();
        let mut holding: HashMap<i64, usize> = holders
            .into_iter()
            .zip(held.into_iter().map(|seats| seats as usize))
            .collect();

        let mut outcomes = Vec::with_capacity(plans.len());
        let (mut b_ids, mut b_users, mut b_amounts, mut b_tokens) =
            (vec![], vec![], vec![], vec![]);
        let (mut s_ids, mut s_bookings) = (vec![], vec![]);
        let mut held_seats = Vec::new();
        for (plan, &booking_id) in plans.iter().zip(&booking_ids) {
            let missing: Vec<SeatId> = plan
                .seats
                .iter()
                .copied()
                .filter(|s| !available.contains_key(&s.0))
                .collect();
            if !missing.is_empty() {
                outcomes.push(HoldOutcome::Taken { seats: missing });
                continue;
            }
            // Plans of one buyer in the same batch count together.
            let held = holding.entry(plan.user_id.0).or_default();
            if *held + plan.seats.len() > self.max_active_seats_per_buyer {
                outcomes.push(HoldOutcome::LimitReached {
                    limit: self.max_active_seats_per_buyer,
                });
                continue;
            }
            *held += plan.seats.len();
            let amount_cents: i64 = plan
                .seats
                .iter()
                .map(|s| available.get(&s.0).copied().unwrap_or(price_cents))
                .sum();
            b_ids.push(booking_id);
            b_users.push(plan.user_id.0);
            b_amounts.push(amount_cents);
            b_tokens.push(plan.lock_token.as_str());
            for seat in &plan.seats {
                s_ids.push(seat.0);
                s_bookings.push(booking_id);
            }
            held_seats.extend_from_slice(&plan.seats);
            // expires_at is filled in below, once the database has set it.
            outcomes.push(HoldOutcome::Held {
                booking_id: BookingId(booking_id),
                expires_at: Utc::now(),
                amount_cents,
            });
        }
        if b_ids.is_empty() {
            tx.rollback().await.map_err(storage_error)?;
            return Ok(Committed {
                outcome: outcomes,
                deltas: Vec::new(),
            });
        }
        let (taken, expires_at): (i64, DateTime<Utc>) = sqlx::query_as(
            "WITH b AS (
                 INSERT INTO bookings (booking_id, event_id, user_id, amount_cents, expires_at, lock_token)
                 SELECT id, $1, uid, amount, now() + make_interval(secs => $6), token
                 FROM UNNEST($2::int8[], $3::int8[], $4::int8[], $5::text[]) AS t(id, uid, amount, token)
                 RETURNING booking_id, expires_at
             ), s AS (
                 UPDATE seats SET status = 'RESERVED', booking_id = u.bid, reserved_at = now()
                 FROM UNNEST($7::int8[], $8::int8[]) AS u(sid, bid)
                 WHERE seats.event_id = $1 AND seats.seat_id = u.sid AND seats.status = 'AVAILABLE'
                 RETURNING seats.seat_id
             ), bs AS (
                 INSERT INTO booking_seats (booking_id, event_id, seat_id)
                 SELECT u.bid, $1, u.sid FROM UNNEST($7::int8[], $8::int8[]) AS u(sid, bid)
                 JOIN b ON b.booking_id = u.bid
             )
             SELECT (SELECT count(*) FROM s), (SELECT max(expires_at) FROM b)",
        )
        .bind(event)
        .bind(&b_ids)
        .bind(&b_users)
        .bind(&b_amounts)
        .bind(&b_tokens)
        .bind(hold_for.as_secs_f64())
        .bind(&s_ids)
        .bind(&s_bookings)
        .fetch_one(&mut *tx)
        .await
        .map_err(storage_error)?;
        if taken as usize != s_ids.len() {
            tx.rollback().await.map_err(storage_error)?;
            return Err(StorageError::Conflict(
                "a seat changed under the batch".into(),
            ));
        }
        tx.commit().await.map_err(storage_error)?;
        for outcome in &mut outcomes {
            if let HoldOutcome::Held { expires_at: at, .. } = outcome {
                *at = expires_at;
            }
        }
        Ok(Committed {
            outcome: outcomes,
            deltas: vec![delta(event, version, &held_seats, SeatStatus::Reserved)],
        })
    }

    /// The retry after a batch conflict: one transaction per plan. Never
    /// fails as a whole: a plan that committed keeps its `Held` (and its
    /// delta) whatever happens to the plans after it; a plan PostgreSQL could
    /// not decide is `Unavailable`, and so is every plan after it (the
    /// database is failing: stop asking it).
    async fn hold_one_by_one(
        &self,
        event: EventId,
        plans: &[HoldPlan],
        hold_for: Duration,
    ) -> Committed<Vec<HoldOutcome>> {
        let mut outcomes = Vec::with_capacity(plans.len());
        let mut deltas = Vec::new();
        let mut failed: Option<String> = None;
        for plan in plans {
            if let Some(reason) = &failed {
                outcomes.push(HoldOutcome::Unavailable {
                    reason: reason.clone(),
                });
                continue;
            }
            match self
                .hold_together(event, std::slice::from_ref(plan), hold_for)
                .await
            {
                Ok(mut one) => {
                    outcomes.append(&mut one.outcome);
                    deltas.append(&mut one.deltas);
                }
                Err(StorageError::Conflict(_)) => outcomes.push(HoldOutcome::Taken {
                    seats: plan.seats.clone(),
                }),
                Err(other) => {
                    tracing::error!(error = %other, "hold retry failed; later plans left undecided");
                    let reason = other.to_string();
                    outcomes.push(HoldOutcome::Unavailable {
                        reason: reason.clone(),
                    });
                    failed = Some(reason);
                }
            }
        }
        Committed {
            outcome: outcomes,
            deltas,
        }
    }

    /// Frees the seats of `bookings` (already marked ended) in `tx`.
    async fn free_seats(
        tx: &mut Transaction<'_, Postgres>,
        event: EventId,
        bookings: &[i64],
    ) -> Result<Vec<(i64, i64)>, StorageError> {
        let freed: Vec<(i64, i64)> = sqlx::query_as(
            "UPDATE booking_seats SET active = false
             WHERE booking_id = ANY($1) AND active RETURNING seat_id, booking_id",
        )
        .bind(bookings)
        .fetch_all(&mut **tx)
        .await
        .map_err(storage_error)?;
        // By primary key: the seats the booking rows just gave up. Matching
        // on `booking_id` alone (no index) read every seat of the event, for
        // each release and expiry: 100,000 rows on a 100,000-seat event.
        let seats: Vec<i64> = freed.iter().map(|&(seat, _)| seat).collect();
        sqlx::query(
            "UPDATE seats SET status = 'AVAILABLE', booking_id = NULL, reserved_at = NULL
             WHERE event_id = $1 AND seat_id = ANY($3) AND booking_id = ANY($2)",
        )
        .bind(event)
        .bind(bookings)
        .bind(&seats)
        .execute(&mut **tx)
        .await
        .map_err(storage_error)?;
        Ok(freed)
    }
}

#[async_trait]
impl SeatLedger for PgLedger {
    #[tracing::instrument(skip(self), fields(event.id = %event))]
    async fn load(&self, event: EventId) -> Result<SeatMap, StorageError> {
        let snapshot = crate::store::seats::snapshot(&self.pool, event)
            .await
            .map_err(storage_error)?;
        let snapshot =
            snapshot.ok_or_else(|| StorageError::Other(format!("event {event} does not exist")))?;
        let seats = snapshot
            .seats
            .iter()
            .map(|s| (s.seat_id, s.status))
            .collect();
        Ok(SeatMap {
            version: snapshot.version,
            seats,
            rows: rows_of(snapshot.seats, snapshot.stage),
        })
    }

    #[tracing::instrument(skip(self), fields(event.id = %event))]
    async fn committed_version(&self, event: EventId) -> Result<i64, StorageError> {
        // A plain read: it never waits for the event-row lock.
        sqlx::query_scalar("SELECT seat_version FROM events WHERE event_id = $1")
            .bind(event)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error)?
            .ok_or_else(|| StorageError::Other(format!("event {event} does not exist")))
    }

    #[tracing::instrument(skip_all, fields(event.id = %event, batch.size = plans.len()))]
    async fn hold(
        &self,
        event: EventId,
        plans: &[HoldPlan],
        hold_for: Duration,
    ) -> Result<Committed<Vec<HoldOutcome>>, StorageError> {
        match self.hold_together(event, plans, hold_for).await {
            Err(StorageError::Conflict(reason)) => {
                // A guard fired: never fail the whole batch for one request.
                tracing::warn!(%reason, "batch conflict; retrying request by request");
                Ok(self.hold_one_by_one(event, plans, hold_for).await)
            }
            other => other,
        }
    }

    #[tracing::instrument(skip(self), fields(event.id = %event, booking.id = %booking))]
    async fn release(
        &self,
        event: EventId,
        booking: BookingId,
        user: Option<UserId>,
    ) -> Result<Committed<ReleaseOutcome>, StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let (version, _) = next_version(&mut tx, event).await?;
        // A payment in flight does not stop the buyer: once released, a
        // charge that lands is refunded (`confirm` answers `Released`).
        let row: Option<(BookingStatus, i64, String)> = sqlx::query_as(
            "SELECT status, user_id, lock_token
             FROM bookings WHERE booking_id = $1 AND event_id = $2 FOR UPDATE",
        )
        .bind(booking)
        .bind(event)
        .fetch_optional(&mut *tx)
        .await
        .map_err(storage_error)?;
        let outcome = match row {
            None => ReleaseOutcome::NotFound,
            Some((_, owner, _)) if user.is_some_and(|u| u.0 != owner) => ReleaseOutcome::NotFound,
            Some((BookingStatus::Confirmed, ..)) => ReleaseOutcome::Confirmed,
            Some((status, ..)) if status != BookingStatus::Pending => ReleaseOutcome::AlreadyEnded,
            Some((_, _, lock_token)) => {
                sqlx::query("UPDATE bookings SET status = 'RELEASED', updated_at = now() WHERE booking_id = $1")
                    .bind(booking)
                    .execute(&mut *tx)
                    .await
                    .map_err(storage_error)?;
                let freed = Self::free_seats(&mut tx, event, &[booking.0]).await?;
                tx.commit().await.map_err(storage_error)?;
                let seats: Vec<SeatId> = freed.iter().map(|(s, _)| SeatId(*s)).collect();
                let delta = delta(event, version, &seats, SeatStatus::Available);
                return Ok(Committed {
                    outcome: ReleaseOutcome::Released(Freed {
                        booking_id: booking,
                        seats,
                        lock_token,
                    }),
                    deltas: vec![delta],
                });
            }
        };
        tx.rollback().await.map_err(storage_error)?;
        Ok(Committed {
            outcome,
            deltas: Vec::new(),
        })
    }

    #[tracing::instrument(skip_all, fields(event.id = %event, bookings = bookings.len()))]
    async fn expire(
        &self,
        event: EventId,
        bookings: &[BookingId],
    ) -> Result<Committed<Vec<Freed>>, StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let (version, _) = next_version(&mut tx, event).await?;
        let expired: Vec<(i64, String)> = sqlx::query_as(
            "UPDATE bookings SET status = 'EXPIRED', updated_at = now()
             WHERE booking_id = ANY($1) AND event_id = $2 AND status = 'PENDING' AND expires_at <= now()
               AND (payment_started_at IS NULL OR payment_started_at <= now() - make_interval(secs => $3))
             RETURNING booking_id, lock_token",
        )
        .bind(ids(bookings, |b| b.0))
        .bind(event)
        .bind(self.payment_window.as_secs_f64())
        .fetch_all(&mut *tx)
        .await
        .map_err(storage_error)?;
        if expired.is_empty() {
            tx.rollback().await.map_err(storage_error)?;
            return Ok(Committed {
                outcome: Vec::new(),
                deltas: Vec::new(),
            });
        }
        let expired_ids: Vec<i64> = expired.iter().map(|(b, _)| *b).collect();
        let freed_seats = Self::free_seats(&mut tx, event, &expired_ids).await?;
        tx.commit().await.map_err(storage_error)?;
        let all_seats: Vec<SeatId> = freed_seats.iter().map(|(s, _)| SeatId(*s)).collect();
        let freed = expired
            .into_iter()
            .map(|(booking_id, lock_token)| Freed {
                booking_id: BookingId(booking_id),
                seats: freed_seats
                    .iter()
                    .filter(|(_, b)| *b == booking_id)
                    .map(|(s, _)| SeatId(*s))
                    .collect(),
                lock_token,
            })
            .collect();
        Ok(Committed {
            outcome: freed,
            deltas: vec![delta(event, version, &all_seats, SeatStatus::Available)],
        })
    }

    #[tracing::instrument(skip_all, fields(event.id = %event, booking.id = %cancellation.booking_id))]
    async fn cancel(
        &self,
        event: EventId,
        cancellation: &Cancellation,
    ) -> Result<Committed<CancelOutcome>, StorageError> {
        let booking = cancellation.booking_id;
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let (version, _) = next_version(&mut tx, event).await?;
        let row: Option<(BookingStatus, Option<i64>, Option<String>, String)> = sqlx::query_as(
            "SELECT status, paid_by_payment_id, refund_key, lock_token
             FROM bookings WHERE booking_id = $1 AND event_id = $2 FOR UPDATE",
        )
        .bind(booking)
        .bind(event)
        .fetch_optional(&mut *tx)
        .await
        .map_err(storage_error)?;
        let (payment_id, lock_token) = match row {
            Some((BookingStatus::Confirmed, Some(payment_id), _, lock_token)) => {
                (payment_id, lock_token)
            }
            refused => {
                let outcome = match refused {
                    None => CancelOutcome::NotFound,
                    Some((BookingStatus::Refunded, Some(payment_id), Some(key), _)) => {
                        CancelOutcome::AlreadyCancelled {
                            idempotency_key: key,
                            payment_id,
                        }
                    }
                    Some((BookingStatus::Confirmed | BookingStatus::Refunded, ..)) => {
                        CancelOutcome::NotPaid
                    }
                    Some((status, ..)) => CancelOutcome::NotConfirmed(status),
                };
                tx.rollback().await.map_err(storage_error)?;
                return Ok(Committed {
                    outcome,
                    deltas: Vec::new(),
                });
            }
        };
        // A seat is never admitted twice: once any ticket of the booking has
        // been checked in, it is not refunded (its seats would go back on sale
        // and be admitted again). Check-in reads the booking row FOR SHARE
        // (`bookings::check_in`), so it and this transaction, which holds the
        // row FOR UPDATE, are ordered: a check-in either committed before this
        // read, or waits and then finds the booking REFUNDED.
        let first_scan_at: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT min(checked_in_at) FROM tickets WHERE booking_id = $1")
                .bind(booking)
                .fetch_one(&mut *tx)
                .await
                .map_err(storage_error)?;
        if let Some(first_scan_at) = first_scan_at {
            tx.rollback().await.map_err(storage_error)?;
            return Ok(Committed {
                outcome: CancelOutcome::CheckedIn { first_scan_at },
                deltas: Vec::new(),
            });
        }
        // The paying attempt turns REFUNDING under the caller's lease, in the
        // transaction that cancels the booking: from here the charge can only
        // end refunded (by the caller, a retry, or the recovery worker). Its
        // recorded answer is cleared, so the attempt counts as unfinished
        // until the refund is recorded in its place.
        let paying: Option<(String, i64)> = sqlx::query_as(
            "UPDATE payments SET status = 'REFUNDING', response = NULL, response_status = NULL,
                                 lease_until = now() + make_interval(secs => $3), lease_owner = $2,
                                 updated_at = now()
             WHERE payment_id = $1 AND status = 'SUCCEEDED' AND provider_ref IS NOT NULL
             RETURNING provider_ref, amount_cents",
        )
        .bind(payment_id)
        .bind(&cancellation.lease_token)
        .bind(cancellation.lease.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await
        .map_err(storage_error)?;
        let Some((charge_id, amount_cents)) = paying else {
            tx.rollback().await.map_err(storage_error)?;
            return Ok(Committed {
                outcome: CancelOutcome::NotPaid,
                deltas: Vec::new(),
            });
        };
        // Its tickets stop admitting with this status (check-in admits only
        // tickets of confirmed bookings).
        sqlx::query(
            "UPDATE bookings SET status = 'REFUNDED', refund_key = $2, refunded_by = $3,
                                 refunded_at = now(), updated_at = now()
             WHERE booking_id = $1",
        )
        .bind(booking)
        .bind(&cancellation.idempotency_key)
        .bind(cancellation.requested_by)
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
        let freed = Self::free_seats(&mut tx, event, &[booking.0]).await?;
        tx.commit().await.map_err(storage_error)?;
        let seats: Vec<SeatId> = freed.iter().map(|(s, _)| SeatId(*s)).collect();
        let delta = delta(event, version, &seats, SeatStatus::Available);
        Ok(Committed {
            outcome: CancelOutcome::Cancelled {
                freed: Freed {
                    booking_id: booking,
                    seats,
                    lock_token,
                },
                payment_id,
                charge_id,
                amount_cents,
            },
            deltas: vec![delta],
        })
    }

    #[tracing::instrument(skip(self), fields(event.id = %event, booking.id = %booking))]
    async fn confirm(
        &self,
        event: EventId,
        booking: BookingId,
        payment: i64,
    ) -> Result<Committed<ConfirmOutcome>, StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let (version, _) = next_version(&mut tx, event).await?;
        let row: Option<(BookingStatus, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT status, confirmation_number, paid_by_payment_id FROM bookings WHERE booking_id = $1 AND event_id = $2 FOR UPDATE",
        )
        .bind(booking)
        .bind(event)
        .fetch_optional(&mut *tx)
        .await
        .map_err(storage_error)?;
        let status = match row {
            None => {
                tx.rollback().await.map_err(storage_error)?;
                return Ok(Committed {
                    outcome: ConfirmOutcome::NotFound,
                    deltas: Vec::new(),
                });
            }
            Some((BookingStatus::Confirmed, Some(number), paid_by)) => {
                tx.rollback().await.map_err(storage_error)?;
                let outcome = if paid_by == Some(payment) {
                    ConfirmOutcome::Confirmed {
                        confirmation_number: number,
                    }
                } else {
                    ConfirmOutcome::PaidByAnother
                };
                return Ok(Committed {
                    outcome,
                    deltas: Vec::new(),
                });
            }
            Some((status, _, _)) => status,
        };
        // The attempt must still be processing: once its refund is decided
        // (REFUNDING, recorded before the provider refunds), its charge can
        // never pay. Locking the row orders this against that decision.
        let attempt: Option<String> =
            sqlx::query_scalar("SELECT status FROM payments WHERE payment_id = $1 FOR UPDATE")
                .bind(payment)
                .fetch_optional(&mut *tx)
                .await
                .map_err(storage_error)?;
        let refused = if attempt.as_deref() != Some("PROCESSING") {
            Some(ConfirmOutcome::AttemptClosed)
        } else if matches!(status, BookingStatus::Released | BookingStatus::Refunded) {
            // Let go (or cancelled and refunded): a charge landing now goes back.
            Some(ConfirmOutcome::Released)
        } else {
            None
        };
        if let Some(outcome) = refused {
            tx.rollback().await.map_err(storage_error)?;
            return Ok(Committed {
                outcome,
                deltas: Vec::new(),
            });
        }
        let seats: Vec<i64> = if status == BookingStatus::Pending {
            sqlx::query_scalar(
                "UPDATE seats SET status = 'CONFIRMED' WHERE event_id = $1 AND booking_id = $2 RETURNING seat_id",
            )
            .bind(event)
            .bind(booking)
            .fetch_all(&mut *tx)
            .await
            .map_err(storage_error)?
        } else {
            // The hold ended before the payment landed: the sale stands only if
            // every seat is still free; the caller refunds otherwise.
            let wanted: Vec<i64> =
                sqlx::query_scalar("SELECT seat_id FROM booking_seats WHERE booking_id = $1")
                    .bind(booking)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(storage_error)?;
            let retaken: Vec<i64> = sqlx::query_scalar(
                "UPDATE seats SET status = 'CONFIRMED', booking_id = $2, reserved_at = now()
                 WHERE event_id = $1 AND seat_id = ANY($3) AND status = 'AVAILABLE' RETURNING seat_id",
            )
            .bind(event)
            .bind(booking)
            .bind(&wanted)
            .fetch_all(&mut *tx)
            .await
            .map_err(storage_error)?;
            let reactivated =
                sqlx::query("UPDATE booking_seats SET active = true WHERE booking_id = $1")
                    .bind(booking)
                    .execute(&mut *tx)
                    .await;
            if retaken.len() != wanted.len() || reactivated.is_err() {
                tx.rollback().await.map_err(storage_error)?;
                return Ok(Committed {
                    outcome: ConfirmOutcome::SeatsGone,
                    deltas: Vec::new(),
                });
            }
            retaken
        };
        let confirmation_number = confirmation_number();
        sqlx::query(
            "UPDATE bookings SET status = 'CONFIRMED', confirmation_number = $2, payment_started_at = NULL,
                                 paid_by_payment_id = $3,
                                 updated_at = now()
             WHERE booking_id = $1",
        )
        .bind(booking)
        .bind(&confirmation_number)
        .bind(payment)
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
        // Paid, in the same transaction: the attempt can no longer turn to a refund.
        sqlx::query(
            "UPDATE payments SET status = 'SUCCEEDED', updated_at = now() WHERE payment_id = $1",
        )
        .bind(payment)
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
        let codes: Vec<String> = seats
            .iter()
            .map(|&seat| self.codes.code(booking, event, SeatId(seat)))
            .collect();
        sqlx::query(
            "INSERT INTO tickets (booking_id, event_id, seat_id, code)
             SELECT $1, $2, seat, code FROM UNNEST($3::int8[], $4::text[]) AS t(seat, code)",
        )
        .bind(booking)
        .bind(event)
        .bind(&seats)
        .bind(&codes)
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
        tx.commit().await.map_err(storage_error)?;
        let seats: Vec<SeatId> = seats.into_iter().map(SeatId).collect();
        Ok(Committed {
            outcome: ConfirmOutcome::Confirmed {
                confirmation_number,
            },
            deltas: vec![delta(event, version, &seats, SeatStatus::Confirmed)],
        })
    }
}

/// Ten characters from an alphabet without look-alikes (no 0/O, 1/I/L).
fn confirmation_number() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[async_trait]
impl ExpiredHolds for PgLedger {
    async fn due(&self, limit: usize) -> Result<Vec<(EventId, BookingId)>, StorageError> {
        sqlx::query_as(
            "SELECT event_id, booking_id FROM bookings
             WHERE status = 'PENDING' AND expires_at <= now()
               AND (payment_started_at IS NULL OR payment_started_at <= now() - make_interval(secs => $2))
             ORDER BY expires_at LIMIT $1",
        )
        .bind(limit as i64)
        .bind(self.payment_window.as_secs_f64())
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error)
    }
}
