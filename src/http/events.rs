//! Browse (AP path): `GET /events` and `GET /events/{event_id}`.
//!
//! Answers are served from the Redis catalog cache when it has them, else read
//! from PostgreSQL and stored. With Redis down every request is a miss: slower,
//! never an error.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use actors::model::EventId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::http::error::ApiError;
use crate::requests::event::{Cursor, EventFilter, EventListQuery};
use crate::store::cache::CatalogCache;
use crate::store::catalog::{self, EventView};

/// Browsers and proxies may reuse browse answers briefly; the server-side
/// cache is invalidated on every change.
const BROWSE_CACHE_CONTROL: &str = "public, max-age=5";

#[derive(Serialize)]
struct EventPage<'a> {
    events: &'a [EventView],
    next_cursor: Option<String>,
}

fn json_bytes(body: Vec<u8>, cache: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, BROWSE_CACHE_CONTROL))
        .insert_header(("X-Cache", cache))
        .body(body)
}

#[tracing::instrument(skip_all)]
pub async fn list(
    pool: web::Data<PgPool>,
    cache: web::Data<CatalogCache>,
    query: web::Query<EventListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = EventFilter::try_from(query.into_inner()).map_err(ApiError::validation)?;
    let fingerprint = Sha256::digest(serde_json::to_vec(&filter).unwrap_or_default());
    let slot = cache.slot(&format!("events:{:x}", fingerprint)).await;
    if let Some(body) = cache.get(&slot).await {
        return Ok(json_bytes(body, "HIT"));
    }
    let (events, more) = catalog::list_events(&pool, &filter).await?;
    let next_cursor = more
        .then(|| {
            events.last().map(|e| {
                Cursor {
                    start_time: e.start_time,
                    event_id: e.event_id,
                }
                .encode()
            })
        })
        .flatten();
    let body = serde_json::to_vec(&EventPage {
        events: &events,
        next_cursor,
    })
    .map_err(anyhow::Error::from)?;
    cache.put(&slot, &body, cache.listing_ttl).await;
    Ok(json_bytes(body, "MISS"))
}

#[tracing::instrument(skip_all, fields(event.id = %event_id))]
pub async fn get(
    pool: web::Data<PgPool>,
    cache: web::Data<CatalogCache>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event_id = event_id.into_inner();
    let slot = cache.slot(&format!("event:{event_id}")).await;
    if let Some(body) = cache.get(&slot).await {
        return Ok(json_bytes(body, "HIT"));
    }
    let event = catalog::get_event(&pool, event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let body = serde_json::to_vec(&event).map_err(anyhow::Error::from)?;
    cache.put(&slot, &body, cache.event_ttl).await;
    Ok(json_bytes(body, "MISS"))
}
