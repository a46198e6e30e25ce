//! Checkout: charge a held booking once and confirm it, whatever the network,
//! the client or the process does in between.
//!
//! Each `(buyer, Idempotency-Key)` names one payment attempt (UNIQUE in
//! PostgreSQL). The request that holds the attempt's lease talks to the
//! provider under a provider key derived from the attempt, so every retry of
//! the attempt — a double click, a retry after a lost answer, the recovery
//! worker after a crash — reaches the provider with the same key and the
//! provider charges at most once. A finished attempt stores its answer, which
//! later calls with the key replay verbatim.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actors::model::{BookingId, BookingStatus, UserId};
use actors::ports::ConfirmOutcome;
use actors::registry::Registry;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{Charge, ChargeError, ChargeStatus, PaymentGateway};
use crate::http::error::ApiError;
use crate::store::bookings::{self, BookingView};

/// An answer for the client, stored with the attempt when final.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

pub struct Checkout {
    pool: PgPool,
    gateway: Arc<dyn PaymentGateway>,
    registry: Arc<Registry>,
    lease: Duration,
    charge_timeout: Duration,
    recovery_after: Duration,
    charge_window: Duration,
}

fn problem_body(status: StatusCode, code: &str, title: &str, detail: &str) -> Value {
    json!({
        "type": format!("https://boxoffice.dev/problems/{}", code.replace('_', "-")),
        "title": title, "status": status.as_u16(), "detail": detail, "code": code,
    })
}

/// The attempt this call holds the lease of. Every write it makes to the
/// attempt is conditional on `lease`: a holder whose lease was taken over
/// writes nothing.
struct Held<'a> {
    payment_id: i64,
    lease: String,
    amount_cents: i64,
    booking: &'a BookingView,
}

/// Why a charge that landed bought nothing and goes back.
#[derive(Clone, Copy)]
enum RefundReason {
    SeatsGone,
    PaidByAnother,
    Released,
}

impl RefundReason {
    /// For an attempt found mid-refund: why, from what became of its booking.
    fn from_booking(booking: &BookingView) -> RefundReason {
        match booking.status {
            BookingStatus::Confirmed => RefundReason::PaidByAnother,
            BookingStatus::Released => RefundReason::Released,
            BookingStatus::Pending | BookingStatus::Expired => RefundReason::SeatsGone,
        }
    }

    fn problem(self) -> (&'static str, &'static str, &'static str) {
        match self {
            RefundReason::SeatsGone => (
                "hold_expired",
                "Hold expired",
                "the hold ended and the seats were sold to someone else; your payment was refunded",
            ),
            RefundReason::PaidByAnother => (
                "booking_already_confirmed",
                "Already paid",
                "this booking was already paid by another payment; this charge was refunded",
            ),
            RefundReason::Released => (
                "booking_released",
                "Booking released",
                "the booking was released before the payment completed; your payment was refunded",
            ),
        }
    }
}

fn in_progress() -> ApiError {
    ApiError::conflict(
        "payment_in_progress",
        "a payment with this Idempotency-Key is in progress; retry shortly with the same key",
    )
}

impl Checkout {
    pub fn new(
        pool: PgPool,
        gateway: Arc<dyn PaymentGateway>,
        registry: Arc<Registry>,
        lease: Duration,
        charge_timeout: Duration,
        recovery_after: Duration,
        charge_window: Duration,
    ) -> Checkout {
        Checkout {
            pool,
            gateway,
            registry,
            lease,
            charge_timeout,
            recovery_after,
            charge_window,
        }
    }

    /// Pays for `booking` with `payment_token` under the buyer's `key`.
    #[tracing::instrument(skip_all, fields(booking.id = %booking.booking_id))]
    pub async fn confirm(
        &self,
        payer: UserId,
        booking: &BookingView,
        key: &str,
        payment_token: &str,
    ) -> Result<Answer, ApiError> {
        let attempt = bookings::begin_attempt(
            &self.pool,
            booking.booking_id,
            payer,
            key,
            booking.amount_cents,
            self.lease,
        )
        .await
        .map_err(|e| match e {
            bookings::BeginAttemptError::OtherInProgress => ApiError::conflict(
                "payment_in_progress",
                "another payment for this booking is still being resolved; retry that one with its own Idempotency-Key, or try again shortly",
            ),
            bookings::BeginAttemptError::KeyReused => ApiError::problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
                "this Idempotency-Key was used for another booking; use a new key",
            ),
            bookings::BeginAttemptError::Database(e) => e.into(),
        })?;
        if let Some((status, body)) = attempt.answer {
            metrics::counter!("boxoffice_payments_total", "outcome" => "replayed").increment(1);
            let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
            return Ok(Answer { status, body });
        }
        let Some(lease) = attempt.lease else {
            return Err(in_progress());
        };
        let held = Held {
            payment_id: attempt.payment_id,
            lease,
            amount_cents: attempt.amount_cents,
            booking,
        };
        if attempt.fresh {
            if booking.status == BookingStatus::Confirmed {
                return self
                    .fail(
                        &held,
                        StatusCode::CONFLICT,
                        "booking_already_confirmed",
                        "this booking is already paid for",
                    )
                    .await;
            }
            if !bookings::mark_paying(&self.pool, booking.booking_id).await? {
                return self
                    .fail(
                        &held,
                        StatusCode::CONFLICT,
                        "hold_expired",
                        "the hold on these seats has ended; nothing was charged",
                    )
                    .await;
            }
        }
        self.resume(
            &held,
            &attempt.status,
            attempt.provider_ref.as_deref(),
            Some(payment_token),
            !attempt.fresh,
        )
        .await
    }

    /// Carries an unfinished attempt on from where it stands:
    /// PROCESSING charges (with a token) or asks the provider (without);
    /// REFUNDING refunds again under the same refund key and never confirms;
    /// SUCCEEDED (confirmed, answer not recorded) confirms again, idempotently.
    async fn resume(
        &self,
        held: &Held<'_>,
        status: &str,
        provider_ref: Option<&str>,
        payment_token: Option<&str>,
        resumed: bool,
    ) -> Result<Answer, ApiError> {
        match (status, provider_ref) {
            ("REFUNDING", Some(charge_id)) => {
                self.refund(held, charge_id, RefundReason::from_booking(held.booking))
                    .await
            }
            ("SUCCEEDED", _) => self.charge_and_confirm(held, None, true).await,
            ("PROCESSING", _) => self.charge_and_confirm(held, payment_token, resumed).await,
            _ => Err(ApiError::Internal(anyhow::anyhow!(
                "payment {} is {status} without an answer",
                held.payment_id
            ))),
        }
    }

    async fn within_timeout<T>(
        &self,
        call: impl Future<Output = Result<T, ChargeError>>,
    ) -> Result<T, ChargeError> {
        tokio::time::timeout(self.charge_timeout, call)
            .await
            .unwrap_or(Err(ChargeError::Timeout))
    }

    /// Records a final answer that charged nothing (from PROCESSING only).
    async fn fail(
        &self,
        held: &Held<'_>,
        status: StatusCode,
        code: &str,
        detail: &str,
    ) -> Result<Answer, ApiError> {
        let body = problem_body(status, code, "Payment not completed", detail);
        self.finish(
            held,
            &["PROCESSING"],
            "FAILED",
            None,
            status,
            body,
            "failed",
        )
        .await
    }

    /// Records the attempt's final answer if this call still holds its lease
    /// (otherwise the answer of whoever took over stands), and lets the hold
    /// run out as it would have if it is still pending.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        held: &Held<'_>,
        from: &[&str],
        final_status: &str,
        provider_ref: Option<&str>,
        status: StatusCode,
        body: Value,
        outcome: &'static str,
    ) -> Result<Answer, ApiError> {
        let finished = bookings::finish_attempt(
            &self.pool,
            held.payment_id,
            &held.lease,
            from,
            final_status,
            provider_ref,
            (status.as_u16() as i32, &body),
        )
        .await?;
        if !finished {
            return self.superseded(held).await;
        }
        if final_status != "SUCCEEDED" {
            bookings::clear_paying(&self.pool, held.booking.booking_id).await?;
        }
        metrics::counter!("boxoffice_payments_total", "outcome" => outcome).increment(1);
        Ok(Answer { status, body })
    }

    /// This call lost the attempt's lease (it lapsed and someone took over)
    /// or the attempt moved on: answer what was recorded, if anything.
    async fn superseded(&self, held: &Held<'_>) -> Result<Answer, ApiError> {
        metrics::counter!("boxoffice_payments_total", "outcome" => "superseded").increment(1);
        tracing::warn!(
            payment.id = held.payment_id,
            "payment attempt taken over; this request writes nothing"
        );
        match bookings::attempt_answer(&self.pool, held.payment_id).await? {
            Some((status, body)) => Ok(Answer {
                status: StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
                body,
            }),
            None => Err(in_progress()),
        }
    }

    /// The outcome is unknown: keep the attempt open for a retry with the
    /// same key (or the recovery worker).
    async fn unknown_outcome(
        &self,
        held: &Held<'_>,
        provider_ref: Option<&str>,
        error: &dyn std::fmt::Display,
    ) -> Result<(), ApiError> {
        bookings::drop_lease(&self.pool, held.payment_id, &held.lease, provider_ref).await?;
        tracing::warn!(%error, payment.id = held.payment_id, "payment outcome unknown; the attempt stays open");
        Ok(())
    }

    /// With `payment_token`, charges (idempotently); without, only asks the
    /// provider what happened under the attempt's key (recovery). `resumed`:
    /// an earlier request may have sent a charge under this key.
    async fn charge_and_confirm(
        &self,
        held: &Held<'_>,
        payment_token: Option<&str>,
        resumed: bool,
    ) -> Result<Answer, ApiError> {
        let provider_key = format!("bo-pay-{}", held.payment_id);
        let asked = match payment_token {
            Some(token) => {
                let Some(earlier_may_land) = bookings::charge_sending(
                    &self.pool,
                    held.payment_id,
                    &held.lease,
                    self.charge_window,
                )
                .await?
                else {
                    return self.superseded(held).await;
                };
                let charged = self
                    .within_timeout(self.gateway.charge(&provider_key, held.amount_cents, token))
                    .await;
                match charged {
                    // The provider refused this request, but an earlier one
                    // under the key may have charged (or still may): ask.
                    Err(ChargeError::Invalid(reason)) if resumed => {
                        tracing::info!(%reason, "resumed payment refused; looking up its key");
                        match self
                            .within_timeout(self.gateway.lookup(&provider_key))
                            .await
                        {
                            Ok(None) if earlier_may_land => return self.still_pending(held).await,
                            Ok(None) => {
                                return self
                                    .fail(
                                        held,
                                        StatusCode::PAYMENT_REQUIRED,
                                        "payment_failed",
                                        &reason,
                                    )
                                    .await;
                            }
                            other => other,
                        }
                    }
                    other => other.map(Some),
                }
            }
            None => {
                self.within_timeout(self.gateway.lookup(&provider_key))
                    .await
            }
        };
        let charge = match asked {
            Ok(Some(charge)) => charge,
            Ok(None) => return self.no_record(held).await,
            Err(ChargeError::Invalid(reason)) => {
                // A fresh attempt: nothing else was ever sent under this key.
                return self
                    .fail(
                        held,
                        StatusCode::PAYMENT_REQUIRED,
                        "payment_failed",
                        &reason,
                    )
                    .await;
            }
            Err(error @ (ChargeError::Timeout | ChargeError::Unavailable(_))) => {
                self.unknown_outcome(held, None, &error).await?;
                metrics::counter!("boxoffice_payments_total", "outcome" => "timeout").increment(1);
                return Err(ApiError::problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    "payment_timeout",
                    "Payment provider timeout",
                    "the payment provider did not answer; retry with the same Idempotency-Key (you will not be charged twice)",
                ));
            }
        };
        self.settle(held, charge).await
    }

    /// The provider has no charge under the attempt's key. That is final only
    /// once no request sent under it can still land (`charge_window` after the
    /// last one left); before, the attempt stays open and is asked again.
    async fn no_record(&self, held: &Held<'_>) -> Result<Answer, ApiError> {
        if bookings::charge_may_still_land(&self.pool, held.payment_id, self.charge_window).await? {
            return self.still_pending(held).await;
        }
        self.fail(
            held,
            StatusCode::CONFLICT,
            "payment_not_completed",
            "the payment never reached the provider; nothing was charged",
        )
        .await
    }

    /// No record yet, but a charge request may still land: the attempt stays
    /// open (lease released) for the next retry or recovery pass.
    async fn still_pending(&self, held: &Held<'_>) -> Result<Answer, ApiError> {
        self.unknown_outcome(held, None, &"the provider has no record yet")
            .await?;
        metrics::counter!("boxoffice_payments_total", "outcome" => "pending").increment(1);
        Err(ApiError::conflict(
            "payment_in_progress",
            "the payment provider has not recorded this payment yet; retry shortly with the same Idempotency-Key",
        ))
    }

    /// Acts on the provider's charge: confirms the booking with it, or gives
    /// it back when it bought nothing.
    async fn settle(&self, held: &Held<'_>, charge: Charge) -> Result<Answer, ApiError> {
        let booking = held.booking;
        match charge.status {
            ChargeStatus::Declined => {
                let body = problem_body(
                    StatusCode::PAYMENT_REQUIRED,
                    "payment_declined",
                    "Payment declined",
                    "the card was declined; the seats stay held until the hold ends",
                );
                return self
                    .finish(
                        held,
                        &["PROCESSING"],
                        "FAILED",
                        Some(&charge.charge_id),
                        StatusCode::PAYMENT_REQUIRED,
                        body,
                        "declined",
                    )
                    .await;
            }
            ChargeStatus::Refunded => {
                // Refunded already (a refund whose recording was lost): the
                // money is back, so this charge can never confirm anything.
                let body = problem_body(
                    StatusCode::CONFLICT,
                    "payment_refunded",
                    "Payment refunded",
                    "this payment was refunded; the booking is not confirmed",
                );
                tracing::warn!(
                    payment.id = held.payment_id,
                    "charge found refunded; not confirming"
                );
                return self
                    .finish(
                        held,
                        &["PROCESSING", "REFUNDING"],
                        "REFUNDED",
                        Some(&charge.charge_id),
                        StatusCode::CONFLICT,
                        body,
                        "refunded",
                    )
                    .await;
            }
            ChargeStatus::Succeeded => {}
        }
        let confirmed = self
            .registry
            .confirm(booking.event_id, booking.booking_id, held.payment_id)
            .await;
        let reason = match confirmed {
            Ok(ConfirmOutcome::Confirmed {
                confirmation_number,
            }) => {
                let body = json!({
                    "booking_id": booking.booking_id,
                    "status": BookingStatus::Confirmed,
                    "confirmation_number": confirmation_number,
                    "ticket_url": format!("/tickets/{confirmation_number}"),
                });
                let answer = self
                    .finish(
                        held,
                        &["SUCCEEDED"],
                        "SUCCEEDED",
                        Some(&charge.charge_id),
                        StatusCode::OK,
                        body,
                        "succeeded",
                    )
                    .await?;
                tracing::info!("booking confirmed");
                return Ok(answer);
            }
            Ok(ConfirmOutcome::SeatsGone) => RefundReason::SeatsGone,
            Ok(ConfirmOutcome::PaidByAnother) => RefundReason::PaidByAnother,
            Ok(ConfirmOutcome::Released) => RefundReason::Released,
            // Another holder of this attempt decided its refund.
            Ok(ConfirmOutcome::AttemptClosed) => return self.superseded(held).await,
            Ok(ConfirmOutcome::NotFound) => {
                return Err(ApiError::Internal(anyhow::anyhow!("paid booking vanished")));
            }
            Err(error) => {
                self.unknown_outcome(held, Some(&charge.charge_id), &error)
                    .await?;
                return Err(ApiError::Unavailable(anyhow::anyhow!(
                    "confirming after payment: {error}"
                )));
            }
        };
        // This charge bought nothing: record the intent, then give it back.
        if !bookings::begin_refund(&self.pool, held.payment_id, &held.lease, &charge.charge_id)
            .await?
        {
            return self.superseded(held).await;
        }
        self.refund(held, &charge.charge_id, reason).await
    }

    /// Refunds a REFUNDING attempt's charge under the attempt's refund key
    /// (idempotent: a repeat after a crash refunds nothing more) and records it.
    async fn refund(
        &self,
        held: &Held<'_>,
        charge_id: &str,
        reason: RefundReason,
    ) -> Result<Answer, ApiError> {
        let refund_key = format!("bo-refund-{}", held.payment_id);
        if let Err(error) = self
            .within_timeout(self.gateway.refund(&refund_key, charge_id))
            .await
        {
            // Still REFUNDING: the next call with the key, or recovery, refunds again.
            self.unknown_outcome(held, Some(charge_id), &error).await?;
            return Err(ApiError::Unavailable(anyhow::anyhow!(
                "refund failed: {error}"
            )));
        }
        let (code, title, detail) = reason.problem();
        let body = problem_body(StatusCode::CONFLICT, code, title, detail);
        tracing::warn!(code, "charge refunded");
        self.finish(
            held,
            &["REFUNDING"],
            "REFUNDED",
            Some(charge_id),
            StatusCode::CONFLICT,
            body,
            "refunded",
        )
        .await
    }

    /// Resolves attempts abandoned mid-flight (crash, a lost answer never
    /// retried, a refund not recorded) by asking the provider under the
    /// attempt's key. Safe on every node: each attempt is resumed only by
    /// whoever takes its lease.
    pub async fn recover_abandoned(&self) -> usize {
        let abandoned = match bookings::abandoned_attempts(&self.pool, self.recovery_after).await {
            Ok(abandoned) => abandoned,
            Err(error) => {
                tracing::warn!(%error, "payment recovery could not look for abandoned attempts");
                return 0;
            }
        };
        let mut resolved = 0;
        for (payment_id, booking_id, _user, amount_cents) in abandoned {
            let Ok(Some(taken)) = bookings::take_lease(&self.pool, payment_id, self.lease).await
            else {
                continue;
            };
            let Ok(Some(booking)) = bookings::get(&self.pool, booking_id).await else {
                continue;
            };
            let held = Held {
                payment_id,
                lease: taken.lease,
                amount_cents,
                booking: &booking,
            };
            match self
                .resume(
                    &held,
                    &taken.status,
                    taken.provider_ref.as_deref(),
                    None,
                    true,
                )
                .await
            {
                Ok(answer) => {
                    resolved += 1;
                    tracing::info!(
                        payment.id = payment_id,
                        status = answer.status.as_u16(),
                        "abandoned payment resolved"
                    );
                }
                Err(error) => {
                    tracing::warn!(payment.id = payment_id, %error, "abandoned payment still unresolved")
                }
            }
        }
        resolved
    }
}

/// Parses the `Idempotency-Key` header: 1–255 visible ASCII characters.
pub fn idempotency_key(value: Option<&str>) -> Result<String, ApiError> {
    let Some(key) = value else {
        return Err(ApiError::problem(
            StatusCode::BAD_REQUEST,
            "idempotency_key_required",
            "Idempotency-Key required",
            "send an Idempotency-Key header (for example a UUID) so a retry never charges twice",
        ));
    };
    let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(key.to_owned())
    } else {
        Err(ApiError::validation(
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ))
    }
}

/// Finds the booking the caller may act on: their own, or any for an admin.
pub async fn owned_booking(
    pool: &PgPool,
    booking_id: BookingId,
    caller: &crate::auth::Caller,
) -> Result<BookingView, ApiError> {
    bookings::get(pool, booking_id)
        .await?
        .filter(|b| b.user_id == caller.user_id || caller.is_admin())
        .ok_or_else(|| ApiError::not_found("booking"))
}
