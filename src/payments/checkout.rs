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
use actors::domain::{BookingId, UserId};
use actors::ports::ConfirmOutcome;
use actors::registry::Registry;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{ChargeError, ChargeStatus, PaymentGateway};
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
}

fn problem_body(status: StatusCode, code: &str, title: &str, detail: &str) -> Value {
    json!({
        "type": format!("https://boxoffice.dev/problems/{}", code.replace('_', "-")),
        "title": title, "status": status.as_u16(), "detail": detail, "code": code,
    })
}

impl Checkout {
    pub fn new(
        pool: PgPool,
        gateway: Arc<dyn PaymentGateway>,
        registry: Arc<Registry>,
        lease: Duration,
        charge_timeout: Duration,
        recovery_after: Duration,
    ) -> Checkout {
        Checkout {
            pool,
            gateway,
            registry,
            lease,
            charge_timeout,
            recovery_after,
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
            bookings::BeginAttemptError::Database(e) => e.into(),
        })?;
        if attempt.booking_id != booking.booking_id {
            return Err(ApiError::problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
                "this Idempotency-Key was used for another booking; use a new key",
            ));
        }
        if let Some((status, body)) = attempt.answer {
            metrics::counter!("boxoffice_payments_total", "outcome" => "replayed").increment(1);
            let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
            return Ok(Answer { status, body });
        }
        if !attempt.leased {
            return Err(ApiError::conflict(
                "payment_in_progress",
                "a payment with this Idempotency-Key is in progress; retry shortly with the same key",
            ));
        }
        if attempt.fresh {
            if booking.status == "CONFIRMED" {
                let answer = self
                    .fail(
                        attempt.payment_id,
                        StatusCode::CONFLICT,
                        "booking_already_confirmed",
                        "this booking is already paid for",
                    )
                    .await?;
                return Ok(answer);
            }
            if !bookings::mark_paying(&self.pool, booking.booking_id).await? {
                let answer = self
                    .fail(
                        attempt.payment_id,
                        StatusCode::CONFLICT,
                        "hold_expired",
                        "the hold on these seats has ended; nothing was charged",
                    )
                    .await?;
                return Ok(answer);
            }
        }
        self.charge_and_confirm(
            attempt.payment_id,
            attempt.amount_cents,
            booking,
            Some(payment_token),
        )
        .await
    }

    /// Records a final answer that charged nothing.
    async fn fail(
        &self,
        payment_id: i64,
        status: StatusCode,
        code: &str,
        detail: &str,
    ) -> Result<Answer, ApiError> {
        let body = problem_body(status, code, "Payment not completed", detail);
        bookings::finish_attempt(
            &self.pool,
            payment_id,
            "FAILED",
            None,
            (status.as_u16() as i32, &body),
        )
        .await?;
        metrics::counter!("boxoffice_payments_total", "outcome" => "failed").increment(1);
        Ok(Answer { status, body })
    }

    /// With `payment_token`, charges (idempotently); without, only asks the
    /// provider what happened under the attempt's key (recovery).
    async fn charge_and_confirm(
        &self,
        payment_id: i64,
        amount_cents: i64,
        booking: &BookingView,
        payment_token: Option<&str>,
    ) -> Result<Answer, ApiError> {
        let provider_key = format!("bo-pay-{payment_id}");
        let asked = async {
            match payment_token {
                Some(token) => self
                    .gateway
                    .charge(&provider_key, amount_cents, token)
                    .await
                    .map(Some),
                None => self.gateway.lookup(&provider_key).await,
            }
        };
        let charge = match tokio::time::timeout(self.charge_timeout, asked)
            .await
            .unwrap_or(Err(ChargeError::Timeout))
        {
            Ok(charge) => charge,
            Err(ChargeError::Invalid(reason)) => {
                bookings::clear_paying(&self.pool, booking.booking_id).await?;
                return self
                    .fail(
                        payment_id,
                        StatusCode::PAYMENT_REQUIRED,
                        "payment_failed",
                        &reason,
                    )
                    .await;
            }
            Err(error @ (ChargeError::Timeout | ChargeError::Unavailable(_))) => {
                // Unknown outcome: keep the attempt open for a retry with the same key.
                bookings::drop_lease(&self.pool, payment_id, None).await?;
                metrics::counter!("boxoffice_payments_total", "outcome" => "timeout").increment(1);
                tracing::warn!(%error, "payment outcome unknown; the attempt stays open");
                return Err(ApiError::problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    "payment_timeout",
                    "Payment provider timeout",
                    "the payment provider did not answer; retry with the same Idempotency-Key (you will not be charged twice)",
                ));
            }
        };
        let Some(charge) = charge else {
            bookings::clear_paying(&self.pool, booking.booking_id).await?;
            return self
                .fail(
                    payment_id,
                    StatusCode::CONFLICT,
                    "payment_not_completed",
                    "the payment never reached the provider; nothing was charged",
                )
                .await;
        };
        if charge.status == ChargeStatus::Declined {
            bookings::clear_paying(&self.pool, booking.booking_id).await?;
            let body = problem_body(
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                "Payment declined",
                "the card was declined; the seats stay held until the hold ends",
            );
            bookings::finish_attempt(
                &self.pool,
                payment_id,
                "FAILED",
                Some(&charge.charge_id),
                (402, &body),
            )
            .await?;
            metrics::counter!("boxoffice_payments_total", "outcome" => "declined").increment(1);
            return Ok(Answer {
                status: StatusCode::PAYMENT_REQUIRED,
                body,
            });
        }
        let confirmed = self
            .registry
            .confirm(booking.event_id, booking.booking_id, payment_id)
            .await;
        match confirmed {
            Ok(ConfirmOutcome::Confirmed {
                confirmation_number,
            }) => {
                let body = json!({
                    "booking_id": booking.booking_id,
                    "status": "CONFIRMED",
                    "confirmation_number": confirmation_number,
                    "ticket_url": format!("/tickets/{confirmation_number}"),
                });
                bookings::finish_attempt(
                    &self.pool,
                    payment_id,
                    "SUCCEEDED",
                    Some(&charge.charge_id),
                    (200, &body),
                )
                .await?;
                metrics::counter!("boxoffice_payments_total", "outcome" => "succeeded")
                    .increment(1);
                tracing::info!("booking confirmed");
                Ok(Answer {
                    status: StatusCode::OK,
                    body,
                })
            }
            Ok(outcome @ (ConfirmOutcome::SeatsGone | ConfirmOutcome::PaidByAnother)) => {
                // This charge bought nothing: give it back.
                if let Err(error) = self.gateway.refund(&charge.charge_id).await {
                    bookings::drop_lease(&self.pool, payment_id, Some(&charge.charge_id)).await?;
                    return Err(ApiError::Unavailable(anyhow::anyhow!(
                        "refund failed: {error}"
                    )));
                }
                let (code, title, detail) = match outcome {
                    ConfirmOutcome::SeatsGone => (
                        "hold_expired",
                        "Hold expired",
                        "the hold ended and the seats were sold to someone else; your payment was refunded",
                    ),
                    _ => (
                        "booking_already_confirmed",
                        "Already paid",
                        "this booking was already paid by another payment; this charge was refunded",
                    ),
                };
                let body = problem_body(StatusCode::CONFLICT, code, title, detail);
                bookings::finish_attempt(
                    &self.pool,
                    payment_id,
                    "REFUNDED",
                    Some(&charge.charge_id),
                    (409, &body),
                )
                .await?;
                metrics::counter!("boxoffice_payments_total", "outcome" => "refunded").increment(1);
                tracing::warn!(code, "charge refunded");
                Ok(Answer {
                    status: StatusCode::CONFLICT,
                    body,
                })
            }
            Ok(ConfirmOutcome::NotFound) => {
                Err(ApiError::Internal(anyhow::anyhow!("paid booking vanished")))
            }
            Err(error) => {
                bookings::drop_lease(&self.pool, payment_id, Some(&charge.charge_id)).await?;
                Err(ApiError::Unavailable(anyhow::anyhow!(
                    "confirming after payment: {error}"
                )))
            }
        }
    }

    /// Resolves attempts abandoned mid-flight (crash, a lost answer never
    /// retried) by asking the provider under the attempt's key. Safe on every
    /// node: each attempt is resumed only by whoever takes its lease.
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
            if !bookings::take_lease(&self.pool, payment_id, self.lease)
                .await
                .unwrap_or(false)
            {
                continue;
            }
            let Ok(Some(booking)) = bookings::get(&self.pool, booking_id).await else {
                continue;
            };
            match self
                .charge_and_confirm(payment_id, amount_cents, &booking, None)
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
