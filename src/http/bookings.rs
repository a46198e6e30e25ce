//! Booking (CP path): reserve, read, release, confirm with payment.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::event_actor::ReserveError;
use actors::model::{BookingId, BookingStatus, EventId, EventStatus, SeatId};
use actors::ports::ReleaseOutcome;
use actors::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::config::BookingSettings;
use crate::http::api_doc::Problem;
use crate::http::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::http::payments::{self, Confirmed, IdempotencyKeyHeader};
use crate::payments::checkout::Checkout;
use crate::requests::booking::{ReserveForm, ReserveRequest};
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

/// Hold seats for `booking.hold_seconds`, all or none.
#[utoipa::path(
    post, path = "/bookings", tag = "booking", operation_id = "create_booking",
    request_body = ReserveForm,
    params(
        ("X-Queue-Token" = Option<String>, Header, nullable = false, description = "Required when the event's waiting room is on: the token `GET /events/{event_id}/queue` gives once admitted"),
    ),
    responses(
        (status = 201, description = "The hold (`PENDING`)", body = HeldBody, links(
            ("GetBooking" = (operation_id = "get_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
            ("ReleaseBooking" = (operation_id = "release_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
            ("ConfirmBooking" = (operation_id = "confirm_booking", parameters(("booking_id" = "$response.body#/booking_id")), request_body = json!({"payment_token": "tok_visa"}), description = "`tok_visa`: the simulated provider's token that pays")),
            ("CancelBooking" = (operation_id = "cancel_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
            ("AdminBooking" = (operation_id = "admin_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
            ("RefundBooking" = (operation_id = "refund_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
        )),
        (status = 400, description = "`validation_failed`: not exactly one of `seat_ids` and `best_available`, too many seats, a seat twice, malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The request follows the schema but names what the event does not have: `unknown_seats` (names `seat_ids`), `unknown_zone`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account; `queue_token_required` / `queue_token_invalid`: the event's waiting room is on", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`seat_unavailable` (names `seat_ids`); `not_enough_seats` (best available: no such block left; names `count`); `event_not_on_sale`; `hold_limit_reached` (the buyer already holds `booking.max_active_seats_per_buyer` seats of this event; names `limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the event's actor or PostgreSQL did not answer in time; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %caller.user_id))]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    gates: web::Data<EventGates>,
    registry: web::Data<Registry>,
    settings: web::Data<BookingSettings>,
    signer: web::Data<crate::auth::Signer>,
    body: JsonBody<ReserveRequest>,
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
                StatusCode::UNPROCESSABLE_ENTITY,
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
                StatusCode::UNPROCESSABLE_ENTITY,
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
#[derive(Serialize, ToSchema)]
#[schema(as = Hold)]
struct HeldBody<'a> {
    booking_id: BookingId,
    event_id: EventId,
    #[schema(value_type = Vec<SeatId>)]
    seat_ids: &'a [SeatId],
    /// Always `PENDING`.
    status: BookingStatus,
    expires_at: chrono::DateTime<chrono::Utc>,
    amount_cents: i64,
}

/// A booking as `GET /bookings/{id}` shows it: the row plus its ticket URL.
#[derive(Serialize, ToSchema)]
#[schema(as = Booking)]
pub struct BookingBody<'a> {
    #[serde(flatten)]
    #[schema(inline)]
    booking: &'a BookingView,
    /// `/tickets/{confirmation_number}` once paid.
    #[schema(required = true)]
    ticket_url: Option<String>,
}

fn booking_body(booking: &BookingView) -> BookingBody<'_> {
    BookingBody {
        booking,
        ticket_url: booking
            .confirmation_number
            .as_ref()
            .map(|n| format!("/tickets/{n}")),
    }
}

/// The caller's live holds and confirmed bookings.
#[derive(Serialize, ToSchema)]
struct BookingList<'a> {
    bookings: Vec<BookingBody<'a>>,
}

/// What `DELETE /bookings/{id}` left.
#[derive(Serialize, ToSchema)]
struct Released {
    booking_id: BookingId,
    /// `RELEASED` now, or how the booking had already ended.
    status: BookingStatus,
    /// The seats given back (or the booking's seats, if it had already ended).
    seat_ids: Vec<SeatId>,
}

/// A booking (its owner's, or any for an admin).
#[utoipa::path(
    get, path = "/bookings/{booking_id}", tag = "booking", operation_id = "get_booking",
    params(("booking_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The booking", body = BookingBody),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such booking, or another buyer's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(booking.id = %booking_id))]
pub async fn get(
    caller: Caller,
    pool: web::Data<PgPool>,
    booking_id: web::Path<BookingId>,
) -> Result<HttpResponse, ApiError> {
    let booking = owned_booking(&pool, booking_id.into_inner(), &caller).await?;
    Ok(HttpResponse::Ok().json(booking_body(&booking)))
}

/// `GET /me/bookings`: the caller's live holds and confirmed bookings, newest
/// first, at most [`bookings::MINE_LIMIT`]; each shaped like `GET /bookings/{id}`.
#[utoipa::path(
    get, path = "/me/bookings", tag = "booking", operation_id = "my_bookings",
    responses(
        (status = 200, description = "The caller's live holds and confirmed bookings, newest first (at most 100)", body = BookingList),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %caller.user_id))]
pub async fn mine(caller: Caller, pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    let list = bookings::of_user(&pool, caller.user_id).await?;
    Ok(HttpResponse::Ok().json(BookingList {
        bookings: list.iter().map(booking_body).collect(),
    }))
}

/// Release a hold at once (idempotent: a booking that already ended answers
/// how it ended).
#[utoipa::path(
    delete, path = "/bookings/{booking_id}", tag = "booking", operation_id = "release_booking",
    params(("booking_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "Released, or already ended", body = Released),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such booking, or another buyer's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`booking_confirmed`: paid (cancel it instead); `payment_in_progress`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the event's actor did not answer in time; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
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
            Ok(HttpResponse::Ok().json(Released {
                booking_id: booking.booking_id,
                status: BookingStatus::Released,
                seat_ids: freed.seats,
            }))
        }
        ReleaseOutcome::AlreadyEnded => {
            let current = owned_booking(&pool, booking.booking_id, &caller).await?;
            Ok(HttpResponse::Ok().json(Released {
                booking_id: current.booking_id,
                status: current.status,
                seat_ids: current.seat_ids,
            }))
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The payment provider's token, 1 to 200 characters, not blank (the
    /// simulated provider: `tok_visa`, `tok_chargeDeclined`, `tok_timeout`,
    /// `tok_slow`; others fail with 402 `payment_failed`).
    #[schema(schema_with = crate::requests::schema::token::<200>)]
    payment_token: String,
}

/// Pay for a hold and confirm it. The `Idempotency-Key` makes retries safe:
/// the same key for the same booking replays the first answer (its status
/// and body) and charges nothing again.
#[utoipa::path(
    post, path = "/bookings/{booking_id}/confirm", tag = "booking", operation_id = "confirm_booking",
    params(
        ("booking_id" = i64, Path, minimum = 1),
        IdempotencyKeyHeader,
    ),
    request_body = ConfirmRequest,
    responses(
        (status = 200, description = "Paid and confirmed", body = Confirmed, links(
            ("ShowTickets" = (operation_id = "show_tickets", parameters(("confirmation_number" = "$response.body#/confirmation_number")))),
            ("GetBooking" = (operation_id = "get_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
            ("CancelBooking" = (operation_id = "cancel_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
            ("RefundBooking" = (operation_id = "refund_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
        )),
        (status = 400, description = "`idempotency_key_required`; `validation_failed`: a bad key or payment token, malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "`payment_declined`; `payment_failed`: the provider refused the token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such booking, or another buyer's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold_expired` (a charge that landed too late is refunded); `payment_in_progress`: retry; `booking_already_confirmed`; `booking_released` / `booking_refunded` / `payment_refunded` (charge refunded); `payment_not_completed`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_key_reused`: the key was used for another booking", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry with the same key", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`payment_timeout`: the provider did not answer; retry with the same key (never charged twice)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(booking.id = %booking_id))]
pub async fn confirm(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<PgPool>,
    checkout: web::Data<Checkout>,
    booking_id: web::Path<BookingId>,
    body: JsonBody<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = payments::idempotency_key(&req)?;
    let token = body.into_inner().payment_token;
    if token.trim().is_empty() || token.chars().count() > 200 {
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
