//! Live seat maps: `GET /events/{id}/seats/stream` (SSE) and
//! `GET /events/{id}/seats/ws` (WebSocket), both carrying a snapshot (or the
//! deltas a resuming client missed) and then merged deltas.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    CONNECTION, CacheControl, CacheDirective, ContentEncoding, HeaderValue, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::model::EventId;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::config::LiveSettings;
use crate::drain::Drain;
use crate::http::api_doc::Problem;
use crate::http::error::ApiError;
use crate::http::limits::{Limits, StreamKind};
use crate::live::frames::{Format, Frame};
use crate::live::hub::{Hubs, LiveError, Subscription};
use crate::store::catalog::EventGates;

/// How a snapshot lists the seats (`Format`).
#[derive(ToSchema)]
#[schema(as = SeatMapFormat)]
#[allow(dead_code)] // documents what `Format::parse` accepts
enum FormatName {
    /// Every seat with its section, row, number, status and price.
    #[schema(rename = "full")]
    Full,
    /// One status character per seat in layout order.
    #[schema(rename = "compact")]
    Compact,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// How the snapshot lists the seats (default `full`).
    #[param(value_type = Option<FormatName>, inline, nullable = false)]
    format: Option<String>,
    /// Resume after this version: for clients that cannot send
    /// `Last-Event-ID` (browser WebSockets). Wins over the header.
    #[param(nullable = false)]
    last_event_id: Option<i64>,
}

async fn subscribe(
    req: &HttpRequest,
    hubs: &Hubs,
    gates: &EventGates,
    event_id: EventId,
    query: &LiveQuery,
) -> Result<Subscription, ApiError> {
    let format = Format::parse(query.format.as_deref())
        .ok_or_else(|| ApiError::validation("format must be full or compact"))?;
    gates
        .get(event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let last = query.last_event_id.or_else(|| {
        req.headers()
            .get("Last-Event-ID")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    });
    hubs.subscribe(event_id, last, format)
        .await
        .map_err(|error| match error {
            LiveError::Full => ApiError::problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_subscribers",
                "Too many live subscribers",
                "this node has no room for another live seat map; retry shortly",
            ),
            LiveError::Unavailable(reason) => ApiError::Unavailable(anyhow::anyhow!(reason)),
        })
}

/// Ends each quiet `every` with an SSE comment, so proxies keep the
/// connection open.
fn with_keep_alive(
    frames: impl Stream<Item = Bytes> + 'static,
    every: Duration,
) -> impl Stream<Item = Bytes> {
    let quiet = Box::pin(tokio::time::sleep(every));
    futures_util::stream::unfold(
        (Box::pin(frames), quiet),
        move |(mut frames, mut quiet)| async move {
            let next = tokio::select! {
                frame = frames.next() => frame?,
                () = quiet.as_mut() => Bytes::from_static(b": keep-alive\n\n"),
            };
            quiet.as_mut().reset(tokio::time::Instant::now() + every);
            Some((next, (frames, quiet)))
        },
    )
}

/// The live seat map as server-sent events: a `snapshot` (or, resuming
/// with `Last-Event-ID`, the `delta`s missed since that version), then
/// merged `delta`s as seats change. Each event's `id` is the map's version.
/// The stream starts with `retry: 2000` and sends a comment when idle, so
/// proxies keep it open; a node that is stopping ends it (reconnect and
/// resume). A subscriber that falls too far behind gets a fresh snapshot.
#[utoipa::path(
    get, path = "/events/{event_id}/seats/stream", tag = "seat map", operation_id = "seat_map_stream",
    params(
        ("event_id" = EventId, Path, description = "The event"),
        LiveQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this version (what `EventSource` sends when it reconnects); ignored unless an integer"),
    ),
    responses(
        (status = 200, description = "The stream; each event is one `SeatMapEvent`", body = ref("#/components/schemas/SeatMapEvent"), content_type = "text/event-stream"),
        (status = 400, description = "`validation_failed`: `format` is neither `full` nor `compact`; `last_event_id` is not an integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: this client address holds `limits.live_streams_per_client` open seat-map streams (SSE and WebSocket together); `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_subscribers` (this node has no room for another), or `service_unavailable`; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(event.id = %event_id))]
pub async fn stream(
    req: HttpRequest,
    hubs: web::Data<Hubs>,
    gates: web::Data<EventGates>,
    settings: web::Data<LiveSettings>,
    drain: web::Data<Drain>,
    event_id: web::Path<EventId>,
    query: web::Query<LiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let slot = Limits::open_stream_for(&req, StreamKind::SeatMap)?;
    let subscription = subscribe(&req, &hubs, &gates, event_id.into_inner(), &query).await?;
    // Each frame's SSE bytes are encoded once and shared by every subscriber:
    // per subscriber, a message is only a reference count and a socket write.
    // The slot lives as long as the response body: released when it is dropped.
    // A draining node ends the stream: EventSource reconnects by itself (to
    // another node, this one no longer accepts) and resumes by Last-Event-ID.
    let frames =
        subscription
            .into_stream()
            .take_until(drain.started())
            .map(move |frame: Arc<Frame>| {
                let _slot = &slot;
                frame.sse()
            });
    let retry =
        futures_util::stream::once(std::future::ready(Bytes::from_static(b"retry: 2000\n\n")));
    let body = retry
        .chain(with_keep_alive(
            frames,
            Duration::from_secs(settings.keep_alive_seconds),
        ))
        .map(Ok::<_, std::convert::Infallible>);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(ContentEncoding::Identity)
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .streaming(body))
}

/// 426 for a request that is not a WebSocket handshake: the protocol to
/// switch to is named in `Upgrade` (RFC 9110 §15.5.22), the version spoken
/// in `Sec-WebSocket-Version` (RFC 6455 §4.2.2).
fn upgrade_required(why: &str) -> HttpResponse {
    use actix_web::ResponseError;
    let mut response = ApiError::problem(
        StatusCode::UPGRADE_REQUIRED,
        "upgrade_required",
        "Upgrade required",
        format!("not a WebSocket handshake: {why}"),
    )
    .error_response();
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    response
}

/// Sends frames, answers pings, pings the client, closes cleanly.
///
/// The live seat map over a WebSocket: the same messages as the SSE stream
/// (`SeatMapEvent`'s `data`), one JSON text frame each. The server pings
/// every 15 s and closes after 45 s without hearing from the client; 1012
/// when the node stops, 1013 when the client fell too far behind
/// (reconnect with `last_event_id`).
///
/// The request is a WebSocket handshake (RFC 6455): `Upgrade: websocket`,
/// `Connection: Upgrade`, `Sec-WebSocket-Version: 13` and a
/// `Sec-WebSocket-Key` (16 random bytes, base64). Any other request for a
/// known event gets 426 `upgrade_required`.
#[utoipa::path(
    get, path = "/events/{event_id}/seats/ws", tag = "seat map", operation_id = "seat_map_ws",
    params(
        ("event_id" = EventId, Path, description = "The event"),
        LiveQuery,
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol",
            headers(
                ("Upgrade" = String, description = "`websocket`"),
                ("Sec-WebSocket-Accept" = String, description = "The handshake's answer (RFC 6455)"),
            )),
        (status = 400, description = "`validation_failed`: `format` is neither `full` nor `compact`; `last_event_id` is not an integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 426, description = "`upgrade_required`: not a WebSocket handshake (a header missing or wrong)", body = Problem, content_type = "application/problem+json",
            headers(
                ("Upgrade" = String, description = "`websocket`"),
                ("Sec-WebSocket-Version" = String, description = "`13`, the version spoken"),
            )),
        (status = 429, description = "`too_many_requests`: this client address holds `limits.live_streams_per_client` open seat-map streams (SSE and WebSocket together); `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_subscribers` (this node has no room for another), or `service_unavailable`; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(event.id = %event_id))]
pub async fn websocket(
    req: HttpRequest,
    body: web::Payload,
    hubs: web::Data<Hubs>,
    gates: web::Data<EventGates>,
    drain: web::Data<Drain>,
    event_id: web::Path<EventId>,
    query: web::Query<LiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let slot = Limits::open_stream_for(&req, StreamKind::SeatMap)?;
    let subscription = subscribe(&req, &hubs, &gates, event_id.into_inner(), &query).await?;
    let drained = drain.started();
    let (response, mut session, mut incoming) = match actix_ws::handle(&req, body) {
        Ok(handshake) => handshake,
        Err(e) => return Ok(upgrade_required(&e.to_string())),
    };
    actix_web::rt::spawn(async move {
        // Released when the session task ends, however it ends.
        let _slot = slot;
        let mut frames = Box::pin(subscription.into_stream());
        let mut heartbeat = tokio::time::interval(Duration::from_secs(15));
        let mut last_heard = tokio::time::Instant::now();
        tokio::pin!(drained);
        let reason = loop {
            tokio::select! {
                // The node is draining: 1012 (service restart) tells the
                // client to reconnect, which resumes from its last id elsewhere.
                _ = &mut drained => break Some(actix_ws::CloseReason {
                    code: actix_ws::CloseCode::Restart,
                    description: Some("node draining; reconnect".into()),
                }),
                frame = frames.next() => match frame {
                    Some(frame) => {
                        if session.text(frame.json.clone()).await.is_err() {
                            return;
                        }
                    }
                    // Fell too far behind: close; the client reconnects and resumes.
                    None => break Some(actix_ws::CloseReason {
                        code: actix_ws::CloseCode::Again,
                        description: Some("resync".into()),
                    }),
                },
                message = incoming.next() => match message {
                    Some(Ok(actix_ws::Message::Ping(bytes))) => {
                        last_heard = tokio::time::Instant::now();
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(actix_ws::Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
                },
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > Duration::from_secs(45) {
                        break Some(actix_ws::CloseReason { code: actix_ws::CloseCode::Away, description: Some("timeout".into()) });
                    }
                    if session.ping(b"").await.is_err() {
                        return;
                    }
                }
            }
        };
        let _ = session.close(reason).await;
    });
    Ok(response)
}
