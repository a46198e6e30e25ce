//! `GET /admin/events/{event_id}/dashboard/stream`: the operator's live
//! dashboard as server-sent events (admin only). The first message is a
//! `snapshot` (`{event_id, interval_ms, points, seats}`: the last minutes of
//! points, oldest first, and the seats by section), then one `sample` a
//! second (a point with the seats by section). `live::dashboard` reads the
//! counters, once a second per event, whoever watches.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse;
use actors::model::EventId;

use crate::http::api_doc::Problem;
use futures_util::StreamExt;

use crate::drain::Drain;
use crate::http::error::ApiError;
use crate::http::extractors::Admin;
use crate::live::dashboard::{Dashboards, Message};
use crate::store::catalog::EventGates;

fn sse_event(message: Message) -> sse::Event {
    sse::Event::Data(sse::Data::new(message.body.to_string()).event(message.name))
}

/// The operator's live dashboard: a `snapshot`, then a `sample` a second.
#[utoipa::path(
    get, path = "/admin/events/{event_id}/dashboard/stream", tag = "dashboard", operation_id = "dashboard_stream",
    params(("event_id" = EventId, Path, description = "The event")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The stream; each event is one `DashboardEvent`", body = ref("#/components/schemas/DashboardEvent"), content_type = "text/event-stream"),
        (status = 401, description = "`unauthorized`: no token, or an invalid or expired one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the admin role is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: PostgreSQL cannot be reached; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id, event.id = %event_id))]
pub async fn stream(
    req: HttpRequest,
    admin: Admin,
    gates: web::Data<EventGates>,
    dashboards: web::Data<Dashboards>,
    drain: web::Data<Drain>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    gates
        .get(event)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let dashboards: Arc<Dashboards> = dashboards.into_inner();
    let subscription = dashboards.subscribe(event);
    // A draining node ends it (the operator's EventSource reconnects to
    // another node) instead of holding the stop until the shutdown timeout.
    let events = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let message = subscription.next().await?;
        Some((sse_event(message), subscription))
    })
    .take_until(drain.started());
    let sse = sse::Sse::from_infallible_stream(events).with_keep_alive(Duration::from_secs(15));
    Ok(sse.respond_to(&req).map_into_boxed_body())
}
