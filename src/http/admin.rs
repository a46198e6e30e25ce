//! Operator endpoints (admin role): venues and events; check-in (door
//! staff too).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use actors::model::{EventId, VenueId};
use serde::Serialize;
use sqlx::PgPool;

use crate::http::error::ApiError;
use crate::http::extractors::{Admin, DoorStaff};
use crate::requests::booking_lookup::{BookingLookup, BookingLookupQuery};
use crate::requests::event::{EventPatch, EventPatchRequest, NewEvent, NewEventRequest};
use crate::requests::venue::{NewVenue, NewVenueRequest};
use crate::store::cache::CatalogCache;
use crate::store::catalog::{self, CreateEventError};

#[derive(Serialize)]
struct VenueCreated {
    venue_id: VenueId,
    seat_count: usize,
}

#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id))]
pub async fn create_venue(
    admin: Admin,
    pool: web::Data<PgPool>,
    body: web::Json<NewVenueRequest>,
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

#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id))]
pub async fn create_event(
    admin: Admin,
    pool: web::Data<PgPool>,
    cache: web::Data<CatalogCache>,
    body: web::Json<NewEventRequest>,
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

#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id, event.id = %event_id))]
pub async fn patch_event(
    admin: Admin,
    pool: web::Data<PgPool>,
    cache: web::Data<CatalogCache>,
    event_id: web::Path<EventId>,
    body: web::Json<EventPatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let event_id = event_id.into_inner();
    let patch = EventPatch::try_from(body.into_inner()).map_err(ApiError::validation)?;
    let current = catalog::get_event(&pool, event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    if patch.venue_id.is_some_and(|v| v != current.venue_id) {
        return Err(ApiError::validation(
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    ticket_code: String,
}

/// Admits a ticket at the door, once. Door staff or an admin.
#[tracing::instrument(skip_all, fields(user.id = %staff.0.user_id, event.id = %event_id))]
pub async fn check_in(
    staff: DoorStaff,
    pool: web::Data<PgPool>,
    signer: web::Data<crate::auth::Signer>,
    event_id: web::Path<EventId>,
    body: web::Json<CheckInRequest>,
) -> Result<HttpResponse, ApiError> {
    use crate::store::bookings::{self, CheckIn};
    let event_id = event_id.into_inner();
    let code = body.into_inner().ticket_code;
    let claims = crate::tickets::verify(&signer, &code).ok_or_else(|| {
        ApiError::problem(
            StatusCode::BAD_REQUEST,
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
            Ok(HttpResponse::Ok().json(serde_json::json!({
                "status": "ADMITTED", "ticket_id": ticket_id, "seat_id": seat_id, "booking_id": claims.booking_id,
            })))
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

/// A booking with every payment attempt, charge and refund.
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
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id))]
pub async fn lookup(
    admin: Admin,
    pool: web::Data<PgPool>,
    query: web::Query<BookingLookupQuery>,
) -> Result<HttpResponse, ApiError> {
    use crate::store::bookings;
    let lookup = BookingLookup::try_from(query.into_inner()).map_err(ApiError::validation)?;
    let mut found = Vec::new();
    for booking in bookings::lookup(&pool, &lookup).await? {
        found.push(with_payments(&pool, &booking).await?);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "bookings": found })))
}

/// The operator's view of a booking: the row, its payments, the buyer's email.
async fn with_payments(
    pool: &PgPool,
    booking: &crate::store::bookings::BookingView,
) -> Result<serde_json::Value, ApiError> {
    use crate::store::bookings;
    let payments = bookings::payments(pool, booking.booking_id).await?;
    let email = bookings::buyer_email(pool, booking.user_id).await?;
    let mut body = serde_json::to_value(booking).map_err(anyhow::Error::from)?;
    body["payments"] = serde_json::to_value(&payments).map_err(anyhow::Error::from)?;
    body["buyer_email"] = serde_json::json!(email);
    Ok(body)
}
