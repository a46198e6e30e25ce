//! `GET /venues/{venue_id}/layout`: the static drawing of a venue's seats
//! (read where browse reads, `store::browse_reads`).
//!
//! A layout never changes after the venue is created, so it is served with a
//! long-lived `Cache-Control`, an `ETag` built from the venue's identity and
//! creation time, and `304 Not Modified` for a matching `If-None-Match`.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use actix_web::{HttpRequest, HttpResponse, web};
use actors::model::{SeatId, VenueId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::api_doc::Problem;
use crate::http::error::ApiError;
use crate::store::browse_reads::BrowseReads;
use crate::store::cache::CatalogCache;
use crate::store::catalog::{self, LayoutSeat, VenueHeader};

const LAYOUT_CACHE_CONTROL: &str = "public, max-age=86400";

/// A venue and its seats, by section and row, in layout order.
#[derive(Serialize, ToSchema)]
struct Layout<'a> {
    #[serde(flatten)]
    venue: &'a VenueHeader,
    sections: Vec<Section<'a>>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = LayoutSection)]
struct Section<'a> {
    name: &'a str,
    rows: Vec<Row<'a>>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = LayoutRow)]
struct Row<'a> {
    name: &'a str,
    seats: Vec<Seat>,
}

/// Where a seat is drawn, in seat coordinates.
#[derive(Serialize, ToSchema)]
#[schema(as = LayoutSeat)]
struct Seat {
    seat_id: SeatId,
    number: i32,
    x: f32,
    y: f32,
}

/// Groups seats (already in layout order) into sections and rows.
fn group(seats: &[LayoutSeat]) -> Vec<Section<'_>> {
    let mut sections: Vec<Section> = Vec::new();
    for seat in seats {
        if sections.last().is_none_or(|s| s.name != seat.section) {
            sections.push(Section {
                name: &seat.section,
                rows: Vec::new(),
            });
        }
        let Some(section) = sections.last_mut() else {
            continue;
        };
        if section.rows.last().is_none_or(|r| r.name != seat.row_name) {
            section.rows.push(Row {
                name: &seat.row_name,
                seats: Vec::new(),
            });
        }
        if let Some(row) = section.rows.last_mut() {
            row.seats.push(Seat {
                seat_id: seat.seat_id,
                number: seat.number,
                x: seat.x,
                y: seat.y,
            });
        }
    }
    sections
}

/// The static drawing of a venue's seats; revalidate with `If-None-Match`.
#[utoipa::path(
    get, path = "/venues/{venue_id}/layout", tag = "browse", operation_id = "venue_layout",
    params(
        ("venue_id" = VenueId, Path, description = "The venue"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` of this layout (or `*`): 304 when it matches"),
    ),
    responses(
        (status = 200, description = "The layout", body = Layout,
            headers(
                ("ETag" = String, description = "Names this layout; it never changes"),
                ("Cache-Control" = String, description = "`public, max-age=86400`"),
            )),
        (status = 304, description = "The layout named by `If-None-Match` is current",
            headers(
                ("ETag" = String, description = "Names this layout"),
                ("Cache-Control" = String, description = "`public, max-age=86400`"),
            )),
        (status = 404, description = "`not_found`: no such venue, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the catalog cannot be read; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(venue.id = %venue_id))]
pub async fn layout(
    req: HttpRequest,
    browse: web::Data<BrowseReads>,
    cache: web::Data<CatalogCache>,
    venue_id: web::Path<VenueId>,
) -> Result<HttpResponse, ApiError> {
    let venue_id = venue_id.into_inner();
    let venue = browse
        .read_optional(|pool| async move { catalog::venue_header(&pool, venue_id).await })
        .await?
        .value
        .ok_or_else(|| ApiError::not_found("venue"))?;
    let etag = format!(
        "\"layout-{}-{}\"",
        venue.venue_id,
        venue.created_at.timestamp_micros()
    );
    let matches = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        return Ok(HttpResponse::NotModified()
            .insert_header((ETAG, etag))
            .insert_header((CACHE_CONTROL, LAYOUT_CACHE_CONTROL))
            .finish());
    }
    let slot = cache.immutable_slot(&format!("layout:{}", etag.trim_matches('"')));
    let body = match cache.get(&slot).await {
        Some(body) => body,
        None => {
            // The seats from where the venue was found: a venue and its seats
            // are created in one transaction, so a server has both or neither.
            let seats = browse
                .read_optional(|pool| async move {
                    Ok(match catalog::venue_header(&pool, venue_id).await? {
                        Some(_) => Some(catalog::layout_seats(&pool, venue_id).await?),
                        None => None,
                    })
                })
                .await?
                .value
                .ok_or_else(|| ApiError::not_found("venue"))?;
            let body = serde_json::to_vec(&Layout {
                venue: &venue,
                sections: group(&seats),
            })
            .map_err(anyhow::Error::from)?;
            cache.put(&slot, &body, cache.event_ttl).await;
            body
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((ETAG, etag))
        .insert_header((CACHE_CONTROL, LAYOUT_CACHE_CONTROL))
        .body(body))
}
