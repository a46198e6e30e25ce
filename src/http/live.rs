//! Live seat maps: `GET /events/{id}/seats/stream` (SSE) and
//! `GET /events/{id}/seats/ws` (WebSocket), both carrying a snapshot (or the
//! deltas a resuming client missed) and then merged deltas.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CacheControl, CacheDirective, ContentEncoding};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::model::EventId;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;

use crate::config::LiveSettings;
use crate::drain::Drain;
use crate::http::error::ApiError;
use crate::http::limits::{Limits, StreamKind};
use crate::live::frames::{Format, Frame};
use crate::live::hub::{Hubs, LiveError, Subscription};
use crate::store::catalog::EventGates;

#[derive(Deserialize)]
pub struct LiveQuery {
    format: Option<String>,
    /// For clients that cannot send `Last-Event-ID` (browser WebSockets).
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

/// Sends frames, answers pings, pings the client, closes cleanly.
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
    let (response, mut session, mut incoming) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::validation(format!("not a WebSocket handshake: {e}")))?;
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
