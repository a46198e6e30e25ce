//! Operator endpoints (admin role): venues and events; check-in (door
//! staff too).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use actors::model::{EventId, VenueId};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::http::api_doc::Problem;
use crate::http::error::ApiError;
use crate::http::extractors::{Admin, DoorStaff};
use crate::http::json_body::JsonBody;
use crate::requests::booking_lookup::{BookingLookup, BookingLookupQuery};
use crate::requests::event::{
    EventPatch, EventPatchBody, EventPatchRequest, NewEvent, NewEventRequest,
};
use crate::requests::venue::{NewVenue, NewVenueRequest};
use crate::store::bookings::{BookingView, PaymentView};
use crate::store::cache::CatalogCache;
use crate::store::catalog::{self, CreateEventError, EventView};

#[derive(Serialize, ToSchema)]
struct VenueCreated {
    venue_id: VenueId,
    seat_count: usize,
}

/// Create a venue and its seats.
#[utoipa::path(
    post, path = "/admin/venues", tag = "operator", operation_id = "create_venue",
    request_body = NewVenueRequest,
    responses(
        (status = 201, description = "The venue", body = VenueCreated, links(
            ("CreateEvent" = (operation_id = "create_event", request_body = json!({"venue_id": "$response.body#/venue_id"}))),
        )),
        (status = 400, description = "`validation_failed`: a rule of the layout broken (names unique, every section shaped or none, at most 200,000 seats, ...), malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id))]
pub async fn create_venue(
    admin: Admin,
    pool: web::Data<PgPool>,
    body: JsonBody<NewVenueRequest>,
) -> Result<HttpResponse, ApiError> {
    let venue = NewVenue::try_from(body.into_inner()).map_err(ApiError::validation)?;
    let venue_id = catalog::create_venue(&pool, &venue).await.map_err(|e| {
        match crate::store::violated_constraint(&e) {
            Some("venue_seats_place_key") => {
                ApiError::validation("two seats of the layout have the same name")
            }
            _ => e.into(),
        }
    })?;
    tracing::info!(venue.id = %venue_id, venue.seats = venue.seats.len(), "venue created");
    Ok(HttpResponse::Created().json(VenueCreated {
        venue_id,
        seat_count: venue.seats.len(),
    }))
}

/// Create an event at a venue (its seat map made with it).
#[utoipa::path(
    post, path = "/admin/events", tag = "operator", operation_id = "create_event",
    request_body = NewEventRequest,
    responses(
        (status = 201, description = "The event", body = EventView, links(
            ("HoldSeats" = (operation_id = "create_booking", request_body = json!({"event_id": "$response.body#/event_id"}))),
            ("PatchEvent" = (operation_id = "patch_event", parameters(("event_id" = "$response.body#/event_id")))),
            ("CheckIn" = (operation_id = "check_in", parameters(("event_id" = "$response.body#/event_id")))),
        )),
        (status = 400, description = "`validation_failed`: a field out of range, zones naming sections twice or sections the venue lacks, malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_venue`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id))]
pub async fn create_event(
    admin: Admin,
    pool: web::Data<PgPool>,
    cache: web::Data<CatalogCache>,
    body: JsonBody<NewEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let event = NewEvent::try_from(body.into_inner()).map_err(ApiError::validation)?;
    let event_id = catalog::create_event(&pool, &event)
        .await
        .map_err(|e| match e {
            CreateEventError::UnknownVenue => ApiError::problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_venue",
                "Unknown venue",
                format!("venue {} does not exist", event.venue_id),
            ),
            CreateEventError::UnknownSections(sections) => ApiError::validation(format!(
                "zones name sections the venue does not have: {}",
                sections.join(", ")
            )),
            CreateEventError::Database(e) => e.into(),
        })?;
    cache.invalidate().await;
    tracing::info!(event.id = %event_id, "event created");
    let view = catalog::get_event(&pool, event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok(HttpResponse::Created().json(view))
}

/// Change an event (browse caches invalidated on every node).
#[utoipa::path(
    patch, path = "/admin/events/{event_id}", tag = "operator", operation_id = "patch_event",
    params(("event_id" = i64, Path, minimum = 1)),
    request_body = EventPatchBody,
    responses(
        (status = 200, description = "The event as changed", body = EventView),
        (status = 400, description = "`validation_failed`: a field out of range, nothing to change, malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`venue_locked`: another `venue_id` (the event's seats belong to its venue)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id, event.id = %event_id))]
pub async fn patch_event(
    admin: Admin,
    pool: web::Data<PgPool>,
    cache: web::Data<CatalogCache>,
    event_id: web::Path<EventId>,
    body: JsonBody<EventPatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let event_id = event_id.into_inner();
    let patch = EventPatch::try_from(body.into_inner()).map_err(ApiError::validation)?;
    let current = catalog::get_event(&pool, event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    if patch.venue_id.is_some_and(|v| v != current.venue_id) {
        return Err(ApiError::conflict(
            "venue_locked",
            "venue_id cannot change: the event's seats belong to its venue",
        ));
    }
    if !catalog::patch_event(&pool, event_id, &patch).await? {
        return Err(ApiError::not_found("event"));
    }
    // After the commit: a reader that saw the old row stored it under the old generation.
    cache.invalidate().await;
    tracing::info!("event updated");
    let view = catalog::get_event(&pool, event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The code a ticket's QR image carries.
    ticket_code: String,
}

/// The 200 of a check-in.
#[derive(Serialize, ToSchema)]
struct Admitted {
    /// Always `ADMITTED`.
    #[schema(value_type = String, pattern = "^ADMITTED$")]
    status: &'static str,
    ticket_id: i64,
    seat_id: actors::model::SeatId,
    booking_id: actors::model::BookingId,
}

/// Admits a ticket at the door, once. Door staff or an admin.
#[utoipa::path(
    post, path = "/admin/events/{event_id}/checkin", tag = "operator", operation_id = "check_in",
    params(("event_id" = i64, Path, minimum = 1)),
    request_body = CheckInRequest,
    responses(
        (status = 200, description = "Admitted: the ticket's first scan", body = Admitted),
        (status = 400, description = "`validation_failed`: malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_ticket`: a code boxoffice did not issue (its signature does not verify)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: neither door staff nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`ticket_not_valid`: not (or no longer) a ticket of this event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_checked_in` (names `first_scan_at`); `wrong_event`: a ticket for another event", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`ticket_refunded`: its booking was refunded (names `refunded_at`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %staff.0.user_id, event.id = %event_id))]
pub async fn check_in(
    staff: DoorStaff,
    pool: web::Data<PgPool>,
    signer: web::Data<crate::auth::Signer>,
    event_id: web::Path<EventId>,
    body: JsonBody<CheckInRequest>,
) -> Result<HttpResponse, ApiError> {
    use crate::store::bookings::{self, CheckIn};
    let event_id = event_id.into_inner();
    let code = body.into_inner().ticket_code;
    let claims = crate::tickets::verify(&signer, &code).ok_or_else(|| {
        ApiError::problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ticket",
            "Invalid ticket",
            "this code was not issued by boxoffice",
        )
    })?;
    if claims.event_id != event_id {
        return Err(ApiError::conflict(
            "wrong_event",
            format!("this ticket is for event {}", claims.event_id),
        ));
    }
    match bookings::check_in(&pool, event_id, code.trim()).await? {
        CheckIn::Admitted { ticket_id, seat_id } => {
            tracing::info!(ticket.id = ticket_id, "ticket admitted");
            Ok(HttpResponse::Ok().json(Admitted {
                status: "ADMITTED",
                ticket_id,
                seat_id,
                booking_id: claims.booking_id,
            }))
        }
        CheckIn::AlreadyIn { first_scan_at } => Err(ApiError::conflict(
            "already_checked_in",
            format!(
                "this ticket was already scanned at {}",
                first_scan_at.to_rfc3339()
            ),
        )
        .with_extra(serde_json::json!({ "first_scan_at": first_scan_at }))),
        CheckIn::Refunded { refunded_at } => Err(ApiError::problem(
            StatusCode::GONE,
            "ticket_refunded",
            "Ticket refunded",
            "this ticket's booking was cancelled and refunded; it admits no one",
        )
        .with_extra(serde_json::json!({ "refunded_at": refunded_at }))),
        CheckIn::NotIssued => Err(ApiError::problem(
            StatusCode::NOT_FOUND,
            "ticket_not_valid",
            "Ticket not valid",
            "this ticket is not (or no longer) valid for entry",
        )),
    }
}

/// The operator's view of a booking: the row, its payments, the buyer's email.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminBooking)]
struct WithPayments<'a> {
    #[serde(flatten)]
    #[schema(inline)]
    booking: &'a BookingView,
    /// Every payment attempt, oldest first.
    payments: Vec<PaymentView>,
    #[schema(required = true)]
    buyer_email: Option<String>,
}

/// Bookings the operator's search found, newest first (at most 50 for an email).
#[derive(Serialize, ToSchema)]
struct Found<'a> {
    bookings: Vec<WithPayments<'a>>,
}

/// A booking with every payment attempt, charge and refund.
#[utoipa::path(
    get, path = "/admin/bookings/{booking_id}", tag = "operator", operation_id = "admin_booking",
    params(("booking_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The booking", body = WithPayments, links(
            ("RefundBooking" = (operation_id = "refund_booking", parameters(("booking_id" = "$response.body#/booking_id")))),
        )),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such booking", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id, booking.id = %booking_id))]
pub async fn booking(
    admin: Admin,
    pool: web::Data<PgPool>,
    booking_id: web::Path<actors::model::BookingId>,
) -> Result<HttpResponse, ApiError> {
    use crate::store::bookings;
    let booking = bookings::get(&pool, booking_id.into_inner())
        .await?
        .ok_or_else(|| ApiError::not_found("booking"))?;
    Ok(HttpResponse::Ok().json(with_payments(&pool, &booking).await?))
}

/// `GET /admin/bookings?q=`: bookings by id, confirmation number or buyer
/// email, each with its payments and buyer's email, newest first.
#[utoipa::path(
    get, path = "/admin/bookings", tag = "operator", operation_id = "lookup_bookings",
    params(BookingLookupQuery),
    responses(
        (status = 200, description = "What matched (perhaps nothing)", body = Found),
        (status = 400, description = "`validation_failed`: `q` missing, blank, too long, or neither an id, a confirmation number nor an email", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id))]
pub async fn lookup(
    admin: Admin,
    pool: web::Data<PgPool>,
    query: web::Query<BookingLookupQuery>,
) -> Result<HttpResponse, ApiError> {
    use crate::store::bookings;
    let lookup = BookingLookup::try_from(query.into_inner()).map_err(ApiError::validation)?;
    let matched = bookings::lookup(&pool, &lookup).await?;
    let mut found = Vec::with_capacity(matched.len());
    for booking in &matched {
        found.push(with_payments(&pool, booking).await?);
    }
    Ok(HttpResponse::Ok().json(Found { bookings: found }))
}

async fn with_payments<'a>(
    pool: &PgPool,
    booking: &'a BookingView,
) -> Result<WithPayments<'a>, ApiError> {
    use crate::store::bookings;
    Ok(WithPayments {
        booking,
        payments: bookings::payments(pool, booking.booking_id).await?,
        buyer_email: bookings::buyer_email(pool, booking.user_id).await?,
    })
}
