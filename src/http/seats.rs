//! `GET /events/{event_id}/seats`: the seat map snapshot.
//!
//! Always read from committed PostgreSQL state, never from a TTL cache: a fan
//! must never be shown a sold seat as available for longer than a round trip.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use actors::model::EventId;
use sqlx::PgPool;

use crate::http::error::ApiError;
use crate::store::seats;

#[tracing::instrument(skip_all, fields(event.id = %event_id))]
pub async fn snapshot(
    pool: web::Data<PgPool>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = seats::snapshot(&pool, event_id.into_inner())
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(snapshot))
}
