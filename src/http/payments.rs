//! The checkout's HTTP face: the `Idempotency-Key` header, the answers
//! recorded for its decisions, and its errors as problems.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actors::model::{BookingId, BookingStatus};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, problem_body};
use crate::payments::checkout::{Answer, CheckoutError, Decision, NotCharged, RefundReason};

/// Parses the `Idempotency-Key` header: 1–255 visible ASCII characters.
/// The `Idempotency-Key` header as the document declares it, for an
/// operation's `params(...)`: what [`idempotency_key`] accepts.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documents the header `idempotency_key` reads
pub struct IdempotencyKeyHeader {
    /// 1 to 255 visible ASCII characters, for example a UUID, one per
    /// attempt: the same key again answers the same and charges or refunds
    /// nothing twice.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    idempotency_key: String,
}

pub fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok());
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

/// The 200 of `POST /bookings/{id}/confirm`.
#[derive(Serialize, ToSchema)]
pub struct Confirmed {
    pub booking_id: BookingId,
    /// Always `CONFIRMED`.
    pub status: BookingStatus,
    pub confirmation_number: String,
    /// `/tickets/{confirmation_number}`.
    pub ticket_url: String,
}

/// The answer recorded for a decision (the checkout's `Render`), replayed
/// verbatim for its key: keep it stable.
pub fn answer(decision: &Decision) -> Answer {
    let (status, code, title, detail): (StatusCode, &str, &str, &str) = match decision {
        Decision::Confirmed {
            booking_id,
            confirmation_number,
        } => {
            let body = Confirmed {
                booking_id: *booking_id,
                status: BookingStatus::Confirmed,
                confirmation_number: confirmation_number.clone(),
                ticket_url: format!("/tickets/{confirmation_number}"),
            };
            return Answer {
                status: StatusCode::OK.as_u16(),
                body: serde_json::to_value(body).unwrap_or_default(),
            };
        }
        Decision::NotCharged(why) => {
            let (status, code, detail) = match why {
                NotCharged::AlreadyPaid => (
                    StatusCode::CONFLICT,
                    "booking_already_confirmed",
                    "this booking is already paid for",
                ),
                NotCharged::HoldEnded => (
                    StatusCode::CONFLICT,
                    "hold_expired",
                    "the hold on these seats has ended; nothing was charged",
                ),
                NotCharged::Refused(reason) => (
                    StatusCode::PAYMENT_REQUIRED,
                    "payment_failed",
                    reason.as_str(),
                ),
                NotCharged::NeverReachedProvider => (
                    StatusCode::CONFLICT,
                    "payment_not_completed",
                    "the payment never reached the provider; nothing was charged",
                ),
            };
            (status, code, "Payment not completed", detail)
        }
        Decision::Declined => (
            StatusCode::PAYMENT_REQUIRED,
            "payment_declined",
            "Payment declined",
            "the card was declined; the seats stay held until the hold ends",
        ),
        Decision::FoundRefunded => (
            StatusCode::CONFLICT,
            "payment_refunded",
            "Payment refunded",
            "this payment was refunded; the booking is not confirmed",
        ),
        Decision::Refunded(RefundReason::SeatsGone) => (
            StatusCode::CONFLICT,
            "hold_expired",
            "Hold expired",
            "the hold ended and the seats were sold to someone else; your payment was refunded",
        ),
        Decision::Refunded(RefundReason::PaidByAnother) => (
            StatusCode::CONFLICT,
            "booking_already_confirmed",
            "Already paid",
            "this booking was already paid by another payment; this charge was refunded",
        ),
        Decision::Refunded(RefundReason::Cancelled) => (
            StatusCode::CONFLICT,
            "booking_refunded",
            "Booking refunded",
            "this booking was cancelled and its payment refunded",
        ),
        Decision::Refunded(RefundReason::Released) => (
            StatusCode::CONFLICT,
            "booking_released",
            "Booking released",
            "the booking was released before the payment completed; your payment was refunded",
        ),
    };
    Answer {
        status: status.as_u16(),
        body: problem_body(status, code, title, detail),
    }
}

impl From<CheckoutError> for ApiError {
    fn from(error: CheckoutError) -> ApiError {
        match error {
            CheckoutError::OtherAttemptInProgress => ApiError::conflict(
                "payment_in_progress",
                "another payment for this booking is still being resolved; retry that one with its own Idempotency-Key, or try again shortly",
            ),
            CheckoutError::KeyReused => ApiError::problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
                "this Idempotency-Key was used for another booking; use a new key",
            ),
            CheckoutError::InProgress => ApiError::conflict(
                "payment_in_progress",
                "a payment with this Idempotency-Key is in progress; retry shortly with the same key",
            ),
            CheckoutError::NotYetRecorded => ApiError::conflict(
                "payment_in_progress",
                "the payment provider has not recorded this payment yet; retry shortly with the same Idempotency-Key",
            ),
            CheckoutError::ProviderTimeout => ApiError::problem(
                StatusCode::GATEWAY_TIMEOUT,
                "payment_timeout",
                "Payment provider timeout",
                "the payment provider did not answer; retry with the same Idempotency-Key (you will not be charged twice)",
            ),
            CheckoutError::Unavailable(cause) => ApiError::Unavailable(cause),
            CheckoutError::Database(error) => error.into(),
            CheckoutError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_refusal_is_recorded_as_the_problem_the_error_type_renders() {
        let answer = answer(&Decision::Declined);
        assert_eq!(answer.status, 402);
        assert_eq!(
            answer.body,
            json!({
                "type": "https://boxoffice.dev/problems/payment-declined",
                "title": "Payment declined",
                "status": 402,
                "detail": "the card was declined; the seats stay held until the hold ends",
                "code": "payment_declined",
            })
        );
    }
}
