//! Booking (CP path): reserve, read, release, confirm with payment.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::event_actor::ReserveError;
use actors::model::{BookingId, BookingStatus, EventId, EventStatus, SeatId};
use actors::ports::ReleaseOutcome;
use actors::registry::Registry;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use crate::auth::Caller;
use crate::config::BookingSettings;
use crate::http::error::ApiError;
use crate::http::payments;
use crate::payments::checkout::Checkout;
use crate::requests::booking::ReserveRequest;
use crate::store::bookings::{self, BookingView};
use crate::store::catalog::{EventGate, EventGates};

/// For events with a waiting room: the caller's queue token must admit them
/// to this event, now.
fn admitted_from_queue(
    req: &HttpRequest,
    signer: &crate::auth::Signer,
    event: EventId,
    user: actors::model::UserId,
) -> Result<(), ApiError> {
    use crate::waiting_room::token::{self, TokenError};
    let Some(token) = req
        .headers()
        .get("X-Queue-Token")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::problem(
            StatusCode::FORBIDDEN,
            "queue_token_required",
            "Queue token required",
            "this event has a waiting room: join it (POST /events/{id}/queue) and send the queue token you are given as X-Queue-Token",
        ));
    };
    token::verify(signer, token, event, user)
        .map(|_| ())
        .map_err(|error| {
            let detail = match error {
                TokenError::Expired => "the queue token has expired; join the waiting room again",
                TokenError::Invalid => "the queue token is not valid for you and this event",
            };
            ApiError::problem(
                StatusCode::FORBIDDEN,
                "queue_token_invalid",
                "Queue token invalid",
                detail,
            )
        })
}

/// Finds the booking the caller may act on: their own, or any for an admin.
async fn owned_booking(
    pool: &PgPool,
    booking_id: BookingId,
    caller: &Caller,
) -> Result<BookingView, ApiError> {
    bookings::get(pool, booking_id)
        .await?
        .filter(|b| b.user_id == caller.user_id || caller.is_admin())
        .ok_or_else(|| ApiError::not_found("booking"))
}

fn seat_unavailable(seats: Vec<SeatId>) -> ApiError {
    ApiError::conflict("seat_unavailable", "some of these seats are held or sold")
        .with_extra(json!({ "seat_ids": seats }))
}

#[tracing::instrument(skip_all, fields(user.id = %caller.user_id))]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    gates: web::Data<EventGates>,
    registry: web::Data<Registry>,
    settings: web::Data<BookingSettings>,
    signer: web::Data<crate::auth::Signer>,
    body: web::Json<ReserveRequest>,
) -> Result<HttpResponse, ApiError> {
    let reservation = body
        .into_inner()
        .into_reservation(settings.max_seats_per_booking)
        .map_err(|error| ApiError::validation(error.to_string()))?;
    let event = reservation.event_id();
    let mut gate = gates
        .get(event)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    // The gate is cached for a second per node. A refusal is confirmed
    // against PostgreSQL first, so an operator who opens the sale (or turns
    // the waiting room off) through another node is obeyed at once here.
    let refuses = |gate: &EventGate| {
        if gate.status != EventStatus::OnSale {
            return Err(ApiError::conflict(
                "event_not_on_sale",
                format!("the event is {}", gate.status),
            ));
        }
        if gate.queue_enabled {
            admitted_from_queue(&req, &signer, event, caller.user_id)?;
        }
        Ok(())
    };
    if refuses(&gate).is_err() {
        gate = gates
            .fresh(event)
            .await?
            .ok_or_else(|| ApiError::not_found("event"))?;
        refuses(&gate)?;
    }
    let hold = registry
        .reserve(caller.user_id, &reservation)
        .await
        .map_err(|error| match error {
            ReserveError::SeatsUnavailable(seats) => seat_unavailable(seats),
            ReserveError::UnknownSeats(seats) => ApiError::problem(
                StatusCode::BAD_REQUEST,
                "unknown_seats",
                "Unknown seats",
                "these seats are not seats of this event",
            )
            .with_extra(json!({ "seat_ids": seats })),
            ReserveError::NotEnoughSeats { count } => ApiError::conflict(
                "not_enough_seats",
                format!("no {count} adjacent seats in one row are left"),
            )
            .with_extra(json!({ "count": count })),
            ReserveError::UnknownZone(zone) => ApiError::problem(
                StatusCode::BAD_REQUEST,
                "unknown_zone",
                "Unknown zone",
                format!("the event has no price zone named {zone:?}"),
            ),
            ReserveError::HoldLimitReached { limit } => ApiError::conflict(
                "hold_limit_reached",
                format!(
                    "you already hold seats of this event; at most {limit} at once \
                     (pay for or release a booking first)"
                ),
            )
            .with_extra(json!({ "limit": limit })),
            ReserveError::Unavailable(reason) => ApiError::Unavailable(anyhow::anyhow!(reason)),
        })?;
    tracing::info!(booking.id = %hold.booking_id, event.id = %hold.event_id, seats = hold.seat_ids.len(), "seats held");
    Ok(HttpResponse::Created().json(HeldBody {
        booking_id: hold.booking_id,
        event_id: hold.event_id,
        seat_ids: &hold.seat_ids,
        status: BookingStatus::Pending,
        expires_at: hold.expires_at,
        amount_cents: hold.amount_cents,
    }))
}

/// The 201 of `POST /bookings`, serialised straight from the hold (the hot
/// path: no intermediate `serde_json::Value` map per request).
#[derive(serde::Serialize)]
struct HeldBody<'a> {
    booking_id: BookingId,
    event_id: EventId,
    seat_ids: &'a [SeatId],
    status: BookingStatus,
    expires_at: chrono::DateTime<chrono::Utc>,
    amount_cents: i64,
}

/// A booking as `GET /bookings/{id}` shows it: the row plus its ticket URL.
fn booking_body(booking: &BookingView) -> Result<serde_json::Value, ApiError> {
    let ticket_url = booking
        .confirmation_number
        .as_ref()
        .map(|n| format!("/tickets/{n}"));
    let mut body = serde_json::to_value(booking).map_err(anyhow::Error::from)?;
    body["ticket_url"] = json!(ticket_url);
    Ok(body)
}

#[tracing::instrument(skip_all, fields(booking.id = %booking_id))]
pub async fn get(
    caller: Caller,
    pool: web::Data<PgPool>,
    booking_id: web::Path<BookingId>,
) -> Result<HttpResponse, ApiError> {
    let booking = owned_booking(&pool, booking_id.into_inner(), &caller).await?;
    Ok(HttpResponse::Ok().json(booking_body(&booking)?))
}

/// `GET /me/bookings`: the caller's live holds and confirmed bookings, newest
/// first, at most [`bookings::MINE_LIMIT`]; each shaped like `GET /bookings/{id}`.
#[tracing::instrument(skip_all, fields(user.id = %caller.user_id))]
pub async fn mine(caller: Caller, pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    let list = bookings::of_user(&pool, caller.user_id)
        .await?
        .iter()
        .map(booking_body)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(json!({ "bookings": list })))
}

#[tracing::instrument(skip_all, fields(booking.id = %booking_id))]
pub async fn release(
    caller: Caller,
    pool: web::Data<PgPool>,
    registry: web::Data<Registry>,
    booking_id: web::Path<BookingId>,
) -> Result<HttpResponse, ApiError> {
    let booking = owned_booking(&pool, booking_id.into_inner(), &caller).await?;
    let owner = (!caller.is_admin()).then_some(caller.user_id);
    let outcome = registry
        .release(booking.event_id, booking.booking_id, owner)
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?;
    match outcome {
        ReleaseOutcome::Released(freed) => {
            tracing::info!(seats = freed.seats.len(), "booking released");
            Ok(HttpResponse::Ok().json(json!({
                "booking_id": booking.booking_id, "status": BookingStatus::Released, "seat_ids": freed.seats,
            })))
        }
        ReleaseOutcome::AlreadyEnded => {
            let current = owned_booking(&pool, booking.booking_id, &caller).await?;
            Ok(HttpResponse::Ok().json(json!({
                "booking_id": current.booking_id, "status": current.status, "seat_ids": current.seat_ids,
            })))
        }
        ReleaseOutcome::Confirmed => Err(ApiError::conflict(
            "booking_confirmed",
            "a paid booking cannot be released here",
        )),
        ReleaseOutcome::PaymentInFlight => Err(ApiError::conflict(
            "payment_in_progress",
            "a payment for this booking is in progress",
        )),
        ReleaseOutcome::NotFound => Err(ApiError::not_found("booking")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    payment_token: String,
}

#[tracing::instrument(skip_all, fields(booking.id = %booking_id))]
pub async fn confirm(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<PgPool>,
    checkout: web::Data<Checkout>,
    booking_id: web::Path<BookingId>,
    body: web::Json<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = payments::idempotency_key(&req)?;
    let token = body.into_inner().payment_token;
    if token.trim().is_empty() || token.len() > 200 {
        return Err(ApiError::validation(
            "payment_token must be a non-empty token",
        ));
    }
    let booking = owned_booking(&pool, booking_id.into_inner(), &caller).await?;
    let answer = checkout
        .confirm(booking.user_id, &booking, &key, &token)
        .await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    Ok(HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, content_type))
        .body(answer.body.to_string()))
}
