//! Cancel and refund a paid booking: an operator any booking
//! (`POST /admin/bookings/{id}/refund`), a buyer their own while the event
//! allows it (`POST /bookings/{id}/cancel`). Both take an `Idempotency-Key`
//! and go down the same path (`Checkout::cancel_and_refund`): the charge is
//! refunded once however many requests ask, the seats go back on sale and the
//! tickets stop admitting.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::model::{BookingId, BookingStatus};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::http::api_doc::Problem;
use crate::http::error::ApiError;
use crate::http::extractors::Admin;
use crate::http::payments::{IdempotencyKeyHeader, idempotency_key};
use crate::payments::checkout::{CancelError, Checkout, CheckoutError};
use crate::store::bookings::{self, BookingView};
use crate::store::catalog;

/// What a cancellation and refund left.
#[derive(Serialize, ToSchema)]
struct Refunded {
    booking_id: BookingId,
    /// Always `REFUNDED`.
    status: BookingStatus,
}

/// `POST /admin/bookings/{booking_id}/refund`: any booking, admin only.
#[utoipa::path(
    post, path = "/admin/bookings/{booking_id}/refund", tag = "operator", operation_id = "refund_booking",
    params(
        ("booking_id" = i64, Path, minimum = 1),
        IdempotencyKeyHeader,
    ),
    responses(
        (status = 200, description = "Cancelled and refunded: the seats are on sale again, the tickets admit no one", body = Refunded),
        (status = 400, description = "`idempotency_key_required`; `validation_failed`: a bad key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such booking", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`booking_not_confirmed` (a hold: release it instead; names `booking_status`); `booking_not_refundable`: no settled charge; `already_checked_in` (names `first_scan_at`); `already_refunded` (under another key); `refund_in_progress` / `payment_in_progress`: retry with the same key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry with the same key", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`payment_timeout`: the provider did not answer; retry with the same key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id, booking.id = %booking_id))]
pub async fn refund(
    req: HttpRequest,
    admin: Admin,
    pool: web::Data<PgPool>,
    checkout: web::Data<Checkout>,
    booking_id: web::Path<BookingId>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let booking = bookings::get(&pool, booking_id.into_inner())
        .await?
        .ok_or_else(|| ApiError::not_found("booking"))?;
    cancel_and_refund(&checkout, &booking, &key, &admin.0).await
}

/// `POST /bookings/{booking_id}/cancel`: the buyer's own paid booking,
/// before the event's `cancellable_until` (others' bookings are 404s).
#[utoipa::path(
    post, path = "/bookings/{booking_id}/cancel", tag = "booking", operation_id = "cancel_booking",
    params(
        ("booking_id" = i64, Path, minimum = 1),
        IdempotencyKeyHeader,
    ),
    responses(
        (status = 200, description = "Cancelled and refunded: the seats are on sale again, the tickets admit no one", body = Refunded),
        (status = 400, description = "`idempotency_key_required`; `validation_failed`: a bad key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account; `cancellation_not_allowed`: the event lets no buyer cancel; `cancellation_closed` (names `cancellable_until`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such booking, or another buyer's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`booking_not_confirmed` (a hold: release it instead; names `booking_status`); `booking_not_refundable`: no settled charge; `already_checked_in` (names `first_scan_at`); `already_refunded` (under another key); `refund_in_progress` / `payment_in_progress`: retry with the same key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry with the same key", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`payment_timeout`: the provider did not answer; retry with the same key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %caller.user_id, booking.id = %booking_id))]
pub async fn cancel(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<PgPool>,
    checkout: web::Data<Checkout>,
    booking_id: web::Path<BookingId>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let booking = bookings::get(&pool, booking_id.into_inner())
        .await?
        .filter(|b| b.user_id == caller.user_id || caller.is_admin())
        .ok_or_else(|| ApiError::not_found("booking"))?;
    if !caller.is_admin() && booking.status != BookingStatus::Refunded {
        let event = catalog::get_event(&pool, booking.event_id)
            .await?
            .ok_or_else(|| ApiError::not_found("event"))?;
        match event.cancellable_until {
            None => {
                return Err(ApiError::problem(
                    StatusCode::FORBIDDEN,
                    "cancellation_not_allowed",
                    "Cancellation not allowed",
                    "this event does not let buyers cancel; ask the box office",
                ));
            }
            Some(until) if Utc::now() >= until => {
                return Err(ApiError::problem(
                    StatusCode::FORBIDDEN,
                    "cancellation_closed",
                    "Cancellation closed",
                    format!("bookings could be cancelled until {}", until.to_rfc3339()),
                )
                .with_extra(json!({ "cancellable_until": until })));
            }
            Some(_) => {}
        }
    }
    cancel_and_refund(&checkout, &booking, &key, &caller).await
}

async fn cancel_and_refund(
    checkout: &Checkout,
    booking: &BookingView,
    key: &str,
    by: &Caller,
) -> Result<HttpResponse, ApiError> {
    checkout
        .cancel_and_refund(booking, key, by.user_id)
        .await
        .map_err(refused)?;
    tracing::info!("booking refunded");
    Ok(HttpResponse::Ok().json(Refunded {
        booking_id: booking.booking_id,
        status: BookingStatus::Refunded,
    }))
}

fn refused(error: CancelError) -> ApiError {
    match error {
        CancelError::NotFound => ApiError::not_found("booking"),
        CancelError::NotConfirmed(status) => ApiError::conflict(
            "booking_not_confirmed",
            format!("the booking is {status}: only a paid booking can be refunded (a hold is released instead)"),
        )
        .with_extra(json!({ "booking_status": status })),
        CancelError::NotPaid => ApiError::conflict(
            "booking_not_refundable",
            "this booking has no settled charge to refund",
        ),
        CancelError::CheckedIn { first_scan_at } => ApiError::conflict(
            "already_checked_in",
            format!(
                "a ticket of this booking was admitted at the door at {}; an admitted booking is not refunded",
                first_scan_at.to_rfc3339()
            ),
        )
        .with_extra(json!({ "first_scan_at": first_scan_at })),
        CancelError::AlreadyRefunded => ApiError::conflict(
            "already_refunded",
            "this booking was already cancelled and refunded",
        ),
        CancelError::Refund(CheckoutError::InProgress) => ApiError::conflict(
            "refund_in_progress",
            "the refund of this booking is in progress; retry shortly with the same Idempotency-Key",
        ),
        CancelError::Refund(other) => other.into(),
    }
}
