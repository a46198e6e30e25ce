//! The waiting room over HTTP: join, poll, position stream (SSE), fairness
//! proof, and the operator's controls.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse;
use actors::model::EventId;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::auth::{Caller, Signer};
use crate::drain::Drain;
use crate::http::api_doc::Problem;
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::http::extractors::Admin;
use crate::http::json_body::JsonBody;
use crate::http::limits::{Action, Limits, StreamKind};
use crate::requests::event::MAX_ADMISSION_RATE;
use crate::store::cache::CatalogCache;
use crate::store::catalog::{self, EventGate, EventGates, WaitingRoomSettings};
use crate::store::redis::RedisError;
use crate::store::waiting_room::{QueueStore, Standing};
use crate::waiting_room::position::{Message, PositionStream, QueueStanding, eta, standing_body};
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

/// Join the event's waiting room; joining again keeps the place.
#[utoipa::path(
    post, path = "/events/{event_id}/queue", tag = "waiting room", operation_id = "join_queue",
    params(("event_id" = EventId, Path, description = "The event")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "The caller's standing, with `queue_id` on a first join", body = QueueStanding,
            links(
                ("status" = (operation_id = "queue_status", parameters(("event_id" = "$request.path.event_id")),
                    description = "Where the caller stands now")),
                ("stream" = (operation_id = "queue_stream", parameters(("event_id" = "$request.path.event_id")),
                    description = "The caller's position as it changes")),
                ("fairness" = (operation_id = "queue_fairness", parameters(("event_id" = "$request.path.event_id")),
                    description = "The on-sale draw's proof")),
            )),
        (status = 401, description = "`unauthorized`: no token, or an invalid or expired one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`queue_not_enabled`: the event has no waiting room; book directly", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: over this client address's join limit (`queue.joins_per_second_per_client`); `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the waiting room (Redis) or PostgreSQL cannot be reached; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
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
        body.queue_id = Some(format!("{event}-{seq}"));
    }
    Ok(HttpResponse::Created().json(body))
}

/// Where the caller stands (also a sign of life: waiters not heard from
/// lose their turn).
#[utoipa::path(
    get, path = "/events/{event_id}/queue", tag = "waiting room", operation_id = "queue_status",
    params(("event_id" = EventId, Path, description = "The event")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The caller's standing", body = QueueStanding),
        (status = 401, description = "`unauthorized`: no token, or an invalid or expired one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`queue_not_enabled`: the event has no waiting room", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the waiting room (Redis) or PostgreSQL cannot be reached; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
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
///
/// `position` messages at least every two seconds, `sold_out` when that
/// changes, then one `admitted` message with the queue token (the stream
/// ends), or `closed` when the operator turns the waiting room off. Idle
/// stretches carry comments; a node that is stopping ends the stream
/// (reconnect: the place is kept).
#[utoipa::path(
    get, path = "/events/{event_id}/queue/stream", tag = "waiting room", operation_id = "queue_stream",
    params(("event_id" = EventId, Path, description = "The event")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The stream; each event is one `QueueEvent`", body = ref("#/components/schemas/QueueEvent"), content_type = "text/event-stream"),
        (status = 401, description = "`unauthorized`: no token, or an invalid or expired one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a door-staff account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`queue_not_enabled`: the event has no waiting room; `not_in_queue`: join first", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: this client address holds too many open position streams; `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the waiting room (Redis) or PostgreSQL cannot be reached; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
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

/// The proof that the on-sale draw was fixed before the sale.
#[derive(Serialize, ToSchema)]
struct Fairness {
    /// `null` without an on-sale time (first come, first served).
    #[schema(required = true)]
    sale_opens_at: Option<DateTime<Utc>>,
    /// Published before the sale: the SHA-256 of `seed`, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    seed_sha256: String,
    /// Revealed once the draw is done (`null` until then).
    #[schema(required = true)]
    seed: Option<String>,
    /// Whether those who joined before the sale have been drawn.
    shuffled: bool,
    /// How the seed orders the line.
    rule: &'static str,
}

/// The fairness proof: the seed's hash before the sale, the seed after it.
#[utoipa::path(
    get, path = "/events/{event_id}/queue/fairness", tag = "waiting room", operation_id = "queue_fairness",
    params(("event_id" = EventId, Path, description = "The event")),
    responses(
        (status = 200, description = "The draw's proof", body = Fairness),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`queue_not_enabled`: the event has no waiting room", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the waiting room (Redis) or PostgreSQL cannot be reached; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn fairness(
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let gate = queued_gate(&gates, event).await?;
    let seed = store.seed(event).await.map_err(unavailable)?;
    let shuffled = store.shuffled(event).await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(Fairness {
        sale_opens_at: gate.onsale_at,
        seed_sha256: format!("{:x}", Sha256::digest(seed.as_bytes())),
        seed: shuffled.then_some(seed),
        shuffled,
        rule: "everyone who joined before the sale opened is ordered by ascending SHA-256 of \"<seed>:<user_id>\"; later arrivals follow in arrival order",
    }))
}

/// The waiting room's settings.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSettingsRequest {
    enabled: bool,
    /// Admissions per second; 0 pauses admission (waiters keep their places).
    #[schema(minimum = 0, maximum = 100_000)]
    admission_rate_per_sec: i32,
    /// Absent: unchanged; `null`: no on-sale time (first come, first served).
    #[serde(default, deserialize_with = "crate::requests::present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    onsale_at: Option<Option<DateTime<Utc>>>,
}

/// Turn the waiting room on or off, set its admission rate (in effect
/// within a second on every node; a pause, rate 0, before this answers)
/// and on-sale time. A new on-sale time ahead redraws those who join
/// before it.
#[utoipa::path(
    put, path = "/admin/events/{event_id}/queue", tag = "waiting room", operation_id = "configure_queue",
    params(("event_id" = EventId, Path, description = "The event")),
    request_body = QueueSettingsRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The queue report, with the new settings", body = QueueReport,
            links(
                ("report" = (operation_id = "queue_report", parameters(("event_id" = "$request.path.event_id")),
                    description = "The queue report")),
                ("join" = (operation_id = "join_queue", parameters(("event_id" = "$request.path.event_id")),
                    description = "Join the waiting room")),
            )),
        (status = 400, description = "`validation_failed`: `admission_rate_per_sec` out of range, a wrong or unknown field; `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: no token, or an invalid or expired one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the admin role is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: send `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the waiting room (Redis) or PostgreSQL cannot be reached; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id, event.id = %event_id))]
pub async fn configure(
    admin: Admin,
    pool: web::Data<PgPool>,
    gates: web::Data<EventGates>,
    cache: web::Data<CatalogCache>,
    store: web::Data<QueueStore>,
    event_id: web::Path<EventId>,
    body: JsonBody<QueueSettingsRequest>,
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
    let Some(version) = catalog::set_waiting_room(&pool, event, &settings).await? else {
        return Err(ApiError::not_found("event"));
    };
    // In Redis before the answer: a pause holds from here on, on every node,
    // whenever their drivers next read PostgreSQL.
    store
        .publish_settings(event, version, settings.admission_rate_per_sec)
        .await
        .map_err(unavailable)?;
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

/// The waiting room's settings and progress.
#[utoipa::path(
    get, path = "/admin/events/{event_id}/queue", tag = "waiting room", operation_id = "queue_report",
    params(("event_id" = EventId, Path, description = "The event")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The queue report", body = QueueReport),
        (status = 401, description = "`unauthorized`: no token, or an invalid or expired one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the admin role is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such event, or not an id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the waiting room (Redis) or PostgreSQL cannot be reached; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
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
    Ok(HttpResponse::Ok().json(QueueReport {
        enabled: gate.queue_enabled,
        admission_rate_per_sec: gate.admission_rate_per_sec,
        sale_opens_at: gate.onsale_at,
        waiting: progress.waiting,
        admitted_total: progress.admitted_total,
        admitted_last_minute: last_minute,
        measured_rate_per_sec: progress.drain_per_sec,
        // Nobody is admitted while paused: no ETA then.
        eta_last_seconds: (!paused).then(|| eta(progress.waiting, &progress, &gate)),
        sold_out: progress.sold_out,
        paused,
        lease_holder: holder,
    }))
}

/// A waiting room's settings and progress, for its operator.
#[derive(Serialize, ToSchema)]
struct QueueReport {
    enabled: bool,
    /// 0 while paused.
    admission_rate_per_sec: i32,
    /// `null`: no on-sale time (first come, first served).
    #[schema(required = true)]
    sale_opens_at: Option<DateTime<Utc>>,
    waiting: u64,
    admitted_total: u64,
    admitted_last_minute: u64,
    /// Admissions per second as measured lately.
    measured_rate_per_sec: f64,
    /// Seconds until the last in line is admitted; `null` while paused.
    #[schema(required = true)]
    eta_last_seconds: Option<u64>,
    sold_out: bool,
    paused: bool,
    /// The node admitting this event's waiters (`null`: none yet).
    #[schema(required = true)]
    lease_holder: Option<String>,
}
