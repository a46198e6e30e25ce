//! Reading bookings and tickets, and the small writes around payment and
//! check-in. Seat-changing writes go through the event actor (`ledger.rs`).

use std::time::Duration;

use actors::domain::{BookingId, EventId, SeatId, UserId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BookingView {
    pub booking_id: BookingId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub status: String,
    pub amount_cents: i64,
    pub expires_at: DateTime<Utc>,
    pub confirmation_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub seat_ids: Vec<SeatId>,
}

macro_rules! booking_select {
    ($where:literal) => {
        concat!(
            "SELECT b.booking_id, b.event_id, b.user_id, b.status, b.amount_cents, b.expires_at,
                    b.confirmation_number, b.created_at,
                    ARRAY(SELECT seat_id FROM booking_seats bs WHERE bs.booking_id = b.booking_id ORDER BY seat_id)
                        AS seat_ids
             FROM bookings b WHERE ",
            $where
        )
    };
}

pub async fn get(pool: &PgPool, booking: BookingId) -> sqlx::Result<Option<BookingView>> {
    sqlx::query_as(booking_select!("b.booking_id = $1"))
        .bind(booking)
        .fetch_optional(pool)
        .await
}

pub async fn by_confirmation_number(
    pool: &PgPool,
    number: &str,
) -> sqlx::Result<Option<BookingView>> {
    sqlx::query_as(booking_select!("b.confirmation_number = $1"))
        .bind(number)
        .fetch_optional(pool)
        .await
}

/// Protects a live hold from the sweeper while its payment is in flight.
/// `false` when the hold is no longer pending or has run out.
pub async fn mark_paying(pool: &PgPool, booking: BookingId) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE bookings SET payment_started_at = now()
         WHERE booking_id = $1 AND status = 'PENDING' AND expires_at > now()",
    )
    .bind(booking)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The payment is over without a charge: the hold runs out as it would have.
pub async fn clear_paying(pool: &PgPool, booking: BookingId) -> sqlx::Result<()> {
    sqlx::query("UPDATE bookings SET payment_started_at = NULL WHERE booking_id = $1 AND status = 'PENDING'")
        .bind(booking)
        .execute(pool)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TicketView {
    pub ticket_id: i64,
    pub seat_id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub code: String,
    pub checked_in_at: Option<DateTime<Utc>>,
}

pub async fn tickets(pool: &PgPool, booking: BookingId) -> sqlx::Result<Vec<TicketView>> {
    sqlx::query_as(
        "SELECT t.ticket_id, t.seat_id, vs.section, vs.row_name AS row, vs.number, t.code, t.checked_in_at
         FROM tickets t JOIN venue_seats vs USING (seat_id)
         WHERE t.booking_id = $1 ORDER BY vs.position",
    )
    .bind(booking)
    .fetch_all(pool)
    .await
}

pub enum CheckIn {
    Admitted { ticket_id: i64, seat_id: SeatId },
    AlreadyIn { first_scan_at: DateTime<Utc> },
    NotIssued,
}

/// Admits a ticket once: the conditional update lets exactly one scan win,
/// however many doors scan the same code at the same moment.
pub async fn check_in(pool: &PgPool, event: EventId, code: &str) -> sqlx::Result<CheckIn> {
    let admitted: Option<(i64, SeatId)> = sqlx::query_as(
        "UPDATE tickets SET checked_in_at = now()
         WHERE code = $1 AND event_id = $2 AND checked_in_at IS NULL
           AND EXISTS (SELECT 1 FROM bookings b WHERE b.booking_id = tickets.booking_id AND b.status = 'CONFIRMED')
         RETURNING ticket_id, seat_id",
    )
    .bind(code)
    .bind(event)
    .fetch_optional(pool)
    .await?;
    if let Some((ticket_id, seat_id)) = admitted {
        return Ok(CheckIn::Admitted { ticket_id, seat_id });
    }
    let first: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT checked_in_at FROM tickets WHERE code = $1 AND event_id = $2")
            .bind(code)
            .bind(event)
            .fetch_optional(pool)
            .await?;
    Ok(match first {
        Some(Some(first_scan_at)) => CheckIn::AlreadyIn { first_scan_at },
        _ => CheckIn::NotIssued,
    })
}

/// Payment attempts, as an operator sees them.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PaymentView {
    pub payment_id: i64,
    pub idempotency_key: String,
    pub status: String,
    pub amount_cents: i64,
    pub provider_ref: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn payments(pool: &PgPool, booking: BookingId) -> sqlx::Result<Vec<PaymentView>> {
    sqlx::query_as(
        "SELECT payment_id, idempotency_key, status, amount_cents, provider_ref, created_at, updated_at
         FROM payments WHERE booking_id = $1 ORDER BY payment_id",
    )
    .bind(booking)
    .fetch_all(pool)
    .await
}

/// A payment attempt as the checkout finds it.
pub struct Attempt {
    pub payment_id: i64,
    pub booking_id: BookingId,
    pub status: String,
    pub amount_cents: i64,
    /// The answer already given for this key, to replay.
    pub answer: Option<(i32, serde_json::Value)>,
    /// This call owns the attempt's lease and may talk to the provider.
    pub leased: bool,
    /// Newly created by this call.
    pub fresh: bool,
}

/// Another payment for the booking is still unresolved.
#[derive(Debug, thiserror::Error)]
pub enum BeginAttemptError {
    #[error("another payment for this booking is in progress")]
    OtherInProgress,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Finds or creates the attempt for (user, key), taking its lease when free.
pub async fn begin_attempt(
    pool: &PgPool,
    booking: BookingId,
    user: UserId,
    key: &str,
    amount_cents: i64,
    lease: Duration,
) -> Result<Attempt, BeginAttemptError> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO payments (booking_id, user_id, idempotency_key, amount_cents, lease_until)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
         ON CONFLICT ON CONSTRAINT payments_user_idempotency_key DO NOTHING
         RETURNING payment_id",
    )
    .bind(booking)
    .bind(user)
    .bind(key)
    .bind(amount_cents)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
    .map_err(|e| match super::violated_constraint(&e) {
        Some("payments_one_processing_per_booking") => BeginAttemptError::OtherInProgress,
        _ => BeginAttemptError::Database(e),
    })?;
    if let Some(payment_id) = inserted {
        return Ok(Attempt {
            payment_id,
            booking_id: booking,
            status: "PROCESSING".into(),
            amount_cents,
            answer: None,
            leased: true,
            fresh: true,
        });
    }
    // Someone used this key before: take the lease only if it lapsed.
    let (payment_id, booking_id, status, amount_cents, response_status, response, leased): (
        i64,
        BookingId,
        String,
        i64,
        Option<i32>,
        Option<serde_json::Value>,
        bool,
    ) = sqlx::query_as(
        "WITH taken AS (
             UPDATE payments SET lease_until = now() + make_interval(secs => $3), updated_at = now()
             WHERE user_id = $1 AND idempotency_key = $2 AND status = 'PROCESSING' AND response IS NULL
               AND (lease_until IS NULL OR lease_until < now())
             RETURNING payment_id
         )
         SELECT p.payment_id, p.booking_id, p.status, p.amount_cents, p.response_status, p.response,
                EXISTS (SELECT 1 FROM taken)
         FROM payments p WHERE p.user_id = $1 AND p.idempotency_key = $2",
    )
    .bind(user)
    .bind(key)
    .bind(lease.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(Attempt {
        payment_id,
        booking_id,
        status,
        amount_cents,
        answer: response_status.zip(response),
        leased,
        fresh: false,
    })
}

/// Takes the lease of an abandoned attempt (for the recovery worker).
pub async fn take_lease(pool: &PgPool, payment_id: i64, lease: Duration) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE payments SET lease_until = now() + make_interval(secs => $2), updated_at = now()
         WHERE payment_id = $1 AND status = 'PROCESSING' AND response IS NULL
           AND (lease_until IS NULL OR lease_until < now())",
    )
    .bind(payment_id)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Records the attempt's end and the answer to replay for its key.
pub async fn finish_attempt(
    pool: &PgPool,
    payment_id: i64,
    status: &str,
    provider_ref: Option<&str>,
    answer: (i32, &serde_json::Value),
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET status = $2, provider_ref = coalesce($3, provider_ref), response_status = $4,
                             response = $5, lease_until = NULL, updated_at = now()
         WHERE payment_id = $1",
    )
    .bind(payment_id)
    .bind(status)
    .bind(provider_ref)
    .bind(answer.0)
    .bind(answer.1)
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives the lease back without an answer: the next call with the key resumes.
pub async fn drop_lease(
    pool: &PgPool,
    payment_id: i64,
    provider_ref: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET lease_until = NULL, provider_ref = coalesce($2, provider_ref), updated_at = now()
         WHERE payment_id = $1",
    )
    .bind(payment_id)
    .bind(provider_ref)
    .execute(pool)
    .await?;
    Ok(())
}

/// Attempts left processing with no lease for longer than `idle`: their
/// request died or gave up (crash, lost answer never retried).
pub async fn abandoned_attempts(
    pool: &PgPool,
    idle: Duration,
) -> sqlx::Result<Vec<(i64, BookingId, UserId, i64)>> {
    sqlx::query_as(
        "SELECT payment_id, booking_id, user_id, amount_cents FROM payments
         WHERE status = 'PROCESSING' AND response IS NULL
           AND (lease_until IS NULL OR lease_until < now())
           AND updated_at < now() - make_interval(secs => $1)
         ORDER BY payment_id LIMIT 100",
    )
    .bind(idle.as_secs_f64())
    .fetch_all(pool)
    .await
}
