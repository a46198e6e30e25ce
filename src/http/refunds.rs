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
use serde_json::json;
use sqlx::PgPool;

use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extractors::Admin;
use crate::http::payments::idempotency_key;
use crate::payments::checkout::{CancelError, Checkout, CheckoutError};
use crate::store::bookings::{self, BookingView};
use crate::store::catalog;

/// `POST /admin/bookings/{booking_id}/refund`: any booking, admin only.
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
    Ok(HttpResponse::Ok().json(json!({
        "booking_id": booking.booking_id,
        "status": BookingStatus::Refunded,
    })))
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
