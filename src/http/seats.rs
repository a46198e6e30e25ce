//! `GET /events/{event_id}/seats`: the seat map snapshot.
//!
//! Never from a TTL cache: a fan must never be shown a sold seat as
//! available for longer than a round trip. The answer is at least as fresh
//! as the version PostgreSQL has committed when the request comes: the live
//! hub's map once it has reached that version (one primary-key read here,
//! instead of every seat of the event per request), else PostgreSQL's.

use actix_web::http::header::{CACHE_CONTROL, ContentType};
use actix_web::{HttpResponse, web};
use actors::model::EventId;
use sqlx::PgPool;

use crate::http::api_doc::Problem;
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::http::limits::{Action, Limits};
use crate::live::hub::Hubs;
use crate::store::seats::{self, SeatSnapshot};

/// The seat map as committed: every seat with its status and price.
#[utoipa::path(
    get, path = "/events/{event_id}/seats", tag = "seat map", operation_id = "seat_map",
    params(("event_id" = EventId, Path, description = "The event")),
    responses(
        (status = 200, description = "The seat map", body = SeatSnapshot,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: over this client address's seat map limit (`limits.seat_maps_per_minute`); follow the live stream instead; `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: PostgreSQL cannot be read; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(event.id = %event_id))]
pub async fn snapshot(
    client: ClientAddr,
    limits: web::Data<Limits>,
    pool: web::Data<PgPool>,
    hubs: web::Data<Hubs>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    limits.check(Action::SeatMap, client)?;
    let event = event_id.into_inner();
    let committed = seats::version(&pool, event)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    if let Some(body) = hubs.seat_map(event, committed).await {
        return Ok(HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .content_type(ContentType::json())
            .body(body));
    }
    let snapshot = seats::snapshot(&pool, event)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(snapshot))
}
