//! Cancel and refund a paid booking, once, through the checkout's own refund
//! machinery.
//!
//! The booking is cancelled first, through its event actor, in one
//! transaction that puts its seats back on sale, voids its tickets and turns
//! the attempt that paid for it REFUNDING under this call's lease. Then the
//! charge is refunded exactly as checkout refunds any charge that bought
//! nothing: under the attempt's one refund key (`bo-refund-{payment_id}`),
//! so the provider refunds at most once whoever asks, and recorded on the
//! attempt. Whatever interrupts the refund (a provider timeout, a crash), the
//! attempt stays REFUNDING without an answer, and the next call (any key) or
//! the recovery worker refunds it again under the same refund key.

use actors::model::{BookingStatus, UserId};
use actors::ports::{CancelOutcome, Cancellation};

use super::{Checkout, CheckoutError, Held, RefundReason};
use crate::store::bookings::{self, BookingView};

/// Why a booking was not (or not now) cancelled and refunded.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no such booking")]
    NotFound,
    /// A hold, released or expired: nothing was paid.
    #[error("the booking is {0}, not a paid booking")]
    NotConfirmed(BookingStatus),
    /// Confirmed without a settled charge (nothing to give back).
    #[error("the booking has no settled charge to refund")]
    NotPaid,
    /// A ticket of the booking was admitted at the door: its seats are not
    /// put back on sale (they would be admitted twice).
    #[error("a ticket of the booking was checked in at {first_scan_at}")]
    CheckedIn {
        first_scan_at: chrono::DateTime<chrono::Utc>,
    },
    /// Cancelled and refunded before, under another key.
    #[error("the booking was already refunded")]
    AlreadyRefunded,
    /// The refund is decided and underway (or the provider failed): a retry
    /// with the same key finishes it, as the recovery worker will.
    #[error(transparent)]
    Refund(#[from] CheckoutError),
}

impl Checkout {
    /// Cancels `booking` for `by` under the caller's `key` and refunds its
    /// charge. `Ok` once the charge is refunded: now, or before under the
    /// same key.
    #[tracing::instrument(skip_all, fields(booking.id = %booking.booking_id, user.id = %by))]
    pub async fn cancel_and_refund(
        &self,
        booking: &BookingView,
        key: &str,
        by: UserId,
    ) -> Result<(), CancelError> {
        let lease = bookings::lease_token();
        let cancellation = Cancellation {
            booking_id: booking.booking_id,
            idempotency_key: key.to_owned(),
            requested_by: by,
            lease_token: lease.clone(),
            lease: self.lease,
        };
        let outcome = self
            .registry
            .cancel(booking.event_id, cancellation)
            .await
            .map_err(|e| CheckoutError::Unavailable(e.into()))?;
        match outcome {
            CancelOutcome::Cancelled {
                freed,
                payment_id,
                charge_id,
                amount_cents,
            } => {
                tracing::info!(
                    seats = freed.seats.len(),
                    payment.id = payment_id,
                    "booking cancelled; refunding its charge"
                );
                metrics::counter!("boxoffice_cancellations_total").increment(1);
                let cancelled = BookingView {
                    status: BookingStatus::Refunded,
                    ..booking.clone()
                };
                let held = Held {
                    payment_id,
                    lease,
                    amount_cents,
                    booking: &cancelled,
                };
                self.refund(&held, &charge_id, RefundReason::Cancelled)
                    .await?;
                Ok(())
            }
            CancelOutcome::AlreadyCancelled {
                idempotency_key,
                payment_id,
            } => {
                if idempotency_key != key {
                    return Err(CancelError::AlreadyRefunded);
                }
                self.finish_refund(booking, payment_id).await
            }
            CancelOutcome::NotConfirmed(status) => Err(CancelError::NotConfirmed(status)),
            CancelOutcome::CheckedIn { first_scan_at } => {
                Err(CancelError::CheckedIn { first_scan_at })
            }
            CancelOutcome::NotPaid => Err(CancelError::NotPaid),
            CancelOutcome::NotFound => Err(CancelError::NotFound),
        }
    }

    /// A repeat for a booking cancelled under this key: done when the
    /// refund is recorded; resumed when its lease is free; in progress when
    /// another request (or recovery) holds it.
    async fn finish_refund(
        &self,
        booking: &BookingView,
        payment_id: i64,
    ) -> Result<(), CancelError> {
        let Some(taken) = bookings::take_lease(&self.pool, payment_id, self.lease)
            .await
            .map_err(CheckoutError::from)?
        else {
            return match bookings::attempt_answer(&self.pool, payment_id)
                .await
                .map_err(CheckoutError::from)?
            {
                Some(_) => Ok(()),
                None => Err(CheckoutError::InProgress.into()),
            };
        };
        let cancelled = BookingView {
            status: BookingStatus::Refunded,
            ..booking.clone()
        };
        let held = Held {
            payment_id,
            lease: taken.lease,
            amount_cents: booking.amount_cents,
            booking: &cancelled,
        };
        self.resume(
            &held,
            taken.status,
            taken.provider_ref.as_deref(),
            None,
            true,
        )
        .await?;
        Ok(())
    }
}
