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
use utoipa::ToSchema;

use crate::http::api_doc::Problem;
use crate::http::error::ApiError;
use crate::requests::event::{Cursor, EventFilter, EventListQuery};
use crate::store::browse_reads::BrowseReads;
use crate::store::cache::CatalogCache;
use crate::store::catalog::{self, EventView};

/// Browsers and proxies may reuse browse answers briefly; the server-side
/// cache is invalidated on every change.
const BROWSE_CACHE_CONTROL: &str = "public, max-age=5";

/// One page of events, by start time then id.
#[derive(Serialize, ToSchema)]
struct EventPage<'a> {
    events: &'a [EventView],
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

fn json_bytes(body: Vec<u8>, cache: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, BROWSE_CACHE_CONTROL))
        .insert_header(("X-Cache", cache))
        .body(body)
}

/// List events, soonest first (served from the catalog cache when it has
/// the page).
#[utoipa::path(
    get, path = "/events", tag = "browse", operation_id = "list_events",
    params(EventListQuery),
    responses(
        (status = 200, description = "A page of events", body = EventPage,
            headers(
                ("Cache-Control" = String, description = "`public, max-age=5`"),
                ("X-Cache" = String, description = "`HIT` when served from the catalog cache, else `MISS`"),
            ),
            links(
                ("event" = (operation_id = "get_event", parameters(("event_id" = "$response.body#/events/0/event_id")),
                    description = "The first event of the page")),
                ("seats" = (operation_id = "seat_map", parameters(("event_id" = "$response.body#/events/0/event_id")),
                    description = "The first event's seat map")),
                ("layout" = (operation_id = "venue_layout", parameters(("venue_id" = "$response.body#/events/0/venue_id")),
                    description = "The layout of the first event's venue")),
                ("join_queue" = (operation_id = "join_queue", parameters(("event_id" = "$response.body#/events/0/event_id")),
                    description = "Join the first event's waiting room")),
                ("queue_fairness" = (operation_id = "queue_fairness", parameters(("event_id" = "$response.body#/events/0/event_id")),
                    description = "The first event's on-sale draw")),
                ("next_page" = (operation_id = "list_events", parameters(("cursor" = "$response.body#/next_cursor")),
                    description = "The next page (while `next_cursor` is not null)")),
            )),
        (status = 400, description = "`validation_failed`: `limit` out of range or not a number, a malformed time or cursor, a text filter over 100 characters", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the catalog cannot be read; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
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

/// One event.
#[utoipa::path(
    get, path = "/events/{event_id}", tag = "browse", operation_id = "get_event",
    params(("event_id" = EventId, Path, description = "The event")),
    responses(
        (status = 200, description = "The event", body = EventView,
            headers(
                ("Cache-Control" = String, description = "`public, max-age=5`"),
                ("X-Cache" = String, description = "`HIT` when served from the catalog cache, else `MISS`"),
            ),
            links(
                ("seats" = (operation_id = "seat_map", parameters(("event_id" = "$response.body#/event_id")),
                    description = "The event's seat map")),
                ("seats_stream" = (operation_id = "seat_map_stream", parameters(("event_id" = "$response.body#/event_id")),
                    description = "The event's live seat map (SSE)")),
                ("seats_ws" = (operation_id = "seat_map_ws", parameters(("event_id" = "$response.body#/event_id")),
                    description = "The event's live seat map (WebSocket)")),
                ("layout" = (operation_id = "venue_layout", parameters(("venue_id" = "$response.body#/venue_id")),
                    description = "The layout of the event's venue")),
                ("join_queue" = (operation_id = "join_queue", parameters(("event_id" = "$response.body#/event_id")),
                    description = "Join the event's waiting room")),
                ("queue_status" = (operation_id = "queue_status", parameters(("event_id" = "$response.body#/event_id")),
                    description = "Where the caller stands in the event's waiting room")),
                ("queue_fairness" = (operation_id = "queue_fairness", parameters(("event_id" = "$response.body#/event_id")),
                    description = "The event's on-sale draw")),
            )),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the catalog cannot be read; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
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
