//! Browse (AP path): `GET /events` and `GET /events/{event_id}`.
//!
//! Answers are served from the Redis catalog cache when it has them, else read
//! from PostgreSQL (the browse replica when one serves, see
//! `store::browse_reads`) and stored. With Redis down every request is a
//! miss: slower, never an error.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use actors::model::EventId;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;
use crate::requests::event::{Cursor, EventFilter, EventListQuery};
use crate::store::browse_reads::BrowseReads;
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
    browse: web::Data<BrowseReads>,
    cache: web::Data<CatalogCache>,
    query: web::Query<EventListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = EventFilter::try_from(query.into_inner()).map_err(ApiError::validation)?;
    let fingerprint = Sha256::digest(serde_json::to_vec(&filter).unwrap_or_default());
    let slot = cache.slot(&format!("events:{:x}", fingerprint)).await;
    if let Some(body) = cache.get(&slot).await {
        return Ok(json_bytes(body, "HIT"));
    }
    let filter = &filter;
    let served = browse
        .read(|pool| async move { catalog::list_events(&pool, filter).await })
        .await?;
    let ttl = browse.cache_ttl(&served, cache.listing_ttl);
    let (events, more) = served.value;
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
    cache.put(&slot, &body, ttl).await;
    Ok(json_bytes(body, "MISS"))
}

#[tracing::instrument(skip_all, fields(event.id = %event_id))]
pub async fn get(
    browse: web::Data<BrowseReads>,
    cache: web::Data<CatalogCache>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event_id = event_id.into_inner();
    let slot = cache.slot(&format!("event:{event_id}")).await;
    if let Some(body) = cache.get(&slot).await {
        return Ok(json_bytes(body, "HIT"));
    }
    let served = browse
        .read_optional(|pool| async move { catalog::get_event(&pool, event_id).await })
        .await?;
    let ttl = browse.cache_ttl(&served, cache.event_ttl);
    let event = served.value.ok_or_else(|| ApiError::not_found("event"))?;
    let body = serde_json::to_vec(&event).map_err(anyhow::Error::from)?;
    cache.put(&slot, &body, ttl).await;
    Ok(json_bytes(body, "MISS"))
}
