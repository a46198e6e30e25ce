//! The waiting room over HTTP: join, poll, position stream (SSE), fairness
//! proof, and the operator's controls.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse;
use actors::model::EventId;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::auth::{Caller, Signer};
use crate::drain::Drain;
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::http::extractors::Admin;
use crate::http::limits::{Action, Limits, StreamKind};
use crate::requests::event::MAX_ADMISSION_RATE;
use crate::store::cache::CatalogCache;
use crate::store::catalog::{self, EventGate, EventGates, WaitingRoomSettings};
use crate::store::redis::RedisError;
use crate::store::waiting_room::{QueueStore, Standing};
use crate::waiting_room::position::{Message, PositionStream, eta, standing_body};
use crate::waiting_room::watch::QueueWatch;

fn unavailable(error: RedisError) -> ApiError {
    ApiError::Unavailable(anyhow::anyhow!("waiting room unavailable: {error}"))
}

async fn queued_gate(gates: &EventGates, event: EventId) -> Result<EventGate, ApiError> {
    let gate = gates
        .get(event)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    if !gate.queue_enabled {
        return Err(ApiError::conflict(
            "queue_not_enabled",
            "this event has no waiting room; book directly",
        ));
    }
    Ok(gate)
}

#[tracing::instrument(skip_all, fields(event.id = %event_id, user.id = %caller.user_id))]
pub async fn join(
    client: ClientAddr,
    caller: Caller,
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    signer: web::Data<Signer>,
    limits: web::Data<Limits>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    limits.check(Action::QueueJoin, client)?;
    let event = event_id.into_inner();
    let gate = queued_gate(&gates, event).await?;
    let (standing, seq, progress) = store
        .join(event, caller.user_id)
        .await
        .map_err(unavailable)?;
    metrics::counter!("boxoffice_queue_joins_total").increment(1);
    let mut body = standing_body(&signer, event, caller.user_id, &standing, &progress, &gate);
    if seq > 0 {
        body["queue_id"] = json!(format!("{event}-{seq}"));
    }
    Ok(HttpResponse::Created().json(body))
}

#[tracing::instrument(skip_all, fields(event.id = %event_id, user.id = %caller.user_id))]
pub async fn status(
    caller: Caller,
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    signer: web::Data<Signer>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let gate = queued_gate(&gates, event).await?;
    let standing = store
        .standing(event, caller.user_id)
        .await
        .map_err(unavailable)?;
    let progress = store.progress(event).await.unwrap_or_default();
    Ok(HttpResponse::Ok().json(standing_body(
        &signer,
        event,
        caller.user_id,
        &standing,
        &progress,
        &gate,
    )))
}

fn sse_event(message: Message) -> sse::Event {
    sse::Event::Data(sse::Data::new(message.body.to_string()).event(message.name))
}

/// The waiter's position as server-sent events (`PositionStream` says what
/// and when). An open stream is the waiter's sign of life.
#[tracing::instrument(skip_all, fields(event.id = %event_id, user.id = %caller.user_id))]
pub async fn stream(
    req: HttpRequest,
    caller: Caller,
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    watch: web::Data<QueueWatch>,
    signer: web::Data<Signer>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let user = caller.user_id;
    let drain = req
        .app_data::<web::Data<Drain>>()
        .map(|d| d.get_ref().clone())
        .unwrap_or_default();
    let gate = queued_gate(&gates, event).await?;
    let first = store.standing(event, user).await.map_err(unavailable)?;
    if first == Standing::NotInQueue {
        return Err(ApiError::conflict(
            "not_in_queue",
            "join the queue first (POST /events/{id}/queue)",
        ));
    }
    // Held by the task below: released when the stream ends, however it ends.
    let slot = Limits::open_stream_for(&req, StreamKind::QueuePosition)?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let progress = watch.watch(event);
    let first_read = store.progress(event).await.ok();
    let positions = PositionStream {
        store: store.into_inner(),
        gates: gates.into_inner(),
        signer: signer.into_inner(),
        event,
        user,
        gate,
        first,
        progress,
        first_read,
    };
    actix_web::rt::spawn(async move {
        let _slot = slot;
        positions.run(tx).await;
    });
    // A draining node ends the stream (the position task stops with it); the
    // waiter's EventSource reconnects to another node and keeps its place.
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let message = rx.recv().await?;
        Some((sse_event(message), rx))
    })
    .take_until(drain.started());
    let sse = sse::Sse::from_infallible_stream(events).with_keep_alive(Duration::from_secs(15));
    Ok(sse.respond_to(&req).map_into_boxed_body())
}

/// The fairness proof: the seed's hash before the sale, the seed after it.
pub async fn fairness(
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let gate = queued_gate(&gates, event).await?;
    let seed = store.seed(event).await.map_err(unavailable)?;
    let shuffled = store.shuffled(event).await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(json!({
        "sale_opens_at": gate.onsale_at,
        "seed_sha256": format!("{:x}", Sha256::digest(seed.as_bytes())),
        "seed": shuffled.then_some(seed),
        "shuffled": shuffled,
        "rule": "everyone who joined before the sale opened is ordered by ascending SHA-256 of \"<seed>:<user_id>\"; later arrivals follow in arrival order",
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettingsRequest {
    enabled: bool,
    admission_rate_per_sec: i32,
    /// Absent: unchanged; `null`: no on-sale time (first come, first served).
    #[serde(default, deserialize_with = "present")]
    onsale_at: Option<Option<DateTime<Utc>>>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
    Option::<DateTime<Utc>>::deserialize(d).map(Some)
}

#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id, event.id = %event_id))]
pub async fn configure(
    admin: Admin,
    pool: web::Data<PgPool>,
    gates: web::Data<EventGates>,
    cache: web::Data<CatalogCache>,
    store: web::Data<QueueStore>,
    event_id: web::Path<EventId>,
    body: web::Json<QueueSettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let body = body.into_inner();
    // 0 pauses admission: the room stays on and waiters keep their places.
    if !(0..=MAX_ADMISSION_RATE).contains(&body.admission_rate_per_sec) {
        return Err(ApiError::validation(format!(
            "admission_rate_per_sec must be between 0 (paused) and {MAX_ADMISSION_RATE}"
        )));
    }
    let settings = WaitingRoomSettings {
        enabled: body.enabled,
        admission_rate_per_sec: body.admission_rate_per_sec,
        onsale_at: body.onsale_at,
    };
    if !catalog::set_waiting_room(&pool, event, &settings).await? {
        return Err(ApiError::not_found("event"));
    }
    gates.forget(event);
    if body.onsale_at.flatten().is_some_and(|at| at > Utc::now()) {
        // A new on-sale time ahead: whoever joins before it is drawn again then.
        store.reset_shuffle(event).await.map_err(unavailable)?;
    }
    cache.invalidate().await;
    tracing::info!(
        enabled = body.enabled,
        rate = body.admission_rate_per_sec,
        "waiting room configured"
    );
    report(&gates, &store, event).await
}

pub async fn report_handler(
    _admin: Admin,
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    report(&gates, &store, event_id.into_inner()).await
}

async fn report(
    gates: &EventGates,
    store: &QueueStore,
    event: EventId,
) -> Result<HttpResponse, ApiError> {
    // The operator reads the settings as PostgreSQL has them, including a
    // change just made through another node.
    let gate = gates
        .fresh(event)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let progress = store.progress(event).await.map_err(unavailable)?;
    let last_minute = store
        .admitted_last_minute(event)
        .await
        .map_err(unavailable)?;
    let holder = store.lease_holder(event).await.map_err(unavailable)?;
    metrics::gauge!("boxoffice_queue_waiting", "event" => event.to_string())
        .set(progress.waiting as f64);
    let paused = gate.admission_rate_per_sec == 0;
    Ok(HttpResponse::Ok().json(json!({
        "enabled": gate.queue_enabled,
        "admission_rate_per_sec": gate.admission_rate_per_sec,
        "sale_opens_at": gate.onsale_at,
        "waiting": progress.waiting,
        "admitted_total": progress.admitted_total,
        "admitted_last_minute": last_minute,
        "measured_rate_per_sec": progress.drain_per_sec,
        // Nobody is admitted while paused: no ETA then.
        "eta_last_seconds": (!paused).then(|| eta(progress.waiting, &progress, &gate)),
        "sold_out": progress.sold_out,
        "paused": paused,
        "lease_holder": holder,
    })))
}
