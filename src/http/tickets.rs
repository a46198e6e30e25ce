//! `GET /tickets/{confirmation_number}`: the buyer's tickets, one QR code per
//! seat, as an HTML page (or JSON for `Accept: application/json`).

use actix_web::http::header::{ACCEPT, CACHE_CONTROL};
use actix_web::{HttpRequest, HttpResponse, web};
use actors::model::{BookingId, BookingStatus, EventId};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::http::api_doc::Problem;
use crate::http::error::ApiError;
use crate::store::bookings::{self, TicketView};
use crate::store::catalog;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn qr_svg(code: &str) -> String {
    QrCode::new(code.as_bytes())
        .map(|qr| qr.render::<svg::Color>().min_dimensions(180, 180).build())
        .unwrap_or_default()
}

/// What a refunded booking's ticket page shows instead of its (void) codes.
const REFUNDED_NOTICE: &str = r#"<p class="void"><strong>Refunded.</strong> This booking was cancelled and its payment refunded: these tickets no longer admit anyone.</p>"#;

fn page(title: &str, when: &str, venue: &str, number: &str, tickets: &[TicketView]) -> String {
    let cards: String = tickets
        .iter()
        .map(|t| {
            format!(
                r#"<section class="ticket"><div class="qr">{qr}</div><p class="seat">Section {section} · Row {row} · Seat {number}</p><p class="code">{code}</p></section>"#,
                qr = qr_svg(&t.code),
                section = escape(&t.section),
                row = escape(&t.row),
                number = t.number,
                code = escape(&t.code),
            )
        })
        .collect();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tickets {number}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/web/tickets.css">
</head><body><h1>{title}</h1><p>{when} · {venue}</p><p>Confirmation <strong>{number}</strong></p>{cards}</body></html>"#,
        title = escape(title),
        when = escape(when),
        venue = escape(venue),
        number = escape(number),
    )
}

/// A booking's tickets as JSON (`Accept: application/json`).
#[derive(Serialize, ToSchema)]
struct Tickets {
    #[schema(required = true)]
    confirmation_number: Option<String>,
    event_id: EventId,
    booking_id: BookingId,
    /// `CONFIRMED`, or `REFUNDED` (the tickets admit no one).
    status: BookingStatus,
    tickets: Vec<TicketView>,
}

/// A paid booking's tickets (its buyer's, or any for an admin): an HTML page
/// with one QR code per seat (none once refunded), or JSON when the `Accept`
/// header names `application/json`. `Cache-Control: private, no-store`.
#[utoipa::path(
    get, path = "/tickets/{confirmation_number}", tag = "tickets", operation_id = "show_tickets",
    params(("confirmation_number" = String, Path, pattern = "^[2-9A-HJKMNP-Z]{10}$", description = "Ten characters from `23456789ABCDEFGHJKMNPQRSTUVWXYZ`")),
    responses(
        (status = 200, description = "The tickets", content(
            (Tickets = "application/json"),
            (String = "text/html"),
        ), links(
            ("CheckIn" = (operation_id = "check_in", parameters(("event_id" = "$response.body#/event_id")), request_body = json!({"ticket_code": "$response.body#/tickets/0/code"}))),
        )),
        (status = 401, description = "`unauthorized`: no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such confirmation number, or another buyer's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn show(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<PgPool>,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let booking = bookings::by_confirmation_number(&pool, &number)
        .await?
        .filter(|b| b.user_id == caller.user_id || caller.is_admin())
        .ok_or_else(|| ApiError::not_found("ticket"))?;
    let tickets = bookings::tickets(&pool, booking.booking_id).await?;
    let wants_json = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    if wants_json {
        return Ok(HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "private, no-store"))
            .json(Tickets {
                confirmation_number: booking.confirmation_number,
                event_id: booking.event_id,
                booking_id: booking.booking_id,
                status: booking.status,
                tickets,
            }));
    }
    let event = catalog::get_event(&pool, booking.event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let when = event
        .start_time
        .format("%A %e %B %Y, %H:%M UTC")
        .to_string();
    let venue = format!("{}, {}", event.venue_name, event.city);
    let html = if booking.status == BookingStatus::Refunded {
        // No QR codes: a void ticket is never shown at a door.
        page(&event.title, &when, &venue, &number, &[])
            .replace("</body>", &format!("{REFUNDED_NOTICE}</body>"))
    } else {
        page(&event.title, &when, &venue, &number, &tickets)
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CACHE_CONTROL, "private, no-store"))
        .body(html))
}
