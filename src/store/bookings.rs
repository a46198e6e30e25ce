//! Reading bookings and tickets, and the small writes around payment and
//! check-in. Seat-changing writes go through the event actor (`ledger.rs`).

use std::time::Duration;

use actors::model::{BookingId, BookingStatus, EventId, SeatId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

/// A booking as its owner and operators see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct BookingView {
    pub booking_id: BookingId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub status: BookingStatus,
    pub amount_cents: i64,
    /// When the hold ends unless it is paid for.
    pub expires_at: DateTime<Utc>,
    /// Set once paid (status `CONFIRMED`, or `REFUNDED` after).
    #[schema(required = true)]
    pub confirmation_number: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was cancelled and refunded (status `REFUNDED`).
    #[schema(required = true)]
    pub refunded_at: Option<DateTime<Utc>>,
    pub seat_ids: Vec<SeatId>,
}

macro_rules! booking_select {
    ($where:literal) => {
        concat!(
            "SELECT b.booking_id, b.event_id, b.user_id, b.status, b.amount_cents, b.expires_at,
                    b.confirmation_number, b.created_at, b.refunded_at,
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

/// Most bookings `GET /me/bookings` lists (the newest).
pub const MINE_LIMIT: i64 = 100;

/// The buyer's live holds (PENDING, not yet run out) and confirmed bookings,
/// newest first, at most [`MINE_LIMIT`]. Released, expired and refunded ones
/// are left out: this is what the buyer holds now.
pub async fn of_user(pool: &PgPool, user: UserId) -> sqlx::Result<Vec<BookingView>> {
    sqlx::query_as(booking_select!(
        "b.user_id = $1
           AND (b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.expires_at > now()))
         ORDER BY b.created_at DESC, b.booking_id DESC
         LIMIT $2"
    ))
    .bind(user)
    .bind(MINE_LIMIT)
    .fetch_all(pool)
    .await
}

/// Most bookings the operator's search lists (the newest).
pub const LOOKUP_LIMIT: i64 = 50;

/// The operator's search: a booking by id or confirmation number, or the
/// bookings of every account with an email (guests included), newest first.
pub async fn lookup(
    pool: &PgPool,
    query: &crate::requests::booking_lookup::BookingLookup,
) -> sqlx::Result<Vec<BookingView>> {
    use crate::requests::booking_lookup::BookingLookup;
    match query {
        BookingLookup::Id(id) => Ok(get(pool, *id).await?.into_iter().collect()),
        BookingLookup::ConfirmationNumber(number) => Ok(by_confirmation_number(pool, number)
            .await?
            .into_iter()
            .collect()),
        BookingLookup::Email(email) => {
            sqlx::query_as(booking_select!(
                "b.user_id IN (SELECT user_id FROM users WHERE lower(email) = $1)
                 ORDER BY b.created_at DESC, b.booking_id DESC
                 LIMIT $2"
            ))
            .bind(email)
            .bind(LOOKUP_LIMIT)
            .fetch_all(pool)
            .await
        }
    }
}

/// The email of the account that made a booking (the operator's view).
pub async fn buyer_email(pool: &PgPool, user: UserId) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT email FROM users WHERE user_id = $1")
        .bind(user)
        .fetch_optional(pool)
        .await
}

pub async fn by_confirmation_number(
    pool: &PgPool,
    number: &str,
) -> sqlx::Result<Option<BookingView>> {
    if number.contains('\0') {
        // PostgreSQL text cannot hold NUL, so no number has one.
        return Ok(None);
    }
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

/// One ticket: a seat of a paid booking and the code its QR image carries.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct TicketView {
    pub ticket_id: i64,
    pub seat_id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub code: String,
    #[schema(required = true)]
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
    Admitted {
        ticket_id: i64,
        seat_id: SeatId,
    },
    AlreadyIn {
        first_scan_at: DateTime<Utc>,
    },
    /// Its booking was cancelled and refunded: the ticket admits no one.
    Refunded {
        refunded_at: Option<DateTime<Utc>>,
    },
    NotIssued,
}

/// Admits a ticket once: the conditional update lets exactly one scan win,
/// however many doors scan the same code at the same moment.
///
/// The booking row is read `FOR SHARE`: a refund (which holds it `FOR
/// UPDATE`, see `ledger::cancel`) and a check-in of the same booking are
/// thus ordered. A scan waiting on a refund finds the booking REFUNDED and
/// admits no one; a refund after a scan finds the ticket checked in and is
/// refused, so a seat is never admitted, refunded and resold.
pub async fn check_in(pool: &PgPool, event: EventId, code: &str) -> sqlx::Result<CheckIn> {
    let admitted: Option<(i64, SeatId)> = sqlx::query_as(
        "UPDATE tickets SET checked_in_at = now()
         WHERE code = $1 AND event_id = $2 AND checked_in_at IS NULL
           AND EXISTS (SELECT 1 FROM bookings b
                       WHERE b.booking_id = tickets.booking_id AND b.status = 'CONFIRMED'
                       FOR SHARE)
         RETURNING ticket_id, seat_id",
    )
    .bind(code)
    .bind(event)
    .fetch_optional(pool)
    .await?;
    if let Some((ticket_id, seat_id)) = admitted {
        return Ok(CheckIn::Admitted { ticket_id, seat_id });
    }
    /// (first scan, booking status, refunded at) of the scanned ticket.
    type Scanned = (Option<DateTime<Utc>>, BookingStatus, Option<DateTime<Utc>>);
    let found: Option<Scanned> = sqlx::query_as(
        "SELECT t.checked_in_at, b.status, b.refunded_at
             FROM tickets t JOIN bookings b USING (booking_id)
             WHERE t.code = $1 AND t.event_id = $2",
    )
    .bind(code)
    .bind(event)
    .fetch_optional(pool)
    .await?;
    Ok(match found {
        Some((_, BookingStatus::Refunded, refunded_at)) => CheckIn::Refunded { refunded_at },
        Some((Some(first_scan_at), ..)) => CheckIn::AlreadyIn { first_scan_at },
        _ => CheckIn::NotIssued,
    })
}

/// Payment attempts, as an operator sees them.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct PaymentView {
    pub payment_id: i64,
    pub idempotency_key: String,
    pub status: PaymentStatus,
    pub amount_cents: i64,
    #[schema(required = true)]
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

/// Where a payment attempt stands (`payments.status`). An unknown value in
/// the database is a decode error, never a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Open: the charge may be (or may have been) sent.
    Processing,
    /// Charged and the booking confirmed with it (final once answered).
    Succeeded,
    /// Nothing was charged (final).
    Failed,
    /// The charge bought nothing and is being given back: it can only end refunded.
    Refunding,
    /// The charge went back (final).
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Processing => "PROCESSING",
            PaymentStatus::Succeeded => "SUCCEEDED",
            PaymentStatus::Failed => "FAILED",
            PaymentStatus::Refunding => "REFUNDING",
            PaymentStatus::Refunded => "REFUNDED",
        }
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PaymentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PROCESSING" => Ok(PaymentStatus::Processing),
            "SUCCEEDED" => Ok(PaymentStatus::Succeeded),
            "FAILED" => Ok(PaymentStatus::Failed),
            "REFUNDING" => Ok(PaymentStatus::Refunding),
            "REFUNDED" => Ok(PaymentStatus::Refunded),
            other => Err(format!("unknown payment status {other:?}")),
        }
    }
}

/// Stored as TEXT (the `payments_status_known` CHECK lists the values).
impl sqlx::Type<sqlx::Postgres> for PaymentStatus {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for PaymentStatus {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(text.parse()?)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for PaymentStatus {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
    }
}

/// A payment attempt as the checkout finds it.
pub struct Attempt {
    pub payment_id: i64,
    pub booking_id: BookingId,
    pub status: PaymentStatus,
    pub amount_cents: i64,
    pub provider_ref: Option<String>,
    /// The answer already given for this key, to replay.
    pub answer: Option<(i32, serde_json::Value)>,
    /// This call's lease token when it owns the attempt's lease and may talk
    /// to the provider; every write it makes to the attempt is conditional on it.
    pub lease: Option<String>,
    /// Newly created by this call.
    pub fresh: bool,
}

/// Why no attempt was started or resumed.
#[derive(Debug, thiserror::Error)]
pub enum BeginAttemptError {
    #[error("another payment for this booking is in progress")]
    OtherInProgress,
    /// The buyer used this key for another booking: nothing was leased.
    #[error("the idempotency key belongs to another booking")]
    KeyReused,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub fn lease_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Finds or creates the attempt for (user, key), taking its lease when free.
/// A key that belongs to another booking is refused without touching its attempt.
pub async fn begin_attempt(
    pool: &PgPool,
    booking: BookingId,
    user: UserId,
    key: &str,
    amount_cents: i64,
    lease: Duration,
) -> Result<Attempt, BeginAttemptError> {
    let token = lease_token();
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO payments (booking_id, user_id, idempotency_key, amount_cents, lease_until, lease_owner)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6)
         ON CONFLICT ON CONSTRAINT payments_user_idempotency_key DO NOTHING
         RETURNING payment_id",
    )
    .bind(booking)
    .bind(user)
    .bind(key)
    .bind(amount_cents)
    .bind(lease.as_secs_f64())
    .bind(&token)
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
            status: PaymentStatus::Processing,
            amount_cents,
            provider_ref: None,
            answer: None,
            lease: Some(token),
            fresh: true,
        });
    }
    // Someone used this key before: take the lease only if it is this
    // booking's attempt, still unfinished, and its lease lapsed.
    #[allow(clippy::type_complexity)]
    let row: (
        i64,
        BookingId,
        PaymentStatus,
        i64,
        Option<String>,
        Option<i32>,
        Option<serde_json::Value>,
        bool,
    ) = sqlx::query_as(
        "WITH taken AS (
             UPDATE payments SET lease_until = now() + make_interval(secs => $4), lease_owner = $5,
                                 updated_at = now()
             WHERE user_id = $1 AND idempotency_key = $2 AND booking_id = $3 AND response IS NULL
               AND (lease_until IS NULL OR lease_until < now())
             RETURNING payment_id, status, provider_ref
         )
         SELECT p.payment_id, p.booking_id, coalesce(t.status, p.status), p.amount_cents,
                coalesce(t.provider_ref, p.provider_ref), p.response_status, p.response,
                t.payment_id IS NOT NULL
         FROM payments p LEFT JOIN taken t USING (payment_id)
         WHERE p.user_id = $1 AND p.idempotency_key = $2",
    )
    .bind(user)
    .bind(key)
    .bind(booking)
    .bind(lease.as_secs_f64())
    .bind(&token)
    .fetch_one(pool)
    .await?;
    let (
        payment_id,
        booking_id,
        status,
        amount_cents,
        provider_ref,
        response_status,
        response,
        leased,
    ) = row;
    if booking_id != booking {
        return Err(BeginAttemptError::KeyReused);
    }
    Ok(Attempt {
        payment_id,
        booking_id,
        status,
        amount_cents,
        provider_ref,
        answer: response_status.zip(response),
        lease: leased.then_some(token),
        fresh: false,
    })
}

/// An unfinished attempt whose lease the caller took (recovery worker).
pub struct Resumed {
    pub lease: String,
    pub status: PaymentStatus,
    pub provider_ref: Option<String>,
}

/// Takes the lease of an abandoned, unfinished attempt (for the recovery worker).
pub async fn take_lease(
    pool: &PgPool,
    payment_id: i64,
    lease: Duration,
) -> sqlx::Result<Option<Resumed>> {
    let token = lease_token();
    let taken: Option<(PaymentStatus, Option<String>)> = sqlx::query_as(
        "UPDATE payments SET lease_until = now() + make_interval(secs => $2), lease_owner = $3,
                             updated_at = now()
         WHERE payment_id = $1 AND response IS NULL
           AND (lease_until IS NULL OR lease_until < now())
         RETURNING status, provider_ref",
    )
    .bind(payment_id)
    .bind(lease.as_secs_f64())
    .bind(&token)
    .fetch_optional(pool)
    .await?;
    Ok(taken.map(|(status, provider_ref)| Resumed {
        lease: token,
        status,
        provider_ref,
    }))
}

/// Notes that a charge request under the attempt's key is about to leave for
/// the provider (so "no record" is not final until the charge window passed).
/// `None`: the caller no longer holds a processing attempt's lease; otherwise
/// whether an *earlier* request under the key could still land (one was sent
/// less than `window` ago).
pub async fn charge_sending(
    pool: &PgPool,
    payment_id: i64,
    lease: &str,
    window: Duration,
) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar(
        "WITH earlier AS (
             SELECT payment_id, charge_sent_at FROM payments WHERE payment_id = $1 FOR UPDATE
         )
         UPDATE payments p SET charge_sent_at = now(), updated_at = now()
         FROM earlier e
         WHERE p.payment_id = e.payment_id AND p.lease_owner = $2 AND p.status = 'PROCESSING'
           AND p.response IS NULL
         RETURNING coalesce(e.charge_sent_at > now() - make_interval(secs => $3), false)",
    )
    .bind(payment_id)
    .bind(lease)
    .bind(window.as_secs_f64())
    .fetch_optional(pool)
    .await
}

/// Whether a charge request sent under the attempt's key could still land:
/// one was sent less than `window` ago.
pub async fn charge_may_still_land(
    pool: &PgPool,
    payment_id: i64,
    window: Duration,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT coalesce(charge_sent_at > now() - make_interval(secs => $2), false)
         FROM payments WHERE payment_id = $1",
    )
    .bind(payment_id)
    .bind(window.as_secs_f64())
    .fetch_one(pool)
    .await
}

/// Records the intent to refund the attempt's charge, before the provider is
/// asked: from now on the attempt can only end refunded. `false`: the caller
/// no longer holds the lease, or the attempt is no longer processing (the
/// charge paid for the booking meanwhile, or another holder settled it).
pub async fn begin_refund(
    pool: &PgPool,
    payment_id: i64,
    lease: &str,
    charge_id: &str,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE payments SET status = 'REFUNDING', provider_ref = $3, updated_at = now()
         WHERE payment_id = $1 AND lease_owner = $2 AND status = 'PROCESSING' AND response IS NULL",
    )
    .bind(payment_id)
    .bind(lease)
    .bind(charge_id)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Records the attempt's end and the answer to replay for its key, only if
/// the caller still holds the lease and the attempt is still unfinished in
/// one of the `from` statuses. `false`: a stale holder; nothing was written.
pub async fn finish_attempt(
    pool: &PgPool,
    payment_id: i64,
    lease: &str,
    from: &[PaymentStatus],
    status: PaymentStatus,
    provider_ref: Option<&str>,
    answer: (i32, &serde_json::Value),
) -> sqlx::Result<bool> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let updated = sqlx::query(
        "UPDATE payments SET status = $4, provider_ref = coalesce($5, provider_ref), response_status = $6,
                             response = $7, lease_until = NULL, lease_owner = NULL, updated_at = now()
         WHERE payment_id = $1 AND lease_owner = $2 AND status = ANY($3) AND response IS NULL",
    )
    .bind(payment_id)
    .bind(lease)
    .bind(&from)
    .bind(status)
    .bind(provider_ref)
    .bind(answer.0)
    .bind(answer.1)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Gives the lease back without an answer: the next call with the key
/// resumes. Only the lease's holder can give it back.
pub async fn drop_lease(
    pool: &PgPool,
    payment_id: i64,
    lease: &str,
    provider_ref: Option<&str>,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE payments SET lease_until = NULL, lease_owner = NULL,
                             provider_ref = coalesce($3, provider_ref), updated_at = now()
         WHERE payment_id = $1 AND lease_owner = $2 AND response IS NULL",
    )
    .bind(payment_id)
    .bind(lease)
    .bind(provider_ref)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The stored answer of an attempt, if it has one (after losing its lease).
pub async fn attempt_answer(
    pool: &PgPool,
    payment_id: i64,
) -> sqlx::Result<Option<(i32, serde_json::Value)>> {
    let row: Option<(Option<i32>, Option<serde_json::Value>)> =
        sqlx::query_as("SELECT response_status, response FROM payments WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(status, body)| status.zip(body)))
}

/// Unfinished attempts with no lease for longer than `idle`: their request
/// died or gave up (crash, lost answer never retried, refund not recorded).
pub async fn abandoned_attempts(
    pool: &PgPool,
    idle: Duration,
) -> sqlx::Result<Vec<(i64, BookingId, UserId, i64)>> {
    sqlx::query_as(
        "SELECT payment_id, booking_id, user_id, amount_cents FROM payments
         WHERE response IS NULL
           AND (lease_until IS NULL OR lease_until < now())
           AND updated_at < now() - make_interval(secs => $1)
         ORDER BY updated_at LIMIT 100",
    )
    .bind(idle.as_secs_f64())
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::PaymentStatus;

    #[test]
    fn payment_statuses_round_trip_and_an_unknown_one_is_an_error() {
        for status in [
            PaymentStatus::Processing,
            PaymentStatus::Succeeded,
            PaymentStatus::Failed,
            PaymentStatus::Refunding,
            PaymentStatus::Refunded,
        ] {
            assert_eq!(status.as_str().parse::<PaymentStatus>(), Ok(status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, serde_json::json!(status.as_str()));
            assert_eq!(
                serde_json::from_value::<PaymentStatus>(json).unwrap(),
                status
            );
        }
        assert!("PENDING".parse::<PaymentStatus>().is_err());
        assert!("processing".parse::<PaymentStatus>().is_err());
        assert!(serde_json::from_value::<PaymentStatus>(serde_json::json!("PAID")).is_err());
    }
}
